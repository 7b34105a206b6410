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
//!
//! # Several nodes
//!
//! [`TestServerBuilder::nodes`] runs a cluster in the process: each node listens on its own port
//! with its own node name and answers the client's cluster discovery as a node of a real cluster:
//! its peers, generations, and the partitions it holds as master and replica (partition `p`'s
//! master is node `p % n`, its replica the next node; a lost master's partitions pass to their
//! first replica). The nodes share one store, as a cluster with a replication factor of 2 or more
//! keeps every record through the loss of one node, so any node serves any record; per-node
//! counters ([`TestServer::node_counters`]) show where the client sent each command, and
//! [`Counters::served_as_replica`] and [`Counters::proxied`] count the keys a node got for
//! partitions it is not master of. [`TestServer::kill_node`] and [`TestServer::restart_node`]
//! take a node away and back; the others notice after the re-cluster delay, as a real cluster
//! notices through its heartbeats, and [`TestServer::rebalance`] moves partitions at once.
//!
//! ```
//! # async fn demo() -> std::io::Result<()> {
//! let server = cacheaside_testkit::TestServer::builder()
//!     .nodes(3)
//!     .recluster_delay(std::time::Duration::from_millis(100))
//!     .start()
//!     .await?;
//! // let client = aerospike::Client::new(&aerospike::ClientPolicy::default(), &server.hosts()).await?;
//! server.kill_node(1).await;
//! // Within the client's tend interval after the re-cluster delay, it knows nodes 0 and 2 only.
//! server.restart_node(1).await?;
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
