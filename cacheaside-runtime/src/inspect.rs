//! A read-only look at cached records, for operator tools.
//!
//! Cached calls never need this: it exists so that a tool (such as `cacheaside-inspect`) can show
//! what an entry holds without knowing the cached type. It reads the envelope with the same code
//! the get-or-load engine uses, and checks a MessagePack payload with the same bounded walk that
//! runs before every decode, so what it accepts is exactly what a cache hit would try to decode.
//!
//! ```
//! use cacheaside_runtime::inspect::{inspect, Codec};
//!
//! // format 1, codec 1 (MessagePack with named fields), no schema tag, then the payload `42`
//! let bytes = [1, 1, 0, 0x2a];
//! let view = inspect(&bytes).unwrap();
//! assert_eq!(view.codec(), Codec::MessagePackNamed);
//! assert_eq!(view.schema_tag(), b"");
//! assert_eq!(view.msgpack_payload(), Ok(&[0x2a][..]));
//! ```

use core::fmt;

use aerospike::expressions::Expression;

use crate::client::data_filter;
use crate::codec;
use crate::envelope::{self, EnvelopeMismatch};

/// The filter expression every read of the cache carries: bin `data` is bytes or absent. A tool
/// that reads cached records with it is answered FILTERED_OUT, not sent the value, for a record
/// whose bin `data` holds anything else, so no value a hostile writer stored reaches the
/// `aerospike` client's recursive parser.
///
/// ```
/// let mut policy = aerospike::ReadPolicy::default();
/// policy.base_policy.filter_expression = Some(cacheaside_runtime::inspect::data_filter());
/// ```
pub fn data_filter() -> Expression {
    data_filter::usable().clone()
}

/// The bin that holds an entry's envelope.
pub const DATA_BIN: &str = envelope::DATA_BIN;

/// The bin of an invalidation marker: a record with this bin and no [`DATA_BIN`] is an entry that
/// was invalidated (or is being refreshed) recently and holds no value.
pub const INVALIDATED_BIN: &str = envelope::INVALIDATED_BIN;

/// The envelope layout this version writes and reads.
pub const FORMAT: u8 = envelope::FORMAT_V1;

/// The codec named by an envelope's codec id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Id 1: MessagePack with named fields (`rmp_serde::to_vec_named`), the default codec.
    MessagePackNamed,
    /// Id 2: bincode 2, standard configuration (`codec = "bincode"`); the schema tag is the hash
    /// of the value's type name.
    Bincode,
    /// Id 3: postcard (`codec = "postcard"`); the schema tag is the hash of the value's type name.
    Postcard,
    /// Id 4: JSON (`codec = "json"`), no schema tag.
    Json,
    /// An id this version does not know (a newer release or another writer).
    Unknown(u8),
}

impl Codec {
    /// The codec of an id.
    pub fn from_id(id: u8) -> Codec {
        match id {
            codec::MSGPACK_NAMED => Codec::MessagePackNamed,
            codec::BINCODE => Codec::Bincode,
            codec::POSTCARD => Codec::Postcard,
            codec::JSON => Codec::Json,
            other => Codec::Unknown(other),
        }
    }

    /// The id stored in the envelope.
    pub fn id(self) -> u8 {
        match self {
            Codec::MessagePackNamed => codec::MSGPACK_NAMED,
            Codec::Bincode => codec::BINCODE,
            Codec::Postcard => codec::POSTCARD,
            Codec::Json => codec::JSON,
            Codec::Unknown(id) => id,
        }
    }

    /// A name for people: `MessagePack (named fields)`, `bincode`, `postcard`, `JSON` or `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            Codec::MessagePackNamed => "MessagePack (named fields)",
            Codec::Bincode => "bincode",
            Codec::Postcard => "postcard",
            Codec::Json => "JSON",
            Codec::Unknown(_) => "unknown",
        }
    }
}

/// The parts of bin `data`'s bytes, borrowed from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvelopeView<'a> {
    codec: Codec,
    schema_tag: &'a [u8],
    payload: &'a [u8],
    total_len: usize,
}

impl<'a> EnvelopeView<'a> {
    /// The envelope's format byte; always [`FORMAT`] for a view ([`inspect`] refuses others).
    pub fn format(&self) -> u8 {
        FORMAT
    }

    /// The codec that wrote the payload.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The schema tag (empty for MessagePack with named fields, which needs none).
    pub fn schema_tag(&self) -> &'a [u8] {
        self.schema_tag
    }

    /// The encoded value, unchecked.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Bytes of the whole envelope: header, schema tag and payload.
    pub fn total_len(&self) -> usize {
        self.total_len
    }

    /// Bytes before the payload: the header and the schema tag.
    pub fn header_len(&self) -> usize {
        self.total_len - self.payload.len()
    }

    /// The payload, if it is MessagePack that the decoder would accept: exactly one well-formed
    /// value, every claimed length within the bytes. Whether it is the shape of a given type is
    /// not checked (there is no type here).
    ///
    /// # Errors
    /// [`InspectError::UnknownCodec`] for another codec (also a known one that is not
    /// MessagePack), [`InspectError::MalformedPayload`] for
    /// bytes the decoder refuses before decoding.
    pub fn msgpack_payload(&self) -> Result<&'a [u8], InspectError> {
        match self.codec {
            Codec::MessagePackNamed => {
                codec::check_msgpack(self.payload).map_err(InspectError::MalformedPayload)?;
                Ok(self.payload)
            }
            other => Err(InspectError::UnknownCodec(other.id())),
        }
    }
}

