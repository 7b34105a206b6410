//! How a generated function hands its body to the runtime and waits for it.
//!
//! Everything that differs between `async fn` and a plain `fn` (a future or a closure, `.await` or
//! a blocking runtime entry point) is decided here.

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

use crate::check::plan::Flavor;

impl Flavor {
    /// A call of the hidden loader, as the lazy value the runtime expects. Calling an `async fn`
    /// runs nothing until the future is polled, so the call itself is lazy; a plain call is
    /// wrapped in a closure.
    pub fn lazy_call(self, call: TokenStream) -> TokenStream {
        match self {
            Flavor::Async => call,
            Flavor::Sync => quote!(move || #call),
        }
    }

    /// The body rewritten in place (no loader function), as the lazy value the runtime expects.
    pub fn lazy_block(self, block: TokenStream) -> TokenStream {
        match self {
            Flavor::Async => quote!(async move #block),
            Flavor::Sync => quote!(move || #block),
        }
    }

    /// The `__private` function behind `name` (`get_or_load`, `refresh` or `invalidate`).
    pub fn runtime_fn(self, name: &str) -> Ident {
        match self {
            Flavor::Async => Ident::new(name, Span::call_site()),
            Flavor::Sync => Ident::new(&format!("{name}_blocking"), Span::call_site()),
        }
    }

    /// Waits for the result of a runtime call.
    pub fn wait(self, call: TokenStream) -> TokenStream {
        match self {
            Flavor::Async => quote!(#call.await),
            Flavor::Sync => call,
        }
    }
}
