//! Per-set policy overrides: a set's own operation timeout, TTL cap and codec.

use std::time::Duration;

use crate::codec::Codec;
use crate::Ttl;

/// Overrides for the functions of one set; install with
/// [`ConfigBuilder::set_policy`](crate::ConfigBuilder::set_policy) or the environment
/// (`CACHEASIDE_SET_<SET>_TIMEOUT_MS`, `CACHEASIDE_SET_<SET>_MAX_TTL_SECS`,
/// `CACHEASIDE_SET_<SET>_CODEC`, see [`Config`](crate::Config)). Settings left out keep the
/// configuration's (and, for the codec, each function's `codec = "…"`).
///
/// A set's settings are the operator's, chosen at deploy time: they take precedence over what
/// the attributes of the set's functions say.
///
/// ```
/// use std::time::Duration;
/// use cacheaside_runtime::{Codec, Config, SetPolicy};
///
/// let config = Config::builder()
///     .set_policy(
///         "sessions",
///         SetPolicy::new()
///             .operation_timeout(Duration::from_millis(10))
///             .max_ttl(Duration::from_secs(300))
///             .codec(Codec::MessagePack),
///     )
///     .build()
///     .unwrap();
/// assert_eq!(config.operation_timeout_for("sessions"), Duration::from_millis(10));
/// assert_eq!(config.operation_timeout_for("users"), config.operation_timeout());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use]
pub struct SetPolicy {
    operation_timeout: Option<Duration>,
    max_ttl: Option<Duration>,
    codec: Option<Codec>,
}

impl SetPolicy {
    /// No overrides.
    pub const fn new() -> Self {
        SetPolicy {
            operation_timeout: None,
            max_ttl: None,
            codec: None,
        }
    }

    /// Total time one cache read, write or delete of this set may take, instead of the
    /// configured [`operation_timeout`](crate::ConfigBuilder::operation_timeout) (1 ms to
    /// 2^32 ms).
    pub const fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = Some(timeout);
        self
    }

    /// The longest TTL an entry of this set is written with (whole seconds, at least 1 s). Longer
    /// TTLs are shortened to it, whether they come from `ttl`, `ttl_from`, `none_ttl`, a refresh
    /// or a touch, including the stale window of `stale_if_error`; entries that would never
    /// expire or take the namespace's default TTL get this one instead.
    pub const fn max_ttl(mut self, max_ttl: Duration) -> Self {
        self.max_ttl = Some(max_ttl);
        self
    }

    /// How every function of this set encodes its values, whatever its `codec = "…"` says:
    /// reads and write-backs, companions, batch functions, `#[cache_put]` and write-behind alike,
    /// so that all of them share the set's entries. Entries written in another codec (before a
    /// deploy that changed it) are misses, loaded again and overwritten, never wrong values.
    /// A codec whose cargo feature this build lacks makes
    /// [`build`](crate::ConfigBuilder::build) fail with the feature to enable.
    pub const fn codec(mut self, codec: Codec) -> Self {
        self.codec = Some(codec);
        self
    }

    /// The operation timeout override, if any.
    pub const fn operation_timeout_override(&self) -> Option<Duration> {
        self.operation_timeout
    }

    /// The TTL cap, if any.
    pub const fn max_ttl_override(&self) -> Option<Duration> {
        self.max_ttl
    }

    /// The codec override, if any.
    pub const fn codec_override(&self) -> Option<Codec> {
        self.codec
    }

    /// What is wrong with the settings, if anything: (which setting, problem).
    pub(crate) fn problem(&self) -> Option<(Part, String)> {
        if let Some(timeout) = self.operation_timeout {
            if timeout.is_zero() || timeout.as_millis() > u128::from(u32::MAX) {
                let problem = "must be at least 1 ms and below 2^32 ms";
                return Some((Part::Timeout, problem.to_owned()));
            }
        }
        if let Some(max) = self.max_ttl {
            if max < Duration::from_secs(1) || max.as_secs() > u64::from(u32::MAX) {
                let problem = "must be at least 1 s and below 2^32 s";
                return Some((Part::MaxTtl, problem.to_owned()));
            }
        }
        let unavailable = self.codec.and_then(Codec::unavailable);
        unavailable.map(|problem| (Part::Codec, problem))
    }

    /// `ttl` shortened to the cap (unchanged without one).
    pub(crate) fn cap(&self, ttl: Ttl) -> Ttl {
        let Some(max) = self.max_ttl else {
            return ttl;
        };
        // Checked to fit by `problem`.
        let max = u32::try_from(max.as_secs()).unwrap_or(u32::MAX);
        match ttl {
            Ttl::Seconds(seconds) if seconds > 0 && seconds <= max => ttl,
            Ttl::Seconds(_) | Ttl::NamespaceDefault | Ttl::Never => Ttl::Seconds(max),
        }
    }
}

/// One setting of a [`SetPolicy`], for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Timeout,
    MaxTtl,
    Codec,
}

/// The prefix of the per-set environment variables.
pub(crate) const ENV_PREFIX: &str = "CACHEASIDE_SET_";
/// The suffix of a set's timeout variable.
pub(crate) const ENV_TIMEOUT: &str = "_TIMEOUT_MS";
/// The suffix of a set's TTL cap variable.
pub(crate) const ENV_MAX_TTL: &str = "_MAX_TTL_SECS";
/// The suffix of a set's codec variable.
pub(crate) const ENV_CODEC: &str = "_CODEC";

