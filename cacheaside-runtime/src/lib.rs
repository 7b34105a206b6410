//! Runtime of `cacheaside`. Depend on the `cacheaside` crate instead of this one.
//!
//! Everything that runs lives here: configuration ([`Config`], [`init`]), the shared Aerospike
//! client on its own background runtime, the default key format ([`UserKey`]), the record
//! envelope and codec, the get-or-load engine and the per-set counters ([`stats`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[doc(hidden)]
pub mod __private;
mod client;
mod codec;
mod config;
mod engine;
mod envelope;
mod error;
mod key;
mod report;
mod stats;

pub use client::init;
pub use config::{Config, ConfigBuilder};
pub use error::{Error, ErrorKind};
pub use key::UserKey;
pub use stats::{stats, SetStats, Stats};

/// How long a cached entry lives, as Aerospike's record TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// This many seconds after the write. `Seconds(0)` means the namespace's `default-ttl`, as it
    /// does on the wire.
    Seconds(u32),
    /// The namespace's `default-ttl`.
    NamespaceDefault,
    /// Never expires.
    Never,
}

impl Ttl {
    pub(crate) fn expiration(self) -> aerospike::Expiration {
        match self {
            Ttl::Seconds(seconds) => aerospike::Expiration::Seconds(seconds),
            Ttl::NamespaceDefault => aerospike::Expiration::NamespaceDefault,
            Ttl::Never => aerospike::Expiration::Never,
        }
    }
}
