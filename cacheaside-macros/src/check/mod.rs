//! Checks what `parse` read, each option against the others and against the signature, with
//! spanned errors, and decides the plan the emitters follow. `plan` holds the plan types and is
//! the leaf of this layer.

pub mod batch;
pub mod cache_aside;
pub mod plan;
pub mod put_evict;
pub mod return_kind;
