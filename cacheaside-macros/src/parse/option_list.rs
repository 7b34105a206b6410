//! The list of options both attribute grammars share: `name = value, name(…), flag, …`.
//!
//! Reading is lenient: a bad option is recorded and skipped, so that every mistake in the
//! attribute is reported at once, together with the signature's.

use proc_macro2::{TokenStream, TokenTree};
use syn::parse::{ParseStream, Parser};
use syn::{Ident, Token};

use crate::errors::Errors;

/// Reads a comma-separated list of options with `read_option`, which reads one option (its name
/// and value); every error is recorded in `errors` and reading goes on at the next option.
pub fn read_leniently(
    args: TokenStream,
    errors: &mut Errors,
    mut read_option: impl FnMut(ParseStream, &mut Errors) -> syn::Result<()>,
) {
    let parser = |input: ParseStream| {
        while !input.is_empty() {
            if let Err(error) = read_option(input, errors) {
                errors.push(error);
                skip_to_next_option(input);
            }
            if !input.is_empty() {
                if let Err(error) = input.parse::<Token![,]>() {
                    errors.push(error);
                    skip_to_next_option(input);
                    // Consume the comma we stopped at, if any.
                    let _ = input.parse::<Option<Token![,]>>();
                }
            }
        }
        Ok(())
    };
    // The closure above never fails: its errors are collected instead.
    let _ = parser.parse2(args);
}

fn skip_to_next_option(input: ParseStream) {
    while !input.is_empty() && !input.peek(Token![,]) {
        let _ = input.parse::<TokenTree>();
    }
}

/// Keeps the first occurrence of an option and reports any later one.
pub fn store<T>(slot: &mut Option<T>, value: T, name: &Ident, errors: &mut Errors) {
    if slot.is_some() {
        errors.at(
            name,
            format!("duplicate option `{name}`; each option may be given once"),
        );
    } else {
        *slot = Some(value);
    }
}

pub fn expect_eq(input: ParseStream, name: &Ident, example: &str) -> syn::Result<()> {
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        Ok(())
    } else {
        Err(syn::Error::new(
            name.span(),
            format!("`{name}` needs a value: `{example}`"),
        ))
    }
}
