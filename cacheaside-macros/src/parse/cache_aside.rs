//! The grammar of `#[cache_aside(set = "users", ttl = 3600, skip(db), …)]`.
//!
//! Parsing is lenient: a bad option is reported and skipped so that every mistake in the attribute
//! is reported at once, together with the signature's.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::{parenthesized, Expr, Ident, Lit, LitBool, LitStr, Token};

use crate::errors::Errors;
use crate::parse::option_list::{expect_eq, read_leniently, store};
use crate::parse::ttl::{parse_timeout, parse_ttl, parse_window, TtlValue};
#[cfg(test)]
use crate::parse::values::Kind;
use crate::parse::values::{
    parse_cluster_name, parse_codec, parse_crate_path, parse_name, parse_returns, CodecOption,
    Returns, MAX_NAMESPACE_NAME, MAX_SET_NAME,
};

/// Every option the attribute accepts, in the order the docs list them.
pub const OPTIONS: &[&str] = &[
    "set",
    "ttl",
    "namespace",
    "cache",
    "skip",
    "key",
    "returns",
    "none_ttl",
    "refresh_ahead",
    "stale_if_error",
    "soft_timeout",
    "touch_on_read",
    "ttl_from",
    "local",
    "lease",
    "codec",
    "batch",
    "companions",
    "crate",
];

/// The options as written; `None` where an option was omitted or invalid.
#[derive(Default)]
pub struct Options {
    pub set: Option<LitStr>,
    pub namespace: Option<LitStr>,
    /// `cache = "analytics"`: the cluster installed by `init_named` under this name.
    pub cache: Option<LitStr>,
    pub ttl: Option<TtlValue>,
    pub skip: Option<Skip>,
    pub key: Option<ExplicitKey>,
    pub companions: Option<LitBool>,
    pub returns: Option<Returns>,
    /// `none_ttl = "30s"`: cache `None` too, with this TTL.
    pub none_ttl: Option<Spanned<TtlValue>>,
    /// `refresh_ahead = 0.2`, in thousandths of the TTL.
    pub refresh_ahead: Option<Spanned<u16>>,
    /// `stale_if_error = "10m"`, in seconds.
    pub stale_if_error: Option<Spanned<u32>>,
    /// `soft_timeout = "100ms"`, in milliseconds.
    pub soft_timeout: Option<Spanned<u32>>,
    /// `local(ttl = "5s", capacity = 10_000)`.
    pub local: Option<Spanned<Local>>,
    /// `touch_on_read` or `touch_on_read = 0.8`, in thousandths of the TTL.
    pub touch_on_read: Option<Spanned<u16>>,
    /// `ttl_from = path::to::fn`: each entry's TTL from its value.
    pub ttl_from: Option<Spanned<syn::Path>>,
    /// `lease` or `lease = "2s"`, in milliseconds.
    pub lease: Option<Spanned<u32>>,
    /// `batch`: the function loads many ids at once (see `check::batch` and `emit::batch`).
    pub batch: Option<Ident>,
    /// `codec = "bincode"`: how values are encoded.
    pub codec: Option<CodecOption>,
    /// `crate = path`: where generated code finds the facade.
    pub krate: Option<syn::Path>,
}

/// An option's value and the option's name, where errors about it point.
pub struct Spanned<T> {
    pub name: Ident,
    pub value: T,
}

/// `local(ttl = "5s", capacity = 10_000)`: the in-process tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Local {
    pub ttl_secs: u32,
    pub capacity: u64,
}

/// `touch_on_read` without a value: a hit with less than 80% of the TTL left resets it.
pub const DEFAULT_TOUCH_PERMILLE: u16 = 800;

/// The local tier's capacity when `local(…)` names none.
pub const DEFAULT_LOCAL_CAPACITY: u64 = 10_000;

/// `skip(a, b)`.
pub struct Skip {
    pub keyword: Ident,
    pub names: Vec<Ident>,
}

/// `key = <expr>`.
pub struct ExplicitKey {
    pub expr: Expr,
}

