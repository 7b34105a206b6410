//! Single-flight: concurrent calls for one key in one process share one read and one load.
//!
//! The first caller of a key becomes the flight's leader: it reads the cache and, on a miss, runs
//! its loader. Callers that arrive while it is in flight follow it: they wait for its landing and
//! decode the leader's encoded value (the same bytes it writes to the cache), so neither the
//! value nor the error type needs `Clone`, and an async follower can wait for a blocking leader
//! and the other way round.
//!
//! A leader that lands without a value to share (an `Err`, a `None`, a value that does not
//! encode) sends its followers to load for themselves, concurrently: an error is the source's
//! answer at that moment, and each caller gets its own answer within one load's time. A leader
//! whose future is dropped or whose loader panics lands as abandoned (its guard's `Drop`): one
//! follower takes over as the new leader and the others follow it. A follower waits at most the
//! configured bound, then loads for itself; a blocking follower never waits for an async leader
//! on its own runtime, whose thread it would block.

use std::collections::HashMap;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::Notify;

use crate::__private::CacheSpec;
use crate::{client, UserKey};

/// Identifies one cached entry within the process.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct FlightKey {
    /// `None`: the configured default namespace.
    namespace: Option<&'static str>,
    set: &'static str,
    user_key: UserKey,
}

impl FlightKey {
    pub(crate) fn new(spec: &'static CacheSpec, user_key: &UserKey) -> Self {
        FlightKey {
            namespace: spec.namespace,
            set: spec.set,
            user_key: user_key.clone(),
        }
    }
}

/// How a flight ended, as its followers see it.
#[derive(Debug, Clone)]
pub(crate) enum Landing {
    /// The leader's value, encoded.
    Value(Arc<Vec<u8>>),
    /// The leader has nothing to share: followers load for themselves.
    Nothing,
    /// The leader was cancelled or panicked: one follower takes over.
    Abandoned,
    /// The follower stopped waiting (the bound passed, or waiting could block the leader):
    /// it loads for itself.
    Overdue,
}

/// Who leads a flight, so that a blocking follower can tell whether waiting could block it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caller {
    /// An async call, on the tokio runtime it runs on (`None`: another executor).
    Async(Option<tokio::runtime::Id>),
    /// A blocking call, on a thread of its own.
    Blocking,
}

impl Caller {
    /// The async caller running now.
    pub(crate) fn current_async() -> Self {
        Caller::Async(Handle::try_current().ok().map(|handle| handle.id()))
    }
}

struct Flight {
    key: FlightKey,
    leader: Caller,
    landing: Mutex<Option<Landing>>,
    landed_blocking: Condvar,
    landed_async: Notify,
    watchdog_started: AtomicBool,
}

impl Flight {
    fn landing(&self) -> MutexGuard<'_, Option<Landing>> {
        self.landing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Lands the flight unless it has landed already and wakes every follower. A flight that
    /// landed without a value is detached from its key at once; one with a value stays until
    /// its [`Landed`] guard is dropped.
    fn land(self: &Arc<Self>, landing: Landing) {
        let detach_now = !matches!(landing, Landing::Value(_));
        {
            let mut slot = self.landing();
            if slot.is_some() {
                return;
            }
            *slot = Some(landing);
        }
        if detach_now {
            self.detach();
        }
        self.landed_blocking.notify_all();
        self.landed_async.notify_waiters();
    }

    /// Removes this flight from its key, unless another flight took the key meanwhile.
    fn detach(self: &Arc<Self>) {
        let mut flights = flights();
        if flights
            .get(&self.key)
            .is_some_and(|current| Arc::ptr_eq(current, self))
        {
            flights.remove(&self.key);
        }
    }

    async fn landed(&self) -> Landing {
        loop {
            // Registered before looking, so a landing in between still wakes this waiter.
            let mut notified = pin!(self.landed_async.notified());
            notified.as_mut().enable();
            if let Some(landing) = self.landing().clone() {
                return landing;
            }
            notified.await;
        }
    }

