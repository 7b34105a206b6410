//! Which part of the return value is cached: said by `returns = …`, or read from the return type's
//! syntax where that is unambiguous. Either way the generated code checks the real type, so a wrong
//! guess is a compile error at the return type rather than cached `Err` values.

use proc_macro2::Span;
use quote::{quote, ToTokens};
use syn::spanned::Spanned;
use syn::{GenericArgument, PathArguments, ReturnType, Type};

use crate::check::plan::ReturnKind;
use crate::errors::Errors;
use crate::parse::values::{Kind, Returns};

impl ReturnKind {
    /// Decides the kind, recording an error when it cannot be decided safely.
    pub fn decide(
        output: &ReturnType,
        explicit: Option<&Returns>,
        errors: &mut Errors,
    ) -> Option<Self> {
        let (ty, span) = match output {
            ReturnType::Default => (quote!(()), Span::call_site()),
            ReturnType::Type(_, ty) => (ty.to_token_stream(), ty.span()),
        };
        if let ReturnType::Type(_, ty) = output {
            if contains_impl_trait(ty) {
                errors.at(
                    ty,
                    "a cached function cannot return `impl Trait`: a cache hit rebuilds the value from its stored bytes, so name the concrete type",
                );
                return None;
            }
        }
        if let Some(returns) = explicit {
            return Some(ReturnKind {
                kind: returns.kind,
                ty,
                span,
                guessed_plain: false,
            });
        }
        let guess = match output {
            ReturnType::Default => Guess::Known(Kind::Plain),
            ReturnType::Type(_, ty) => guess(ty),
        };
        match guess {
            Guess::Known(kind) => Some(ReturnKind {
                kind,
                ty,
                span,
                guessed_plain: kind == Kind::Plain,
            }),
            Guess::Ambiguous(name) => {
                let (kind, cached_part) = if name.ends_with("Option") {
                    ("option", "`Some`")
                } else {
                    ("result", "`Ok`")
                };
                errors.at_span(
                    span,
                    format!(
                        "cannot tell from the name `{name}` what to cache: add `returns = {kind}` to cache only {cached_part}, or `returns = value` to cache every returned value"
                    ),
                );
                None
            }
        }
    }
}

enum Guess {
    Known(Kind),
    /// A name that suggests a `Result` or an `Option` without being one syntactically.
    Ambiguous(String),
}

fn guess(ty: &Type) -> Guess {
    match ty {
        Type::Paren(inner) => guess(&inner.elem),
        Type::Group(inner) => guess(&inner.elem),
        Type::Path(path) if path.qself.is_none() => {
            let Some(last) = path.path.segments.last() else {
                return Guess::Known(Kind::Plain);
            };
            let has_type_argument = match &last.arguments {
                PathArguments::AngleBracketed(args) => args
                    .args
                    .iter()
                    .any(|arg| matches!(arg, GenericArgument::Type(_))),
                _ => false,
            };
            let name = last.ident.to_string();
            match name.as_str() {
                "Result" if has_type_argument => Guess::Known(Kind::Result),
                "Option" if has_type_argument => Guess::Known(Kind::Option),
                _ if name.ends_with("Result") || name.ends_with("Option") => Guess::Ambiguous(name),
                _ => Guess::Known(Kind::Plain),
            }
        }
        _ => Guess::Known(Kind::Plain),
    }
}

fn contains_impl_trait(ty: &Type) -> bool {
    match ty {
        Type::ImplTrait(_) => true,
        Type::Paren(inner) => contains_impl_trait(&inner.elem),
        Type::Group(inner) => contains_impl_trait(&inner.elem),
        Type::Reference(inner) => contains_impl_trait(&inner.elem),
        Type::Slice(inner) => contains_impl_trait(&inner.elem),
        Type::Array(inner) => contains_impl_trait(&inner.elem),
        Type::Tuple(tuple) => tuple.elems.iter().any(contains_impl_trait),
        Type::Path(path) => path.path.segments.iter().any(|segment| {
            matches!(&segment.arguments, PathArguments::AngleBracketed(args)
                if args.args.iter().any(|arg| matches!(arg, GenericArgument::Type(ty) if contains_impl_trait(ty))))
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use syn::parse_quote;

    use super::*;

    fn decided(output: ReturnType) -> Result<(Kind, bool), Vec<String>> {
        let mut errors = Errors::default();
        let decided = ReturnKind::decide(&output, None, &mut errors);
        match (decided, errors.into_error()) {
            (Some(kind), None) => Ok((kind.kind, kind.guessed_plain)),
            (_, Some(error)) => Err(error.into_iter().map(|e| e.to_string()).collect()),
            (None, None) => panic!("no kind and no error"),
        }
    }

    #[test]
    fn reads_kinds_from_syntax() {
        let kind = |output| decided(output).map(|(kind, _)| kind);
        assert_eq!(
            kind(parse_quote!(-> Result<User, DbError>)),
            Ok(Kind::Result)
        );
        assert_eq!(
            kind(parse_quote!(-> ::std::result::Result<u8, ()>)),
            Ok(Kind::Result)
        );
        assert_eq!(kind(parse_quote!(-> io::Result<u8>)), Ok(Kind::Result));
        assert_eq!(kind(parse_quote!(-> anyhow::Result<u8>)), Ok(Kind::Result));
        assert_eq!(kind(parse_quote!(-> Option<String>)), Ok(Kind::Option));
        assert_eq!(kind(parse_quote!(-> (Option<String>))), Ok(Kind::Option));
        assert_eq!(kind(parse_quote!(-> Vec<u8>)), Ok(Kind::Plain));
        assert_eq!(kind(parse_quote!()), Ok(Kind::Plain));
    }

    #[test]
    fn guessed_plain_values_are_probed_and_the_others_are_not() {
        assert_eq!(decided(parse_quote!(-> Vec<u8>)), Ok((Kind::Plain, true)));
        assert_eq!(
            decided(parse_quote!(-> Option<u8>)),
            Ok((Kind::Option, false))
        );
        let mut errors = Errors::default();
        let returns = crate::parse::values::Returns { kind: Kind::Plain };
        let output: ReturnType = parse_quote!(-> DbResult<u8>);
        let explicit = ReturnKind::decide(&output, Some(&returns), &mut errors).unwrap();
        assert!(!explicit.guessed_plain);
        assert!(errors.into_error().is_none());
    }

    #[test]
    fn asks_for_the_option_where_the_name_suggests_a_kind() {
        for output in [
            parse_quote!(-> DbResult<u8>),
            parse_quote!(-> Result),
            parse_quote!(-> LookupResult),
        ] {
            let errors = decided(output).unwrap_err();
            assert!(errors[0].contains("add `returns = result`"), "{errors:?}");
        }
        let errors = decided(parse_quote!(-> MaybeOption<u8>)).unwrap_err();
        assert!(errors[0].contains("add `returns = option`"), "{errors:?}");
    }

    #[test]
    fn rejects_impl_trait_return_types() {
        for output in [
            parse_quote!(-> impl Iterator<Item = u8>),
            parse_quote!(-> Vec<impl Clone>),
            parse_quote!(-> Result<impl Clone, ()>),
        ] {
            let errors = decided(output).unwrap_err();
            assert!(
                errors[0].contains("cannot return `impl Trait`"),
                "{errors:?}"
            );
        }
    }
}
