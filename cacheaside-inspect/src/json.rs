//! MessagePack to JSON, for showing a cached value without its Rust type.
//!
//! The value is written as it is stored, in stored order (so a struct's fields keep their
//! declaration order). Where JSON has no equivalent:
//!
//! | MessagePack | JSON |
//! | --- | --- |
//! | binary | `{"$bin": "<hex>"}` |
//! | extension | `{"$ext": <type>, "hex": "<hex>"}` |
//! | float NaN, ±infinity | the strings `"NaN"`, `"inf"`, `"-inf"` |
//! | map key that is not a string | its compact JSON text, as a string (`1` → `"1"`) |
//! | string that is not UTF-8 | lossily decoded (U+FFFD for bad bytes) |
//!
//! The input is expected to have passed the runtime's well-formedness check; this walk still
//! checks every length itself and limits nesting, so no input can make it panic or exhaust the
//! stack.

use core::fmt::Write as _;

/// Deeper values are refused: serde types are rarely nested more than a few levels, and the
/// walk is recursive.
pub const MAX_DEPTH: usize = 128;

/// Why a payload cannot be shown as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonError {
    /// The bytes end inside a value.
    Truncated,
    /// The reserved marker byte 0xc1.
    ReservedMarker,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// Bytes follow the value.
    TrailingBytes,
}

impl core::fmt::Display for JsonError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            JsonError::Truncated => f.write_str("the MessagePack value is cut short"),
            JsonError::ReservedMarker => f.write_str("the reserved MessagePack marker 0xc1"),
            JsonError::TooDeep => write!(f, "nested deeper than {MAX_DEPTH} levels"),
            JsonError::TrailingBytes => f.write_str("bytes follow the MessagePack value"),
        }
    }
}

impl std::error::Error for JsonError {}

/// Layout of the JSON text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// One line, no spaces.
    Compact,
    /// Two spaces per level, one entry per line.
    Pretty,
}

/// The JSON text of the one MessagePack value in `bytes`.
///
/// # Errors
/// When `bytes` is not exactly one well-formed MessagePack value within [`MAX_DEPTH`].
pub fn to_json(bytes: &[u8], style: Style) -> Result<String, JsonError> {
    let mut writer = Writer {
        input: bytes,
        out: String::with_capacity(bytes.len() * 2),
        style,
    };
    writer.value(0)?;
    if !writer.input.is_empty() {
        return Err(JsonError::TrailingBytes);
    }
    Ok(writer.out)
}

/// Appends `text` as a JSON string literal.
pub fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

struct Writer<'a> {
    input: &'a [u8],
    out: String,
    style: Style,
}

