//! What the attribute says about one annotated function: where its entries live and for how
//! long ([`CacheSpec`], [`Ttl`]) and its freshness options ([`CachePolicy`]). Generated code builds
//! them once, in `static`s; every layer above reads them.

pub use crate::codec::Codec;

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

/// What the attribute said about one annotated function, built once in a `static`.
#[derive(Debug)]
pub struct CacheSpec {
    /// `cache = "…"`: the cluster installed by `init_named` under this name, or `None` for the
    /// default cluster.
    pub cache: Option<&'static str>,
    /// `namespace = "…"`, or `None` for the configured default namespace.
    pub namespace: Option<&'static str>,
    /// `set = "…"`.
    pub set: &'static str,
    /// `ttl = …`.
    pub ttl: Ttl,
    /// The function's name as written (`get_user`); part of default keys and of log lines.
    pub function: &'static str,
    /// `codec = "…"`: how values are encoded in bin `data` (MessagePack by default).
    pub codec: Codec,
}

/// The freshness options of one annotated function (`none_ttl`, `refresh_ahead`, `stale_if_error`,
/// `soft_timeout`, `touch_on_read`), built once in a `static` next to its [`CacheSpec`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    /// `none_ttl = …`: how long a `None` is cached (with [`NegativeOptionKind`](crate::kind::NegativeOptionKind)).
    pub none_ttl: Option<Ttl>,
    /// `refresh_ahead = 0.2`, in thousandths of the TTL; 0 when off.
    pub refresh_ahead_permille: u16,
    /// `stale_if_error = "10m"`, in seconds; 0 when off. Records live this much longer than the
    /// TTL; in that window the body runs first and its failure is answered with the old value.
    pub stale_if_error_secs: u32,
    /// `soft_timeout = "100ms"`, in milliseconds; 0 when off. In the stale window of
    /// `stale_if_error`, a call waits this long for the body (which runs in the background), then
    /// answers with the old value while the body finishes and writes back.
    pub soft_timeout_ms: u32,
    /// `touch_on_read`, in thousandths of the TTL: a hit with less than this part of the TTL left
    /// resets the TTL (sliding expiry); 0 when off.
    pub touch_permille: u16,
    /// `lease = "2s"`, in milliseconds; 0 when off. After a miss, one process in the fleet
    /// loads while the others wait for its value at most this long (see `engine::lease`).
    pub lease_ms: u32,
}

impl CachePolicy {
    /// No negative caching, no refresh-ahead, no stale window.
    pub const DEFAULT: CachePolicy = CachePolicy {
        none_ttl: None,
        refresh_ahead_permille: 0,
        stale_if_error_secs: 0,
        soft_timeout_ms: 0,
        touch_permille: 0,
        lease_ms: 0,
    };
}

/// The records of one set: the cluster's name, the namespace the attribute named (or `None`, the
/// configured one) and the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SetId {
    cache: Option<&'static str>,
    namespace: Option<&'static str>,
    set: &'static str,
}

impl SetId {
    pub(crate) fn of(spec: &CacheSpec) -> SetId {
        SetId {
            cache: spec.cache,
            namespace: spec.namespace,
            set: spec.set,
        }
    }
}
