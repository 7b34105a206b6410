//! The value codecs, inside the [envelope](crate::envelope): MessagePack with named fields
//! (rmp-serde) by default; bincode 2, postcard and JSON behind the features of the same names
//! (`codec = "…"` on the attribute, or a set's codec in the configuration, see [`Codec`]).
//!
//! Named fields (MessagePack, JSON) make a changed struct fail to decode (or decode correctly)
//! instead of decoding into a wrong value, which is what a rolling deploy needs. The positional
//! codecs (bincode, postcard) store no field names: their envelope carries a schema tag derived
//! from the value type's name ([`schema_tag`]), so a reader of another type sees a miss, but a
//! struct changed without being renamed may decode into a wrong value.
//!
//! Decoding is bounded, whatever the stored bytes and the codec:
//!
//! - before rmp-serde sees a MessagePack payload, [`check_msgpack`] walks it without recursion
//!   and rejects any claimed length that the payload cannot hold (rmp-serde hands claimed element
//!   counts to serde as size hints, and serde preallocates from them) and any nesting deeper than
//!   [`MAX_DEPTH`], so that decoding, which recurses once per level, stays within a small stack
//!   even in a debug build; a JSON payload gets the same depth check ([`check_json_depth`]);
//! - every codec decodes the cached type through a [guard] that limits the memory its sequences
//!   and maps take to [`guard::BUDGET_PER_BYTE`] times the payload's size plus
//!   [`guard::BUDGET_BASE`], limits how deep decoding recurses ([`guard::MAX_GUARD_DEPTH`], which
//!   is what bounds the stack for the positional codecs, whose recursive types can nest a level
//!   per byte), and that gives the type's `Deserialize` impl an error type which keeps the decoded
//!   data out of error messages ([`error`]);
//! - bincode also runs with its own byte limit ([`BINCODE_LIMIT`]); postcard and serde_json read
//!   from the payload slice, so no claimed length makes them read or allocate past it.

mod error;
mod guard;

use std::fmt;
use std::str::FromStr;

use serde::{de::DeserializeOwned, Serialize};

pub(crate) use self::error::DecodeError;
use crate::envelope::{self, EnvelopeMismatch};
use crate::{Error, ErrorKind};

/// Codec id of MessagePack with named fields.
pub(crate) const MSGPACK_NAMED: u8 = 1;
/// Codec id of bincode 2 (standard configuration, through serde).
pub(crate) const BINCODE: u8 = 2;
/// Codec id of postcard.
pub(crate) const POSTCARD: u8 = 3;
/// Codec id of JSON.
pub(crate) const JSON: u8 = 4;

/// MessagePack with named fields is self-describing: no schema tag.
const SCHEMA_TAG: &[u8] = b"";

/// The most bytes bincode may read while decoding one value: Aerospike's largest record (8 MiB).
/// The payload slice bounds what is read anyway; this also bounds what a claimed length may make
/// bincode read before it finds the slice too short.
#[cfg(feature = "bincode")]
pub(crate) const BINCODE_LIMIT: usize = 8 * 1024 * 1024;

