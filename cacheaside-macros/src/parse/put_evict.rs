//! The grammar of the write attributes: `#[cache_put(set = "users", key = user.id, ttl = "1h")]`
//! and `#[cache_evict(set = "users", key = id)]`.
//!
//! Both read every option either accepts, so that an option of the other one is answered with
//! what to write instead rather than "unknown option". Values use the grammar of `#[cache_aside]`
//! (same set and namespace checks, same ttl forms).

use proc_macro2::TokenStream;
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::{Expr, Ident, LitBool, LitStr};

use crate::errors::Errors;
use crate::parse::option_list::{expect_eq, read_leniently, store};
use crate::parse::ttl::{self, TtlValue};
use crate::parse::values::{self, Returns};

/// Which write attribute is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// `#[cache_put]`: writes the result.
    Put,
    /// `#[cache_evict]`: removes the entry.
    Evict,
}

impl Which {
    /// The attribute's name, as users write it.
    pub fn name(self) -> &'static str {
        match self {
            Which::Put => "cache_put",
            Which::Evict => "cache_evict",
        }
    }

    /// The options this attribute accepts, in the order the docs list them.
    pub fn options(self) -> &'static [&'static str] {
        match self {
            Which::Put => &[
                "set",
                "key",
                "ttl",
                "value",
                "namespace",
                "cache",
                "codec",
                "returns",
                "crate",
            ],
            Which::Evict => &[
                "set",
                "key",
                "before",
                "all",
                "namespace",
                "cache",
                "returns",
                "crate",
            ],
        }
    }

    fn valid_options(self) -> String {
        let quoted: Vec<String> = (self.options().iter())
            .map(|name| format!("`{name}`"))
            .collect();
        quoted.join(", ")
    }
}

/// An option's value and the option's name, where errors about it point.
pub struct Named<T> {
    pub name: Ident,
    pub value: T,
}

/// The options as written; `None` where an option was omitted or invalid.
#[derive(Default)]
pub struct WriteOptions {
    pub set: Option<LitStr>,
    pub namespace: Option<LitStr>,
    /// `cache = "analytics"`: the cluster installed by `init_named` under this name.
    pub cache: Option<LitStr>,
    pub key: Option<Named<Expr>>,
    pub ttl: Option<Named<TtlValue>>,
    /// `value = <expr>` (put): what to write instead of the returned value.
    pub value: Option<Named<Expr>>,
    /// `before = true` (evict).
    pub before: Option<Named<LitBool>>,
    /// `all = true` (evict).
    pub all: Option<Named<LitBool>>,
    pub returns: Option<Returns>,
    /// `codec = "bincode"` (put): the reader's codec.
    pub codec: Option<Named<values::CodecOption>>,
    pub krate: Option<syn::Path>,
}

/// Parses the attribute's arguments, recording every problem in `errors`.
pub fn parse(which: Which, args: TokenStream, errors: &mut Errors) -> WriteOptions {
    let mut options = WriteOptions::default();
    read_leniently(args, errors, |input, errors| {
        parse_option(which, input, &mut options, errors)
    });
    options
}

fn parse_option(
    which: Which,
    input: ParseStream,
    options: &mut WriteOptions,
    errors: &mut Errors,
) -> syn::Result<()> {
    let name = input.call(Ident::parse_any).map_err(|_| {
        input.error(format!(
            "expected an option such as `set = \"users\"`; valid options are {}",
            which.valid_options()
        ))
    })?;
    let option = name.to_string();
    match option.as_str() {
        "set" => {
            let value = values::parse_name(input, &name, values::MAX_SET_NAME, errors)?;
            store(&mut options.set, value, &name, errors);
        }
        "namespace" => {
            let value = values::parse_name(input, &name, values::MAX_NAMESPACE_NAME, errors)?;
            store(&mut options.namespace, value, &name, errors);
        }
        "cache" => {
            let value = values::parse_cluster_name(input, &name, errors)?;
            store(&mut options.cache, value, &name, errors);
        }
        "key" => {
            expect_eq(input, &name, "key = user.id")?;
            let value = Named {
                name: name.clone(),
                value: input.parse()?,
            };
            store(&mut options.key, value, &name, errors);
        }
        "value" => {
            expect_eq(input, &name, "value = user")?;
            let value = Named {
                name: name.clone(),
                value: input.parse()?,
            };
            store(&mut options.value, value, &name, errors);
        }
        "ttl" => {
            let value = Named {
                name: name.clone(),
                value: ttl::parse_ttl(input, &name)?,
            };
            store(&mut options.ttl, value, &name, errors);
        }
        "before" | "all" => {
            let example = format!("{name} = true");
            expect_eq(input, &name, &example)?;
            let value: LitBool = input.parse().map_err(|error| {
                syn::Error::new(
                    error.span(),
                    format!("`{name}` takes `true` or `false`: `{example}`"),
                )
            })?;
            let value = Named {
                name: name.clone(),
                value,
            };
            let slot = match option.as_str() {
                "before" => &mut options.before,
                _ => &mut options.all,
            };
            store(slot, value, &name, errors);
        }
        "returns" => {
            let value = values::parse_returns(input, &name)?;
            store(&mut options.returns, value, &name, errors);
        }
        "codec" => {
            let value = Named {
                name: name.clone(),
                value: values::parse_codec(input, &name)?,
            };
            store(&mut options.codec, value, &name, errors);
        }
        "crate" => {
            let value = values::parse_crate_path(input, &name)?;
            store(&mut options.krate, value, &name, errors);
        }
        _ => {
            let hint = match option.as_str() {
                "skip" => "; the key is always `key = <expr>` on a write attribute, so nothing needs skipping",
                "none_ttl" | "refresh_ahead" | "stale_if_error" | "touch_on_read" | "ttl_from"
                | "local" | "companions" => "; it is an option of `#[cache_aside]`, the reader",
                _ => "",
            };
            return Err(syn::Error::new(
                name.span(),
                format!(
                    "unknown option `{option}` of `#[{}]`{hint}; valid options are {}",
                    which.name(),
                    which.valid_options()
                ),
            ));
        }
    }
    Ok(())
}

