//! Attribute macros of `cacheaside`. Depend on the `cacheaside` crate instead of this one.
//!
//! Stages: read the attribute ([`attr`]) and the function ([`item`]), check them together with
//! spanned errors ([`valid`]), then emit a thin wrapper over the runtime ([`expand`]). On any error
//! the original function is emitted unchanged next to the errors ([`fallback`]).

mod attr;
mod errors;
mod expand;
mod fallback;
mod item;
mod return_kind;
mod ttl;
mod valid;

use proc_macro::TokenStream;

/// Caches an `async fn` in Aerospike. Documented in the `cacheaside` crate, which re-exports it.
#[proc_macro_attribute]
pub fn cache_aside(args: TokenStream, item: TokenStream) -> TokenStream {
    cache_aside_impl(args.into(), item.into()).into()
}

fn cache_aside_impl(
    args: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let mut errors = errors::Errors::default();
    let options = attr::parse(args, &mut errors);
    let plan = match syn::parse2::<item::CachedFn>(item.clone()) {
        Ok(function) => valid::check(function, options, &mut errors),
        Err(error) => {
            errors.push(error);
            None
        }
    };
    match (errors.into_error(), plan) {
        (None, Some(plan)) => expand::expand(&plan),
        (Some(error), _) => fallback::errors_and_original(error, item),
        // `check` returns no plan only after recording an error.
        (None, None) => item,
    }
}