/// How values are encoded in bin `data`: per function with `codec = "…"` on the attribute, or
/// per set with [`SetPolicy::codec`](crate::SetPolicy::codec) or
/// `CACHEASIDE_SET_<SET>_CODEC`, which takes precedence. Each writes its own codec id into the
/// envelope, so a reader with another codec sees a miss, never a wrong value.
///
/// Every codec can be named in every build; those other than MessagePack need the cargo feature
/// of the same name ([`feature`](Self::feature)). A configuration that names one this build
/// lacks is refused by [`ConfigBuilder::build`](crate::ConfigBuilder::build) and
/// [`Config::from_env`](crate::Config::from_env), with the feature to enable; the attribute
/// refuses it at compile time.
///
/// ```
/// use cacheaside_runtime::{Codec, Config, SetPolicy};
///
/// // The names of `codec = "…"` and `CACHEASIDE_SET_<SET>_CODEC`.
/// let codec: Codec = "msgpack".parse()?;
/// assert_eq!(codec, Codec::MessagePack);
/// assert_eq!(Codec::Json.name(), "json");
/// assert_eq!(Codec::Json.feature(), Some("json"));
/// assert!("xml".parse::<Codec>().is_err());
///
/// let config = Config::builder()
///     .set_policy("prices", SetPolicy::new().codec(Codec::Json))
///     .build();
/// if Codec::Json.is_available() {
///     let config = config?;
///     let codec = config.policy_for("prices").and_then(SetPolicy::codec_override);
///     assert_eq!(codec, Some(Codec::Json));
/// } else {
///     // Built without the `json` feature: a configuration error that names it.
///     assert!(config.unwrap_err().to_string().contains("`json` feature"));
/// }
/// # Ok::<(), cacheaside_runtime::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// `"msgpack"`, the default: MessagePack with named fields (id 1).
    #[default]
    MessagePack,
    /// `"bincode"` (feature `bincode`): bincode 2's standard configuration (id 2), with the
    /// schema tag of the value's type.
    Bincode,
    /// `"postcard"` (feature `postcard`): postcard (id 3), with the schema tag of the value's
    /// type.
    Postcard,
    /// `"json"` (feature `json`): plain JSON (id 4), readable from other languages.
    Json,
}

impl Codec {
    /// Every codec, in the order of their ids.
    const ALL: [Codec; 4] = [
        Codec::MessagePack,
        Codec::Bincode,
        Codec::Postcard,
        Codec::Json,
    ];

    /// The id this codec writes into the envelope.
    pub const fn id(self) -> u8 {
        match self {
            Codec::MessagePack => MSGPACK_NAMED,
            Codec::Bincode => BINCODE,
            Codec::Postcard => POSTCARD,
            Codec::Json => JSON,
        }
    }

    /// The codec's name in `codec = "…"` and `CACHEASIDE_SET_<SET>_CODEC`.
    pub const fn name(self) -> &'static str {
        match self {
            Codec::MessagePack => "msgpack",
            Codec::Bincode => "bincode",
            Codec::Postcard => "postcard",
            Codec::Json => "json",
        }
    }

    /// The cargo feature of `cacheaside` this codec needs; `None` for MessagePack.
    pub const fn feature(self) -> Option<&'static str> {
        match self {
            Codec::MessagePack => None,
            Codec::Bincode => Some("bincode"),
            Codec::Postcard => Some("postcard"),
            Codec::Json => Some("json"),
        }
    }

    /// Whether this build can encode and decode with this codec (its feature is on).
    pub const fn is_available(self) -> bool {
        match self {
            Codec::MessagePack => true,
            Codec::Bincode => cfg!(feature = "bincode"),
            Codec::Postcard => cfg!(feature = "postcard"),
            Codec::Json => cfg!(feature = "json"),
        }
    }

    /// Why a configuration cannot use this codec, if this build lacks it: names the feature to
    /// enable.
    pub(crate) fn unavailable(self) -> Option<String> {
        if self.is_available() {
            return None;
        }
        self.feature().map(missing_feature)
    }
}

/// The problem of a configuration naming a codec whose `feature` is not compiled in.
pub(crate) fn missing_feature(feature: &str) -> String {
    format!(
        "the {feature} codec needs the `{feature}` feature of cacheaside, which this build lacks: \
         `cacheaside = {{ version = \"…\", features = [\"{feature}\"] }}` in Cargo.toml"
    )
}

/// The codec's name, as [`Codec::name`].
impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses a codec's [name](Codec::name) (any case, surrounding spaces ignored). A codec whose
/// feature this build lacks is parsed too: the configuration that uses it says so.
impl FromStr for Codec {
    type Err = Error;

    fn from_str(name: &str) -> Result<Codec, Error> {
        let name = name.trim();
        Codec::ALL
            .into_iter()
            .find(|codec| codec.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Config,
                    format!(
                        "unknown codec {name:?}: the codecs are msgpack, bincode, postcard and \
                         json"
                    ),
                )
            })
    }
}

