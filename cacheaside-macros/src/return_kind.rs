//! Which part of the return value is cached, read from the return type's syntax.

use proc_macro2::{Span, TokenStream};
use quote::{quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{GenericArgument, PathArguments, ReturnType, Type};

/// Mirrors the runtime's `ResultKind`, `OptionKind` and `PlainKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `Result<T, E>`: only `Ok` is cached.
    Result,
    /// `Option<T>`: only `Some` is cached.
    Option,
    /// Anything else: every value is cached.
    Plain,
}

/// The return kind and the return type's span.
pub struct ReturnKind {
    pub kind: Kind,
    pub span: Span,
}

impl ReturnKind {
    /// Reads the kind from the declared return type: a path ending in `Result<…>` or `Option<…>`.
    /// A type alias with another name is cached whole, as a plain value.
    pub fn from_output(output: &ReturnType) -> Self {
        match output {
            ReturnType::Default => ReturnKind {
                kind: Kind::Plain,
                span: Span::call_site(),
            },
            ReturnType::Type(_, ty) => ReturnKind {
                kind: kind_of(ty),
                span: ty.span(),
            },
        }
    }

    /// The runtime's marker value for this kind, spanned on the return type it was read from.
    pub fn marker(&self, krate: &impl ToTokens) -> TokenStream {
        let name = match self.kind {
            Kind::Result => quote::format_ident!("ResultKind"),
            Kind::Option => quote::format_ident!("OptionKind"),
            Kind::Plain => quote::format_ident!("PlainKind"),
        };
        quote_spanned!(self.span=> #krate::__private::#name)
    }
}

fn kind_of(ty: &Type) -> Kind {
    match ty {
        Type::Paren(inner) => kind_of(&inner.elem),
        Type::Group(inner) => kind_of(&inner.elem),
        Type::Path(path) if path.qself.is_none() => {
            let Some(last) = path.path.segments.last() else {
                return Kind::Plain;
            };
            let has_type_argument = match &last.arguments {
                PathArguments::AngleBracketed(args) => args
                    .args
                    .iter()
                    .any(|arg| matches!(arg, GenericArgument::Type(_))),
                _ => false,
            };
            match last.ident.to_string().as_str() {
                "Result" if has_type_argument => Kind::Result,
                "Option" if has_type_argument => Kind::Option,
                _ => Kind::Plain,
            }
        }
        _ => Kind::Plain,
    }
}

#[cfg(test)]
mod tests {
    use syn::parse_quote;

    use super::*;

    fn kind(output: ReturnType) -> Kind {
        ReturnKind::from_output(&output).kind
    }

    #[test]
    fn reads_kinds_from_syntax() {
        assert_eq!(kind(parse_quote!(-> Result<User, DbError>)), Kind::Result);
        assert_eq!(
            kind(parse_quote!(-> ::std::result::Result<u8, ()>)),
            Kind::Result
        );
        assert_eq!(kind(parse_quote!(-> io::Result<u8>)), Kind::Result);
        assert_eq!(kind(parse_quote!(-> Option<String>)), Kind::Option);
        assert_eq!(kind(parse_quote!(-> (Option<String>))), Kind::Option);
        assert_eq!(kind(parse_quote!(-> Vec<u8>)), Kind::Plain);
        assert_eq!(kind(parse_quote!(-> DbResult<u8>)), Kind::Plain);
        assert_eq!(kind(parse_quote!(-> Result)), Kind::Plain);
        assert_eq!(kind(parse_quote!()), Kind::Plain);
    }
}
