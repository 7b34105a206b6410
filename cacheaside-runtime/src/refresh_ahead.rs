//! Refresh-ahead (and touch-on-read) bookkeeping: which entries this process is refreshing or
//! touching, so that a hit near expiry starts at most one background load (or touch) per entry
//! version, however many calls see it.
//!
//! An entry version is its record generation: a refresh that wrote (or an invalidation, or a
//! write by another process) changes it, so the next time the entry nears expiry it is refreshed
//! again. A version whose refresh finished is remembered too, so a call that read the old record
//! just before the refresh wrote does not start a second load.

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
    let key = (purpose, key);
    let mut table = table();
    match table.get(&key) {
        Some(State::InProgress) => return None,
        Some(State::Finished(done)) if *done == generation => return None,
        _ => {}
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
}
