//! The record envelope: what bin `data` holds.
//!
//! ```text
//! [format: 1 byte = 1][codec id: 1 byte][tag length: 1 byte][schema tag: tag length bytes][payload]
//! ```
//!
//! The format byte versions this layout; the codec id names the payload's encoding
//! ([`codec`](crate::codec)); the schema tag lets a positional codec refuse bytes written for
//! another shape (MessagePack with named fields needs none, its tag is empty). Bytes that do not
//! match what the reader expects are not a value: the engine treats them as a miss.

/// The bin that holds the envelope.
pub(crate) const DATA_BIN: &str = "data";

/// The bin of an invalidation marker: a record with this bin and no bin `data` is an entry that
/// was invalidated recently; write-backs of loads that read before it are refused.
pub(crate) const INVALIDATED_BIN: &str = "invalidated";

/// The only layout so far.
pub(crate) const FORMAT_V1: u8 = 1;

/// Bytes before the schema tag.
const HEADER_LEN: usize = 3;

/// Why bytes are not an envelope this reader understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EnvelopeMismatch {
    /// Shorter than its header says.
    Truncated,
    /// A format byte from another (newer) layout.
    Format(u8),
    /// Written by another codec.
    Codec(u8),
    /// Written for another schema.
    SchemaTag,
}

/// Starts an envelope; the caller appends the payload to the returned buffer.
///
/// A schema tag longer than 255 bytes is a programming error of a codec; it is cut to 255 bytes,
/// which still distinguishes it from every shorter tag.
pub(crate) fn begin(codec: u8, schema_tag: &[u8], payload_hint: usize) -> Vec<u8> {
    let tag = &schema_tag[..schema_tag.len().min(usize::from(u8::MAX))];
    let mut bytes = Vec::with_capacity(HEADER_LEN + tag.len() + payload_hint);
    bytes.push(FORMAT_V1);
    bytes.push(codec);
    bytes.push(tag.len() as u8);
    bytes.extend_from_slice(tag);
    bytes
}

/// Checks the header against what the reader expects and returns the payload.
pub(crate) fn open<'a>(
    bytes: &'a [u8],
    codec: u8,
    schema_tag: &[u8],
) -> Result<&'a [u8], EnvelopeMismatch> {
    let [format, found_codec, tag_len, rest @ ..] = bytes else {
        return Err(EnvelopeMismatch::Truncated);
    };
    if *format != FORMAT_V1 {
        return Err(EnvelopeMismatch::Format(*format));
    }
    if *found_codec != codec {
        return Err(EnvelopeMismatch::Codec(*found_codec));
    }
    let tag_len = usize::from(*tag_len);
    if rest.len() < tag_len {
        return Err(EnvelopeMismatch::Truncated);
    }
    let (tag, payload) = rest.split_at(tag_len);
    if tag != schema_tag {
        return Err(EnvelopeMismatch::SchemaTag);
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_and_without_tag() {
        for tag in [&b""[..], b"v2", &[7u8; 255]] {
            let mut bytes = begin(9, tag, 3);
            bytes.extend_from_slice(b"abc");
            assert_eq!(open(&bytes, 9, tag), Ok(&b"abc"[..]));
        }
    }

    #[test]
    fn mismatches_are_reported() {
        let mut bytes = begin(1, b"t", 1);
        bytes.push(0xAA);
        assert_eq!(open(&bytes, 2, b"t"), Err(EnvelopeMismatch::Codec(1)));
        assert_eq!(open(&bytes, 1, b"u"), Err(EnvelopeMismatch::SchemaTag));
        assert_eq!(open(&bytes, 1, b""), Err(EnvelopeMismatch::SchemaTag));
        let mut newer = bytes.clone();
        newer[0] = 2;
        assert_eq!(open(&newer, 1, b"t"), Err(EnvelopeMismatch::Format(2)));
    }

    #[test]
    fn truncated_headers_never_panic() {
        let mut bytes = begin(1, b"tag", 0);
        bytes.extend_from_slice(b"payload");
        for len in 0..bytes.len() {
            let result = open(&bytes[..len], 1, b"tag");
            let expected = if len < HEADER_LEN + 3 {
                Err(EnvelopeMismatch::Truncated)
            } else {
                Ok(&bytes[HEADER_LEN + 3..len])
            };
            assert_eq!(result, expected, "prefix of {len} bytes");
        }
    }
}
