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

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use aerospike::Key;
use tokio::runtime::Handle;
use tokio::sync::Notify;

use crate::spec::CacheSpec;
use crate::{client, UserKey};

/// Identifies one cached entry within the process: its namespace as the function names it and
/// the record's digest (a hash of the set and the user key, Aerospike's own identity of a
/// record). `Copy`, so that a call needs no copy of its user key to coalesce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FlightKey {
    /// The cluster (`cache = "…"`); `None`: the default one.
    cache: Option<&'static str>,
    /// `None`: the configured default namespace.
    namespace: Option<&'static str>,
    digest: [u8; 20],
}

impl FlightKey {
    /// The flight key of a record whose Aerospike key is already built.
    pub(crate) fn of(spec: &'static CacheSpec, key: &Key) -> Self {
        FlightKey {
            cache: spec.cache,
            namespace: spec.namespace,
            digest: key.digest(),
        }
    }

    /// The flight key of `user_key` in the set of `spec` (computes the digest); `None` for a key
    /// Aerospike refuses.
    pub(crate) fn new(spec: &'static CacheSpec, user_key: &UserKey) -> Option<Self> {
        // The digest does not depend on the namespace.
        let key = Key::new("", spec.set, user_key.to_value()).ok()?;
        Some(FlightKey::of(spec, &key))
    }
}

impl Hash for FlightKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The digest is already uniformly distributed: its first bytes are a good hash.
        let mut prefix = [0; 8];
        prefix.copy_from_slice(&self.digest[..8]);
        state.write_u64(u64::from_le_bytes(prefix));
    }
}

/// A hasher for [`FlightKey`]s, which hash as one `u64` taken from the digest.
#[derive(Default)]
pub(crate) struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 =
                (self.0.rotate_left(5) ^ u64::from(byte)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 ^= value;
    }
}

/// A map keyed by [`FlightKey`]s, hashed by their digest.
pub(crate) type ByFlightKey<V> = HashMap<FlightKey, V, BuildHasherDefault<DigestHasher>>;

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
    /// The leader's token (see [`Slot`]).
    token: u64,
    leader: Caller,
    landing: Mutex<Option<Landing>>,
    landed_blocking: Condvar,
    landed_async: Notify,
    watchdog_started: AtomicBool,
    /// Whether its leader holds it (see [`Flights::orphans`]).
    claimed: AtomicBool,
}

