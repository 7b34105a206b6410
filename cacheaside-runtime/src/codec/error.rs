//! Why a well-formed payload is not a value of the expected type, described without its data.
//!
//! serde's own messages quote what they found (`invalid type: string "alice@example.com",
//! expected u64`), and a type's `Deserialize` impl may format anything into a custom error. The
//! decoder hands user code this error type instead, which keeps only what the type itself knows:
//! what was expected, the kind of value found, field names declared by the type, and positions.
//! Found strings, numbers, unknown field and variant names, and custom messages are dropped.

use std::fmt::{self, Write as _};

use serde::de::{self, Expected, Unexpected};

/// Longest description of an expectation kept; the rest is cut (a visitor's `expecting` is the
/// type's own text, but nothing needs more than this).
const EXPECTED_MAX: usize = 96;

/// A decoding error without the decoded data. Boxed, so that a `Result` carrying it stays small
/// on the success path.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct DecodeError(Box<Detail>);

#[derive(Clone, PartialEq, Eq)]
struct Detail {
    problem: Problem,
    /// Where it happened, innermost first (filled in while the error propagates outwards).
    path: Vec<Segment>,
}

#[derive(Clone, PartialEq, Eq)]
enum Problem {
    InvalidType {
        found: &'static str,
        expected: String,
    },
    InvalidValue {
        found: &'static str,
        expected: String,
    },
    InvalidLength {
        len: usize,
        expected: String,
    },
    UnknownVariant(&'static [&'static str]),
    UnknownField(&'static [&'static str]),
    MissingField(&'static str),
    DuplicateField(&'static str),
    /// A type's `Deserialize` impl refused the value with a message of its own.
    Custom,
    /// A number that does not fit the expected type.
    OutOfRange(String),
    /// An array or map of another length than the type reads.
    Length(String),
    /// Decoding would allocate more than the record's budget (see `guard`).
    TooLarge(usize),
    /// Nested deeper than this many values.
    TooDeep(usize),
    /// Anything else rmp-serde reports (described by its kind only).
    Other(&'static str),
}

/// One step of the path to where decoding failed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Segment {
    /// An element of a sequence, by position.
    Index(usize),
    /// A struct field declared by the type.
    Field(&'static str),
    /// A struct field the type does not declare (its name comes from the data: not kept).
    UnknownField,
    /// An entry of a map, by position (keys are data: not kept).
    Entry(usize),
}

impl DecodeError {
    fn new(problem: Problem) -> Self {
        DecodeError(Box::new(Detail {
            problem,
            path: Vec::new(),
        }))
    }

    /// Adds the step the error propagates through, from the inside out.
    #[cold]
    pub(super) fn at(mut self, segment: Segment) -> Self {
        self.0.path.push(segment);
        self
    }

    /// Decoding would allocate more than `budget` bytes.
    #[cold]
    pub(super) fn too_large(budget: usize) -> Self {
        DecodeError::new(Problem::TooLarge(budget))
    }

    /// Decoding would recurse deeper than `limit` nested values.
    #[cold]
    pub(super) fn too_deep(limit: usize) -> Self {
        DecodeError::new(Problem::TooDeep(limit))
    }

    /// Describes an error of rmp-serde, which a guard met while asking for `expected`.
    ///
    /// rmp-serde's errors reach the guard under a generic type (the error type of whatever
    /// deserializer it passed on), so they are recognised by the names in their `Debug` form:
    /// the error variant and, for a type mismatch, the MessagePack marker. Only names from a
    /// fixed table are kept; the rest of the text (a marker's embedded small integer or length,
    /// a message) is never copied. An unknown form is described generically.
    #[cold]
    pub(super) fn from_decoder(error: &dyn fmt::Debug, expected: Expecting) -> Self {
        let mut names = DebugNames::new();
        // A write error only means the text was cut: what was read is enough.
        let _ = write!(names, "{error:?}");
        let expected = expected.describe();
        let problem = match names.variant() {
            "TypeMismatch" => Problem::InvalidType {
                found: marker_kind(names.marker()),
                expected,
            },
            "OutOfRange" => Problem::OutOfRange(expected),
            "LengthMismatch" => Problem::Length(expected),
            "Utf8Error" => Problem::InvalidType {
                found: "a string that is not UTF-8",
                expected,
            },
            "DepthLimitExceeded" => Problem::Other("nested too deeply"),
            "InvalidMarkerRead" | "InvalidDataRead" => Problem::Other("cut short"),
            _ => Problem::Other("not a value of the type"),
        };
        DecodeError::new(problem)
    }
}

/// What a guard's caller asked for, to describe a mismatch rmp-serde reports without one.
#[derive(Clone, Copy)]
pub(super) enum Expecting {
    /// Whatever the data holds (`deserialize_any`, `deserialize_ignored_any`).
    Any,
    /// A kind of value (`"a string"`, `"u64"`).
    Kind(&'static str),
    /// A named type of the program (`struct User`).
    Named(&'static str, &'static str),
}

impl Expecting {
    fn describe(self) -> String {
        match self {
            Expecting::Any => "a value".to_owned(),
            Expecting::Kind(kind) => kind.to_owned(),
            Expecting::Named(kind, name) => format!("{kind} {name}"),
        }
    }
}

/// The kind of value a MessagePack marker starts, from the marker's `Debug` name.
fn marker_kind(marker: &str) -> &'static str {
    match marker {
        "Null" => "nil",
        "True" | "False" => "a boolean",
        "FixPos" | "FixNeg" | "U8" | "U16" | "U32" | "U64" | "I8" | "I16" | "I32" | "I64" => {
            "an integer"
        }
        "F32" | "F64" => "a float",
        "FixStr" | "Str8" | "Str16" | "Str32" => "a string",
        "Bin8" | "Bin16" | "Bin32" => "bytes",
        "FixArray" | "Array16" | "Array32" => "an array",
        "FixMap" | "Map16" | "Map32" => "a map",
        "FixExt1" | "FixExt2" | "FixExt4" | "FixExt8" | "FixExt16" | "Ext8" | "Ext16" | "Ext32" => {
            "an extension value"
        }
        _ => "another kind of value",
    }
}

/// The kind of value serde's `Unexpected` names, without the value itself.
fn unexpected_kind(unexpected: &Unexpected<'_>) -> &'static str {
    match unexpected {
        Unexpected::Bool(_) => "a boolean",
        Unexpected::Unsigned(_) | Unexpected::Signed(_) => "an integer",
        Unexpected::Float(_) => "a float",
        Unexpected::Char(_) => "a character",
        Unexpected::Str(_) => "a string",
        Unexpected::Bytes(_) => "bytes",
        Unexpected::Unit => "nil",
        Unexpected::Option => "an option",
        Unexpected::NewtypeStruct => "a newtype struct",
        Unexpected::Seq => "a sequence",
        Unexpected::Map => "a map",
        Unexpected::Enum => "an enum",
        Unexpected::UnitVariant => "a unit variant",
        Unexpected::NewtypeVariant => "a newtype variant",
        Unexpected::TupleVariant => "a tuple variant",
        Unexpected::StructVariant => "a struct variant",
        Unexpected::Other(_) => "another kind of value",
    }
}

/// The first two identifiers of a `Debug` form such as `TypeMismatch(FixStr(5))`, kept in a fixed
/// buffer: at most [`DebugNames::CAPACITY`] bytes are read, nothing is allocated.
struct DebugNames {
    bytes: [u8; DebugNames::CAPACITY],
    len: usize,
}

impl DebugNames {
    const CAPACITY: usize = 32;

    fn new() -> Self {
        DebugNames {
            bytes: [0; Self::CAPACITY],
            len: 0,
        }
    }

    fn text(&self) -> &str {
        // Only ASCII identifier bytes are stored.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }

    /// The error variant: the text before the first `(`.
    fn variant(&self) -> &str {
        self.text().split('(').next().unwrap_or("")
    }

    /// The first name inside the parentheses: the marker of a type mismatch.
    fn marker(&self) -> &str {
        self.text().split('(').nth(1).unwrap_or("")
    }
}

impl fmt::Write for DebugNames {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            // Identifiers and the parenthesis that ends one; anything else ends the names. The
            // text is only compared with the tables above, never shown.
            if !(byte.is_ascii_alphanumeric() || byte == b'(' || byte == b'_') {
                return Err(fmt::Error);
            }
            if self.len == Self::CAPACITY {
                return Err(fmt::Error);
            }
            self.bytes[self.len] = byte;
            self.len += 1;
        }
        Ok(())
    }
}

/// Formats an expectation, cut to [`EXPECTED_MAX`] bytes.
fn expectation(expected: &dyn Expected) -> String {
    struct Bounded(String);
    impl fmt::Write for Bounded {
        fn write_str(&mut self, text: &str) -> fmt::Result {
            for c in text.chars() {
                if self.0.len() + c.len_utf8() > EXPECTED_MAX {
                    return Err(fmt::Error);
                }
                self.0.push(c);
            }
            Ok(())
        }
    }
    let mut bounded = Bounded(String::new());
    let _ = write!(bounded, "{expected}");
    bounded.0
}

impl de::Error for DecodeError {
    /// The message is dropped: a `Deserialize` impl may have formatted the value into it.
    #[cold]
    fn custom<T: fmt::Display>(_message: T) -> Self {
        DecodeError::new(Problem::Custom)
    }

    #[cold]
    fn invalid_type(unexpected: Unexpected<'_>, expected: &dyn Expected) -> Self {
        DecodeError::new(Problem::InvalidType {
            found: unexpected_kind(&unexpected),
            expected: expectation(expected),
        })
    }

    #[cold]
    fn invalid_value(unexpected: Unexpected<'_>, expected: &dyn Expected) -> Self {
        DecodeError::new(Problem::InvalidValue {
            found: unexpected_kind(&unexpected),
            expected: expectation(expected),
        })
    }

    #[cold]
    fn invalid_length(len: usize, expected: &dyn Expected) -> Self {
        DecodeError::new(Problem::InvalidLength {
            len,
            expected: expectation(expected),
        })
    }

    #[cold]
    fn unknown_variant(_variant: &str, expected: &'static [&'static str]) -> Self {
        DecodeError::new(Problem::UnknownVariant(expected))
    }

    #[cold]
    fn unknown_field(_field: &str, expected: &'static [&'static str]) -> Self {
        DecodeError::new(Problem::UnknownField(expected))
    }

    #[cold]
    fn missing_field(field: &'static str) -> Self {
        DecodeError::new(Problem::MissingField(field))
    }

    #[cold]
    fn duplicate_field(field: &'static str) -> Self {
        DecodeError::new(Problem::DuplicateField(field))
    }
}