/// Parses the attribute's arguments, recording every problem in `errors`.
pub fn parse(args: TokenStream, errors: &mut Errors) -> Options {
    let mut options = Options::default();
    read_leniently(args, errors, |input, errors| {
        parse_option(input, &mut options, errors)
    });
    options
}

fn valid_options() -> String {
    let quoted: Vec<String> = OPTIONS.iter().map(|name| format!("`{name}`")).collect();
    quoted.join(", ")
}

fn parse_option(input: ParseStream, options: &mut Options, errors: &mut Errors) -> syn::Result<()> {
    let name = match input.call(Ident::parse_any) {
        Ok(name) => name,
        Err(_) => {
            return Err(input.error(format!(
                "expected an option such as `set = \"users\"`; valid options are {}",
                valid_options()
            )))
        }
    };
    let option = name.to_string();
    match option.as_str() {
        "set" => {
            let value = parse_name(input, &name, MAX_SET_NAME, errors)?;
            store(&mut options.set, value, &name, errors);
        }
        "namespace" => {
            let value = parse_name(input, &name, MAX_NAMESPACE_NAME, errors)?;
            store(&mut options.namespace, value, &name, errors);
        }
        "cache" => {
            let value = parse_cluster_name(input, &name, errors)?;
            store(&mut options.cache, value, &name, errors);
        }
        "ttl" => {
            let value = parse_ttl(input, &name)?;
            store(&mut options.ttl, value, &name, errors);
        }
        "skip" => {
            let value = parse_skip(input, &name)?;
            store(&mut options.skip, value, &name, errors);
        }
        "key" => {
            expect_eq(input, &name, "key = format!(\"user:{}\", id)")?;
            let expr: Expr = input.parse()?;
            let value = ExplicitKey { expr };
            store(&mut options.key, value, &name, errors);
        }
        "companions" => {
            expect_eq(input, &name, "companions = false")?;
            let value: LitBool = input.parse().map_err(|error| {
                syn::Error::new(error.span(), "`companions` takes `true` or `false`")
            })?;
            store(&mut options.companions, value, &name, errors);
        }
        "none_ttl" => {
            let value = parse_ttl(input, &name)?;
            store_spanned(&mut options.none_ttl, value, &name, errors);
        }
        "refresh_ahead" => {
            let value = parse_fraction(input, &name)?;
            store_spanned(&mut options.refresh_ahead, value, &name, errors);
        }
        "stale_if_error" => {
            let value = parse_window(input, &name)?;
            store_spanned(&mut options.stale_if_error, value, &name, errors);
        }
        "soft_timeout" => {
            let value = parse_timeout(input, &name)?;
            store_spanned(&mut options.soft_timeout, value, &name, errors);
        }
        "touch_on_read" => {
            // Alone, the part of Aerospike's own example: touch once 20% of the TTL has passed.
            let value = if input.peek(Token![=]) {
                parse_fraction(input, &name)?
            } else {
                DEFAULT_TOUCH_PERMILLE
            };
            store_spanned(&mut options.touch_on_read, value, &name, errors);
        }
        "ttl_from" => {
            expect_eq(input, &name, "ttl_from = path::to::ttl_fn")?;
            let path = input.call(syn::Path::parse_mod_style).map_err(|error| {
                syn::Error::new(
                    error.span(),
                    "`ttl_from` takes the path of a `fn(&T) -> std::time::Duration`, e.g. `ttl_from = Row::ttl`",
                )
            })?;
            store_spanned(&mut options.ttl_from, path, &name, errors);
        }
        "local" => {
            let value = parse_local(input, &name)?;
            store_spanned(&mut options.local, value, &name, errors);
        }
        "lease" => {
            let value = if input.peek(Token![=]) {
                parse_lease(input, &name)?
            } else {
                DEFAULT_LEASE_MS
            };
            let value = Spanned {
                name: name.clone(),
                value,
            };
            store(&mut options.lease, value, &name, errors);
        }
        "batch" => {
            if input.peek(Token![=]) || input.peek(syn::token::Paren) {
                return Err(syn::Error::new(
                    name.span(),
                    "`batch` takes no value: write `batch` alone, e.g. `#[cache_aside(set = \"users\", ttl = 3600, batch)]`",
                ));
            }
            store(&mut options.batch, name.clone(), &name, errors);
        }
        "returns" => {
            let value = parse_returns(input, &name)?;
            store(&mut options.returns, value, &name, errors);
        }
        "codec" => {
            let value = parse_codec(input, &name)?;
            store(&mut options.codec, value, &name, errors);
        }
        "crate" => {
            let value = parse_crate_path(input, &name)?;
            store(&mut options.krate, value, &name, errors);
        }
        _ => {
            return Err(syn::Error::new(
                name.span(),
                format!(
                    "unknown option `{option}`; valid options are {}",
                    valid_options()
                ),
            ))
        }
    }
    Ok(())
}

