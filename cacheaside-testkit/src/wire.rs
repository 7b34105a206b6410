//! The Aerospike wire format: frame headers, data messages, batch rows and replies.
//!
//! Every parser here works on bytes already in memory and checks every length it reads, so malformed
//! input becomes a [`WireError`], never a panic or an allocation sized by the input.

use crate::value::BinValue;

/// Protocol version of every frame.
pub(crate) const PROTO_VERSION: u8 = 2;
/// Frame type of info requests and replies.
pub(crate) const TYPE_INFO: u8 = 1;
/// Frame type of data messages.
pub(crate) const TYPE_MESSAGE: u8 = 3;
/// The largest frame body accepted; bigger claims close the connection before anything is allocated.
pub(crate) const MAX_FRAME_BODY: u64 = 16 * 1024 * 1024;
/// Size of the message header that follows the 8-byte frame header.
pub(crate) const MESSAGE_HEADER_SIZE: usize = 22;

pub(crate) mod info1 {
    pub(crate) const READ: u8 = 0x01;
    pub(crate) const GET_ALL: u8 = 0x02;
    pub(crate) const BATCH: u8 = 0x08;
    pub(crate) const NOBINDATA: u8 = 0x20;
}

pub(crate) mod info2 {
    pub(crate) const WRITE: u8 = 0x01;
    pub(crate) const DELETE: u8 = 0x02;
    pub(crate) const GENERATION: u8 = 0x04;
    pub(crate) const GENERATION_GT: u8 = 0x08;
    pub(crate) const CREATE_ONLY: u8 = 0x20;
    pub(crate) const RESPOND_ALL_OPS: u8 = 0x80;
}

pub(crate) mod info3 {
    pub(crate) const LAST: u8 = 0x01;
    pub(crate) const UPDATE_ONLY: u8 = 0x08;
    pub(crate) const CREATE_OR_REPLACE: u8 = 0x10;
    pub(crate) const REPLACE_ONLY: u8 = 0x20;
}

pub(crate) mod field {
    pub(crate) const NAMESPACE: u8 = 0;
    pub(crate) const SET: u8 = 1;
    pub(crate) const KEY: u8 = 2;
    pub(crate) const DIGEST: u8 = 4;
    pub(crate) const BATCH_INDEX: u8 = 41;
    pub(crate) const FILTER_EXPRESSION: u8 = 43;
}

pub(crate) mod op {
    pub(crate) const READ: u8 = 1;
    pub(crate) const WRITE: u8 = 2;
    pub(crate) const INCR: u8 = 5;
    pub(crate) const APPEND: u8 = 9;
    pub(crate) const PREPEND: u8 = 10;
    pub(crate) const TOUCH: u8 = 11;
    pub(crate) const DELETE: u8 = 14;
}

mod batch_flag {
    pub(crate) const REPEAT: u8 = 0x01;
    pub(crate) const INFO: u8 = 0x02;
    pub(crate) const GEN: u8 = 0x04;
    pub(crate) const TTL: u8 = 0x08;
    pub(crate) const INFO4: u8 = 0x10;
}

/// Why bytes could not be parsed. Any of these closes the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireError {
    /// The frame's protocol version is not 2.
    BadVersion(u8),
    /// The frame type is neither info (1), admin (2) nor message (3).
    BadType(u8),
    /// The frame claims a body over the limit.
    TooLong(u64),
    /// The bytes end before a length they declare.
    Truncated,
    /// A value inside is inconsistent (e.g. a header size other than 22).
    Malformed(&'static str),
}

/// The kinds of frame a client sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// An info request: names separated by newlines.
    Info,
    /// An admin request (login, authenticate).
    Admin,
    /// A data message.
    Message,
}

/// A parsed 8-byte frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Info or message.
    pub kind: FrameKind,
    /// Body length in bytes (at most the server's limit).
    pub body_len: usize,
}

/// Parses a frame header: version 2, type 1, 2 or 3, a 48-bit big-endian length within the limit.
pub fn parse_frame_header(header: [u8; 8]) -> Result<FrameHeader, WireError> {
    if header[0] != PROTO_VERSION {
        return Err(WireError::BadVersion(header[0]));
    }
    let kind = match header[1] {
        TYPE_INFO => FrameKind::Info,
        crate::admin::TYPE_ADMIN => FrameKind::Admin,
        TYPE_MESSAGE => FrameKind::Message,
        other => return Err(WireError::BadType(other)),
    };
    let mut len_bytes = [0u8; 8];
    len_bytes[2..].copy_from_slice(&header[2..]);
    let len = u64::from_be_bytes(len_bytes);
    if len > MAX_FRAME_BODY {
        return Err(WireError::TooLong(len));
    }
    let body_len = usize::try_from(len).map_err(|_| WireError::TooLong(len))?;
    Ok(FrameHeader { kind, body_len })
}

