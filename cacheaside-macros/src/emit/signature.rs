//! The signatures of generated functions: the user's, renamed, with only some arguments and the
//! generic parameters those need; and the attributes a generated function copies.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote, ToTokens};
use syn::punctuated::Punctuated;
use syn::{Attribute, FnArg, GenericParam, Generics, ReturnType, Signature, Token};

use crate::check::plan::{Context, Plan};
use crate::parse::item::mentions;

/// The original signature with another name and output, the receiver, and only the arguments in
/// `args`, each declared by its plain binding (patterns and `mut` stay in the loader).
pub fn wrapper_sig(plan: &Plan, ident: &Ident, args: &[usize], output: ReturnType) -> Signature {
    let mut sig = plan.function.sig.clone();
    sig.ident = ident.clone();
    sig.output = output;
    let mut inputs: Punctuated<FnArg, Token![,]> = Punctuated::new();
    if let Some(receiver) = &plan.inputs.receiver {
        inputs.push(FnArg::Receiver(receiver.clone()));
    }
    for &index in args {
        let declaration = plan.inputs.params[index].declaration();
        inputs.push(syn::parse_quote!(#declaration));
    }
    sig.inputs = inputs;
    sig
}

/// Keeps the generic parameters that the given inputs or the key (`key_uses`, see [`key_uses`])
/// use, directly or through bounds, so that callers of `<fn>_invalidate` never face a parameter
/// they cannot infer or name, and always one their key depends on.
pub fn prune_generics(
    generics: &Generics,
    inputs: &Punctuated<FnArg, Token![,]>,
    key_uses: &TokenStream,
) -> Generics {
    let mut used = inputs.to_token_stream();
    used.extend(key_uses.clone());
    let params: Vec<&GenericParam> = generics.params.iter().collect();
    let predicates: Vec<&syn::WherePredicate> = generics
        .where_clause
        .iter()
        .flat_map(|clause| &clause.predicates)
        .collect();
    let mut keep: Vec<bool> = params
        .iter()
        .map(|param| mentions(&used, param_ident(param)))
        .collect();
    loop {
        let mut sources = TokenStream::new();
        for (param, _) in params.iter().zip(&keep).filter(|(_, kept)| **kept) {
            param.to_tokens(&mut sources);
        }
        for predicate in &predicates {
            let touches_kept = params
                .iter()
                .zip(&keep)
                .any(|(param, kept)| *kept && mentions(predicate, param_ident(param)));
            if touches_kept {
                predicate.to_tokens(&mut sources);
            }
        }
        let mut changed = false;
        for (param, kept) in params.iter().zip(keep.iter_mut()) {
            if !*kept && mentions(&sources, param_ident(param)) {
                *kept = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut pruned = generics.clone();
    pruned.params = params
        .iter()
        .zip(&keep)
        .filter(|(_, kept)| **kept)
        .map(|(param, _)| (*param).clone())
        .collect();
    if let Some(clause) = &mut pruned.where_clause {
        clause.predicates = (predicates.iter())
            .filter(|predicate| {
                params
                    .iter()
                    .zip(&keep)
                    .all(|(param, kept)| *kept || !mentions(*predicate, param_ident(param)))
            })
            .map(|predicate| (*predicate).clone())
            .collect();
    }
    pruned
}

pub fn param_ident(param: &GenericParam) -> &Ident {
    match param {
        GenericParam::Type(param) => &param.ident,
        GenericParam::Lifetime(param) => &param.lifetime.ident,
        GenericParam::Const(param) => &param.ident,
    }
}

fn attrs_named<'a>(attrs: &'a [Attribute], names: &[&str]) -> Vec<&'a Attribute> {
    attrs
        .iter()
        .filter(|attr| names.iter().any(|name| attr.path().is_ident(name)))
        .collect()
}

/// The original signature with another name: every argument, declared by its plain binding.
pub fn renamed_sig(plan: &Plan, ident: &Ident) -> Signature {
    let all_args: Vec<usize> = (0..plan.inputs.params.len()).collect();
    wrapper_sig(plan, ident, &all_args, plan.function.sig.output.clone())
}

/// `<fn>_invalidate`'s signature: the arguments `args`, the generic parameters that they and the
/// key (`key_uses`) need, and a `Result` that reports cache errors.
pub fn invalidate_sig(plan: &Plan, args: &[usize], key_uses: &TokenStream) -> Signature {
    let krate = &plan.krate;
    let output: ReturnType =
        syn::parse_quote!(-> ::core::result::Result<(), #krate::__private::Error>);
    let mut sig = wrapper_sig(plan, &companion_ident(plan, "invalidate"), args, output);
    sig.generics = prune_generics(&plan.function.sig.generics, &sig.inputs, key_uses);
    sig
}

/// A companion's name: the function's, with a suffix (`get_invalidate`).
pub fn companion_ident(plan: &Plan, suffix: &str) -> Ident {
    format_ident!("{}_{}", plan.function.sig.ident, suffix)
}

/// The attributes every item generated next to the function copies from it: its `#[cfg]`s, so
/// that the item exists exactly when the function does, and its lint levels.
pub fn copied_attrs(plan: &Plan) -> TokenStream {
    let attrs = &plan.function.attrs;
    let cfgs = attrs_named(attrs, &["cfg"]);
    let lints = attrs_named(attrs, &["allow", "warn", "deny", "forbid", "expect"]);
    quote!(#(#cfgs)* #(#lints)*)
}

/// A companion (`<fn>_invalidate`, …): documented, allowed to go unused, and as visible as the
/// function, or `pub` in a trait impl, like the trait's methods.
pub fn companion_fn(
    plan: &Plan,
    doc: &str,
    allow: TokenStream,
    sig: &Signature,
    body: TokenStream,
) -> TokenStream {
    let attrs = copied_attrs(plan);
    let vis = match plan.context {
        Context::InImpl { of_trait: true, .. } => quote!(pub),
        _ => plan.function.vis.to_token_stream(),
    };
    quote! {
        #attrs
        #[doc = #doc]
        #[allow(#allow)]
        #vis #sig {
            #body
        }
    }
}

/// The type and const parameters of `generics`: those a call names in its turbofish.
pub fn type_and_const_params(generics: &Generics) -> impl Iterator<Item = &Ident> {
    generics.params.iter().filter_map(|param| match param {
        GenericParam::Type(param) => Some(&param.ident),
        GenericParam::Const(param) => Some(&param.ident),
        GenericParam::Lifetime(_) => None,
    })
}

/// `::<T, N>` naming the type and const parameters of `generics`; nothing without any.
pub fn turbofish(generics: &Generics) -> TokenStream {
    let explicit: Vec<&Ident> = type_and_const_params(generics).collect();
    if explicit.is_empty() {
        quote!()
    } else {
        quote!(::<#(#explicit),*>)
    }
}

/// The function that a generated function stands for, with the function's attributes,
/// visibility and signature, and a new body.
pub fn wrapper_fn(plan: &Plan, body: TokenStream) -> TokenStream {
    let function = &plan.function;
    let attrs = &function.attrs;
    let vis = &function.vis;
    let sig = renamed_sig(plan, &function.sig.ident);
    quote! {
        #(#attrs)*
        #vis #sig {
            #body
        }
    }
}
