//! On any error: report it and emit the function unchanged, so callers see no follow-on errors.

use proc_macro2::TokenStream;
use quote::quote;

pub fn errors_and_original(error: syn::Error, original: TokenStream) -> TokenStream {
    let errors = error.to_compile_error();
    quote!(#errors #original)
}
