//! An in-process server speaking the Aerospike wire protocol, for tests that drive the real `aerospike`
//! client over real TCP without an Aerospike installation.
//!
//! It serves single-record work (get, put, delete, exists, touch, operate), batch reads and the info
//! requests the client needs, with a real server's semantics for generations, record-exists actions,
//! expiration, record size limits and namespaces that forbid TTLs. Tests can move its clock, inject faults,
//! count commands and inspect records.
//!
//! ```
//! use cacheaside_testkit::{NamespaceConfig, TestServer};
//! use std::time::Duration;
//!
//! # async fn demo() -> std::io::Result<()> {
//! let server = TestServer::builder()
//!     .namespace(NamespaceConfig::new("test"))
//!     .namespace(NamespaceConfig::new("nottl").nsup_period(Duration::ZERO))
//!     .start()
//!     .await?;
//! // let client = aerospike::Client::new(&aerospike::ClientPolicy::default(), &server.hosts()).await?;
//! server.clock().advance(Duration::from_secs(3600));
//! assert_eq!(server.counters().reads, 0);
//! assert!(server.record("test", "users", "alice").is_none());
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod admin;
mod clock;
mod cluster;
mod counters;
mod engine;
mod expression;
mod faults;
mod info;
mod key;
mod membership;
mod namespace;
pub mod raw;
mod server;
mod store;
#[cfg(feature = "tls")]
mod tls;
mod value;
pub mod wire;

pub use clock::Clock;
pub use cluster::TestCluster;
pub use counters::{CommandKind, Counters};
pub use faults::Faults;
pub use key::UserKey;
pub use namespace::{NamespaceConfig, DEFAULT_MAX_RECORD_SIZE};
pub use server::{TestServer, TestServerBuilder, DEFAULT_RECLUSTER_DELAY};
pub use store::{KeyView, RecordView};
pub use value::BinValue;