impl<'a> Writer<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], JsonError> {
        if len > self.input.len() {
            return Err(JsonError::Truncated);
        }
        let (taken, rest) = self.input.split_at(len);
        self.input = rest;
        Ok(taken)
    }

    fn byte(&mut self) -> Result<u8, JsonError> {
        Ok(self.take(1)?[0])
    }

    /// A big-endian unsigned integer of `width` bytes (at most 8).
    fn uint(&mut self, width: usize) -> Result<u64, JsonError> {
        Ok(self
            .take(width)?
            .iter()
            .fold(0u64, |n, b| (n << 8) | u64::from(*b)))
    }

    /// A length of `width` bytes; a length that does not fit in memory cannot be satisfied by
    /// the input either.
    fn len(&mut self, width: usize) -> Result<usize, JsonError> {
        usize::try_from(self.uint(width)?).map_err(|_| JsonError::Truncated)
    }

    /// A signed integer of `width` bytes, two's complement.
    fn int(&mut self, width: usize) -> Result<i64, JsonError> {
        let raw = self.uint(width)?;
        let shift = 64 - 8 * width as u32;
        Ok(((raw << shift) as i64) >> shift)
    }

    fn value(&mut self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(JsonError::TooDeep);
        }
        let marker = self.byte()?;
        match marker {
            0x00..=0x7f => self.number(u64::from(marker)),
            0xe0..=0xff => self.number(i64::from(marker as i8)),
            0x80..=0x8f => self.map(usize::from(marker & 0x0f), depth),
            0x90..=0x9f => self.array(usize::from(marker & 0x0f), depth),
            0xa0..=0xbf => self.string(usize::from(marker & 0x1f)),
            0xc0 => self.literal("null"),
            0xc1 => Err(JsonError::ReservedMarker),
            0xc2 => self.literal("false"),
            0xc3 => self.literal("true"),
            0xc4 => self.len(1).and_then(|len| self.binary(len)),
            0xc5 => self.len(2).and_then(|len| self.binary(len)),
            0xc6 => self.len(4).and_then(|len| self.binary(len)),
            0xc7 => self.len(1).and_then(|len| self.ext(len)),
            0xc8 => self.len(2).and_then(|len| self.ext(len)),
            0xc9 => self.len(4).and_then(|len| self.ext(len)),
            0xca => {
                let value = f32::from_bits(self.uint(4)? as u32);
                self.float(value.is_finite(), &value)
            }
            0xcb => {
                let value = f64::from_bits(self.uint(8)?);
                self.float(value.is_finite(), &value)
            }
            // uint 8, 16, 32, 64; int 8 .. 64; fixext 1, 2, 4, 8, 16
            0xcc..=0xcf => {
                let n = self.uint(1 << (marker - 0xcc))?;
                self.number(n)
            }
            0xd0..=0xd3 => {
                let n = self.int(1 << (marker - 0xd0))?;
                self.number(n)
            }
            0xd4..=0xd8 => self.ext(1 << (marker - 0xd4)),
            0xd9 => self.len(1).and_then(|len| self.string(len)),
            0xda => self.len(2).and_then(|len| self.string(len)),
            0xdb => self.len(4).and_then(|len| self.string(len)),
            0xdc => self.len(2).and_then(|len| self.array(len, depth)),
            0xdd => self.len(4).and_then(|len| self.array(len, depth)),
            0xde => self.len(2).and_then(|len| self.map(len, depth)),
            0xdf => self.len(4).and_then(|len| self.map(len, depth)),
        }
    }

    fn literal(&mut self, text: &str) -> Result<(), JsonError> {
        self.out.push_str(text);
        Ok(())
    }

    fn number(&mut self, n: impl core::fmt::Display) -> Result<(), JsonError> {
        let _ = write!(self.out, "{n}");
        Ok(())
    }

    /// Finite floats in Rust's shortest round-trip form (`1.0`, `1e20`: valid JSON numbers);
    /// the others as strings, since JSON has no NaN or infinity.
    fn float<F: core::fmt::Debug>(&mut self, finite: bool, value: &F) -> Result<(), JsonError> {
        let text = format!("{value:?}");
        if finite {
            self.out.push_str(&text);
        } else {
            write_string(&mut self.out, &text);
        }
        Ok(())
    }

    fn string(&mut self, len: usize) -> Result<(), JsonError> {
        let bytes = self.take(len)?;
        write_string(&mut self.out, &String::from_utf8_lossy(bytes));
        Ok(())
    }

    fn binary(&mut self, len: usize) -> Result<(), JsonError> {
        let bytes = self.take(len)?;
        self.out.push_str("{\"$bin\":");
        self.space();
        write_string(&mut self.out, &hex(bytes));
        self.out.push('}');
        Ok(())
    }

    /// An extension: a type byte (signed), then `len` bytes of data.
    fn ext(&mut self, len: usize) -> Result<(), JsonError> {
        let ext_type = self.byte()? as i8;
        let data = self.take(len)?;
        let _ = write!(self.out, "{{\"$ext\":");
        self.space();
        let _ = write!(self.out, "{ext_type},");
        self.space();
        self.out.push_str("\"hex\":");
        self.space();
        write_string(&mut self.out, &hex(data));
        self.out.push('}');
        Ok(())
    }

    fn array(&mut self, len: usize, depth: usize) -> Result<(), JsonError> {
        self.out.push('[');
        for index in 0..len {
            self.separator(index, depth + 1);
            self.value(depth + 1)?;
        }
        self.close(len, depth, ']');
        Ok(())
    }

    fn map(&mut self, len: usize, depth: usize) -> Result<(), JsonError> {
        self.out.push('{');
        for index in 0..len {
            self.separator(index, depth + 1);
            self.key(depth + 1)?;
            self.out.push(':');
            self.space();
            self.value(depth + 1)?;
        }
        self.close(len, depth, '}');
        Ok(())
    }

    /// A map key: a string as it is, any other value as its compact JSON text in a string.
    fn key(&mut self, depth: usize) -> Result<(), JsonError> {
        let is_string = matches!(self.input.first(), Some(0xa0..=0xbf | 0xd9..=0xdb));
        if is_string {
            return self.value(depth);
        }
        let mut inner = Writer {
            input: self.input,
            out: String::new(),
            style: Style::Compact,
        };
        inner.value(depth)?;
        self.input = inner.input;
        write_string(&mut self.out, &inner.out);
        Ok(())
    }

    /// Before the entry at `index` of a container whose entries are at `depth`.
    fn separator(&mut self, index: usize, depth: usize) {
        if index > 0 {
            self.out.push(',');
        }
        self.newline(depth);
    }

    /// After the last of `len` entries, closing a container at `depth`.
    fn close(&mut self, len: usize, depth: usize, bracket: char) {
        if len > 0 {
            self.newline(depth);
        }
        self.out.push(bracket);
    }

    fn newline(&mut self, depth: usize) {
        if self.style == Style::Pretty {
            self.out.push('\n');
            for _ in 0..depth {
                self.out.push_str("  ");
            }
        }
    }

    fn space(&mut self) {
        if self.style == Style::Pretty {
            self.out.push(' ');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compact(bytes: &[u8]) -> String {
        to_json(bytes, Style::Compact).unwrap()
    }

    #[test]
    fn scalars() {
        assert_eq!(compact(&[0x2a]), "42");
        assert_eq!(compact(&[0xff]), "-1");
        assert_eq!(compact(&[0xc0]), "null");
        assert_eq!(compact(&[0xc2]), "false");
        assert_eq!(compact(&[0xc3]), "true");
        assert_eq!(
            compact(&[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            "18446744073709551615"
        );
        assert_eq!(
            compact(&[0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            "-9223372036854775808"
        );
        assert_eq!(compact(&[0xd0, 0x80]), "-128");
        assert_eq!(compact(&[0xd1, 0xff, 0xfe]), "-2");
        assert_eq!(compact(&[0xcd, 0x01, 0x00]), "256");
        let mut f64_bytes = vec![0xcb];
        f64_bytes.extend_from_slice(&1.5f64.to_be_bytes());
        assert_eq!(compact(&f64_bytes), "1.5");
        let mut f32_bytes = vec![0xca];
        f32_bytes.extend_from_slice(&0.1f32.to_be_bytes());
        assert_eq!(compact(&f32_bytes), "0.1");
        let mut nan = vec![0xcb];
        nan.extend_from_slice(&f64::NEG_INFINITY.to_be_bytes());
        assert_eq!(compact(&nan), "\"-inf\"");
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(compact(&[0xa3, b'a', b'"', b'\\']), r#""a\"\\""#);
        assert_eq!(compact(&[0xa2, 0x01, b'\n']), r#""\u0001\n""#);
        assert_eq!(compact(&[0xd9, 1, 0xff]), "\"\u{fffd}\"");
    }

    #[test]
    fn binary_and_extensions() {
        assert_eq!(compact(&[0xc4, 2, 0x00, 0xff]), r#"{"$bin":"00ff"}"#);
        assert_eq!(compact(&[0xd4, 0xff, 0x07]), r#"{"$ext":-1,"hex":"07"}"#);
        assert_eq!(compact(&[0xc7, 0, 5]), r#"{"$ext":5,"hex":""}"#);
    }

    #[test]
    fn containers_keep_stored_order_and_stringify_other_keys() {
        // {"b": [1, 2], "a": {}} then {1: true}
        let bytes = [0x82, 0xa1, b'b', 0x92, 1, 2, 0xa1, b'a', 0x80];
        assert_eq!(compact(&bytes), r#"{"b":[1,2],"a":{}}"#);
        assert_eq!(compact(&[0x81, 0x01, 0xc3]), r#"{"1":true}"#);
        assert_eq!(
            compact(&[0x81, 0x92, 1, 0xa1, b'x', 0xc0]),
            r#"{"[1,\"x\"]":null}"#
        );
        assert_eq!(
            to_json(&bytes, Style::Pretty).unwrap(),
            "{\n  \"b\": [\n    1,\n    2\n  ],\n  \"a\": {}\n}"
        );
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(to_json(&[], Style::Compact), Err(JsonError::Truncated));
        assert_eq!(
            to_json(&[0x92, 1], Style::Compact),
            Err(JsonError::Truncated)
        );
        assert_eq!(
            to_json(&[0xdb, 0xff, 0xff, 0xff, 0xff], Style::Compact),
            Err(JsonError::Truncated)
        );
        assert_eq!(
            to_json(&[0xc1], Style::Compact),
            Err(JsonError::ReservedMarker)
        );
        assert_eq!(
            to_json(&[1, 2], Style::Compact),
            Err(JsonError::TrailingBytes)
        );
        let deep = vec![0x91; MAX_DEPTH + 2];
        assert_eq!(to_json(&deep, Style::Pretty), Err(JsonError::TooDeep));
        let mut ok = vec![0x91; MAX_DEPTH];
        ok.push(0xc0);
        assert!(to_json(&ok, Style::Pretty).is_ok());
    }

    /// Random and mutated payloads: no panic, and the JSON walk accepts exactly what the runtime's
    /// check accepts (the bytes a cache read would go on to decode).
    #[test]
    fn whatever_the_decoder_accepts_is_shown() {
        use cacheaside_runtime::inspect::inspect;

        let seed_value = [
            0x83, 0xa2, b'i', b'd', 0xcd, 1, 0, 0xa4, b'n', b'a', b'm', b'e', 0xa3, b'b', b'o',
            b'b', 0xa4, b't', b'a', b'g', b's', 0x92, 0xc3, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0,
        ];
        assert!(to_json(&seed_value, Style::Pretty).is_ok());
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            // xorshift64: deterministic, so a failure reproduces
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut accepted, mut shown) = (0, 0);
        for case in 0..20_000 {
            let payload: Vec<u8> = if case % 2 == 0 {
                let len = (next() % 24) as usize;
                (0..len).map(|_| next() as u8).collect()
            } else {
                let mut bytes = seed_value.to_vec();
                for _ in 0..1 + next() % 3 {
                    let at = (next() as usize) % bytes.len();
                    bytes[at] = next() as u8;
                }
                bytes.truncate(bytes.len() - (next() % 3) as usize);
                bytes
            };
            let mut envelope = vec![1, 1, 0];
            envelope.extend_from_slice(&payload);
            let decodable = inspect(&envelope).unwrap().msgpack_payload().is_ok();
            let pretty = to_json(&payload, Style::Pretty);
            let compact = to_json(&payload, Style::Compact);
            assert_eq!(pretty.is_ok(), compact.is_ok(), "payload {payload:02x?}");
            // These payloads are too short to nest past MAX_DEPTH, so both walks must agree.
            assert_eq!(
                decodable,
                pretty.is_ok(),
                "the decoder and the JSON walk disagree on {payload:02x?}: {pretty:?}"
            );
            accepted += usize::from(decodable);
            shown += usize::from(pretty.is_ok());
        }
        assert!(
            accepted > 1_000 && shown > 1_000,
            "too few decodable cases to mean anything: {accepted}, {shown}"
        );
    }

    #[test]
    fn every_prefix_of_a_value_is_handled() {
        let bytes = [
            0x82, 0xa1, b'b', 0x92, 0xcd, 1, 0, 0xc4, 1, 7, 0xa1, b'a', 0xd4, 1, 2,
        ];
        assert!(to_json(&bytes, Style::Pretty).is_ok());
        for len in 0..bytes.len() {
            assert!(
                to_json(&bytes[..len], Style::Pretty).is_err(),
                "prefix of {len}"
            );
        }
    }
}
