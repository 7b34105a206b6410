//! Collects every error of one expansion so they are all reported together, and reports them
//! next to the original item (fail soft).

use core::fmt::Display;

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};

/// Spanned errors gathered while reading and checking one annotated function.
#[derive(Default)]
pub struct Errors {
    errors: Vec<syn::Error>,
}

impl Errors {
    /// Records an error spanned on `tokens`.
    pub fn at(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.errors.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an error spanned on `span`.
    pub fn at_span(&mut self, span: proc_macro2::Span, message: impl Display) {
        self.errors.push(syn::Error::new(span, message));
    }

    /// Records an error as reported by `syn`.
    pub fn push(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// All errors combined into one, or `None` when nothing went wrong.
    pub fn into_error(self) -> Option<syn::Error> {
        self.errors.into_iter().reduce(|mut all, next| {
            all.combine(next);
            all
        })
    }
}

/// On any error: report it and emit the item unchanged, so callers see no follow-on errors.
pub fn errors_and_original(error: syn::Error, original: TokenStream) -> TokenStream {
    let errors = error.to_compile_error();
    quote!(#errors #original)
}