impl Flight {
    fn new(key: FlightKey, token: u64, leader: Caller) -> Arc<Flight> {
        Arc::new(Flight {
            key,
            token,
            leader,
            landing: Mutex::new(None),
            landed_blocking: Condvar::new(),
            landed_async: Notify::new(),
            watchdog_started: AtomicBool::new(false),
            claimed: AtomicBool::new(false),
        })
    }

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
        let mut flights = flights(&self.key);
        let slots = &mut flights.slots;
        if matches!(slots.get(&self.key), Some(Slot::Flying(current)) if Arc::ptr_eq(current, self))
        {
            slots.remove(&self.key);
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

/// What the map holds for a key.
enum Slot {
    /// A leader is reading the cache and nobody waits for it yet: no [`Flight`] is allocated,
    /// so an uncontended hit costs two map operations. The token tells this leader's slot apart
    /// from a later one of the same key.
    Reading { token: u64, leader: Caller },
    /// A flight with followers, or whose leader missed and loads.
    Flying(Arc<Flight>),
}

/// The slots of the keys of one shard, and their flights detached before their leader took them.
#[derive(Default)]
struct Flights {
    slots: ByFlightKey<Slot>,
    /// Flights made by followers and detached (an invalidation) while their leader was still
    /// reading, by the leader's token: the leader takes it from here to land it.
    orphans: HashMap<u64, Arc<Flight>>,
    /// The last token given out in this shard (tokens only tell apart leaders of one key).
    last_token: u64,
}

impl Flights {
    /// Takes the flight of the leader with `token` out of the orphans, or finds it in its slot.
    fn of_leader(&mut self, key: &FlightKey, token: u64) -> Option<Arc<Flight>> {
        match self.slots.get(key) {
            Some(Slot::Flying(flight)) if flight.token == token => Some(Arc::clone(flight)),
            _ => self.orphans.remove(&token),
        }
    }
}

/// Shards of the flight map: calls of different keys rarely wait for one another's lock, nor
/// write one cache line, on every call.
const SHARDS: usize = 16;

/// One shard, on a cache line of its own.
#[derive(Default)]
#[repr(align(128))]
struct Shard(Mutex<Flights>);

/// The shard of `key`'s slot (and of its orphaned flights).
fn flights(key: &FlightKey) -> MutexGuard<'static, Flights> {
    static FLIGHTS: OnceLock<[Shard; SHARDS]> = OnceLock::new();
    // The digest is uniform; its last byte is not the one the map hashes.
    let shard = usize::from(key.digest[19]) % SHARDS;
    FLIGHTS.get_or_init(Default::default)[shard]
        .0
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
    let mut shard = flights(key);
    let flights = &mut *shard;
    // One lookup of the key, whether it has a slot or gets one.
    match flights.slots.entry(*key) {
        Entry::Occupied(mut occupied) => {
            let slot = occupied.get_mut();
            let flight = match *slot {
                Slot::Flying(ref flight) => Arc::clone(flight),
                // The first follower of a reading leader makes the flight to wait on.
                Slot::Reading { token, leader } => {
                    let flight = Flight::new(*key, token, leader);
                    *slot = Slot::Flying(Arc::clone(&flight));
                    flight
                }
            };
            Role::Follower(Follower { flight })
        }
        Entry::Vacant(vacant) => {
            flights.last_token += 1;
            let token = flights.last_token;
            vacant.insert(Slot::Reading {
                token,
                leader: caller,
            });
            Role::Leader(Leader {
                key: *key,
                token,
                leader: caller,
                flight: None,
                finished: false,
            })
        }
    }
}

/// Detaches the flight of `key`, if any: later callers start a new one. Its leader still lands
/// for the followers it has. Invalidation calls this, so that no caller arriving after an
/// invalidation is handed a value loaded before it.
pub(crate) fn detach(key: &FlightKey) {
    let mut flights = flights(key);
    if let Some(Slot::Flying(flight)) = flights.slots.remove(key) {
        if !flight.claimed.load(Ordering::Acquire) {
            flights.orphans.insert(flight.token, flight);
        }
    }
}

/// The leader's guard: dropping it without landing lands the flight as abandoned.
pub(crate) struct Leader {
    key: FlightKey,
    token: u64,
    leader: Caller,
    /// The flight, once there is one: followers came, or the leader missed.
    flight: Option<Arc<Flight>>,
    /// Finished without a flight: nothing left to do on drop.
    finished: bool,
}

impl Leader {
    /// The leader's flight, made now if nobody followed yet. A leader whose slot was detached
    /// meanwhile (an invalidation) gets a flight of its own that nobody can join.
    fn flight(&mut self) -> Arc<Flight> {
        if let Some(flight) = &self.flight {
            return Arc::clone(flight);
        }
        let mut flights = flights(&self.key);
        let flight = match flights.slots.get_mut(&self.key) {
            Some(slot) if matches!(*slot, Slot::Reading { token, .. } if token == self.token) => {
                let flight = Flight::new(self.key, self.token, self.leader);
                *slot = Slot::Flying(Arc::clone(&flight));
                flight
            }
            _ => flights
                .of_leader(&self.key, self.token)
                .unwrap_or_else(|| Flight::new(self.key, self.token, self.leader)),
        };
        // Taken by its leader: no longer an orphan if detached from now on.
        flight.claimed.store(true, Ordering::Release);
        drop(flights);
        self.flight = Some(Arc::clone(&flight));
        flight
    }

    /// Ends a flight whose leader found the value in the cache: its followers, if any, get
    /// `bytes`. Without followers, nothing is allocated.
    pub(crate) fn hit(mut self, bytes: impl FnOnce() -> Arc<Vec<u8>>) {
        if self.flight.is_none() {
            let mut flights = flights(&self.key);
            if let Entry::Occupied(slot) = flights.slots.entry(self.key) {
                if matches!(slot.get(), Slot::Reading { token, .. } if *token == self.token) {
                    slot.remove();
                    self.finished = true;
                    return;
                }
            }
        }
        drop(self.land(Landing::Value(bytes())));
    }

    /// Shares the leader's outcome with its followers. With a value, the flight keeps answering
    /// callers that arrive until the returned guard is dropped: the leader holds it while it
    /// writes the value, so that nobody reads the cache in between and loads again.
    pub(crate) fn land(mut self, landing: Landing) -> Landed {
        let flight = self.flight();
        flight.land(landing);
        Landed { flight }
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
        if self.finished {
            return;
        }
        // A no-op after `land` (the flight keeps its landing and its key until `Landed` is
        // dropped); otherwise the leader was cancelled or its loader panicked.
        match &self.flight {
            Some(flight) => flight.land(Landing::Abandoned),
            None => {
                let mut flights = flights(&self.key);
                if matches!(flights.slots.get(&self.key), Some(Slot::Reading { token, .. }) if *token == self.token)
                {
                    flights.slots.remove(&self.key);
                } else if let Some(flight) = flights.of_leader(&self.key, self.token) {
                    drop(flights);
                    flight.land(Landing::Abandoned);
                }
            }
        }
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
        cache: None,
        namespace: None,
        set: "flight_unit",
        ttl: Ttl::Never,
        function: "f",
        codec: crate::codec::Codec::MessagePack,
    };

    fn key(name: &str) -> FlightKey {
        FlightKey::new(&SPEC, &UserKey::Str(name.to_owned())).expect("a valid key")
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
