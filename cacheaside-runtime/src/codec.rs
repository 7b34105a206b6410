//! The value codec: MessagePack with named fields (rmp-serde), inside the [envelope](crate::envelope).
//!
//! Named fields make a changed struct fail to decode (or decode correctly) instead of decoding into
//! a wrong value, which is what a rolling deploy needs.
//!
//! Decoding is bounded, whatever the stored bytes:
//!
//! - before rmp-serde sees the payload, [`check_msgpack`] walks it without recursion and rejects
//!   any claimed length that the payload cannot hold (rmp-serde hands claimed element counts to
//!   serde as size hints, and serde preallocates from them) and any nesting deeper than
//!   [`MAX_DEPTH`], so that decoding, which recurses once per level, stays within a small stack
//!   even in a debug build;
//! - the cached type decodes through a [guard] that limits the memory its sequences and
//!   maps take to [`guard::BUDGET_PER_BYTE`] times the payload's size plus
//!   [`guard::BUDGET_BASE`], and that gives the type's `Deserialize` impl an error type which keeps
//!   the decoded data out of error messages ([`error`]).

mod error;
mod guard;

use std::fmt;

use serde::{de::DeserializeOwned, Serialize};

pub(crate) use self::error::DecodeError;
use crate::envelope::{self, EnvelopeMismatch};
use crate::{Error, ErrorKind};

/// Codec id of MessagePack with named fields.
pub(crate) const MSGPACK_NAMED: u8 = 1;

/// MessagePack with named fields is self-describing: no schema tag.
const SCHEMA_TAG: &[u8] = b"";

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
}

/// Describes the problem without the stored data: safe to log.
impl fmt::Display for Undecodable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Undecodable::Envelope(mismatch) => write!(f, "envelope mismatch: {mismatch:?}"),
            Undecodable::Malformed(reason) => write!(f, "malformed payload: {reason}"),
            Undecodable::Shape(error) => write!(f, "another shape: {error}"),
        }
    }
}

/// Encodes a value into the bytes of bin `data`.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut bytes = envelope::begin(MSGPACK_NAMED, SCHEMA_TAG, 64);
    rmp_serde::encode::write_named(&mut bytes, value).map_err(|e| {
        Error::new(
            ErrorKind::Encode,
            format!("the value cannot be encoded: {e}"),
        )
    })?;
    Ok(bytes)
}

/// Decodes the bytes of bin `data`.
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
