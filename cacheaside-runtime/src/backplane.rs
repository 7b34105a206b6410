//! The backplane: a change of an entry in one process (a put, evict, invalidation, refresh or
//! write-behind write) drops the key from the local tiers (`local(…)`) of every other process,
//! within about [`ConfigBuilder::backplane_interval`](crate::ConfigBuilder::backplane_interval).
//!
//! Carried by Aerospike itself, in set `cacheaside_backplane` of the entries' namespace, per set:
//! - a counter record, bin `seq`: how many changes were announced;
//! - a ring of [`RING`] notice records, `<set>:<seq % RING>`, each naming the changed key (or
//!   every key, for a truncate) and its number.
//!
//! A writer takes the next number (an increment of the counter, only if the counter exists: no
//! listener, nothing to tell, one read of a missing record) and writes the notice into its slot.
//! A process whose functions have local tiers polls each of their sets: one read of the counter
//! when nothing changed; otherwise one batch read of the new notices, whose keys it drops.
//!
//! What cannot be proven fresh is dropped, never served:
//! - the first poll of a set creates its counter and empties every local tier of the process
//!   (values read before the process listened may predate a change it will never hear of);
//! - a gap (more than [`RING`] changes between two polls, the counter reset, a notice overwritten
//!   before it was read, or a number whose notice is still missing after [`UNWRITTEN_GRACE`]: its
//!   writer died between its two writes) empties every local tier too;
//! - while a poll fails, the set's tiers answer nothing (its [`Watch`] is closed): calls read
//!   Aerospike instead, and the ring keeps what happened meanwhile for the next poll.
//!
//! Tiers do not know their set (see `local_registry`), so a notice drops its key from every tier
//! of the process and an emptying empties all of them: more reads of Aerospike, never a stale value.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use aerospike::{Key, Value};

use crate::breaker;
use crate::client::backplane::{Changed, Notice, BACKPLANE_SET};
use crate::client::{self, Cache};
use crate::local;
use crate::local_registry::{self, Watch};
use crate::report::{self, Cause};
use crate::spec::{CacheSpec, SetId};
use crate::stats::{self, Event};
use crate::store::locate::{self, Unconnected};
use crate::{Error, ErrorKind, UserKey};

/// Notice slots per set: how many changes a listener may fall behind before it must empty its
/// tiers.
pub(crate) const RING: u64 = 1024;

/// How long a notice number may stay without its notice (its writer between the increment and
/// the notice) before a listener gives up on it and empties its tiers.
pub(crate) const UNWRITTEN_GRACE: Duration = Duration::from_secs(2);

/// How often the poll task looks for a configuration that turns the backplane on, when it is off.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// A set whose local tiers listen: the first spec seen for it, and its gate.
#[derive(Clone, Copy)]
struct Listener {
    spec: &'static CacheSpec,
    watch: &'static Watch,
}

fn listeners() -> &'static Mutex<Vec<Listener>> {
    static LISTENERS: OnceLock<Mutex<Vec<Listener>>> = OnceLock::new();
    LISTENERS.get_or_init(Mutex::default)
}

/// Wakes the poll task for a new set, so that its first poll does not wait for an interval.
fn new_listener() -> &'static tokio::sync::Notify {
    static NEW: OnceLock<tokio::sync::Notify> = OnceLock::new();
    NEW.get_or_init(tokio::sync::Notify::new)
}

/// The gate of `spec`'s set, whose local tier is looked up for the first time: the set is polled
/// from now on (the poll task starts with the first set), and reads of its entries wait for the
/// first poll (see `local_registry::until_started`).
pub(crate) fn watch(spec: &'static CacheSpec) -> &'static Watch {
    let (watch, new) = local_registry::watch(spec);
    if new {
        listeners()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Listener { spec, watch });
        start_polling();
        new_listener().notify_one();
    }
    watch
}

/// This process's name in the notices it writes, so that it skips its own (its write paths
/// already dropped the key from its tiers).
fn origin() -> i64 {
    static ORIGIN: OnceLock<i64> = OnceLock::new();
    *ORIGIN.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_nanos()),
        );
        hasher.finish() as i64
    })
}