/// `lease` without a value: other processes wait up to 2 s for the one that loads.
pub const DEFAULT_LEASE_MS: u32 = 2_000;

/// The longest lease: a caller waits at most twice this (plus a second) for another process.
const MAX_LEASE_MS: u64 = 10 * 60 * 1000;

const LEASE_FORM: &str = "a duration string of milliseconds, seconds or minutes between 10ms and 10m, e.g. `lease = \"2s\"` or `lease = \"500ms\"` (or `lease` alone: 2 s)";

/// `lease = "2s"`, in milliseconds.
fn parse_lease(input: ParseStream, name: &Ident) -> syn::Result<u32> {
    expect_eq(input, name, "lease = \"2s\"")?;
    let expected = |span: Span| syn::Error::new(span, format!("`lease` takes {LEASE_FORM}"));
    let lit: Lit = input.parse().map_err(|error| expected(error.span()))?;
    let Lit::Str(text) = &lit else {
        return Err(expected(lit.span()));
    };
    let value = text.value();
    let (number, unit_ms) = if let Some(number) = value.strip_suffix("ms") {
        (number, 1)
    } else if let Some(number) = value.strip_suffix('s') {
        (number, 1000)
    } else if let Some(number) = value.strip_suffix('m') {
        (number, 60 * 1000)
    } else {
        return Err(expected(text.span()));
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(expected(text.span()));
    }
    let millis = number
        .parse::<u64>()
        .ok()
        .and_then(|count| count.checked_mul(unit_ms))
        .filter(|millis| (10..=MAX_LEASE_MS).contains(millis))
        .ok_or_else(|| expected(text.span()))?;
    // At most ten minutes by the check above.
    Ok(millis as u32)
}

/// Keeps an option's value with the option's name, where errors about it point (see [`store`]).
fn store_spanned<T>(slot: &mut Option<Spanned<T>>, value: T, name: &Ident, errors: &mut Errors) {
    let name_and_value = Spanned {
        name: name.clone(),
        value,
    };
    store(slot, name_and_value, name, errors);
}

const FRACTION_FORM: &str = "a fraction of the ttl between 0 and 1 with at most three decimals";

/// `refresh_ahead = 0.2`: a fraction in (0, 1), kept in thousandths.
fn parse_fraction(input: ParseStream, name: &Ident) -> syn::Result<u16> {
    let example = match name.to_string().as_str() {
        "touch_on_read" => "touch_on_read = 0.8",
        _ => "refresh_ahead = 0.2",
    };
    expect_eq(input, name, example)?;
    let expected = |span: Span| {
        syn::Error::new(
            span,
            format!("`{name}` takes {FRACTION_FORM}, e.g. `{example}`"),
        )
    };
    let lit: Lit = input.parse().map_err(|error| expected(error.span()))?;
    let Lit::Float(float) = &lit else {
        return Err(expected(lit.span()));
    };
    let fraction: f64 = float.base10_parse().map_err(|_| expected(float.span()))?;
    let permille = fraction * 1000.0;
    let whole = permille.round();
    if !(1.0..=999.0).contains(&whole) || (permille - whole).abs() > 1e-6 {
        return Err(expected(float.span()));
    }
    // In 1..=999 by the check above.
    Ok(whole as u16)
}

const LOCAL_FORM: &str =
    "`local(ttl = \"5s\", capacity = 10_000)` (`capacity` may be left out: 10,000 entries)";

