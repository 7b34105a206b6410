//! The annotated function as written, read without looking inside its body.

use proc_macro2::{Delimiter, Group, Span, TokenStream};
use quote::{format_ident, ToTokens};
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, FnArg, Ident, Pat, PatType, Receiver, Signature, Token, Type, Visibility};

/// An `fn` item or method. The body is kept as tokens so that a body that does not parse is still
/// emitted unchanged (editors keep working while it is being typed).
pub struct CachedFn {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub sig: Signature,
    pub body: Group,
}

impl Parse for CachedFn {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let sig: Signature = input.parse().map_err(|error| {
            syn::Error::new(
                error.span(),
                "`#[cache_aside]` applies to `fn` and `async fn` items and methods",
            )
        })?;
        if input.peek(Token![;]) {
            return Err(input.error(
                "`#[cache_aside]` needs the function's body; in a trait, annotate the method of the `impl` block",
            ));
        }
        let body: Group = input.parse()?;
        if body.delimiter() != Delimiter::Brace {
            return Err(syn::Error::new(
                body.span(),
                "expected the function's body in `{ … }`",
            ));
        }
        Ok(CachedFn {
            attrs,
            vis,
            sig,
            body,
        })
    }
}

/// One argument other than `self`.
pub struct Param {
    /// The argument's name when its pattern is a plain identifier (`id` in `mut id: u64`).
    pub name: Option<Ident>,
    /// `_: T`: the body ignores it, so it is never part of the key.
    pub ignored: bool,
    /// The name the wrapper uses for it: the argument's own name, or a hidden one for patterns.
    pub binding: Ident,
    /// The pattern as written, bound from `binding` where the body needs it.
    pub pat: Pat,
    pub attrs: Vec<Attribute>,
    pub ty: Type,
}

/// `#[cfg(…)]` attributes, as the one predicate that keeps an argument (`all(…)` of them), or
/// `None` for an argument that is always there.
pub fn cfg_predicate(attrs: &[Attribute]) -> Option<TokenStream> {
    let predicates: Vec<TokenStream> = attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"))
        .filter_map(|attr| attr.meta.require_list().ok())
        .map(|list| list.tokens.clone())
        .collect();
    if predicates.is_empty() {
        None
    } else {
        Some(quote::quote!(all(#(#predicates),*)))
    }
}

impl Param {
    /// The argument as the wrapper declares it: `binding: Type`, without `mut` or a pattern.
    pub fn declaration(&self) -> TokenStream {
        let Param {
            attrs, binding, ty, ..
        } = self;
        quote::quote!(#(#attrs)* #binding: #ty)
    }

    /// The predicate of the argument's `#[cfg(…)]` attributes, if it has any.
    pub fn cfg(&self) -> Option<TokenStream> {
        cfg_predicate(&self.attrs)
    }

    /// Whether the body needs `let <pat> = <binding>;` to see the argument as written.
    pub fn needs_rebinding(&self) -> bool {
        !matches!(&self.pat, Pat::Ident(pat) if pat.by_ref.is_none() && pat.mutability.is_none() && pat.subpat.is_none())
    }
}

/// The signature's inputs, split into the receiver and the other arguments.
pub struct Inputs {
    pub receiver: Option<Receiver>,
    pub params: Vec<Param>,
}

pub fn split_inputs(sig: &Signature) -> Inputs {
    let mut receiver = None;
    let mut params = Vec::new();
    for (index, input) in sig.inputs.iter().enumerate() {
        match input {
            FnArg::Receiver(found) => receiver = Some(found.clone()),
            FnArg::Typed(PatType { attrs, pat, ty, .. }) => {
                let (name, ignored) = match &**pat {
                    Pat::Ident(pat) if pat.subpat.is_none() => (Some(pat.ident.clone()), false),
                    Pat::Wild(_) => (None, true),
                    _ => (None, false),
                };
                // A hidden name for patterns; mixed-site so it cannot clash with the user's names.
                let binding = match &name {
                    Some(name) => name.clone(),
                    None => format_ident!("__cacheaside_arg{}", index, span = Span::mixed_site()),
                };
                params.push(Param {
                    name,
                    ignored,
                    binding,
                    pat: (**pat).clone(),
                    attrs: attrs.clone(),
                    ty: (**ty).clone(),
                });
            }
        }
    }
    Inputs { receiver, params }
}

/// Whether `tokens` contain the identifier `name` anywhere: also inside macro calls, and as an
/// implicit capture in a format string (`format!("user:{id}")`).
pub fn mentions(tokens: &impl ToTokens, name: &Ident) -> bool {
    fn scan(tokens: TokenStream, name: &Ident) -> bool {
        tokens.into_iter().any(|tree| match tree {
            proc_macro2::TokenTree::Ident(ident) => ident == *name,
            proc_macro2::TokenTree::Group(group) => scan(group.stream(), name),
            proc_macro2::TokenTree::Literal(literal) => captures_in_format_string(&literal, name),
            proc_macro2::TokenTree::Punct(_) => false,
        })
    }
    scan(tokens.to_token_stream(), name)
}

fn captures_in_format_string(literal: &proc_macro2::Literal, name: &Ident) -> bool {
    let Ok(text) = syn::parse2::<syn::LitStr>(literal.to_token_stream()) else {
        return false;
    };
    let text = text.value();
    let name = name.to_string();
    text.match_indices('{').any(|(start, _)| {
        let rest = &text[start + 1..];
        rest.strip_prefix(name.as_str())
            .is_some_and(|after| after.starts_with('}') || after.starts_with(':'))
    })
}

#[cfg(test)]
mod tests {
    use quote::{format_ident, quote};

    use super::mentions;

    #[test]
    fn finds_names_in_expressions_macros_and_format_strings() {
        let id = format_ident!("id");
        assert!(mentions(&quote!(id.to_string()), &id));
        assert!(mentions(&quote!(format!("{}", id)), &id));
        assert!(mentions(&quote!(format!("user:{id}")), &id));
        assert!(mentions(&quote!(format!("user:{id:>8}")), &id));
        assert!(!mentions(&quote!(format!("user:{idx}")), &id));
        assert!(!mentions(&quote!(user.ident), &id));
        assert!(!mentions(&quote!("id"), &id));
    }
}