/// The schema tag of a positional codec's envelope for values of type `T`: the FNV-1a hash (64
/// bits, little-endian) of `std::any::type_name::<T>()`.
///
/// It changes when the type's name or module path changes (or its generic arguments), and may
/// change with a compiler release (the standard library does not promise stable type names). It
/// does not change when a field is added, removed, reordered or retyped: serde exposes a type's
/// shape only while decoding data, not as a description, so nothing better can be derived. A
/// positional codec then decodes the old bytes into the new shape, which fails or, worse, yields
/// a wrong value; rename the type (`UserV2`) when its shape changes, or use a named codec.
#[cfg(any(feature = "bincode", feature = "postcard", test))]
pub(crate) fn schema_tag<T: ?Sized>() -> [u8; 8] {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in std::any::type_name::<T>().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash.to_le_bytes()
}

/// Deepest nesting of arrays and maps a payload may have. Values of real programs nest a few
/// levels (serde_json's own limit is 128); decoding recurses through several frames per level,
/// which in a debug build take a few kilobytes, so this keeps the deepest accepted value well
/// within a 2 MiB thread stack.
pub(crate) const MAX_DEPTH: usize = 64;

/// Why stored bytes are not a value of the expected type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Undecodable {
    /// The envelope is for another format, codec or schema, or is cut short.
    Envelope(EnvelopeMismatch),
    /// The payload is not well-formed MessagePack, claims more than it holds, or nests too deep.
    Malformed(&'static str),
    /// Well-formed, but not the expected type (e.g. written by an older deploy), or too large
    /// once decoded.
    Shape(DecodeError),
    /// The reader's codec is not compiled in (a configuration that names one is refused first).
    Unavailable(Codec),
}

/// Describes the problem without the stored data: safe to log.
impl fmt::Display for Undecodable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Undecodable::Envelope(mismatch) => write!(f, "envelope mismatch: {mismatch:?}"),
            Undecodable::Malformed(reason) => write!(f, "malformed payload: {reason}"),
            Undecodable::Shape(error) => write!(f, "another shape: {error}"),
            Undecodable::Unavailable(codec) => {
                write!(f, "the {codec} codec is not compiled in")
            }
        }
    }
}

/// Encodes a value into the bytes of bin `data` with `codec`.
pub(crate) fn encode_as<T: Serialize + ?Sized>(codec: Codec, value: &T) -> Result<Vec<u8>, Error> {
    match codec {
        Codec::MessagePack => encode(value),
        #[cfg(feature = "bincode")]
        Codec::Bincode => {
            let mut bytes = envelope::begin(BINCODE, &schema_tag::<T>(), 64);
            bincode::serde::encode_into_std_write(value, &mut bytes, bincode::config::standard())
                .map_err(|e| failed(&e))?;
            Ok(bytes)
        }
        #[cfg(feature = "postcard")]
        Codec::Postcard => {
            let bytes = envelope::begin(POSTCARD, &schema_tag::<T>(), 64);
            postcard::to_extend(value, bytes).map_err(|e| failed(&e))
        }
        #[cfg(feature = "json")]
        Codec::Json => {
            let mut bytes = envelope::begin(JSON, SCHEMA_TAG, 64);
            serde_json::to_writer(&mut bytes, value).map_err(|e| failed(&e))?;
            Ok(bytes)
        }
        // A configuration naming a codec this build lacks is refused, and the attribute cannot
        // name one: not reached, but an error rather than a panic.
        #[allow(unreachable_patterns)]
        _ => Err(Error::new(
            ErrorKind::Config,
            codec.unavailable().unwrap_or_default(),
        )),
    }
}

/// An encoder's refusal of a value (a map with keys JSON cannot hold, a sequence of unknown
/// length for postcard, …).
fn failed(error: &dyn fmt::Display) -> Error {
    Error::new(
        ErrorKind::Encode,
        format!("the value cannot be encoded: {error}"),
    )
}

