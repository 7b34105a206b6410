//! Emits the wrapper, its companions and the hidden items they share, following a plan.
//!
//! The expansion stays thin: each generated function builds the key and hands the original body,
//! as a lazy future or closure, to one function of `__private`. All caching logic lives in the runtime.

pub mod batch;
pub mod companions;
pub mod flavor;
pub mod inline;
pub mod key;
pub mod kind;
pub mod loader;
pub mod local;
pub mod names;
pub mod put_evict;
pub mod signature;
pub mod spec;

use proc_macro2::TokenStream;

use crate::check::plan::Plan;

/// The expansion split in two, so that an annotated trait `impl` block can move the companions
/// into an inherent `impl` block of the same type.
pub struct Expansion {
    /// The annotated function, rewritten.
    pub function: TokenStream,
    /// `<fn>_invalidate`, `<fn>_refresh` and the hidden loader they share with the function.
    pub companions: TokenStream,
}

/// The wrapper and, unless `companions = false`, `<fn>_invalidate`, `<fn>_refresh` and the
/// original body as a hidden loader function.
pub fn expand_parts(plan: &Plan) -> Expansion {
    if let Some(batch) = &plan.batch {
        return batch::expand(plan, batch);
    }
    if plan.companions {
        companions::with_companions(plan)
    } else {
        Expansion {
            function: inline::body_inline(plan),
            companions: TokenStream::new(),
        }
    }
}
