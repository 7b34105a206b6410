//! Runtime of `cacheaside`. Depend on the `cacheaside` crate instead of this one.
//!
//! Everything that runs lives here: configuration ([`Config`], [`init`]), the shared Aerospike
//! client on its own background runtime, the default key format ([`UserKey`]), the record
//! envelope and codec, the get-or-load engine and the per-set counters ([`stats`]).
//!
//! # Architecture
//!
//! The modules form layers: each imports only modules of the layers below it (and its own
//! children), never one above or beside it in a circle; `cargo run -p xtask -- layers` prints the
//! import graph and a test keeps it free of cycles. From the bottom:
//!
//! 1. **Vocabulary**, importing nothing of the crate: `error`, `spec` (what an attribute says:
//!    [`CacheSpec`](__private::CacheSpec), [`Ttl`], `CachePolicy`), `kind` (which part of a return
//!    value is cached), `key` (user keys, the default key format), `names` (Aerospike's naming
//!    rules), `envelope` (the layout of bin `data`), `events` (what telemetry reports), `report`
//!    (rate-limited warnings), `breaker`, `namespace`, `tls`, `set_policy`, `local_registry`.
//! 2. **Encoding and settings**: `codec` (the envelope's payload), `config`, `metrics` (the
//!    `metrics` feature's export).
//! 3. **Telemetry**: `stats` (the per-set counters), `observe` (one call as it is observed:
//!    `observe::Call` holds its span, outcome and durations).
//! 4. **The cluster**: `client` (the shared client, its background runtime, every Aerospike
//!    operation with its timeout and breaker, the read filter of `client::data_filter`), `bridge`
//!    (sync callers waiting on it).
//! 5. **Coordination in the process**: `flight` (single-flight), `refresh_ahead` (claims), `local`
//!    (the in-process tier), `pending` (invalidations waiting for the cluster).
//! 6. **The record of a call**: `store` — `store::locate` (from a spec and a key to the record a
//!    call reads and writes), `store::found` (what a read of that record means for the call),
//!    `store::write` (conditional write-backs, invalidation markers, the write rules),
//!    `store::size` (the record size guard); `backplane` (changes announced to, and heard from,
//!    the other processes' local tiers).
//! 7. **Paths of a call**: `engine` (get-or-load, refresh, peek, invalidate; written once as
//!    async code, which a sync function's call runs by blocking its thread on each step instead
//!    of awaiting it: `engine::wait`; invalidations kept and retried: `engine::recover`),
//!    `batch` (batch loaders), `writes` (`#[cache_put]`, `#[cache_evict]`, `invalidate`,
//!    `NamedCache`),
//!    `write_behind` (delayed writes to the source).
//! 8. **Entry points**: `inspect` (for the operator tool), `__private` (the whole interface of
//!    generated code, which the facade re-exports: re-exports, thin entry points that forward to
//!    the modules above, and the compile-time checks of `__private::checks`; nothing else in the
//!    crate imports it) and this `lib`.
//!
//! # Record format
//!
//! One record per cached call: namespace from the attribute or [`Config::namespace`], set from
//! the attribute, user key as described on [`UserKey`]. The value is in the blob bin `data`:
//!
//! ```text
//! byte 0      format, 1
//! byte 1      codec id, 1 = MessagePack with named fields (rmp_serde::to_vec_named)
//! byte 2      schema tag length n (0 for MessagePack with named fields)
//! 3 .. 3+n    schema tag
//! 3+n ..      payload: the value in that codec
//! ```
//!
//! The record's TTL is Aerospike's own, from the attribute's `ttl`. Another service reads a value
//! by skipping the three header bytes and decoding the MessagePack map; it invalidates an entry by
//! deleting the record (or, to get the protection below, by replacing it with a marker).
//!
//! # Concurrency
//!
//! - Single-flight: concurrent calls of one key in one process share one cache read and one
//!   load; the others wait for it (at most
//!   [`ConfigBuilder::single_flight_wait`]) and get its value. After an `Err` or `None` each of
//!   them loads for itself; a cancelled or panicking leader hands over to one of them.
//! - Stale writes: a write-back is conditional on what the read before the load saw. After a
//!   miss it is create-only; when it replaces a record (an invalidation marker, an undecodable
//!   value) it expects that record's generation, and a record whose bin `data` is not bytes only
//!   while that is still so. `<fn>_invalidate` replaces the entry with a
//!   marker record (bin `invalidated`, no bin `data`) that lives for the
//!   [`ConfigBuilder::invalidation_window`], and `<fn>_refresh` does the same before its load. So
//!   a load that began before an invalidation or refresh never writes its value over it. The hit
//!   path stays one read: the generation comes with it. Loads slower than the window are not
//!   covered; neither are invalidations by plain deletes from other services.
//!
//! # Failure behaviour
//!
//! Calls of annotated functions never fail because of the cache:
//!
//! - a read that fails, times out or finds bytes that do not decode (another format, codec or
//!   shape, corrupt data) is a miss: the body runs and its result overwrites the entry;
//! - a record whose bin `data` is not bytes (a list nested 100,000 deep, a string that is not
//!   UTF-8: nothing this library writes) is never sent by the server, because every read carries
//!   a filter expression on the bin's type; it counts as undecodable and is replaced;
//! - a failed or timed-out write is counted and logged, and the body's result is returned;
//! - each read, write or delete has its own total timeout ([`ConfigBuilder::operation_timeout`],
//!   50 ms by default), enforced by the client's policy and by a timer;
//! - a read that fails because the cluster is unwell (timeout, lost or refused connection, server
//!   error or overload) is not followed by a write-back, so detecting an outage costs a call at
//!   most one operation timeout;
//! - a circuit breaker opens after five such failures in a row: calls then bypass the cache
//!   without touching the network for a [`ConfigBuilder::reconnect_interval`]; after it, one call
//!   at a time probes the cluster (half-open); an answer closes the breaker and caching resumes,
//!   a failure pauses the cache again. Openings are counted in [`SetStats::breaker_opens`] and
//!   logged once per outage;
//! - if Aerospike is unreachable, calls run their bodies without waiting, and a background task
//!   reconnects every [`ConfigBuilder::reconnect_interval`];
//! - right after connecting, the configured namespace is checked with the info commands
//!   `namespaces` and `namespace/<ns>` (another namespace on its first use): one that does not
//!   exist is logged once as an error with the fix, and calls using it bypass the cache; one that
//!   refuses TTLs (`nsup-period` 0 without `allow-ttl-without-nsup`, where a write with a TTL
//!   fails with FAIL_FORBIDDEN) gets no values of functions with a `ttl`: they are counted in
//!   [`SetStats::ttl_forbidden_skips`] and the fix is logged once. With
//!   [`ConfigBuilder::write_without_ttl_when_forbidden`] they are written without a TTL instead
//!   (never expiring, as in the Aerospike docs' recipe). `ttl = never` is written there either way;
//! - a value whose record would exceed the record size limit (the smaller of
//!   [`ConfigBuilder::max_record_size`], 1 MiB by default, and the namespace's reported
//!   `max-record-size`) is returned but not written, counted in [`SetStats::oversize`] and logged
//!   once per function. Values are not compressed;
//! - problems are logged through `tracing` (target `cacheaside`) once per cause and set, without
//!   keys, values or credentials, and counted in [`stats`].
//!
//! Only `<fn>_invalidate` reports cache errors, because its caller must know when an entry may
//! still be served.
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[doc(hidden)]
pub mod __private;
mod backplane;
mod batch;
mod breaker;
mod bridge;
mod client;
mod codec;
mod config;
mod engine;
mod envelope;
mod error;
mod events;
mod flight;
pub mod inspect;
mod key;
mod kind;
mod local;
mod local_registry;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
mod names;
mod namespace;
mod observe;
mod pending;
#[allow(unsafe_code)]
mod recycled;
mod refresh_ahead;
mod report;
mod set_policy;
mod spec;
mod stats;
mod store;
mod tls;
pub mod write_behind;
mod writes;

pub use client::{init, init_named};
pub use codec::Codec;
pub use config::{Config, ConfigBuilder};
pub use error::{Error, ErrorKind};
pub use key::{IntoUserKey, UserKey};
pub use set_policy::SetPolicy;
pub use spec::Ttl;
pub use stats::{stats, SetStats, Stats};
pub use writes::{
    invalidate, invalidate_blocking, invalidate_in, invalidate_in_blocking, named, NamedCache,
};