/// Decodes the bytes of bin `data` written with `codec`; bytes of another codec are
/// [`EnvelopeMismatch::Codec`].
pub(crate) fn decode_as<T: DeserializeOwned>(codec: Codec, bytes: &[u8]) -> Result<T, Undecodable> {
    match codec {
        Codec::MessagePack => decode(bytes),
        #[cfg(feature = "bincode")]
        Codec::Bincode => {
            let payload = envelope::open(bytes, BINCODE, &schema_tag::<T>())
                .map_err(Undecodable::Envelope)?;
            let config = bincode::config::standard().with_limit::<BINCODE_LIMIT>();
            let (value, read) = guard::decode_seeded(payload.len(), |seed| {
                bincode::serde::seed_decode_from_slice(seed, payload, config)
            })
            .map_err(Undecodable::Shape)?;
            if read != payload.len() {
                return Err(Undecodable::Malformed("trailing bytes after the value"));
            }
            Ok(value)
        }
        #[cfg(feature = "postcard")]
        Codec::Postcard => {
            let payload = envelope::open(bytes, POSTCARD, &schema_tag::<T>())
                .map_err(Undecodable::Envelope)?;
            let mut decoder = postcard::Deserializer::from_bytes(payload);
            let value =
                guard::decode_from(&mut decoder, payload.len()).map_err(Undecodable::Shape)?;
            match decoder.finalize() {
                Ok([]) => Ok(value),
                Ok(_) => Err(Undecodable::Malformed("trailing bytes after the value")),
                Err(_) => Err(Undecodable::Malformed("cut short")),
            }
        }
        #[cfg(feature = "json")]
        Codec::Json => {
            let payload = envelope::open(bytes, JSON, SCHEMA_TAG).map_err(Undecodable::Envelope)?;
            check_json_depth(payload).map_err(Undecodable::Malformed)?;
            let mut decoder = serde_json::Deserializer::from_slice(payload);
            let value =
                guard::decode_from(&mut decoder, payload.len()).map_err(Undecodable::Shape)?;
            decoder
                .end()
                .map_err(|_| Undecodable::Malformed("trailing bytes after the value"))?;
            Ok(value)
        }
        // Not reached (see `encode_as`): a miss, like any entry this reader cannot read.
        #[allow(unreachable_patterns)]
        _ => Err(Undecodable::Unavailable(codec)),
    }
}

/// Checks that JSON text nests arrays and objects at most [`MAX_DEPTH`] deep (serde_json's own
/// limit, 128, is more than a debug build's stack takes through the guard). Strings are skipped,
/// so brackets inside them do not count; anything else is left to serde_json.
#[cfg(feature = "json")]
pub(crate) fn check_json_depth(bytes: &[u8]) -> Result<(), &'static str> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in bytes {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err("arrays and objects nested deeper than the limit");
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Encodes a value into the bytes of bin `data` with the default codec.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut bytes = envelope::begin(MSGPACK_NAMED, SCHEMA_TAG, 64);
    rmp_serde::encode::write_named(&mut bytes, value).map_err(|e| failed(&e))?;
    Ok(bytes)
}

/// Decodes the bytes of bin `data` written with the default codec.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Undecodable> {
    let payload =
        envelope::open(bytes, MSGPACK_NAMED, SCHEMA_TAG).map_err(Undecodable::Envelope)?;
    check_msgpack(payload).map_err(Undecodable::Malformed)?;
    guard::decode(payload).map_err(Undecodable::Shape)
}

