//! Reads what the user wrote: the attributes' options and the annotated function. Nothing here
//! looks at two things together; that is `check`'s work.

pub mod cache_aside;
pub mod item;
pub mod option_list;
pub mod put_evict;
pub mod ttl;
pub mod values;
