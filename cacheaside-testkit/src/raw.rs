//! Raw writes: put bin values that no client would send (a list nested 100,000 deep, a string that
//! is not UTF-8) into any server that speaks the protocol, this one or a real Aerospike node.
//!
//! A client encodes values from its own types, so it cannot write what a hostile or broken writer
//! can; tests of how a reader copes with such records need these bytes on the server as they are.
//!
//! ```
//! use cacheaside_testkit::raw::{self, RawBin};
//! use cacheaside_testkit::{NamespaceConfig, TestServer, UserKey};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let server = TestServer::builder()
//!     .namespace(NamespaceConfig::new("test"))
//!     .start()
//!     .await?;
//! // A list nested 1,000 deep: 1,000 one-element array markers, then a nil.
//! let nested = [vec![0x91; 1000], vec![0xc0]].concat();
//! let key = UserKey::from("deep");
//! let bins = [RawBin::new("data", raw::particle::LIST, nested)];
//! assert_eq!(raw::put(&server.hosts(), "test", "s", &key, &bins).await?, 0);
//! assert!(server.record("test", "s", "deep").is_some());
//! # Ok(())
//! # }
//! ```

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::key::UserKey;
use crate::wire::{info2, MESSAGE_HEADER_SIZE, PROTO_VERSION, TYPE_MESSAGE};

/// Wire particle types, for [`RawBin::new`].
pub mod particle {
    /// A 64-bit big-endian integer.
    pub const INTEGER: u8 = 1;
    /// Bytes read as UTF-8 text (the server does not check that they are).
    pub const STRING: u8 = 3;
    /// Opaque bytes.
    pub const BLOB: u8 = 4;
    /// A MessagePack map.
    pub const MAP: u8 = 19;
    /// A MessagePack list.
    pub const LIST: u8 = 20;
}

/// One bin of a raw write: a name, a particle type and the value's bytes exactly as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawBin {
    name: String,
    particle_type: u8,
    bytes: Vec<u8>,
}

impl RawBin {
    /// A bin `name` (at most 15 bytes, as the server requires) holding `bytes` as
    /// `particle_type`.
    pub fn new(name: impl Into<String>, particle_type: u8, bytes: impl Into<Vec<u8>>) -> Self {
        RawBin {
            name: name.into(),
            particle_type,
            bytes: bytes.into(),
        }
    }
}

/// Writes `bins` into the record of `key` in `namespace`/`set` (creating or updating it, never
/// expiring) on the node at `host` (`"host:port"`; the first of a comma-separated list), and
/// returns the server's result code: 0 for success.
///
/// The request carries the key's digest (real servers require it), not the key itself. A node
/// that does not own the record's partition forwards the write to the one that does.
pub async fn put(
    host: &str,
    namespace: &str,
    set: &str,
    key: &UserKey,
    bins: &[RawBin],
) -> io::Result<u8> {
    let request = put_request(namespace, set, key, bins)?;
    let address = host.split(',').next().unwrap_or(host).trim();
    let mut stream = TcpStream::connect(address).await?;
    stream.write_all(&request).await?;
    let mut header = [0u8; 8];
    stream.read_exact(&mut header).await?;
    let len = u64::from_be_bytes([
        0, 0, header[2], header[3], header[4], header[5], header[6], header[7],
    ]);
    if header[0] != PROTO_VERSION || header[1] != TYPE_MESSAGE || len < MESSAGE_HEADER_SIZE as u64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the reply is not a data message",
        ));
    }
    let mut body = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX).min(1 << 20)];
    stream.read_exact(&mut body).await?;
    Ok(body[5])
}

/// The frame of a write of `bins` (see [`put`]).
fn put_request(namespace: &str, set: &str, key: &UserKey, bins: &[RawBin]) -> io::Result<Vec<u8>> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_owned());
    let digest = key.digest(set);
    let fields: [(u8, &[u8]); 3] = [(0, namespace.as_bytes()), (1, set.as_bytes()), (4, &digest)];
    let mut body = Vec::new();
    body.push(MESSAGE_HEADER_SIZE as u8);
    // info1, info2 (write), info3, info4, result code
    body.extend_from_slice(&[0, info2::WRITE, 0, 0, 0]);
    body.extend_from_slice(&0u32.to_be_bytes()); // generation
    body.extend_from_slice(&u32::MAX.to_be_bytes()); // expiration: never
    body.extend_from_slice(&1000u32.to_be_bytes()); // server timeout, ms
    body.extend_from_slice(&(fields.len() as u16).to_be_bytes());
    let op_count = u16::try_from(bins.len()).map_err(|_| invalid("too many bins"))?;
    body.extend_from_slice(&op_count.to_be_bytes());
    for (kind, data) in fields {
        let len = u32::try_from(data.len() + 1).map_err(|_| invalid("field too long"))?;
        body.extend_from_slice(&len.to_be_bytes());
        body.push(kind);
        body.extend_from_slice(data);
    }
    for bin in bins {
        let name_len = u8::try_from(bin.name.len()).map_err(|_| invalid("bin name too long"))?;
        let len = u32::try_from(4 + bin.name.len() + bin.bytes.len())
            .map_err(|_| invalid("bin value too long"))?;
        body.extend_from_slice(&len.to_be_bytes());
        // op write, particle type, version 0, name length
        body.extend_from_slice(&[2, bin.particle_type, 0, name_len]);
        body.extend_from_slice(bin.name.as_bytes());
        body.extend_from_slice(&bin.bytes);
    }
    let mut frame = Vec::with_capacity(8 + body.len());
    let header =
        (u64::from(PROTO_VERSION) << 56) | (u64::from(TYPE_MESSAGE) << 48) | body.len() as u64;
    frame.extend_from_slice(&header.to_be_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}
