//! Option values both attribute grammars take: set, namespace and cluster names, `returns` and
//! `crate`.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::{Ident, LitStr};

use crate::errors::Errors;
use crate::parse::option_list::expect_eq;

/// Aerospike's limits on set and namespace names, in bytes.
pub const MAX_SET_NAME: usize = 63;
pub const MAX_NAMESPACE_NAME: usize = 31;
/// The runtime's limit on the name of a named cluster (`init_named`), in bytes.
pub const MAX_CLUSTER_NAME: usize = 63;

/// Which part of the return value is cached (mirrors the runtime's `ResultKind`, `OptionKind`
/// and `PlainKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `Result<T, E>`: only `Ok` is cached.
    Result,
    /// `Option<T>`: only `Some` is cached.
    Option,
    /// Anything else: every value is cached.
    Plain,
}

/// `returns = result | option | value`.
pub struct Returns {
    pub kind: Kind,
}

/// A set or namespace name: a non-empty string literal within Aerospike's length limit.
pub fn parse_name(
    input: ParseStream,
    name: &Ident,
    max_len: usize,
    errors: &mut Errors,
) -> syn::Result<LitStr> {
    let example = format!("{name} = \"users\"");
    expect_eq(input, name, &example)?;
    let value: LitStr = input.parse().map_err(|error| {
        syn::Error::new(
            error.span(),
            format!("`{name}` takes a string literal: `{example}`"),
        )
    })?;
    let text = value.value();
    if text.is_empty() {
        errors.at(&value, format!("`{name}` must not be empty"));
    } else if text.len() > max_len {
        errors.at(
            &value,
            format!(
                "an Aerospike {name} name has at most {max_len} bytes; this one has {}",
                text.len()
            ),
        );
    } else if let Some(refused) = text.chars().find(|c| REFUSED_IN_NAMES.contains(c)) {
        let shown = if refused == '\0' {
            "a NUL character".to_owned()
        } else {
            format!("`{refused}`")
        };
        let fixed: String = (text.chars())
            .map(|c| {
                if REFUSED_IN_NAMES.contains(&c) {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        errors.at(
            &value,
            format!(
                "an Aerospike {name} name cannot contain {shown} (the server's info commands \
                 separate fields with `:` and `;`, and names are C strings); write `{name} = \
                 {fixed:?}` instead"
            ),
        );
    }
    Ok(value)
}

/// Characters Aerospike set and namespace names cannot hold. The runtime checks names that reach
/// it at run time by the same rule (`cacheaside-runtime`, `names.rs`); keep the two alike.
const REFUSED_IN_NAMES: [char; 3] = ['\0', ':', ';'];

/// `cache = "analytics"`: the name of a cluster installed by `init_named`, checked as the runtime
/// checks it (1 to 63 ASCII letters, digits, `_`, `-` or `.`).
pub fn parse_cluster_name(
    input: ParseStream,
    name: &Ident,
    errors: &mut Errors,
) -> syn::Result<LitStr> {
    let example = "cache = \"analytics\"";
    expect_eq(input, name, example)?;
    let value: LitStr = input.parse().map_err(|error| {
        syn::Error::new(
            error.span(),
            format!(
                "`cache` takes a string literal, the name given to `cacheaside::init_named`: `{example}`"
            ),
        )
    })?;
    let text = value.value();
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if text.is_empty() {
        errors.at(
            &value,
            format!("`cache` must not be empty; name the cluster given to `cacheaside::init_named`, e.g. `{example}`, or leave `cache` out for the default cluster"),
        );
    } else if text.len() > MAX_CLUSTER_NAME {
        errors.at(
            &value,
            format!(
                "a cache cluster name has at most {MAX_CLUSTER_NAME} bytes; this one has {}",
                text.len()
            ),
        );
    } else if let Some(bad) = text.chars().find(|&c| !allowed(c)) {
        errors.at(
            &value,
            format!(
                "`cache` names a cluster with ASCII letters, digits, `_`, `-` or `.` only; {bad:?} is not allowed, e.g. `{example}`"
            ),
        );
    }
    Ok(value)
}

const RETURNS_FORMS: &str = "`returns = result` (cache only `Ok`), `returns = option` (cache only `Some`) or `returns = value` (cache every value)";

pub fn parse_returns(input: ParseStream, name: &Ident) -> syn::Result<Returns> {
    expect_eq(input, name, "returns = result")?;
    let word = input
        .call(Ident::parse_any)
        .map_err(|error| syn::Error::new(error.span(), format!("expected {RETURNS_FORMS}")))?;
    let kind = match word.to_string().as_str() {
        "result" => Kind::Result,
        "option" => Kind::Option,
        "value" => Kind::Plain,
        other => {
            return Err(syn::Error::new(
                word.span(),
                format!("unknown return kind `{other}`; expected {RETURNS_FORMS}"),
            ))
        }
    };
    Ok(Returns { kind })
}

/// `crate = ::path` or, as serde spells it, `crate = "path"`.
pub fn parse_crate_path(input: ParseStream, name: &Ident) -> syn::Result<syn::Path> {
    expect_eq(input, name, "crate = ::my_crate::cacheaside")?;
    let expected = |span: Span| {
        syn::Error::new(
            span,
            "`crate` takes the path that re-exports `cacheaside`, e.g. `crate = ::my_crate::cacheaside`",
        )
    };
    if input.peek(LitStr) {
        let text: LitStr = input.parse()?;
        return text
            .parse_with(syn::Path::parse_mod_style)
            .map_err(|_| expected(text.span()));
    }
    input
        .call(syn::Path::parse_mod_style)
        .map_err(|error| expected(error.span()))
}

/// A codec of `codec = "…"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodecName {
    MessagePack,
    Bincode,
    Postcard,
    Json,
}

/// The names `codec` takes, in the order the docs list them.
pub const CODECS: &[(&str, CodecName)] = &[
    ("msgpack", CodecName::MessagePack),
    ("bincode", CodecName::Bincode),
    ("postcard", CodecName::Postcard),
    ("json", CodecName::Json),
];

/// `codec = "bincode"` and where it was written.
#[derive(Debug, Clone, Copy)]
pub struct CodecOption {
    pub codec: CodecName,
    /// The string literal: a codec whose feature is off is reported there.
    pub span: Span,
}

/// `codec = "msgpack" | "bincode" | "postcard" | "json"`.
pub fn parse_codec(input: ParseStream, name: &Ident) -> syn::Result<CodecOption> {
    let valid = || {
        let quoted: Vec<String> = CODECS
            .iter()
            .map(|(name, _)| format!("`\"{name}\"`"))
            .collect();
        quoted.join(", ")
    };
    expect_eq(input, name, "codec = \"bincode\"")?;
    let value: LitStr = input.parse().map_err(|error| {
        syn::Error::new(
            error.span(),
            format!("`codec` takes a string literal, one of {}", valid()),
        )
    })?;
    let text = value.value();
    match CODECS.iter().find(|(name, _)| *name == text) {
        Some((_, codec)) => Ok(CodecOption {
            codec: *codec,
            span: value.span(),
        }),
        None => Err(syn::Error::new(
            value.span(),
            format!("unknown codec `{text}`; valid codecs are {}", valid()),
        )),
    }
}