    /// Lands the flight as overdue after `bound`, waking async followers that have no timer of
    /// their own (they may run on any executor). One timer per flight, on the background runtime.
    fn start_watchdog(self: &Arc<Self>, bound: Duration) {
        if self.watchdog_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = client::background() else {
            return;
        };
        let flight = Arc::clone(self);
        runtime.spawn(async move {
            if tokio::time::timeout(bound, flight.landed()).await.is_err() {
                flight.land(Landing::Overdue);
            }
        });
    }
}

type Flights = HashMap<FlightKey, Arc<Flight>>;

fn flights() -> MutexGuard<'static, Flights> {
    static FLIGHTS: OnceLock<Mutex<Flights>> = OnceLock::new();
    FLIGHTS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A caller's part in the flight of its key.
pub(crate) enum Role {
    Leader(Leader),
    Follower(Follower),
}

/// Joins the flight of `key`, or starts one with `caller` as its leader.
pub(crate) fn join(key: &FlightKey, caller: Caller) -> Role {
    let mut flights = flights();
    if let Some(flight) = flights.get(key) {
        return Role::Follower(Follower {
            flight: Arc::clone(flight),
        });
    }
    let flight = Arc::new(Flight {
        key: key.clone(),
        leader: caller,
        landing: Mutex::new(None),
        landed_blocking: Condvar::new(),
        landed_async: Notify::new(),
        watchdog_started: AtomicBool::new(false),
    });
    flights.insert(key.clone(), Arc::clone(&flight));
    Role::Leader(Leader { flight })
}

/// Detaches the flight of `key`, if any: later callers start a new one. Its leader still lands
/// for the followers it has. Invalidation calls this, so that no caller arriving after an
/// invalidation is handed a value loaded before it.
pub(crate) fn detach(key: &FlightKey) {
    flights().remove(key);
}

/// The leader's guard: dropping it without landing lands the flight as abandoned.
pub(crate) struct Leader {
    flight: Arc<Flight>,
}

impl Leader {
    /// Shares the leader's outcome with its followers. With a value, the flight keeps answering
    /// callers that arrive until the returned guard is dropped: the leader holds it while it
    /// writes the value, so that nobody reads the cache in between and loads again.
    pub(crate) fn land(self, landing: Landing) -> Landed {
        self.flight.land(landing);
        Landed {
            flight: Arc::clone(&self.flight),
        }
    }
}

/// A landed flight that still answers newcomers; dropping it detaches the flight from its key.
pub(crate) struct Landed {
    flight: Arc<Flight>,
}

impl Drop for Landed {
    fn drop(&mut self) {
        self.flight.detach();
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        // A no-op after `land` (the flight keeps its landing and its key until `Landed` is
        // dropped); otherwise the leader was cancelled or its loader panicked.
        self.flight.land(Landing::Abandoned);
    }
}

/// A caller waiting for a leader.
pub(crate) struct Follower {
    flight: Arc<Flight>,
}

impl Follower {
    /// Waits for the leader's landing, at most `bound`.
    pub(crate) async fn wait(self, bound: Duration) -> Landing {
        self.flight.start_watchdog(bound);
        self.flight.landed().await
    }