/// Splits a byte stream into frames as the server reads them; stops at the first error.
/// Used to check the parsers against arbitrary input.
pub fn parse_stream(mut bytes: &[u8]) -> Result<Vec<(FrameKind, Vec<u8>)>, WireError> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        let header: [u8; 8] = bytes
            .get(..8)
            .ok_or(WireError::Truncated)?
            .try_into()
            .map_err(|_| WireError::Truncated)?;
        let parsed = parse_frame_header(header)?;
        let body = bytes
            .get(8..8 + parsed.body_len)
            .ok_or(WireError::Truncated)?;
        if parsed.kind == FrameKind::Message {
            parse_message(body)?;
        }
        frames.push((parsed.kind, body.to_vec()));
        bytes = &bytes[8 + parsed.body_len..];
    }
    Ok(frames)
}

/// A field of a data message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    /// Field type (namespace 0, set 1, key 2, digest 4, batch index 41, ...).
    pub kind: u8,
    /// Field data.
    pub data: &'a [u8],
}

/// An operation of a data message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op<'a> {
    /// Operation type (read 1, write 2, incr 5, ...).
    pub kind: u8,
    /// Particle type of the value.
    pub particle_type: u8,
    /// Bin name (may be empty).
    pub bin: &'a [u8],
    /// Value bytes.
    pub value: &'a [u8],
}

/// A parsed data message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// Read attributes.
    pub info1: u8,
    /// Write attributes.
    pub info2: u8,
    /// More attributes (record-exists actions, ...).
    pub info3: u8,
    /// Expected generation (with a generation policy).
    pub generation: u32,
    /// Requested expiration in seconds (0 default, u32::MAX never, u32::MAX - 1 do not change).
    pub expiration: u32,
    /// Fields.
    pub fields: Vec<Field<'a>>,
    /// Operations.
    pub ops: Vec<Op<'a>>,
}

impl<'a> Message<'a> {
    /// The data of the first field of a kind.
    pub fn field(&self, kind: u8) -> Option<&'a [u8]> {
        self.fields.iter().find(|f| f.kind == kind).map(|f| f.data)
    }
}

/// A cursor that checks every read against the end of its bytes.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.bytes.len() {
            return Err(WireError::Truncated);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn len_u32(&mut self) -> Result<usize, WireError> {
        usize::try_from(self.u32()?).map_err(|_| WireError::Malformed("length does not fit"))
    }

    fn fields_and_ops(
        &mut self,
        field_count: u16,
        op_count: u16,
    ) -> Result<(Vec<Field<'a>>, Vec<Op<'a>>), WireError> {
        // Capacities are bounded by what the remaining bytes can hold, never by the counts claimed.
        let mut fields = Vec::with_capacity(usize::from(field_count).min(self.bytes.len() / 5));
        for _ in 0..field_count {
            let size = self.len_u32()?;
            if size == 0 {
                return Err(WireError::Malformed("field size 0"));
            }
            let kind = self.u8()?;
            fields.push(Field {
                kind,
                data: self.take(size - 1)?,
            });
        }
        let mut ops = Vec::with_capacity(usize::from(op_count).min(self.bytes.len() / 8));
        for _ in 0..op_count {
            let size = self.len_u32()?;
            let kind = self.u8()?;
            let particle_type = self.u8()?;
            let _version = self.u8()?;
            let name_len = usize::from(self.u8()?);
            let value_len = size
                .checked_sub(4 + name_len)
                .ok_or(WireError::Malformed("operation shorter than its header"))?;
            let bin = self.take(name_len)?;
            let value = self.take(value_len)?;
            ops.push(Op {
                kind,
                particle_type,
                bin,
                value,
            });
        }
        Ok((fields, ops))
    }
}