/// Checks that `bytes` is exactly one well-formed MessagePack value whose every length fits in
/// the bytes that follow it, nested at most [`MAX_DEPTH`] arrays and maps deep. Iterative, so no
/// input can exhaust the stack.
pub(crate) fn check_msgpack(bytes: &[u8]) -> Result<(), &'static str> {
    let mut reader = Reader { bytes, pos: 0 };
    // Values still to read; each needs at least one byte, so this never exceeds the input length.
    let mut pending: usize = 1;
    // Values still to read in each array or map being read, outermost first; `level` of them
    // are in use. The root counts as level 0.
    let mut left = [0usize; MAX_DEPTH + 1];
    left[0] = 1;
    let mut level = 0;
    while pending > 0 {
        while left[level] == 0 {
            // Every value of this array or map is read (the root's level is only left at the end).
            level -= 1;
        }
        left[level] -= 1;
        pending -= 1;
        let marker = reader.byte()?;
        let children = match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => 0,
            0x80..=0x8f => 2 * usize::from(marker & 0x0f),
            0x90..=0x9f => usize::from(marker & 0x0f),
            0xa0..=0xbf => {
                reader.skip(usize::from(marker & 0x1f))?;
                0
            }
            0xc1 => return Err("reserved marker 0xc1"),
            0xc4 | 0xd9 => reader.skip_sized(1)?,
            0xc5 | 0xda => reader.skip_sized(2)?,
            0xc6 | 0xdb => reader.skip_sized(4)?,
            // ext: length, then a type byte, then the data
            0xc7 => reader.skip_ext(1)?,
            0xc8 => reader.skip_ext(2)?,
            0xc9 => reader.skip_ext(4)?,
            0xca => reader.skip(4).map(|()| 0)?,
            0xcb => reader.skip(8).map(|()| 0)?,
            0xcc | 0xd0 => reader.skip(1).map(|()| 0)?,
            0xcd | 0xd1 => reader.skip(2).map(|()| 0)?,
            0xce | 0xd2 => reader.skip(4).map(|()| 0)?,
            0xcf | 0xd3 => reader.skip(8).map(|()| 0)?,
            0xd4 => reader.skip(2).map(|()| 0)?,
            0xd5 => reader.skip(3).map(|()| 0)?,
            0xd6 => reader.skip(5).map(|()| 0)?,
            0xd7 => reader.skip(9).map(|()| 0)?,
            0xd8 => reader.skip(17).map(|()| 0)?,
            0xdc => reader.length(2)?,
            0xdd => reader.length(4)?,
            0xde => reader
                .length(2)?
                .checked_mul(2)
                .ok_or("map length overflows")?,
            0xdf => reader
                .length(4)?
                .checked_mul(2)
                .ok_or("map length overflows")?,
        };
        if children > 0 {
            if level == MAX_DEPTH {
                return Err("arrays and maps nested deeper than the limit");
            }
            level += 1;
            left[level] = children;
        }
        pending = pending.checked_add(children).ok_or("length overflows")?;
        if pending > reader.remaining() {
            return Err("a length claims more elements than the bytes hold");
        }
    }
    if reader.remaining() != 0 {
        return Err("trailing bytes after the value");
    }
    Ok(())
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn byte(&mut self) -> Result<u8, &'static str> {
        let byte = *self.bytes.get(self.pos).ok_or("truncated")?;
        self.pos += 1;
        Ok(byte)
    }

    fn skip(&mut self, len: usize) -> Result<(), &'static str> {
        if len > self.remaining() {
            return Err("a length claims more bytes than remain");
        }
        self.pos += len;
        Ok(())
    }

    /// A big-endian length of `width` bytes.
    fn length(&mut self, width: usize) -> Result<usize, &'static str> {
        let mut len: usize = 0;
        for _ in 0..width {
            len = (len << 8) | usize::from(self.byte()?);
        }
        Ok(len)
    }

    /// Skips a string or binary with a `width`-byte length; it has no child values.
    fn skip_sized(&mut self, width: usize) -> Result<usize, &'static str> {
        let len = self.length(width)?;
        self.skip(len)?;
        Ok(0)
    }

    /// Skips an ext value with a `width`-byte length and a type byte.
    fn skip_ext(&mut self, width: usize) -> Result<usize, &'static str> {
        let len = self.length(width)?;
        self.skip(1)?;
        self.skip(len)?;
        Ok(0)
    }
}

#[cfg(test)]
mod tests;
