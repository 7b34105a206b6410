//! `#[cache_put]` and `#[cache_evict]`: the body rewritten in place.
//!
//! The signature is kept as written (any receiver: the body always runs). The new body builds the
//! key (and, for `value = <expr>`, encodes the value) from the arguments, runs the original body
//! as a block typed with the declared return type, then hands the result to one runtime function.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::check::plan::{Flavor, WritePlan};
use crate::emit::kind::marker_type;
use crate::emit::spec::spec_static_item;
use crate::parse::put_evict::Which;

pub fn emit(plan: &WritePlan) -> TokenStream {
    let krate = &plan.krate;
    let local = |text: &str| syn::Ident::new(text, Span::mixed_site());
    let (spec, key, value, kind, returned) = (
        local("__CACHEASIDE_SPEC"),
        local("__cacheaside_key"),
        local("__cacheaside_value"),
        local("__cacheaside_kind"),
        local("__cacheaside_returned"),
    );
    let spec_item = spec_static_item(krate, &spec, &plan.spec);
    let key_binding = match &plan.key {
        Some(expr) => {
            let span = expr.span();
            quote_spanned!(span=> let #key = #krate::__private::explicit_key(#expr);)
        }
        None => TokenStream::new(),
    };
    let value_binding = match &plan.value {
        Some(expr) => {
            let span = expr.span();
            quote_spanned!(span=> let #value = #krate::__private::put_value(&#spec, &(#expr));)
        }
        None => TokenStream::new(),
    };
    // `returns`-checked kinds need the cached part to be storable; the others only say which
    // values are a success.
    let kind_value = match (plan.which, &plan.value) {
        (Which::Put, None) => plan.return_kind.checked_marker(krate),
        _ => marker_type(krate, plan.return_kind.kind),
    };
    let alias_probe = plan.return_kind.alias_probe(krate);
    let return_type = &plan.return_kind.ty;
    let body = &plan.function.body;
    let run_body = match plan.flavor {
        Flavor::Async => quote! {
            async move {
                // Typed so that `?` and `return` in the body see the declared return type.
                let #returned: #return_type = #body;
                #returned
            }.await
        },
        Flavor::Sync => quote! {
            (move || -> #return_type {
                let #returned: #return_type = #body;
                #returned
            })()
        },
    };
    let call = |name: &str, args: TokenStream| {
        let function = plan.flavor.runtime_fn(name);
        plan.flavor
            .wait(quote!(#krate::__private::#function(&#spec, #args)))
    };
    let ret_span = plan.return_kind.span;
    let after = match plan.which {
        Which::Put => {
            let entry = match &plan.value {
                None => {
                    quote_spanned!(ret_span=> #krate::__private::put_returned(&#spec, #kind, &#returned))
                }
                Some(_) => quote_spanned!(ret_span=>
                    #krate::__private::put_value_if::<#return_type, _>(#kind, #value, &#returned)
                ),
            };
            let put = call("cache_put", quote!(#key, #entry));
            quote!(#put;)
        }
        Which::Evict => {
            let evict = if plan.all {
                call("cache_evict_all", TokenStream::new())
            } else {
                call("cache_evict", quote!(#key))
            };
            if plan.before {
                // Again after the call, whatever it returned: a read between the first removal
                // and the source write may have cached the old value.
                quote!(#evict;)
            } else {
                let succeeded = quote_spanned!(ret_span=> #krate::__private::succeeded::<#return_type, _>(#kind, &#returned));
                quote!(if #succeeded { #evict; })
            }
        }
    };
    let before = match (plan.which, plan.before) {
        (Which::Evict, true) if plan.all => {
            let evict = call("cache_evict_all", TokenStream::new());
            quote!(#evict;)
        }
        (Which::Evict, true) => {
            let evict = call("cache_evict", quote!(::core::clone::Clone::clone(&#key)));
            quote!(#evict;)
        }
        _ => TokenStream::new(),
    };
    let function = &plan.function;
    let attrs = &function.attrs;
    let vis = &function.vis;
    let sig = &function.sig;
    quote! {
        #(#attrs)*
        #vis #sig {
            #[allow(unused_imports)]
            use #krate::__private::{
                AliasedKindCheck as _, CachedReturnFallback as _, KindProbeFallback as _,
            };
            #spec_item
            #key_binding
            #value_binding
            let #kind = #kind_value;
            #alias_probe
            #before
            let #returned: #return_type = #run_body;
            #after
            #returned
        }
    }
}