/// Parses the body of a data message (everything after the 8-byte frame header).
pub fn parse_message(body: &[u8]) -> Result<Message<'_>, WireError> {
    let mut reader = Reader { bytes: body };
    let header_size = reader.u8()?;
    if usize::from(header_size) != MESSAGE_HEADER_SIZE {
        return Err(WireError::Malformed("message header size is not 22"));
    }
    let info1 = reader.u8()?;
    let info2 = reader.u8()?;
    let info3 = reader.u8()?;
    let _info4 = reader.u8()?;
    let _result_code = reader.u8()?;
    let generation = reader.u32()?;
    let expiration = reader.u32()?;
    let _transaction_ttl = reader.u32()?;
    let field_count = reader.u16()?;
    let op_count = reader.u16()?;
    let (fields, ops) = reader.fields_and_ops(field_count, op_count)?;
    if !reader.bytes.is_empty() {
        return Err(WireError::Malformed(
            "trailing bytes after the last operation",
        ));
    }
    Ok(Message {
        info1,
        info2,
        info3,
        generation,
        expiration,
        fields,
        ops,
    })
}

/// One key of a batch request, with the attributes that apply to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchRow<'a> {
    /// The row's index, echoed in its reply.
    pub index: u32,
    /// The key digest.
    pub digest: [u8; 20],
    /// Namespace.
    pub namespace: &'a [u8],
    /// Read attributes.
    pub info1: u8,
    /// Write attributes (non-zero means the row is not a plain read).
    pub info2: u8,
    /// Operations (named bin reads).
    pub ops: Vec<Op<'a>>,
    /// The row's own filter expression (field 43), packed; the message's applies otherwise.
    pub filter: Option<&'a [u8]>,
}

/// Parses the batch-index field (type 41) of a batch request.
pub fn parse_batch(data: &[u8]) -> Result<Vec<BatchRow<'_>>, WireError> {
    let mut reader = Reader { bytes: data };
    let count = reader.u32()?;
    let _flags = reader.u8()?;
    // Each row takes at least 25 bytes, which bounds the capacity whatever the count claims.
    let mut rows: Vec<BatchRow<'_>> =
        Vec::with_capacity(usize::try_from(count).unwrap_or(0).min(data.len() / 25));
    for _ in 0..count {
        let index = reader.u32()?;
        let digest: [u8; 20] = reader
            .take(20)?
            .try_into()
            .map_err(|_| WireError::Truncated)?;
        let flags = reader.u8()?;
        if flags & batch_flag::REPEAT != 0 {
            let previous = rows
                .last()
                .ok_or(WireError::Malformed("first batch row repeats nothing"))?;
            let row = BatchRow {
                index,
                digest,
                ..previous.clone()
            };
            rows.push(row);
            continue;
        }
        let (info1, info2) = if flags & batch_flag::INFO != 0 {
            let info1 = reader.u8()?;
            let info2 = reader.u8()?;
            let _info3 = reader.u8()?;
            (info1, info2)
        } else {
            (reader.u8()?, 0)
        };
        if flags & batch_flag::INFO4 != 0 {
            reader.u8()?;
        }
        if flags & batch_flag::GEN != 0 {
            reader.u16()?;
        }
        if flags & batch_flag::TTL != 0 {
            reader.u32()?;
        }
        let field_count = reader.u16()?;
        let op_count = reader.u16()?;
        let (fields, ops) = reader.fields_and_ops(field_count, op_count)?;
        let namespace = fields
            .iter()
            .find(|f| f.kind == field::NAMESPACE)
            .map(|f| f.data)
            .ok_or(WireError::Malformed("batch row without namespace"))?;
        let filter = fields
            .iter()
            .find(|f| f.kind == field::FILTER_EXPRESSION)
            .map(|f| f.data);
        rows.push(BatchRow {
            index,
            digest,
            namespace,
            info1,
            info2,
            ops,
            filter,
        });
    }
    Ok(rows)
}

/// Builds data replies.
pub(crate) struct Reply;

/// The header values of one reply message.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ReplyHeader {
    pub(crate) info3: u8,
    pub(crate) result_code: u8,
    pub(crate) generation: u32,
    pub(crate) void_time: u32,
    /// Offset 14: the transaction-ttl slot, used for the row index in batch replies.
    pub(crate) batch_index: u32,
}

impl Reply {
    /// Starts a frame; finish it with [`Reply::finish`].
    pub(crate) fn start(out: &mut Vec<u8>) -> usize {
        let at = out.len();
        out.extend_from_slice(&[PROTO_VERSION, TYPE_MESSAGE, 0, 0, 0, 0, 0, 0]);
        at
    }