/// A set name as it appears in environment variables: upper case, every character other than
/// an ASCII letter or digit replaced by `_` (`user-sessions` → `USER_SESSIONS`).
pub(crate) fn env_name(set: &str) -> String {
    set.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Where an override applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SetName {
    /// Exactly this set (from the builder).
    Exact(String),
    /// Every set whose [`env_name`] is this (from the environment).
    Env(String),
}

impl SetName {
    fn matches(&self, set: &str) -> bool {
        match self {
            SetName::Exact(name) => name == set,
            SetName::Env(name) => {
                name.len() == set.len()
                    && set.chars().zip(name.chars()).all(|(s, n)| {
                        if s.is_ascii_alphanumeric() {
                            s.to_ascii_uppercase() == n
                        } else {
                            n == '_'
                        }
                    })
            }
        }
    }
}

/// The overrides of a configuration: few, so a scan beats hashing; none in most programs.
#[derive(Debug, Clone, Default)]
pub(crate) struct SetPolicies {
    entries: Vec<(SetName, SetPolicy)>,
}

impl SetPolicies {
    /// The override of `set`: a builder entry first, else one from the environment.
    pub(crate) fn get(&self, set: &str) -> Option<&SetPolicy> {
        self.position(set).map(|at| &self.entries[at].1)
    }

    /// Where the override of `set` is in [`iter`](Self::iter)'s order, so that what is derived
    /// from the overrides once can be kept in that order.
    pub(crate) fn position(&self, set: &str) -> Option<usize> {
        if self.entries.is_empty() {
            return None;
        }
        let exact = self
            .entries
            .iter()
            .position(|(name, _)| matches!(name, SetName::Exact(_)) && name.matches(set));
        exact.or_else(|| self.entries.iter().position(|(name, _)| name.matches(set)))
    }

    /// Sets the override of `name`, replacing an earlier one for the same name.
    pub(crate) fn insert(&mut self, name: SetName, policy: SetPolicy) {
        self.entries.retain(|(existing, _)| *existing != name);
        self.entries.push((name, policy));
    }

    /// The override of exactly `name`, to update one setting of it.
    pub(crate) fn entry(&mut self, name: SetName) -> &mut SetPolicy {
        let at = match self
            .entries
            .iter()
            .position(|(existing, _)| *existing == name)
        {
            Some(at) => at,
            None => {
                self.entries.push((name, SetPolicy::new()));
                self.entries.len() - 1
            }
        };
        &mut self.entries[at].1
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &(SetName, SetPolicy)> {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_match_sets_case_and_punctuation_blind() {
        assert_eq!(env_name("user-sessions.v2"), "USER_SESSIONS_V2");
        let name = SetName::Env("USER_SESSIONS".to_owned());
        assert!(name.matches("user-sessions"));
        assert!(name.matches("user_sessions"));
        assert!(!name.matches("user-session"));
        assert!(!name.matches("usersessions"));
    }

    #[test]
    fn builder_entries_win_over_environment_entries() {
        let mut policies = SetPolicies::default();
        let from_env = SetPolicy::new().max_ttl(Duration::from_secs(60));
        let from_code = SetPolicy::new().max_ttl(Duration::from_secs(5));
        policies.insert(SetName::Env("USERS".to_owned()), from_env);
        policies.insert(SetName::Exact("users".to_owned()), from_code);
        assert_eq!(policies.get("users"), Some(&from_code));
        assert_eq!(policies.get("USERS"), Some(&from_env));
        assert_eq!(policies.get("orders"), None);
    }

    #[test]
    fn cap_shortens_long_and_endless_ttls() {
        let policy = SetPolicy::new().max_ttl(Duration::from_secs(60));
        assert_eq!(policy.cap(Ttl::Seconds(30)), Ttl::Seconds(30));
        assert_eq!(policy.cap(Ttl::Seconds(60)), Ttl::Seconds(60));
        assert_eq!(policy.cap(Ttl::Seconds(3600)), Ttl::Seconds(60));
        assert_eq!(policy.cap(Ttl::Seconds(0)), Ttl::Seconds(60));
        assert_eq!(policy.cap(Ttl::Never), Ttl::Seconds(60));
        assert_eq!(policy.cap(Ttl::NamespaceDefault), Ttl::Seconds(60));
        assert_eq!(SetPolicy::new().cap(Ttl::Never), Ttl::Never);
    }

    #[test]
    fn out_of_range_settings_are_problems() {
        let zero = SetPolicy::new().operation_timeout(Duration::ZERO);
        assert_eq!(zero.problem().map(|(part, _)| part), Some(Part::Timeout));
        let short = SetPolicy::new().max_ttl(Duration::from_millis(500));
        assert_eq!(short.problem().map(|(part, _)| part), Some(Part::MaxTtl));
        assert_eq!(SetPolicy::new().problem(), None);
        for codec in [
            Codec::MessagePack,
            Codec::Bincode,
            Codec::Postcard,
            Codec::Json,
        ] {
            let part = SetPolicy::new()
                .codec(codec)
                .problem()
                .map(|(part, _)| part);
            let expected = (!codec.is_available()).then_some(Part::Codec);
            assert_eq!(part, expected, "{codec}");
        }
    }
}