/// `local(ttl = "5s", capacity = 10_000)`.
fn parse_local(input: ParseStream, name: &Ident) -> syn::Result<Local> {
    if !input.peek(syn::token::Paren) {
        return Err(syn::Error::new(name.span(), format!("write {LOCAL_FORM}")));
    }
    let content;
    parenthesized!(content in input);
    let mut ttl = None;
    let mut capacity = None;
    while !content.is_empty() {
        let key = content.call(Ident::parse_any)?;
        match key.to_string().as_str() {
            "ttl" if ttl.is_none() => ttl = Some(parse_window(&content, &key)?),
            "capacity" if capacity.is_none() => {
                expect_eq(&content, &key, "capacity = 10_000")?;
                let lit: syn::LitInt = content.parse()?;
                let value: u64 = lit.base10_parse()?;
                if value == 0 {
                    return Err(syn::Error::new(
                        lit.span(),
                        "a local tier needs a capacity of at least 1 entry",
                    ));
                }
                capacity = Some(value);
            }
            "ttl" | "capacity" => {
                return Err(syn::Error::new(
                    key.span(),
                    format!("duplicate `{key}` in `local(…)`"),
                ))
            }
            other => {
                return Err(syn::Error::new(
                    key.span(),
                    format!("unknown `local` setting `{other}`; expected {LOCAL_FORM}"),
                ))
            }
        }
        if !content.is_empty() {
            content.parse::<Token![,]>()?;
        }
    }
    let ttl_secs = ttl.ok_or_else(|| {
        syn::Error::new(
            name.span(),
            format!("`local` needs a ttl, which bounds how stale it can be across processes: {LOCAL_FORM}"),
        )
    })?;
    Ok(Local {
        ttl_secs,
        capacity: capacity.unwrap_or(DEFAULT_LOCAL_CAPACITY),
    })
}