/// `one of `a`, `b``, or `no variants` for an empty list, as serde words it.
struct OneOf(&'static [&'static str]);

impl fmt::Display for OneOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [] => f.write_str("none"),
            [only] => write!(f, "`{only}`"),
            names => {
                f.write_str("one of ")?;
                for (i, name) in names.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "`{name}`")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.0.path.is_empty() {
            f.write_str("at ")?;
            for segment in self.0.path.iter().rev() {
                match segment {
                    Segment::Index(index) => write!(f, "[{index}]")?,
                    Segment::Field(name) => write!(f, ".{name}")?,
                    Segment::UnknownField => f.write_str(".<unknown field>")?,
                    Segment::Entry(index) => write!(f, "[entry {index}]")?,
                }
            }
            f.write_str(": ")?;
        }
        match &self.0.problem {
            Problem::InvalidType { found, expected } => {
                write!(f, "invalid type: found {found}, expected {expected}")
            }
            Problem::InvalidValue { found, expected } => {
                write!(f, "invalid value: found {found}, expected {expected}")
            }
            Problem::InvalidLength { len, expected } => {
                write!(f, "invalid length {len}, expected {expected}")
            }
            Problem::UnknownVariant(expected) => {
                write!(f, "unknown variant, expected {}", OneOf(expected))
            }
            Problem::UnknownField(expected) => {
                write!(f, "unknown field, expected {}", OneOf(expected))
            }
            Problem::MissingField(field) => write!(f, "missing field `{field}`"),
            Problem::DuplicateField(field) => write!(f, "duplicate field `{field}`"),
            Problem::Custom => f.write_str(
                "the type's Deserialize impl refused the value (its message is not logged: it \
                 may quote the value)",
            ),
            Problem::OutOfRange(expected) => {
                write!(f, "a number out of range, expected {expected}")
            }
            Problem::Length(expected) => {
                write!(
                    f,
                    "a sequence or map of another length, expected {expected}"
                )
            }
            Problem::TooLarge(budget) => write!(
                f,
                "decoding it would allocate more than {budget} bytes, the limit for a record of \
                 its size"
            ),
            Problem::TooDeep(limit) => {
                write!(f, "values nested deeper than {limit} levels")
            }
            Problem::Other(what) => f.write_str(what),
        }
    }
}