/// Starts the poll task on the background runtime, once.
fn start_polling() {
    static STARTED: AtomicBool = AtomicBool::new(false);
    if STARTED.swap(true, Ordering::SeqCst) {
        return;
    }
    match client::background() {
        Ok(runtime) => {
            runtime.spawn(poll_forever());
        }
        Err(error) => report::error_once(Cause::Backplane, "background", || {
            format!("local tiers cannot hear other processes' changes, and answer nothing: {error}")
        }),
    }
}

/// Where a listener is in its set's notices.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Position {
    /// The last notice applied; `None` before the first poll.
    applied: Option<u64>,
    /// Since when the notice after `applied` has a number but no notice yet.
    unwritten_since: Option<Instant>,
}

/// Polls every listening set, then waits for the shortest interval configured.
async fn poll_forever() {
    // Closes every gate if this task ends (a panic): tiers must not answer unheard.
    struct CloseOnExit;
    impl Drop for CloseOnExit {
        fn drop(&mut self) {
            for listener in snapshot() {
                listener.watch.set_heard(false);
            }
        }
    }
    let _close = CloseOnExit;
    let mut positions: HashMap<SetId, Position> = HashMap::new();
    loop {
        let mut interval: Option<Duration> = None;
        for listener in snapshot() {
            let position = positions.entry(SetId::of(listener.spec)).or_default();
            if let Some(every) = poll(listener, position).await {
                interval = Some(interval.map_or(every, |shortest| shortest.min(every)));
            }
        }
        tokio::select! {
            () = tokio::time::sleep(interval.unwrap_or(IDLE_POLL)) => {}
            () = new_listener().notified() => {}
        }
    }
}

fn snapshot() -> Vec<Listener> {
    listeners()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// One poll of a set: applies what changed and opens or closes its gate. The interval its
/// configuration asks for (`None` when the backplane is off or the cache is not there).
async fn poll(listener: Listener, position: &mut Position) -> Option<Duration> {
    let spec = listener.spec;
    let counters = stats::counters(spec.set);
    let cache = match locate::connect(spec, counters, None).await {
        Ok(cache) => cache,
        Err(Unconnected::Disabled) => {
            // Nothing is kept in a disabled cache's tiers.
            listener.watch.set_heard(true);
            return None;
        }
        Err(Unconnected::Unavailable(_)) => {
            listener.watch.set_heard(false);
            return None;
        }
    };
    let every = cache.config().backplane_interval();
    if every.is_zero() {
        listener.watch.set_heard(true);
        *position = Position::default();
        return None;
    }
    match catch_up(spec, &cache, listener.watch, position).await {
        Ok(()) => {
            listener.watch.set_heard(true);
            report::resumed(Cause::Backplane, spec.set);
        }
        Err(error) => {
            listener.watch.set_heard(false);
            report::warn_once(Cause::Backplane, spec.set, || {
                format!(
                    "set {}: cannot hear other processes' changes ({error}); its local tiers \
                     answer nothing until it can",
                    spec.set
                )
            });
        }
    }
    Some(every)
}

/// Reads the set's new notices and drops what they name.
async fn catch_up(
    spec: &'static CacheSpec,
    cache: &Cache,
    watch: &Watch,
    position: &mut Position,
) -> Result<(), Error> {
    let namespace = locate::namespace_name(spec, cache).to_owned();
    let counter = counter_key(&namespace, spec.set)?;
    let Some(applied) = position.applied else {
        let count = cache.notice_count(counter, true).await?;
        // Reads waited for the first poll; but when it failed, they went ahead, and what the
        // tiers kept since cannot be checked against the notices missed.
        if watch.started() {
            forget_everything();
        }
        *position = Position {
            applied: Some(count),
            unwritten_since: None,
        };
        return Ok(());
    };
    let count = cache.notice_count(counter, false).await?;
    if count == applied {
        return Ok(());
    }
    if count < applied || count - applied > RING {
        forget_everything();
        *position = Position {
            applied: Some(count),
            unwritten_since: None,
        };
        return Ok(());
    }
    let slots = (applied + 1..=count)
        .map(|seq| slot_key(&namespace, spec.set, seq))
        .collect::<Result<Vec<_>, _>>()?;
    let notices = cache.read_notices(slots).await?;
    let plan = plan(
        applied,
        count,
        &notices,
        position.unwritten_since,
        Instant::now(),
        origin(),
    );
    let counters = stats::counters(spec.set);
    for step in plan.steps {
        match step {
            Step::Forget(key) => {
                counters.count(Event::RemoteChange);
                local::forget(&key);
            }
            Step::ForgetAll => {
                counters.count(Event::RemoteChange);
                forget_everything();
            }
        }
    }
    *position = plan.position;
    Ok(())
}

/// Empties every local tier of this process, so that a call that missed before does not keep
/// its value either (as `#[cache_evict(all = true)]` does).
fn forget_everything() {
    local::note_emptied();
    local_registry::forget_all();
}

/// What to drop.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Forget(UserKey),
    ForgetAll,
}