fn parse_skip(input: ParseStream, name: &Ident) -> syn::Result<Skip> {
    if !input.peek(syn::token::Paren) {
        return Err(syn::Error::new(
            name.span(),
            "write `skip(arg, …)` with the names of the arguments to leave out of the key",
        ));
    }
    let content;
    parenthesized!(content in input);
    let names = content.parse_terminated(Ident::parse_any, Token![,])?;
    Ok(Skip {
        keyword: name.clone(),
        names: names.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::*;

    fn parse_ok(args: TokenStream) -> Options {
        let mut errors = Errors::default();
        let options = parse(args, &mut errors);
        if let Some(error) = errors.into_error() {
            panic!("unexpected error: {error}");
        }
        options
    }

    fn messages(args: TokenStream) -> Vec<String> {
        let mut errors = Errors::default();
        parse(args, &mut errors);
        errors
            .into_error()
            .map(|error| error.into_iter().map(|e| e.to_string()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn reads_every_option() {
        let options = parse_ok(quote!(
            set = "users",
            ttl = "15m",
            namespace = "cache",
            skip(db, pool),
            companions = false,
            cache = "analytics"
        ));
        assert_eq!(options.cache.unwrap().value(), "analytics");
        assert_eq!(options.set.unwrap().value(), "users");
        assert_eq!(options.namespace.unwrap().value(), "cache");
        assert_eq!(options.ttl, Some(TtlValue::Seconds(900)));
        let skipped: Vec<String> = options
            .skip
            .unwrap()
            .names
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(skipped, ["db", "pool"]);
        assert!(!options.companions.unwrap().value);
        assert!(options.key.is_none());
    }

    #[test]
    fn reads_key_expressions_with_commas_inside() {
        let options = parse_ok(quote!(set = "s", key = format!("{}:{}", a, b), ttl = never));
        let key = options.key.unwrap().expr;
        assert_eq!(
            quote!(#key).to_string(),
            quote!(format!("{}:{}", a, b)).to_string()
        );
        assert_eq!(options.ttl, Some(TtlValue::Never));
    }

    #[test]
    fn reads_ttl_keywords_and_seconds() {
        assert_eq!(
            parse_ok(quote!(ttl = namespace_default)).ttl,
            Some(TtlValue::NamespaceDefault)
        );
        assert_eq!(
            parse_ok(quote!(ttl = 3600)).ttl,
            Some(TtlValue::Seconds(3600))
        );
    }

    #[test]
    fn reports_every_problem_at_once() {
        let found = messages(quote!(
            sett = "users",
            ttl = "1y",
            set = "a",
            set = "b",
            skip = db,
            ttl = -1
        ));
        assert_eq!(found.len(), 5, "{found:#?}");
        assert!(found[0].starts_with("unknown option `sett`; valid options are `set`, `ttl`"));
        assert!(found[1].starts_with("invalid ttl \"1y\""));
        assert!(found[2].starts_with("duplicate option `set`"));
        assert!(found[3].starts_with("write `skip(arg, …)`"));
        assert!(found[4].starts_with("a ttl cannot be negative"));
    }

    #[test]
    fn rejects_bad_names() {
        let found = messages(quote!(
            set = "",
            namespace = "a_namespace_name_longer_than_31_bytes",
            set = 3
        ));
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(found[0].contains("must not be empty"));
        assert!(found[1].contains("at most 31 bytes"));
        assert!(found[2].contains("takes a string literal"));
    }

    #[test]
    fn rejects_names_with_characters_aerospike_refuses() {
        let nul = syn::LitStr::new("us\0ers", proc_macro2::Span::call_site());
        let found = messages(quote!(set = "users:v2", namespace = "te;st"));
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].contains("cannot contain `:`"), "{}", found[0]);
        assert!(
            found[0].contains(r#"write `set = "users_v2"` instead"#),
            "{}",
            found[0]
        );
        assert!(found[1].contains("cannot contain `;`"), "{}", found[1]);
        assert!(found[1].contains(r#"write `namespace = "te_st"` instead"#));
        let found = messages(quote!(set = #nul));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].contains("cannot contain a NUL character"),
            "{}",
            found[0]
        );
        assert!(messages(quote!(set = "users-v2.sessions_x", ttl = 1)).is_empty());
    }

    #[test]
    fn rejects_bad_cluster_names() {
        let long = "c".repeat(64);
        let cases = [
            (quote!(cache = ""), "`cache` must not be empty"),
            (quote!(cache = "two words"), "' ' is not allowed"),
            (quote!(cache = #long), "at most 63 bytes"),
            (quote!(cache = analytics), "`cache` takes a string literal"),
            (quote!(cache), "`cache` needs a value"),
        ];
        for (args, expected) in cases {
            let found = messages(args);
            assert_eq!(found.len(), 1, "{found:#?}");
            assert!(found[0].contains(expected), "{}", found[0]);
        }
        assert!(messages(quote!(cache = "analytics-eu.2")).is_empty());
    }

    #[test]
    fn reads_returns_and_crate() {
        let options = parse_ok(quote!(set = "s", returns = option, crate = ::my::cache));
        assert_eq!(options.returns.unwrap().kind, Kind::Option);
        let path = options.krate.unwrap();
        assert_eq!(quote!(#path).to_string(), quote!(::my::cache).to_string());
        let quoted = parse_ok(quote!(crate = "crate::infra::cache", returns = value)).krate;
        let path = quoted.unwrap();
        assert_eq!(
            quote!(#path).to_string(),
            quote!(crate::infra::cache).to_string()
        );
        assert_eq!(
            parse_ok(quote!(returns = result)).returns.unwrap().kind,
            Kind::Result
        );
    }

    #[test]
    fn rejects_bad_returns_and_crate_values() {
        let found = messages(quote!(
            returns = ok,
            returns = "result",
            crate = 3,
            crate = "a b"
        ));
        assert_eq!(found.len(), 4, "{found:#?}");
        assert!(found[0].starts_with("unknown return kind `ok`"));
        assert!(found[1].starts_with("expected `returns = result`"));
        assert!(found[2].starts_with("`crate` takes the path"));
        assert!(found[3].starts_with("`crate` takes the path"));
    }

    #[test]
    fn reads_freshness_options() {
        let options = parse_ok(quote!(
            none_ttl = "30s",
            refresh_ahead = 0.25,
            stale_if_error = "10m"
        ));
        assert_eq!(options.none_ttl.unwrap().value, TtlValue::Seconds(30));
        assert_eq!(options.refresh_ahead.unwrap().value, 250);
        assert_eq!(options.stale_if_error.unwrap().value, 600);
        assert_eq!(
            parse_ok(quote!(touch_on_read)).touch_on_read.unwrap().value,
            DEFAULT_TOUCH_PERMILLE
        );
        assert_eq!(
            parse_ok(quote!(touch_on_read = 0.5))
                .touch_on_read
                .unwrap()
                .value,
            500
        );
        let local = parse_ok(quote!(local(ttl = "5s", capacity = 2_000))).local;
        assert_eq!(
            local.unwrap().value,
            Local {
                ttl_secs: 5,
                capacity: 2_000
            }
        );
        let local = parse_ok(quote!(local(ttl = 1))).local.unwrap().value;
        assert_eq!(local.capacity, DEFAULT_LOCAL_CAPACITY);
        let found = messages(quote!(
            local,
            local(capacity = 5),
            local(ttl = "5s", size = 3),
            local(ttl = "5s", capacity = 0),
            local(ttl = never)
        ));
        assert_eq!(found.len(), 5, "{found:#?}");
        assert!(found[0].starts_with("write `local(ttl"), "{}", found[0]);
        assert!(found[1].starts_with("`local` needs a ttl"), "{}", found[1]);
        assert!(
            found[2].starts_with("unknown `local` setting `size`"),
            "{}",
            found[2]
        );
        assert!(found[3].contains("at least 1 entry"), "{}", found[3]);
        assert!(
            found[4].starts_with("`ttl` takes a duration"),
            "{}",
            found[4]
        );
        assert!(messages(quote!(stale_if_error = never))[0]
            .starts_with("`stale_if_error` takes a duration"));
        let soft = |args| parse_ok(args).soft_timeout.unwrap().value;
        assert_eq!(soft(quote!(soft_timeout = "100ms")), 100);
        assert_eq!(soft(quote!(soft_timeout = "2s")), 2_000);
        assert_eq!(soft(quote!(soft_timeout = 3)), 3_000);
        let found = messages(quote!(
            soft_timeout = "0ms",
            soft_timeout = "100",
            soft_timeout = never,
            soft_timeout = "50d",
            soft_timeout
        ));
        assert_eq!(found.len(), 5, "{found:#?}");
        assert!(found[0].contains("of 0 would never wait"), "{}", found[0]);
        for message in &found[1..3] {
            assert!(
                message.starts_with("`soft_timeout` takes a duration string"),
                "{message}"
            );
        }
        assert!(found[3].contains("shorter than 2^32 ms"), "{}", found[3]);
        assert!(
            found[4].starts_with("`soft_timeout` needs a value"),
            "{}",
            found[4]
        );
        let found = messages(quote!(
            refresh_ahead = 1.0,
            refresh_ahead = 0.0,
            refresh_ahead = 20,
            refresh_ahead = 0.1234,
            none_ttl = "1y"
        ));
        assert_eq!(found.len(), 5, "{found:#?}");
        for message in &found[..4] {
            assert!(
                message.starts_with("`refresh_ahead` takes a fraction"),
                "{message}"
            );
        }
        assert!(found[4].starts_with("invalid ttl \"1y\""));
    }

    #[test]
    fn reads_batch_as_a_flag() {
        let options = parse_ok(quote!(set = "s", batch, ttl = 5));
        assert_eq!(options.batch.unwrap().to_string(), "batch");
        assert_eq!(options.ttl, Some(TtlValue::Seconds(5)));
        let found = messages(quote!(batch = true, batch(ids), batch, batch));
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(
            found[0].starts_with("`batch` takes no value"),
            "{}",
            found[0]
        );
        assert!(
            found[1].starts_with("`batch` takes no value"),
            "{}",
            found[1]
        );
        assert!(
            found[2].starts_with("duplicate option `batch`"),
            "{}",
            found[2]
        );
    }

    #[test]
    fn rejects_a_missing_separator() {
        let found = messages(quote!(set = "a" ttl = 5));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0], "expected `,`");
    }
}