    /// Writes the frame length of the frame started at `at`.
    pub(crate) fn finish(out: &mut [u8], at: usize) {
        let len = (out.len() - at - 8) as u64;
        out[at + 2..at + 8].copy_from_slice(&len.to_be_bytes()[2..]);
    }

    /// Appends one 22-byte message header followed by `ops` as read results.
    pub(crate) fn message<'v>(
        out: &mut Vec<u8>,
        header: ReplyHeader,
        ops: impl ExactSizeIterator<Item = (&'v str, Option<&'v BinValue>)>,
    ) {
        out.push(MESSAGE_HEADER_SIZE as u8);
        out.extend_from_slice(&[0, 0, header.info3, 0, header.result_code]);
        out.extend_from_slice(&header.generation.to_be_bytes());
        out.extend_from_slice(&header.void_time.to_be_bytes());
        out.extend_from_slice(&header.batch_index.to_be_bytes());
        out.extend_from_slice(&0u16.to_be_bytes());
        let op_count = u16::try_from(ops.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&op_count.to_be_bytes());
        for (name, value) in ops.take(usize::from(op_count)) {
            let name = &name.as_bytes()[..name.len().min(255)];
            let value_size = value.map_or(0, BinValue::wire_size);
            let size = u32::try_from(4 + name.len() + value_size).unwrap_or(u32::MAX);
            out.extend_from_slice(&size.to_be_bytes());
            out.push(op::READ);
            out.push(value.map_or(crate::value::particle::NULL, BinValue::particle_type));
            out.push(0);
            out.push(name.len() as u8);
            out.extend_from_slice(name);
            if let Some(value) = value {
                value.write_wire(out);
            }
        }
    }

    /// A whole single-message reply frame.
    pub(crate) fn single<'v>(
        header: ReplyHeader,
        ops: impl ExactSizeIterator<Item = (&'v str, Option<&'v BinValue>)>,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        let at = Reply::start(&mut out);
        Reply::message(&mut out, header, ops);
        Reply::finish(&mut out, at);
        out
    }

    /// A reply frame carrying only a result code.
    pub(crate) fn code(result_code: u8) -> Vec<u8> {
        Reply::single(
            ReplyHeader {
                result_code,
                ..ReplyHeader::default()
            },
            std::iter::empty(),
        )
    }
}

/// Builds an info frame from its body.
pub(crate) fn info_frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + body.len());
    let len = body.len() as u64;
    out.extend_from_slice(&[PROTO_VERSION, TYPE_INFO]);
    out.extend_from_slice(&len.to_be_bytes()[2..]);
    out.extend_from_slice(body);
    out
}

