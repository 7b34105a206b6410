//! Attribute macros of `cacheaside`. Depend on the `cacheaside` crate instead of this one.

use proc_macro::TokenStream;

/// See the `cacheaside` crate.
#[proc_macro_attribute]
pub fn cache_aside(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
