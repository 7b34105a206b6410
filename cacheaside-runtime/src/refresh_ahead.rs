//! Background load (and touch-on-read) bookkeeping: which entries this process is loading in the
//! background or touching, so that a hit near expiry (`refresh_ahead`) or a call in the stale
//! window (`soft_timeout`) starts at most one background load per entry, and a hit at most one
//! touch per entry version, however many calls see it.
//!
//! An entry version is its record generation: a refresh that wrote (or an invalidation, or a
//! write by another process) changes it, so the next time the entry nears expiry it is refreshed
//! again. A version whose refresh finished is remembered too, so a call that read the old record
//! just before the refresh wrote does not start a second load. A load in the stale window does
//! not look at finished versions: the load before may have failed and left the entry as it was,
//! and calls in the window keep asking the source (see [`claim_stale`]).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::flight::FlightKey;

/// Finished refreshes are forgotten once this many entries are tracked (refreshes in progress are
/// kept): the table stays bounded however many keys a process touches.
const MAX_TRACKED: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    InProgress,
    /// A refresh of this generation finished.
    Finished(u32),
}

/// What a claim is for: a refresh and a touch of one entry are tracked apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Purpose {
    Refresh,
    Touch,
}

type Table = HashMap<(Purpose, FlightKey), State>;

fn table() -> MutexGuard<'static, Table> {
    static TABLE: OnceLock<Mutex<Table>> = OnceLock::new();
    TABLE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The right to refresh one entry version; releasing it (drop) records the refresh as finished.
#[derive(Debug)]
pub(crate) struct Claim {
    key: (Purpose, FlightKey),
    generation: u32,
}

/// Claims the refresh of `key` at `generation`, unless this process is refreshing the entry or
/// already refreshed this version.
pub(crate) fn claim(purpose: Purpose, key: FlightKey, generation: u32) -> Option<Claim> {
    claim_unless(purpose, key, generation, |state| match state {
        State::InProgress => true,
        State::Finished(done) => done == generation,
    })
}

/// Claims the background load of `key`, read at `generation` in the stale window of a function
/// with `soft_timeout`, unless this process is loading the entry in the background already (a
/// refresh-ahead counts). Shares the refreshes' entries: one background load per entry.
pub(crate) fn claim_stale(key: FlightKey, generation: u32) -> Option<Claim> {
    claim_unless(Purpose::Refresh, key, generation, |state| {
        state == State::InProgress
    })
}

/// Claims `key` for `purpose` at `generation`, unless its recorded state is `taken`.
fn claim_unless(
    purpose: Purpose,
    key: FlightKey,
    generation: u32,
    taken: impl FnOnce(State) -> bool,
) -> Option<Claim> {
    let key = (purpose, key);
    let mut table = table();
    if table.get(&key).copied().is_some_and(taken) {
        return None;
    }
    if table.len() >= MAX_TRACKED {
        table.retain(|_, state| *state == State::InProgress);
    }
    table.insert(key, State::InProgress);
    Some(Claim { key, generation })
}

impl Drop for Claim {
    fn drop(&mut self) {
        table().insert(self.key, State::Finished(self.generation));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::CacheSpec;
    use crate::{Ttl, UserKey};

    static SPEC: CacheSpec = CacheSpec {
        cache: None,
        namespace: None,
        set: "refresh_ahead_unit",
        ttl: Ttl::Seconds(60),
        function: "f",
        codec: crate::codec::Codec::MessagePack,
    };

    fn key(id: i64) -> FlightKey {
        FlightKey::new(&SPEC, &UserKey::Int(id)).expect("a valid key")
    }

    #[test]
    fn one_claim_per_entry_version() {
        let refresh = |id, generation| claim(Purpose::Refresh, key(id), generation);
        let first = refresh(1, 7).expect("first claim");
        assert!(refresh(1, 7).is_none(), "in progress");
        assert!(refresh(1, 8).is_none(), "in progress, any version");
        assert!(refresh(2, 7).is_some(), "another key is independent");
        assert!(
            claim(Purpose::Touch, key(1), 7).is_some(),
            "a touch is tracked apart"
        );
        drop(first);
        assert!(refresh(1, 7).is_none(), "this version was refreshed");
        assert!(refresh(1, 8).is_some(), "a newer version may be refreshed");
    }

    #[test]
    fn a_stale_load_waits_only_for_a_load_in_progress() {
        let refreshing = claim(Purpose::Refresh, key(3), 7).expect("first claim");
        assert!(claim_stale(key(3), 7).is_none(), "a refresh is in progress");
        drop(refreshing);
        let loading = claim_stale(key(3), 7).expect("a finished version does not stop it");
        assert!(claim_stale(key(3), 7).is_none(), "in progress");
        assert!(
            claim(Purpose::Refresh, key(3), 7).is_none(),
            "one background load per entry"
        );
        drop(loading);
        assert!(claim_stale(key(3), 7).is_some(), "the window keeps asking");
    }
}