impl fmt::Debug for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DecodeError({self})")
    }
}

impl std::error::Error for DecodeError {}

#[cfg(test)]
mod tests {
    use serde::de::Error as _;

    use super::*;

    #[test]
    fn messages_keep_the_expectation_and_drop_the_data() {
        let error = DecodeError::invalid_type(Unexpected::Str("SECRET"), &"struct User");
        assert_eq!(
            error.to_string(),
            "invalid type: found a string, expected struct User"
        );
        let error = DecodeError::invalid_value(Unexpected::Signed(-4711), &"a u8")
            .at(Segment::Field("age"))
            .at(Segment::Index(3));
        assert_eq!(
            error.to_string(),
            "at [3].age: invalid value: found an integer, expected a u8"
        );
        let error = DecodeError::unknown_variant("SECRET", &["Active", "Suspended"]);
        assert_eq!(
            error.to_string(),
            "unknown variant, expected one of `Active`, `Suspended`"
        );
        let error = DecodeError::unknown_field("SECRET", &["id"]).at(Segment::UnknownField);
        assert_eq!(
            error.to_string(),
            "at .<unknown field>: unknown field, expected `id`"
        );
        let error = DecodeError::custom("bad email SECRET").at(Segment::Entry(2));
        assert!(!error.to_string().contains("SECRET"), "{error}");
        assert_eq!(
            DecodeError::missing_field("email").to_string(),
            "missing field `email`"
        );
    }

