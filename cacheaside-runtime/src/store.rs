//! The record of a call and the rules of writing it, shared by every path of a call (the engine,
//! batch loaders, the write paths and write-behind):
//!
//! - [`locate`]: from a spec and a user key to the record (connection, namespace, record key);
//! - [`found`]: what a read's answer means (expected generation, marker, undecodable entry);
//! - [`write`]: conditional write-backs, invalidation markers, truncate counts and the write
//!   rules (TTL cap, the namespace's TTL rule);
//! - [`size`]: the record size guard.

pub(crate) mod found;
pub(crate) mod locate;
pub(crate) mod size;
pub(crate) mod write;
