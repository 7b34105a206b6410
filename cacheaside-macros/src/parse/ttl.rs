//! The `ttl = …` option: integer seconds, a duration string, `never` or `namespace_default`; and
//! the durations written like it.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::{Ident, Lit, Token};

use crate::parse::option_list::expect_eq;

/// Aerospike rejects record TTLs above ten years.
pub const MAX_TTL_SECONDS: u64 = 10 * 365 * 24 * 60 * 60;

/// What `ttl = …` asks for, checked at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtlValue {
    /// Expire after this many seconds.
    Seconds(u32),
    /// Use the namespace's `default-ttl` (also the default when `ttl` is omitted).
    NamespaceDefault,
    /// Never expire.
    Never,
}

/// The forms `ttl` accepts, quoted in every ttl error.
pub const ACCEPTED_FORMS: &str = "integer seconds (`ttl = 3600`), a duration string made of a number and one \
     unit `s`, `m`, `h` or `d` (`ttl = \"90s\"`, `\"15m\"`, `\"1h\"`, `\"7d\"`), `never`, or `namespace_default`";

/// Checks a number of seconds: positive and within Aerospike's limit.
pub fn seconds(value: u64) -> Result<TtlValue, String> {
    if value == 0 {
        return Err(
            "a ttl of 0 seconds means the namespace default in Aerospike; write `ttl = namespace_default` to say so"
                .to_owned(),
        );
    }
    if value > MAX_TTL_SECONDS {
        return Err(format!(
            "a ttl of {value} seconds is longer than Aerospike's maximum of ten years ({MAX_TTL_SECONDS} \
             seconds); for entries that never expire write `ttl = never`"
        ));
    }
    // In range by the check above.
    Ok(TtlValue::Seconds(value as u32))
}

/// Parses a duration string such as `"90s"`, `"15m"`, `"1h"` or `"7d"`.
pub fn duration(text: &str) -> Result<TtlValue, String> {
    let invalid = || format!("invalid ttl \"{text}\"; expected {ACCEPTED_FORMS}");
    let unit_at = text.len().checked_sub(1).ok_or_else(invalid)?;
    let (number, unit) = text.split_at(unit_at);
    let unit_seconds: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 60 * 60,
        "d" => 24 * 60 * 60,
        _ => return Err(invalid()),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let count: u64 = number.parse().map_err(|_| invalid())?;
    seconds(count.saturating_mul(unit_seconds))
}

/// A duration in seconds, written like a ttl (`600`, `"10m"`), but not `never` or
/// `namespace_default`.
pub fn parse_window(input: ParseStream, name: &Ident) -> syn::Result<u32> {
    expect_eq(input, name, &format!("{name} = \"10m\""))?;
    let span = input.span();
    match parse_ttl_value(input)? {
        TtlValue::Seconds(seconds) => Ok(seconds),
        TtlValue::Never | TtlValue::NamespaceDefault => Err(syn::Error::new(
            span,
            format!("`{name}` takes a duration such as `{name} = \"10m\"` (seconds or a duration string)"),
        )),
    }
}

pub fn parse_ttl(input: ParseStream, name: &Ident) -> syn::Result<TtlValue> {
    expect_eq(input, name, &format!("{name} = \"30s\""))?;
    parse_ttl_value(input)
}

fn parse_ttl_value(input: ParseStream) -> syn::Result<TtlValue> {
    let bad_ttl =
        |span: Span| syn::Error::new(span, format!("invalid ttl; expected {}", ACCEPTED_FORMS));
    if input.peek(Ident::peek_any) {
        let word = input.call(Ident::parse_any)?;
        return match word.to_string().as_str() {
            "never" => Ok(TtlValue::Never),
            "namespace_default" => Ok(TtlValue::NamespaceDefault),
            _ => Err(bad_ttl(word.span())),
        };
    }
    if input.peek(Token![-]) {
        let minus = input.parse::<Token![-]>()?;
        return Err(syn::Error::new(
            minus.span,
            format!("a ttl cannot be negative; for entries that never expire write `ttl = never`; expected {}", ACCEPTED_FORMS),
        ));
    }
    let lit: Lit = input.parse().map_err(|error| bad_ttl(error.span()))?;
    let checked = match &lit {
        Lit::Int(int) => match int.base10_parse::<u64>() {
            Ok(value) => seconds(value),
            Err(_) => Err(format!(
                "ttl seconds must be a whole number that fits in 64 bits; expected {}",
                ACCEPTED_FORMS
            )),
        },
        Lit::Str(text) => duration(&text.value()),
        _ => return Err(bad_ttl(lit.span())),
    };
    checked.map_err(|message| syn::Error::new(lit.span(), message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_each_unit() {
        assert_eq!(duration("90s"), Ok(TtlValue::Seconds(90)));
        assert_eq!(duration("15m"), Ok(TtlValue::Seconds(900)));
        assert_eq!(duration("1h"), Ok(TtlValue::Seconds(3600)));
        assert_eq!(duration("7d"), Ok(TtlValue::Seconds(604_800)));
    }

    #[test]
    fn rejects_malformed_strings() {
        for text in [
            "", "s", "10", "1x", "1.5h", "-1s", "1h30m", " 1h", "1H", "١s",
        ] {
            let error = duration(text).expect_err(text);
            assert!(
                error.contains("expected integer seconds"),
                "{text}: {error}"
            );
        }
    }

    #[test]
    fn rejects_zero_and_too_long() {
        assert!(duration("0s").unwrap_err().contains("namespace_default"));
        assert!(seconds(0).unwrap_err().contains("namespace_default"));
        assert_eq!(duration("3650d"), Ok(TtlValue::Seconds(315_360_000)));
        assert!(duration("3651d").unwrap_err().contains("ten years"));
        assert!(duration("99999999999999999999d").is_err());
    }
}
