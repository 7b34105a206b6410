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

/// The units of duration strings and their lengths in milliseconds; `ms` is for timeouts only.
const UNITS: [(&str, u64); 5] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60 * 1_000),
    ("h", 60 * 60 * 1_000),
    ("d", 24 * 60 * 60 * 1_000),
];

/// The number of a duration string and the length of its unit in milliseconds: ASCII digits,
/// then one of the [`UNITS`] that `allowed` accepts. `None` for any other text.
fn count_and_unit(text: &str, allowed: impl Fn(&str) -> bool) -> Option<(u64, u64)> {
    let (unit, unit_millis) = UNITS
        .iter()
        .filter(|(unit, _)| allowed(unit))
        .find(|(unit, _)| text.ends_with(unit))?;
    let number = &text[..text.len() - unit.len()];
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((number.parse().ok()?, *unit_millis))
}

/// Parses a duration string such as `"90s"`, `"15m"`, `"1h"` or `"7d"`.
pub fn duration(text: &str) -> Result<TtlValue, String> {
    let invalid = || format!("invalid ttl \"{text}\"; expected {ACCEPTED_FORMS}");
    let (count, unit_millis) = count_and_unit(text, |unit| unit != "ms").ok_or_else(invalid)?;
    seconds(count.saturating_mul(unit_millis / 1_000))
}

/// The forms a timeout (`soft_timeout`) accepts.
pub const TIMEOUT_FORMS: &str = "a duration string made of a number and one unit `ms`, `s`, `m`, \
     `h` or `d` (`\"100ms\"`, `\"2s\"`), or integer seconds";

/// A timeout such as `soft_timeout = "100ms"`, in milliseconds: at least 1 ms, below 2^32 ms.
pub fn parse_timeout(input: ParseStream, name: &Ident) -> syn::Result<u32> {
    let example = format!("{name} = \"100ms\"");
    expect_eq(input, name, &example)?;
    let expected = |span: Span| {
        syn::Error::new(
            span,
            format!("`{name}` takes {TIMEOUT_FORMS}, e.g. `{example}`"),
        )
    };
    let lit: Lit = input.parse().map_err(|error| expected(error.span()))?;
    let millis = match &lit {
        Lit::Str(text) => count_and_unit(&text.value(), |_| true)
            .map(|(count, unit_millis)| count.saturating_mul(unit_millis)),
        Lit::Int(int) => (int.base10_parse::<u64>().ok()).map(|secs| secs.saturating_mul(1_000)),
        _ => None,
    };
    let millis = millis.ok_or_else(|| expected(lit.span()))?;
    match u32::try_from(millis) {
        Ok(0) => Err(syn::Error::new(
            lit.span(),
            format!("a `{name}` of 0 would never wait for the body; give it at least 1 ms, e.g. `{example}`"),
        )),
        Ok(millis) => Ok(millis),
        Err(_) => Err(syn::Error::new(
            lit.span(),
            format!("`{name}` must be shorter than 2^32 ms (about 49 days), e.g. `{example}`"),
        )),
    }
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
    fn timeouts_take_milliseconds_too() {
        let millis = |text| count_and_unit(text, |_| true).map(|(count, unit)| count * unit);
        assert_eq!(millis("100ms"), Some(100));
        assert_eq!(millis("2s"), Some(2_000));
        assert_eq!(millis("1m"), Some(60_000));
        for text in ["", "ms", "100", "1.5s", "-1ms", "100 ms", "100MS", "1m30s"] {
            assert_eq!(millis(text), None, "{text}");
        }
        assert!(duration("100ms").is_err(), "a ttl is whole seconds");
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
