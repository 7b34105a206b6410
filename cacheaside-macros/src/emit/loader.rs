//! The hidden items next to the function, and the call of the hidden loader that holds the body.

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

use crate::check::plan::{Context, Plan};
use crate::emit::signature::{copied_attrs, turbofish};
use crate::parse::item::mentions;

/// A path to one of the hidden items generated next to the function.
pub fn hidden(plan: &Plan, ident: &Ident) -> TokenStream {
    if plan.inputs.receiver.is_some() || matches!(plan.context, Context::InImpl { .. }) {
        quote!(Self::#ident)
    } else {
        quote!(#ident)
    }
}

/// Calls the hidden loader with the wrapper's arguments: the original body, as a future that the
/// runtime polls only when it needs to load.
pub fn loader_call(plan: &Plan, loader: &Ident, present: &[bool]) -> TokenStream {
    let bindings = (plan.inputs.params.iter().zip(present))
        .filter(|(_, present)| **present)
        .map(|(param, _)| &param.binding);
    let impl_trait_argument = (plan.inputs.params.iter())
        .any(|param| mentions(&param.ty, &Ident::new("impl", Span::call_site())));
    // Generic arguments cannot be named when an argument is `impl Trait`; inference covers it then.
    let turbofish = if impl_trait_argument {
        quote!()
    } else {
        turbofish(&plan.function.sig.generics)
    };
    let path = hidden(plan, loader);
    match &plan.inputs.receiver {
        Some(receiver) => {
            let self_token = &receiver.self_token;
            quote!(#path #turbofish(#self_token, #(#bindings),*))
        }
        None => quote!(#path #turbofish(#(#bindings),*)),
    }
}

/// The hidden loader: the original function under the name `loader`, its body unchanged.
pub fn loader_fn(plan: &Plan, loader: &Ident) -> TokenStream {
    let mut sig = plan.function.sig.clone();
    sig.ident = loader.clone();
    let attrs = copied_attrs(plan);
    let body = &plan.function.body;
    quote! {
        #[doc(hidden)]
        #attrs
        #sig #body
    }
}
