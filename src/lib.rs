//! Cache-aside over Aerospike as a one-line attribute.

pub use cacheaside_macros::cache_aside;
pub use cacheaside_runtime::{Error, Ttl};

#[doc(hidden)]
pub mod __private {
    pub use cacheaside_runtime::__private::*;
}
