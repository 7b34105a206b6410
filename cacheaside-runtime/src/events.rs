//! The events that telemetry reports: what a call counted ([`Event`], one per counter of
//! [`SetStats`](crate::SetStats)) and how a call was answered ([`Outcome`]). A leaf: the counters
//! of `stats`, the exported `metrics` and the call span of `observe` all build on it.

/// One event to count; the declaration order is the order of [`SetStats`](crate::SetStats)'s fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    Hit,
    Miss,
    Load,
    LoadError,
    CacheError,
    Undecodable,
    Write,
    Coalesced,
    StaleWritePrevented,
    BreakerOpened,
    TtlForbiddenSkip,
    Oversize,
    RefreshAhead,
    StaleServed,
    /// A call in the stale window answered with the old value because the body had not answered
    /// within `soft_timeout`; also a [`StaleServed`](Event::StaleServed).
    SoftTimeout,
    /// Counted with [`Hit`](Event::Hit) by `SetCounters::count_local_hit`, which builds it
    /// only for exported metrics.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    LocalHit,
    Touch,
    /// A cache operation skipped because the cluster, or the part of it that holds the key, is
    /// known to be failing (see `breaker`): no request was sent.
    Bypassed,
    /// An invalidation, evict or put that could not reach the cluster, kept to be retried (see
    /// `pending`).
    InvalidationKept,
    /// A kept invalidation that landed on a retry.
    InvalidationRecovered,
    /// A change announced by another process (see `backplane`), applied to the local tiers.
    RemoteChange,
    /// A call that waited for another process's load (`lease`) and got its value.
    LeaseWait,
}

impl Event {
    #[cfg(any(test, feature = "metrics"))]
    /// How many events there are.
    #[cfg(any(test, feature = "metrics"))]
    pub(crate) const COUNT: usize = 22;

    /// Every event, in declaration order (`event as usize` is its index here).
    #[cfg(test)]
    pub(crate) const ALL: [Event; Event::COUNT] = [
        Event::Hit,
        Event::Miss,
        Event::Load,
        Event::LoadError,
        Event::CacheError,
        Event::Undecodable,
        Event::Write,
        Event::Coalesced,
        Event::StaleWritePrevented,
        Event::BreakerOpened,
        Event::TtlForbiddenSkip,
        Event::Oversize,
        Event::RefreshAhead,
        Event::StaleServed,
        Event::SoftTimeout,
        Event::LocalHit,
        Event::Touch,
        Event::Bypassed,
        Event::InvalidationKept,
        Event::InvalidationRecovered,
        Event::RemoteChange,
        Event::LeaseWait,
    ];

    /// The name of the [`SetStats`](crate::SetStats) field that counts this event.
    #[cfg(test)]
    pub(crate) const fn field(self) -> &'static str {
        match self {
            Event::Hit => "hits",
            Event::Miss => "misses",
            Event::Load => "loads",
            Event::LoadError => "load_errors",
            Event::CacheError => "cache_errors",
            Event::Undecodable => "undecodable",
            Event::Write => "writes",
            Event::Coalesced => "coalesced",
            Event::StaleWritePrevented => "stale_writes_prevented",
            Event::BreakerOpened => "breaker_opens",
            Event::TtlForbiddenSkip => "ttl_forbidden_skips",
            Event::Oversize => "oversize",
            Event::RefreshAhead => "refreshes_ahead",
            Event::StaleServed => "stale_served",
            Event::SoftTimeout => "soft_timeouts",
            Event::LocalHit => "local_hits",
            Event::Touch => "touches",
            Event::Bypassed => "bypassed",
            Event::InvalidationKept => "invalidations_kept",
            Event::InvalidationRecovered => "invalidations_recovered",
            Event::RemoteChange => "remote_changes",
            Event::LeaseWait => "lease_waits",
        }
    }
}

/// How a cached call was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Served from Aerospike.
    Hit,
    /// Served from the in-process tier.
    LocalHit,
    /// Not cached: the loader ran.
    Miss,
    /// A stale entry was served because the loader failed (`stale_if_error`) or had not answered
    /// within `soft_timeout`.
    Stale,
    /// The cache was skipped (disabled, breaker open, key could not be built).
    Bypass,
    /// The cache failed during the call and the loader answered.
    Error,
}

impl Outcome {
    /// Every outcome, in declaration order (`outcome as usize` is its index here).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) const ALL: [Outcome; 6] = [
        Outcome::Hit,
        Outcome::LocalHit,
        Outcome::Miss,
        Outcome::Stale,
        Outcome::Bypass,
        Outcome::Error,
    ];

    /// The outcome's name in spans and metric labels.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::LocalHit => "local_hit",
            Outcome::Miss => "miss",
            Outcome::Stale => "stale",
            Outcome::Bypass => "bypass",
            Outcome::Error => "error",
        }
    }
}