/// What to do with the notices after `applied` up to `count` (`notices[i]` is the slot of
/// `applied + 1 + i`), and where that leaves the listener.
#[derive(Debug, PartialEq)]
struct Plan {
    steps: Vec<Step>,
    position: Position,
}

fn plan(
    mut applied: u64,
    count: u64,
    notices: &[Option<Notice>],
    mut unwritten_since: Option<Instant>,
    now: Instant,
    own: i64,
) -> Plan {
    let mut steps = Vec::new();
    for (seq, notice) in (applied + 1..=count).zip(notices) {
        match notice {
            Some(notice) if notice.seq() == seq => {
                if notice.origin() != own {
                    steps.push(match &notice.what {
                        Changed::Key(key) => user_key(key).map_or(Step::ForgetAll, Step::Forget),
                        Changed::All => Step::ForgetAll,
                    });
                }
                applied = seq;
                unwritten_since = None;
            }
            // Overwritten by a later round of the ring: this one was never read.
            Some(notice) if notice.seq() > seq => {
                steps.push(Step::ForgetAll);
                applied = count;
                unwritten_since = None;
                break;
            }
            // Numbered, not written yet: wait for it, a while.
            _ => {
                let since = *unwritten_since.get_or_insert(now);
                if now.duration_since(since) < UNWRITTEN_GRACE {
                    break;
                }
                steps.push(Step::ForgetAll);
                applied = seq;
                unwritten_since = None;
            }
        }
    }
    Plan {
        steps,
        position: Position {
            applied: Some(applied),
            unwritten_since,
        },
    }
}

/// The user key a notice names, if it names one a key can be.
fn user_key(value: &Value) -> Option<UserKey> {
    match value {
        Value::Int(n) => Some(UserKey::Int(*n)),
        Value::String(text) => Some(UserKey::Str(text.clone())),
        Value::Blob(bytes) => Some(UserKey::Bytes(bytes.clone())),
        _ => None,
    }
}

/// Tells every listening process that the entry of `key` changed, once that change is in
/// Aerospike. Off when this process's backplane is off.
pub(crate) async fn announce(cache: &Cache, key: &Key) -> Result<(), Error> {
    let Some(user_key) = key.user_key() else {
        return Ok(());
    };
    let what = Changed::Key(user_key.clone());
    announce_notice(cache, key.namespace(), key.set_name(), what).await
}

/// Tells every listening process that every entry of `set` changed (a truncate).
pub(crate) async fn announce_all(cache: &Cache, namespace: &str, set: &str) -> Result<(), Error> {
    announce_notice(cache, namespace, set, Changed::All).await
}

/// Fails only when the cluster could not be reached (the change is then retried with its
/// invalidation, see `engine::recover`). A refusal (no permission on set `cacheaside_backplane`,
/// say) is logged once: the listeners cannot poll either, so their local tiers answer nothing.
async fn announce_notice(
    cache: &Cache,
    namespace: &str,
    set: &str,
    what: Changed,
) -> Result<(), Error> {
    if cache.config().backplane_interval().is_zero() {
        return Ok(());
    }
    let announced = async {
        let Some(seq) = cache.next_notice(counter_key(namespace, set)?).await? else {
            return Ok(());
        };
        let notice = Notice {
            seq,
            origin: origin(),
            what,
        };
        cache
            .write_notice(slot_key(namespace, set, seq)?, notice)
            .await
    };
    match announced.await {
        Err(error) if !breaker::is_failure(&error) => {
            report::error_once(Cause::Backplane, set, || {
                format!(
                    "set {set}: changes cannot be announced to other processes ({error}); their \
                     local tiers cannot hear of them either, and answer nothing"
                )
            });
            Ok(())
        }
        announced => announced,
    }
}