/// Why bytes are not an envelope this version can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InspectError {
    /// Shorter than the header, or than the schema tag length it states.
    Truncated,
    /// A format byte of another (newer) layout, whose other bytes cannot be read here.
    Format(u8),
    /// The payload is in a codec this version does not know.
    UnknownCodec(u8),
    /// The MessagePack payload is not well formed; the text says how.
    MalformedPayload(&'static str),
}

impl fmt::Display for InspectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InspectError::Truncated => f.write_str("the envelope is cut short"),
            InspectError::Format(format) => write!(
                f,
                "envelope format {format} is not the format this version reads ({FORMAT})"
            ),
            InspectError::UnknownCodec(id) => write!(f, "codec id {id} is not known"),
            InspectError::MalformedPayload(why) => {
                write!(f, "the MessagePack payload is malformed: {why}")
            }
        }
    }
}

impl std::error::Error for InspectError {}

/// Splits the bytes of bin `data` into their envelope parts, whatever the codec and schema tag.
///
/// # Errors
/// [`InspectError::Truncated`] or [`InspectError::Format`] when the bytes are not an envelope of
/// this format.
pub fn inspect(bytes: &[u8]) -> Result<EnvelopeView<'_>, InspectError> {
    let [_, codec_id, tag_len, rest @ ..] = bytes else {
        return Err(InspectError::Truncated);
    };
    // Expect the codec and tag that are there, so that `envelope::open` checks the format and
    // the lengths exactly as a read does. A short tag makes it report the truncation (after a
    // format mismatch, which takes precedence because another format's bytes mean other things).
    let schema_tag = rest.get(..usize::from(*tag_len)).unwrap_or_default();
    let payload =
        envelope::open(bytes, *codec_id, schema_tag).map_err(|mismatch| match mismatch {
            EnvelopeMismatch::Format(format) => InspectError::Format(format),
            // Codec and schema tag were taken from the bytes, so only a short envelope is left.
            EnvelopeMismatch::Truncated
            | EnvelopeMismatch::Codec(_)
            | EnvelopeMismatch::SchemaTag => InspectError::Truncated,
        })?;
    Ok(EnvelopeView {
        codec: Codec::from_id(*codec_id),
        schema_tag,
        payload,
        total_len: bytes.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoded_value_is_shown_as_written() {
        let bytes = codec::encode(&("alice", 42u32)).unwrap();
        let view = inspect(&bytes).unwrap();
        assert_eq!(view.format(), 1);
        assert_eq!(view.codec(), Codec::MessagePackNamed);
        assert_eq!(view.codec().id(), 1);
        assert_eq!(view.schema_tag(), b"");
        assert_eq!(view.header_len(), 3);
        assert_eq!(view.total_len(), bytes.len());
        let payload = view.msgpack_payload().unwrap();
        assert_eq!(payload, &bytes[3..]);
        let decoded: (String, u32) = rmp_serde::from_slice(payload).unwrap();
        assert_eq!(decoded, ("alice".to_owned(), 42));
    }

    #[test]
    fn other_codecs_and_tags_are_shown_but_not_checked() {
        let mut bytes = envelope::begin(7, b"v2", 2);
        bytes.extend_from_slice(&[0xc1, 0xc1]);
        let view = inspect(&bytes).unwrap();
        assert_eq!(view.codec(), Codec::Unknown(7));
        assert_eq!(view.codec().name(), "unknown");
        assert_eq!(view.schema_tag(), b"v2");
        assert_eq!(view.payload(), &[0xc1, 0xc1]);
        assert_eq!(view.header_len(), 5);
        assert_eq!(view.msgpack_payload(), Err(InspectError::UnknownCodec(7)));
    }

    #[test]
    fn malformed_msgpack_is_refused_as_the_decoder_would() {
        // an array claiming 15 elements with none present
        let bytes = [FORMAT, codec::MSGPACK_NAMED, 0, 0x9f];
        let view = inspect(&bytes).unwrap();
        assert!(matches!(
            view.msgpack_payload(),
            Err(InspectError::MalformedPayload(_))
        ));
    }

    #[test]
    fn short_and_foreign_bytes_are_errors_not_panics() {
        assert_eq!(inspect(&[]), Err(InspectError::Truncated));
        assert_eq!(inspect(&[1, 1]), Err(InspectError::Truncated));
        assert_eq!(inspect(&[1, 1, 3, b'a']), Err(InspectError::Truncated));
        assert_eq!(inspect(&[2, 1, 0]), Err(InspectError::Format(2)));
        // a newer format is reported as such even where its bytes would look short
        assert_eq!(inspect(&[9, 1, 200]), Err(InspectError::Format(9)));
        let empty_payload = inspect(&[1, 1, 0]).unwrap();
        assert_eq!(empty_payload.payload(), b"");
        assert!(empty_payload.msgpack_payload().is_err());
    }

    #[test]
    fn every_prefix_of_an_envelope_is_handled() {
        let mut bytes = envelope::begin(codec::MSGPACK_NAMED, b"tag", 4);
        bytes.extend_from_slice(&[0x93, 1, 2, 3]);
        for len in 0..bytes.len() {
            let result = inspect(&bytes[..len]);
            if len < 6 {
                assert_eq!(result, Err(InspectError::Truncated), "prefix of {len}");
            } else {
                assert_eq!(result.unwrap().payload(), &bytes[6..len]);
            }
        }
    }

    #[test]
    fn errors_explain_themselves() {
        assert_eq!(
            InspectError::Format(3).to_string(),
            "envelope format 3 is not the format this version reads (1)"
        );
        assert_eq!(
            InspectError::UnknownCodec(9).to_string(),
            "codec id 9 is not known"
        );
    }
}