    /// Waits on this thread for the leader's landing, at most `bound`; at once `Overdue` if the
    /// leader is async and runs on the runtime of this thread, which waiting would block.
    pub(crate) fn wait_blocking(self, bound: Duration) -> Landing {
        if let Caller::Async(Some(leader_runtime)) = self.flight.leader {
            if Handle::try_current().is_ok_and(|handle| handle.id() == leader_runtime) {
                return Landing::Overdue;
            }
        }
        let deadline = Instant::now() + bound;
        let mut landing = self.flight.landing();
        loop {
            if let Some(landed) = landing.clone() {
                return landed;
            }
            let now = Instant::now();
            if now >= deadline {
                return Landing::Overdue;
            }
            landing = self
                .flight
                .landed_blocking
                .wait_timeout(landing, deadline - now)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Ttl;

    static SPEC: CacheSpec = CacheSpec {
        namespace: None,
        set: "flight_unit",
        ttl: Ttl::Never,
        function: "f",
    };

    fn key(name: &str) -> FlightKey {
        FlightKey::new(&SPEC, &UserKey::Str(name.to_owned()))
    }

    const LONG: Duration = Duration::from_secs(60);

    #[test]
    fn followers_get_the_leaders_value_and_the_flight_is_removed() {
        let key = key("value");
        let Role::Leader(leader) = join(&key, Caller::Blocking) else {
            panic!("the first caller leads")
        };
        let Role::Follower(follower) = join(&key, Caller::Blocking) else {
            panic!("the second caller follows")
        };
        let landed = leader.land(Landing::Value(Arc::new(vec![7])));
        assert!(matches!(follower.wait_blocking(LONG), Landing::Value(bytes) if *bytes == [7]));
        let Role::Follower(late) = join(&key, Caller::Blocking) else {
            panic!("while the leader writes, a newcomer is answered by the landed flight")
        };
        assert!(matches!(late.wait_blocking(LONG), Landing::Value(_)));
        drop(landed);
        assert!(
            matches!(join(&key, Caller::Blocking), Role::Leader(_)),
            "a new flight"
        );
    }

    #[test]
    fn a_dropped_leader_lands_as_abandoned() {
        let key = key("abandoned");
        let Role::Leader(leader) = join(&key, Caller::Blocking) else {
            panic!("the first caller leads")
        };
        let Role::Follower(follower) = join(&key, Caller::Blocking) else {
            panic!("the second caller follows")
        };
        drop(leader);
        assert!(matches!(follower.wait_blocking(LONG), Landing::Abandoned));
        assert!(
            matches!(join(&key, Caller::Blocking), Role::Leader(_)),
            "an abandoned flight is detached at once"
        );
    }

    #[test]
    fn a_blocking_follower_stops_waiting_after_the_bound() {
        let key = key("overdue");
        let Role::Leader(_leader) = join(&key, Caller::Blocking) else {
            panic!("the first caller leads")
        };
        let Role::Follower(follower) = join(&key, Caller::Blocking) else {
            panic!("the second caller follows")
        };
        assert!(matches!(
            follower.wait_blocking(Duration::from_millis(1)),
            Landing::Overdue
        ));
    }

    #[test]
    fn a_detached_flight_still_lands_for_its_followers_but_not_for_newcomers() {
        let key = key("detached");
        let Role::Leader(old_leader) = join(&key, Caller::Blocking) else {
            panic!("the first caller leads")
        };
        let Role::Follower(old_follower) = join(&key, Caller::Blocking) else {
            panic!("the second caller follows")
        };
        detach(&key);
        let Role::Leader(new_leader) = join(&key, Caller::Blocking) else {
            panic!("after detach, a newcomer leads a new flight")
        };
        drop(old_leader.land(Landing::Value(Arc::new(vec![1]))));
        assert!(matches!(
            old_follower.wait_blocking(LONG),
            Landing::Value(_)
        ));
        let Role::Follower(_) = join(&key, Caller::Blocking) else {
            panic!("the old landing did not remove the new flight")
        };
        drop(new_leader.land(Landing::Nothing));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_blocking_follower_does_not_wait_for_an_async_leader_on_its_runtime() {
        let key = key("same_runtime");
        let Role::Leader(_leader) = join(&key, Caller::current_async()) else {
            panic!("the first caller leads")
        };
        let Role::Follower(follower) = join(&key, Caller::Blocking) else {
            panic!("the second caller follows")
        };
        assert!(matches!(follower.wait_blocking(LONG), Landing::Overdue));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_async_follower_is_woken_by_the_watchdog() {
        let key = key("watchdog");
        let Role::Leader(_leader) = join(&key, Caller::current_async()) else {
            panic!("the first caller leads")
        };
        let Role::Follower(follower) = join(&key, Caller::current_async()) else {
            panic!("the second caller follows")
        };
        assert!(matches!(
            follower.wait(Duration::from_millis(1)).await,
            Landing::Overdue
        ));
        assert!(
            matches!(join(&key, Caller::Blocking), Role::Leader(_)),
            "an overdue flight is detached"
        );
    }
}