    #[test]
    fn long_expectations_are_cut() {
        let long = "x".repeat(500);
        let error = DecodeError::invalid_type(Unexpected::Unit, &long.as_str());
        assert!(error.to_string().len() < EXPECTED_MAX + 40, "{error}");
    }

    /// rmp-serde's errors are recognised by name, and their numbers are never copied. An
    /// upgrade of rmp-serde that renames them fails here rather than degrading the warnings.
    #[test]
    fn rmp_serde_errors_are_described_by_kind() {
        use rmp_serde::decode::Error;
        let mismatch = |payload: &[u8]| rmp_serde::from_slice::<u64>(payload).unwrap_err();
        let cases: [(Error, &str); 6] = [
            // A map where a number is expected (fixmap of one entry).
            (
                mismatch(&[0x81, 0x01, 0x02]),
                "invalid type: found a map, expected u64",
            ),
            // A string "SECRET".
            (
                mismatch(b"\xa6SECRET"),
                "invalid type: found a string, expected u64",
            ),
            (Error::OutOfRange, "a number out of range, expected u64"),
            (
                Error::LengthMismatch(4711),
                "a sequence or map of another length, expected u64",
            ),
            (Error::DepthLimitExceeded, "nested too deeply"),
            (
                Error::Syntax("SECRET".to_owned()),
                "not a value of the type",
            ),
        ];
        for (error, expected) in cases {
            assert!(matches!(error, Error::TypeMismatch(_)) || !expected.contains("found a"));
            let described = DecodeError::from_decoder(&error, Expecting::Kind("u64"));
            assert_eq!(described.to_string(), expected, "{error:?}");
        }
        let not_utf8 = vec![0xff];
        let utf8 = std::str::from_utf8(&not_utf8).unwrap_err();
        let described =
            DecodeError::from_decoder(&Error::Utf8Error(utf8), Expecting::Named("struct", "U"));
        assert_eq!(
            described.to_string(),
            "invalid type: found a string that is not UTF-8, expected struct U"
        );
    }
}
