//! How a generated function hands its body to the runtime and waits for it.
//!
//! Only `async fn` is supported so far. Everything that will differ for synchronous functions
//! (a closure instead of a future, a blocking runtime entry point instead of `.await`) is
//! decided here, so that variant is one more arm per method.

use proc_macro2::TokenStream;
use quote::quote;

/// The kind of function being cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `async fn`: the body is a future polled only on a miss; runtime calls are awaited.
    Async,
}

impl Flavor {
    /// The flavor of a signature, or `None` when it cannot be cached yet.
    pub fn of(sig: &syn::Signature) -> Option<Flavor> {
        sig.asyncness.map(|_| Flavor::Async)
    }

    /// A call of the hidden loader, as the lazy value the runtime expects. Calling an `async fn`
    /// runs nothing until the future is polled, so the call itself is lazy.
    pub fn lazy_call(self, call: TokenStream) -> TokenStream {
        match self {
            Flavor::Async => call,
        }
    }

    /// The body rewritten in place (no loader function), as the lazy value the runtime expects.
    pub fn lazy_block(self, block: TokenStream) -> TokenStream {
        match self {
            Flavor::Async => quote!(async move #block),
        }
    }

    /// Waits for the result of a runtime call.
    pub fn wait(self, call: TokenStream) -> TokenStream {
        match self {
            Flavor::Async => quote!(#call.await),
        }
    }
}
