//! What a check decides and the emitters read: the plans of the three attributes. Types only (and
//! what is read straight from the signature); they import nothing of `check` or `emit`.

use proc_macro2::{Span, TokenStream};
use syn::{Expr, LitStr};

use crate::parse::cache_aside::Local;
use crate::parse::item::{CachedFn, Inputs};
use crate::parse::put_evict::Which;
use crate::parse::ttl::TtlValue;
use crate::parse::values::{CodecOption, Kind};

/// Everything the expansion needs, valid.
pub struct Plan {
    /// The path the generated code reaches the facade through (`::cacheaside`).
    pub krate: syn::Path,
    /// Where the function is written, as far as the macro can know.
    pub context: Context,
    pub function: CachedFn,
    pub flavor: Flavor,
    pub inputs: Inputs,
    pub spec: Spec,
    pub key: KeyPlan,
    pub return_kind: ReturnKind,
    /// Whether `<fn>_invalidate`, `<fn>_refresh`, `<fn>_uncached` and `<fn>_peek` are generated.
    pub companions: bool,
    pub policy: Policy,
    /// `batch`: many ids per call (see `check::batch`).
    pub batch: Option<BatchPlan>,
}

/// The values of the runtime's `CachePolicy`.
#[derive(Clone)]
pub struct Policy {
    /// `none_ttl`: `None` is cached with this TTL.
    pub none_ttl: Option<TtlValue>,
    /// `refresh_ahead`, in thousandths of the TTL; 0 when off.
    pub refresh_ahead_permille: u16,
    /// `stale_if_error`, in seconds; 0 when off.
    pub stale_if_error_secs: u32,
    /// `lease = "2s"`, in milliseconds; 0 when off.
    pub lease_ms: u32,
    /// `soft_timeout`, in milliseconds; 0 when off.
    pub soft_timeout_ms: u32,
    /// `local(…)`: the in-process tier.
    pub local: Option<Local>,
    /// `touch_on_read`, in thousandths of the TTL; 0 when off.
    pub touch_permille: u16,
    /// `ttl_from = path`.
    pub ttl_from: Option<syn::Path>,
}

/// Where the annotated function is written.
#[derive(Debug, Clone, Copy)]
pub enum Context {
    /// Annotated on its own: a method if it has a receiver, else a free function.
    Alone,
    /// Inside an `impl` block annotated with `#[cache_aside]`: hidden items are reached through
    /// `Self::` also for associated functions without `self`.
    InImpl {
        /// The method's own `#[cache_aside(…)]`, where errors about the whole attribute point.
        attribute: Span,
        /// A trait impl: the companions go to an inherent impl block and are `pub`, like the
        /// trait's methods.
        of_trait: bool,
    },
}

impl Context {
    /// Where an error about the attribute as a whole points.
    pub fn attribute_span(self) -> Span {
        match self {
            Context::Alone => Span::call_site(),
            Context::InImpl { attribute, .. } => attribute,
        }
    }
}

/// The values of the runtime's `CacheSpec`.
pub struct Spec {
    /// `cache = "…"`: a named cluster.
    pub cache: Option<LitStr>,
    pub namespace: Option<LitStr>,
    pub set: LitStr,
    pub ttl: TtlValue,
    /// The function's name without any `r#`.
    pub function: String,
    /// `codec = "…"`; `None` for the default (MessagePack).
    pub codec: Option<CodecOption>,
}

/// How a call's key is built.
pub enum KeyPlan {
    /// From the function's identity and these arguments (indices into `Inputs::params`).
    Default { args: Vec<usize> },
    /// From `key = <expr>`; `uses` are the arguments the expression names.
    Explicit { expr: Expr, uses: Vec<usize> },
}

impl KeyPlan {
    /// The arguments `<fn>_invalidate` takes.
    pub fn arguments(&self) -> &[usize] {
        match self {
            KeyPlan::Default { args } => args,
            KeyPlan::Explicit { uses, .. } => uses,
        }
    }
}

/// Where the ids are.
pub struct BatchPlan {
    /// The index of the argument that holds the ids, in `Inputs::params`.
    pub ids: usize,
    /// Whether that argument is a reference (`&[u64]`), so the body gets a reference too.
    pub by_ref: bool,
}

/// The decided kind and the declared return type it is checked against.
pub struct ReturnKind {
    pub kind: Kind,
    /// The declared return type (`()` when there is none).
    pub ty: TokenStream,
    pub span: Span,
    /// Read as [`Kind::Plain`] from syntax alone: the generated code also checks that the type is
    /// not a `Result` or `Option` behind an alias.
    pub guessed_plain: bool,
}

/// The kind of function being cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `async fn`: the body is a future polled only on a miss; runtime calls are awaited.
    Async,
    /// `fn`: the body is a closure called only on a miss; runtime calls block this thread while
    /// the cache's own background runtime does the I/O, so they work with or without a runtime.
    Sync,
}

impl Flavor {
    /// The flavor of a signature.
    pub fn of(sig: &syn::Signature) -> Flavor {
        match sig.asyncness {
            Some(_) => Flavor::Async,
            None => Flavor::Sync,
        }
    }
}

/// What the expansion of `#[cache_put]` or `#[cache_evict]` needs, valid.
pub struct WritePlan {
    pub which: Which,
    pub krate: syn::Path,
    pub function: CachedFn,
    pub flavor: Flavor,
    pub spec: Spec,
    /// `None` only for `all = true`.
    pub key: Option<Expr>,
    pub value: Option<Expr>,
    pub before: bool,
    pub all: bool,
    pub return_kind: ReturnKind,
}
