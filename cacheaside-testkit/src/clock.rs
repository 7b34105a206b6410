//! The server's virtual clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds between the Unix epoch and 2010-01-01 UTC, the epoch Aerospike counts void-times from.
pub(crate) const AEROSPIKE_EPOCH_UNIX_SECS: u64 = 1_262_304_000;

/// A clock that follows real time plus whatever [`Clock::advance`] added.
///
/// Expiration decisions use this clock, so a TTL test can jump forward instead of sleeping. Void-times sent
/// to clients are translated back to the real wall clock, so `Record::time_to_live()` on the client side
/// reports the remaining virtual lifetime.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_millis: Arc<AtomicU64>,
}

impl Clock {
    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let millis = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.offset_millis.fetch_add(millis, Ordering::Relaxed);
    }

    /// How far the clock is ahead of the real wall clock.
    pub fn offset(&self) -> Duration {
        Duration::from_millis(self.offset_millis.load(Ordering::Relaxed))
    }

    /// The current virtual time.
    pub fn now(&self) -> SystemTime {
        SystemTime::now() + self.offset()
    }

    /// Whole seconds since 2010-01-01 UTC on the virtual clock.
    pub(crate) fn now_aerospike_secs(&self) -> u32 {
        to_aerospike_secs(self.now())
    }

    /// Turns a stored (virtual) void-time into the void-time a client should see against its real clock.
    pub(crate) fn void_time_for_client(&self, stored: u32) -> u32 {
        if stored == 0 {
            return 0;
        }
        let offset_secs = u32::try_from(self.offset().as_secs()).unwrap_or(u32::MAX);
        stored.saturating_sub(offset_secs).max(1)
    }
}

fn to_aerospike_secs(at: SystemTime) -> u32 {
    let unix = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    u32::try_from(unix.saturating_sub(AEROSPIKE_EPOCH_UNIX_SECS)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_virtual_time_and_shifts_client_void_times_back() {
        let clock = Clock::default();
        let before = clock.now_aerospike_secs();
        clock.advance(Duration::from_secs(3600));
        assert!(clock.now_aerospike_secs() >= before + 3600);
        assert_eq!(clock.void_time_for_client(before + 7200), before + 3600);
        assert_eq!(clock.void_time_for_client(0), 0);
    }
}