/// Flips the bits of every bin value in a reply frame, keeping its framing intact.
pub(crate) fn corrupt_bin_values(frame: &mut [u8]) {
    let mut at = 8;
    while at + MESSAGE_HEADER_SIZE <= frame.len() {
        let header = &frame[at..at + MESSAGE_HEADER_SIZE];
        let field_count = u16::from_be_bytes([header[18], header[19]]);
        let op_count = u16::from_be_bytes([header[20], header[21]]);
        at += MESSAGE_HEADER_SIZE;
        if field_count != 0 {
            return; // replies built here carry no fields
        }
        for _ in 0..op_count {
            let Some(size_bytes) = frame.get(at..at + 4) else {
                return;
            };
            let size =
                u32::from_be_bytes([size_bytes[0], size_bytes[1], size_bytes[2], size_bytes[3]])
                    as usize;
            let Some(&name_len) = frame.get(at + 7) else {
                return;
            };
            let value_start = at + 8 + usize::from(name_len);
            let value_end = at + 4 + size;
            if value_end > frame.len() || value_start > value_end {
                return;
            }
            for byte in &mut frame[value_start..value_end] {
                *byte ^= 0xFF;
            }
            at = value_end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn message_frame(info1: u8, fields: &[(u8, &[u8])], ops: &[(u8, u8, &[u8], &[u8])]) -> Vec<u8> {
        let mut body = vec![22, info1, 0, 0, 0, 0];
        body.extend_from_slice(&[0; 12]);
        body.extend_from_slice(&(fields.len() as u16).to_be_bytes());
        body.extend_from_slice(&(ops.len() as u16).to_be_bytes());
        for (kind, data) in fields {
            body.extend_from_slice(&(data.len() as u32 + 1).to_be_bytes());
            body.push(*kind);
            body.extend_from_slice(data);
        }
        for (kind, particle, name, value) in ops {
            body.extend_from_slice(&((4 + name.len() + value.len()) as u32).to_be_bytes());
            body.extend_from_slice(&[*kind, *particle, 0, name.len() as u8]);
            body.extend_from_slice(name);
            body.extend_from_slice(value);
        }
        let mut frame = vec![2, 3];
        frame.extend_from_slice(&(body.len() as u64).to_be_bytes()[2..]);
        frame.extend_from_slice(&body);
        frame
    }

    #[test]
    fn a_well_formed_message_parses() {
        let frame = message_frame(
            3,
            &[(0, b"test"), (4, &[7; 20])],
            &[(2, 1, b"n", &[0, 0, 0, 0, 0, 0, 0, 9])],
        );
        let frames = parse_stream(&frame).unwrap();
        let message = parse_message(&frames[0].1).unwrap();
        assert_eq!(message.info1, 3);
        assert_eq!(message.field(field::NAMESPACE), Some(&b"test"[..]));
        assert_eq!(message.ops[0].bin, b"n");
    }

    #[test]
    fn headers_are_checked() {
        assert_eq!(
            parse_frame_header([3, 3, 0, 0, 0, 0, 0, 0]),
            Err(WireError::BadVersion(3))
        );
        assert_eq!(
            parse_frame_header([2, 9, 0, 0, 0, 0, 0, 0]),
            Err(WireError::BadType(9))
        );
        assert_eq!(
            parse_frame_header([2, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Err(WireError::TooLong(0xffff_ffff_ffff))
        );
    }

    #[test]
    fn truncation_is_an_error_at_every_cut() {
        let frame = message_frame(3, &[(0, b"test"), (4, &[7; 20])], &[(1, 0, b"bin", b"")]);
        for cut in 1..frame.len() {
            assert!(parse_stream(&frame[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn corruption_flips_values_only() {
        let value = BinValue::Blob(vec![1, 2]);
        let mut frame = Reply::single(ReplyHeader::default(), [("b", Some(&value))].into_iter());
        corrupt_bin_values(&mut frame);
        let message = parse_message(&frame[8..]).unwrap();
        assert_eq!(message.ops[0].bin, b"b");
        assert_eq!(message.ops[0].value, &[0xfe, 0xfd]);
    }

    fn arbitrary_message() -> impl Strategy<Value = Vec<u8>> {
        (
            any::<u8>(),
            prop::collection::vec(
                (any::<u8>(), prop::collection::vec(any::<u8>(), 0..24)),
                0..4,
            ),
            prop::collection::vec(
                (
                    any::<u8>(),
                    any::<u8>(),
                    prop::collection::vec(any::<u8>(), 0..16),
                ),
                0..4,
            ),
        )
            .prop_map(|(info1, fields, ops)| {
                let fields: Vec<(u8, &[u8])> =
                    fields.iter().map(|(k, d)| (*k, d.as_slice())).collect();
                let ops: Vec<(u8, u8, &[u8], &[u8])> = ops
                    .iter()
                    .map(|(k, p, v)| (*k, *p, &b"bin"[..], v.as_slice()))
                    .collect();
                message_frame(info1, &fields, &ops)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

        /// Arbitrary bytes never panic the parsers.
        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..128)) {
            let _ = parse_stream(&bytes);
            let _ = parse_message(&bytes);
            let _ = parse_batch(&bytes);
        }

        /// Well-formed messages parse; every mutation or truncation of one is parsed or rejected, never a panic,
        /// and a claimed length over the limit is always rejected.
        #[test]
        fn mutated_messages_are_parsed_or_rejected(
            frame in arbitrary_message(),
            flip_at in any::<prop::sample::Index>(),
            flip_to in any::<u8>(),
            cut in any::<prop::sample::Index>(),
        ) {
            prop_assert!(parse_stream(&frame).is_ok());
            let mut mutated = frame.clone();
            let at = flip_at.index(mutated.len());
            mutated[at] = flip_to;
            let _ = parse_stream(&mutated);
            let cut = cut.index(frame.len());
            prop_assert!(parse_stream(&frame[..cut]).is_err() || cut == 0);
            let mut huge = frame;
            huge[2] = 0x01;
            prop_assert_eq!(parse_stream(&huge).unwrap_err(), WireError::TooLong(u64::from_be_bytes([0, 0, 1, huge[3], huge[4], huge[5], huge[6], huge[7]])));
        }
    }
}
