//! Attribute macros of `cacheaside`. Depend on the `cacheaside` crate instead of this one.
//!
//! # Architecture
//!
//! Layers, from the bottom up. A module imports only the layers listed before its own:
//!
//! 1. `errors`: collects spanned errors; emits them next to the item unchanged (fail soft).
//! 2. `parse/`: reads the attributes' options and the annotated function, each on its own.
//! 3. `check/`: checks them together and decides a plan; `check::plan` (the plan types) is its leaf.
//! 4. `emit/`: turns a plan into tokens, thin calls into the runtime's `__private` module.
//! 5. `pipeline`: parse, check and emit one function, or its errors and the function unchanged.
//! 6. `impl_block`: `#[cache_aside]` on an `impl` block, one pipeline run per annotated method.
//! 7. `lib` (this file): the entry points. (`tests` runs whole expansions through it.)

mod check;
mod emit;
mod errors;
mod impl_block;
mod parse;
mod pipeline;

use proc_macro::TokenStream;

use crate::check::plan::Context;
use crate::emit::Expansion;
use crate::parse::put_evict::Which;

/// Caches an `async fn` in Aerospike. Documented in the `cacheaside` crate, which re-exports it.
#[proc_macro_attribute]
pub fn cache_aside(args: TokenStream, item: TokenStream) -> TokenStream {
    cache_aside_impl(args.into(), item.into()).into()
}

/// Writes a function's result to the cache after it succeeded (write-through). Documented in the
/// `cacheaside` crate, which re-exports it.
#[proc_macro_attribute]
pub fn cache_put(args: TokenStream, item: TokenStream) -> TokenStream {
    pipeline::put_evict(Which::Put, args.into(), item.into()).into()
}

/// Removes a cache entry (or a whole set) when a function succeeds. Documented in the `cacheaside`
/// crate, which re-exports it.
#[proc_macro_attribute]
pub fn cache_evict(args: TokenStream, item: TokenStream) -> TokenStream {
    pipeline::put_evict(Which::Evict, args.into(), item.into()).into()
}

fn cache_aside_impl(
    args: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    if impl_block::is_impl_block(&item) {
        return impl_block::expand(args, item);
    }
    match pipeline::cache_aside(args, item, Context::Alone) {
        Ok(Expansion {
            function,
            companions,
        }) => quote::quote!(#function #companions),
        Err(error_and_original) => error_and_original,
    }
}

#[cfg(test)]
mod tests;