fn counter_key(namespace: &str, set: &str) -> Result<Key, Error> {
    backplane_key(namespace, set.to_owned())
}

fn slot_key(namespace: &str, set: &str, seq: u64) -> Result<Key, Error> {
    // `:` cannot be part of a set name: slots never collide with counters.
    backplane_key(namespace, format!("{set}:{}", seq % RING))
}

fn backplane_key(namespace: &str, name: String) -> Result<Key, Error> {
    Key::new(
        namespace.to_owned(),
        BACKPLANE_SET.to_owned(),
        Value::String(name),
    )
    .map_err(|e| Error::new(ErrorKind::Key, format!("invalid backplane key: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OTHER: i64 = 7;
    const OWN: i64 = 8;

    fn key(seq: u64, id: i64) -> Option<Notice> {
        Some(Notice {
            seq,
            origin: OTHER,
            what: Changed::Key(Value::Int(id)),
        })
    }

    fn all(seq: u64) -> Option<Notice> {
        Some(Notice {
            seq,
            origin: OTHER,
            what: Changed::All,
        })
    }

    #[test]
    fn notices_in_order_drop_their_keys() {
        let now = Instant::now();
        let plan = plan(4, 6, &[key(5, 10), all(6)], None, now, OWN);
        assert_eq!(
            plan.steps,
            [Step::Forget(UserKey::Int(10)), Step::ForgetAll]
        );
        assert_eq!(plan.position.applied, Some(6));
    }

    #[test]
    fn an_unwritten_notice_is_waited_for_then_given_up() {
        let start = Instant::now();
        let plan_now = plan(4, 6, &[None, key(6, 11)], None, start, OWN);
        assert!(plan_now.steps.is_empty(), "the later one waits its turn");
        assert_eq!(plan_now.position.applied, Some(4));
        assert_eq!(plan_now.position.unwritten_since, Some(start));

        let written = plan(4, 6, &[key(5, 10), key(6, 11)], Some(start), start, OWN);
        assert_eq!(written.steps.len(), 2);
        assert_eq!(written.position.unwritten_since, None);

        let later = start + UNWRITTEN_GRACE;
        let given_up = plan(4, 6, &[None, key(6, 11)], Some(start), later, OWN);
        assert_eq!(
            given_up.steps,
            [Step::ForgetAll, Step::Forget(UserKey::Int(11))]
        );
        assert_eq!(given_up.position.applied, Some(6));
    }

    #[test]
    fn a_notice_overwritten_by_a_later_round_empties_the_tiers() {
        let plan = plan(
            4,
            6,
            &[key(5 + RING, 1), key(6, 2)],
            None,
            Instant::now(),
            OWN,
        );
        assert_eq!(plan.steps, [Step::ForgetAll]);
        assert_eq!(plan.position.applied, Some(6));
    }

    #[test]
    fn this_process_skips_its_own_notices() {
        let own = Some(Notice {
            seq: 5,
            origin: OWN,
            what: Changed::Key(Value::Int(10)),
        });
        let plan = plan(4, 6, &[own, key(6, 11)], None, Instant::now(), OWN);
        assert_eq!(plan.steps, [Step::Forget(UserKey::Int(11))]);
        assert_eq!(plan.position.applied, Some(6));
    }

    #[test]
    fn slots_and_counters_never_share_a_key() {
        let counter = counter_key("test", "users").unwrap();
        let slot = slot_key("test", "users", 7).unwrap();
        assert_eq!(counter.set_name(), BACKPLANE_SET);
        assert_ne!(counter.digest(), slot.digest());
        assert_eq!(
            slot_key("test", "users", 7 + RING).unwrap().digest(),
            slot.digest()
        );
    }
}