/// Reports the options read that the other attribute takes, each with what to write instead.
pub fn reject_foreign(which: Which, options: &WriteOptions, errors: &mut Errors) {
    match which {
        Which::Put => {
            for (option, present) in [("before", &options.before), ("all", &options.all)] {
                if let Some(named) = present {
                    errors.at(
                        &named.name,
                        format!(
                            "`{option}` is an option of `#[cache_evict]`; `#[cache_put]` writes \
                             the new value after the call. To remove entries instead, write \
                             `#[cache_evict(set = …, key = …, {option} = true)]`"
                        ),
                    );
                }
            }
        }
        Which::Evict => {
            if let Some(ttl) = &options.ttl {
                errors.at(
                    &ttl.name,
                    "`#[cache_evict]` removes entries, so it takes no `ttl`; remove `ttl = …` (to write the new value with a ttl, use `#[cache_put(set = …, key = …, ttl = …)]`)",
                );
            }
            if let Some(value) = &options.value {
                errors.at(
                    &value.name,
                    "`#[cache_evict]` removes the entry and writes no value; remove `value = …`, or use `#[cache_put(set = …, key = …, value = …)]` to write it",
                );
            }
            if let Some(codec) = &options.codec {
                errors.at(
                    &codec.name,
                    "`#[cache_evict]` removes entries whatever their codec, so it takes no `codec`; remove `codec = …`",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    fn messages(which: Which, args: TokenStream) -> Vec<String> {
        let mut errors = Errors::default();
        let options = parse(which, args, &mut errors);
        reject_foreign(which, &options, &mut errors);
        errors
            .into_error()
            .map(|error| error.into_iter().map(|e| e.to_string()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn reads_every_option() {
        let mut errors = Errors::default();
        let options = parse(
            Which::Put,
            quote!(
                set = "users",
                key = user.id,
                ttl = "1h",
                value = user,
                namespace = "cache",
                returns = result,
                crate = ::my::cache
            ),
            &mut errors,
        );
        assert!(errors.into_error().is_none());
        assert_eq!(options.set.unwrap().value(), "users");
        assert_eq!(options.namespace.unwrap().value(), "cache");
        assert_eq!(options.ttl.unwrap().value, TtlValue::Seconds(3600));
        let key = options.key.unwrap().value;
        assert_eq!(quote!(#key).to_string(), quote!(user.id).to_string());
        assert!(options.value.is_some() && options.returns.is_some() && options.krate.is_some());

        let mut errors = Errors::default();
        let options = parse(
            Which::Evict,
            quote!(set = "users", all = true, before = false),
            &mut errors,
        );
        assert!(errors.into_error().is_none());
        assert!(options.all.unwrap().value.value);
        assert!(!options.before.unwrap().value.value);
    }

    #[test]
    fn answers_options_of_the_other_attribute_and_of_the_reader() {
        let found = messages(
            Which::Evict,
            quote!(ttl = 60, value = user, skip(db), local(ttl = 1)),
        );
        assert_eq!(found.len(), 4, "{found:#?}");
        assert!(
            found[0].contains("of `#[cache_evict]`; the key is always"),
            "{}",
            found[0]
        );
        assert!(
            found[1].contains("option of `#[cache_aside]`"),
            "{}",
            found[1]
        );
        assert!(found[2].starts_with("`#[cache_evict]` removes entries, so it takes no `ttl`"));
        assert!(found[3].starts_with("`#[cache_evict]` removes the entry and writes no value"));
        let found = messages(Which::Put, quote!(all = true, before = true, colour = 1));
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(found[0].starts_with("unknown option `colour` of `#[cache_put]`; valid options are `set`, `key`, `ttl`, `value`"));
        assert!(found[1].starts_with("`before` is an option of `#[cache_evict]`"));
        assert!(found[2].starts_with("`all` is an option of `#[cache_evict]`"));
    }

    #[test]
    fn reports_bad_values_and_duplicates() {
        let found = messages(
            Which::Evict,
            quote!(set = "", all = yes, key = 1, key = 2, before),
        );
        assert_eq!(found.len(), 4, "{found:#?}");
        assert!(found[0].contains("must not be empty"));
        assert!(found[1].starts_with("`all` takes `true` or `false`"));
        assert!(found[2].starts_with("duplicate option `key`"));
        assert!(found[3].starts_with("`before` needs a value: `before = true`"));
    }
}
