//! The get-or-load engine: read, on a miss load and write back. It fails open: no cache problem
//! ever reaches the caller of an annotated function, which gets its loader's result instead.

use core::future::Future;
use core::pin::{pin, Pin};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aerospike::{ResultCode, Value};
use tokio::sync::oneshot;
use tracing::Instrument as _;

use crate::backplane;
use crate::bridge;
use crate::client::{self, Expected};
use crate::codec::{self, Undecodable};
use crate::flight::{self, FlightKey, Landed, Landing, Leader, Role};
use crate::key::KeyResult;
use crate::kind::ReturnKind;
use crate::namespace::NamespaceStatus;
use crate::observe::{Call, Outcome};
use crate::pending::{self, Invalidation};
use crate::recycled::RecycledBox;
use crate::refresh_ahead::{self, Claim, Purpose};
use crate::report::{self, Cause};
use crate::spec::{CachePolicy, CacheSpec, Codec};
use crate::stats::{self, Event, SetCounters};
use crate::store::found::{self, Found};
use crate::store::locate::{self, Bypass, Unconnected, Wording};
use crate::store::write::{
    bytes_to_store, mark_invalidated, note_truncate, store_with_ttl, unshare, Target,
};
use crate::{local, Error, Ttl, UserKey};

mod lease;
mod recover;
mod wait;

pub(crate) use recover::keep_failed;

use lease::Leased;
use wait::{Awaited, Blocking, Body};

/// How a get-or-load call ended.
// Lives for one return, on the stack: boxing the large variant would cost an allocation per hit.
#[allow(clippy::large_enum_variant)]
enum Served<R, L> {
    /// The value to return.
    Done(R),
    /// A hit whose remaining TTL is below the refresh-ahead fraction, claimed for a refresh by
    /// this call: the value to return, the unused loader and where its value goes.
    NearExpiry(R, L, Target, Claim),
}

/// `get_or_load`: a hit returns the cached value; anything else runs `load`. Concurrent calls of
/// one key share one read and one load (see [`flight`]).
pub(crate) async fn get_or_load<R, K: ReturnKind<R>, F: Future<Output = R>>(
    spec: &'static CacheSpec,
    key: KeyResult,
    kind: K,
    load: F,
) -> R {
    get_or_load_with(spec, &CachePolicy::DEFAULT, key, kind, load).await
}

/// `get_or_load` with a policy; refresh-ahead and soft timeouts need [`get_or_load_refreshing`].
pub(crate) async fn get_or_load_with<R, K: ReturnKind<R>, F: Future<Output = R>>(
    spec: &'static CacheSpec,
    policy: &'static CachePolicy,
    key: KeyResult,
    kind: K,
    load: F,
) -> R {
    let mut call = Call::start(spec);
    let span = call.span.clone();
    // Boxed (in a recycled block): the future of an annotated function then holds a pointer,
    // where it would otherwise hold the call's whole state, which every layer of futures copies
    // as it is created and moved (about 1.5 KiB, copied seven times per call).
    let served = RecycledBox::new(serve::<R, K, _>(
        spec,
        policy,
        key,
        &kind,
        Awaited(load),
        None,
        &mut call,
    ));
    // Awaited here, and again in `get_or_load_refreshing`, rather than through a helper both
    // share: that one more layer of futures measured about 220 instructions more per hit.
    let served = if span.is_disabled() {
        served.await
    } else {
        served.instrument(span).await
    };
    let returned = match served {
        Served::Done(returned) | Served::NearExpiry(returned, ..) => returned,
    };
    call.finish(spec);
    returned
}

/// `get_or_load` whose body may go to the background runtime: a hit near expiry hands it over
/// (refresh-ahead), and a call in the stale window waits for it there at most its soft timeout.
pub(crate) async fn get_or_load_refreshing<R, K, F>(
    spec: &'static CacheSpec,
    policy: &'static CachePolicy,
    key: KeyResult,
    kind: K,
    load: F,
) -> R
where
    R: Send + 'static,
    K: ReturnKind<R> + Clone + Send + 'static,
    F: Future<Output = R> + Send + 'static,
{
    let mut call = Call::start(spec);
    let span = call.span.clone();
    let start: StartLoad<R, K, Awaited<F>> = start_awaited;
    let served = RecycledBox::new(serve::<R, K, _>(
        spec,
        policy,
        key,
        &kind,
        Awaited(load),
        Some(start),
        &mut call,
    ));
    let served = if span.is_disabled() {
        served.await
    } else {
        served.instrument(span).await
    };
    call.finish(spec);
    returned_refreshing::<R, K, _>(spec, policy, &kind, served, start)
}

/// [`get_or_load_refreshing`] for a sync function: the loader runs on a blocking thread of the
/// background runtime when it goes there.
pub(crate) fn get_or_load_blocking_refreshing<R, K, L>(
    spec: &'static CacheSpec,
    policy: &'static CachePolicy,
    key: KeyResult,
    kind: K,
    load: L,
) -> R
where
    R: Send + 'static,
    K: ReturnKind<R> + Clone + Send + 'static,
    L: FnOnce() -> R + Send + 'static,
{
    let mut call = Call::start(spec);
    let body = Blocking(load);
    let start: StartLoad<R, K, Blocking<L>> = start_blocking;
    let served = call.span.clone().in_scope(|| {
        wait::run_blocking(serve::<R, K, _>(
            spec,
            policy,
            key,
            &kind,
            body,
            Some(start),
            &mut call,
        ))
    });
    call.finish(spec);
    returned_refreshing::<R, K, _>(spec, policy, &kind, served, start)
}

/// The value a call returns; a hit near expiry also starts its refresh-ahead, which runs the
/// body in the background and writes its value over the entry.
fn returned_refreshing<R, K, B>(
    spec: &'static CacheSpec,
    policy: &'static CachePolicy,
    kind: &K,
    served: Served<R, B>,
    start: StartLoad<R, K, B>,
) -> R {
    match served {
        Served::Done(returned) => returned,
        Served::NearExpiry(returned, body, target, claim) => {
            let refresh = InBackground::new(spec, policy, target, claim, None);
            // Without a background runtime there is nothing to run it on: the entry expires.
            // With a lease, it is counted once this process is the one in the fleet that
            // refreshes (see `load_in_background`).
            if start(kind, body, refresh) && lease::length(policy).is_none() {
                stats::counters(spec.set).count(Event::RefreshAhead);
            }
            returned
        }
    }
}

/// What a call's body goes to the background runtime with, where it runs once per entry per
/// process (see [`load_in_background`]).
struct InBackground<R> {
    spec: &'static CacheSpec,
    policy: &'static CachePolicy,
    /// The entry the call read: the loaded value replaces it, unless it changed since.
    target: Target,
    /// The entry's one background load in this process.
    claim: Claim,
    /// The call that waits for the value, if one does (`soft_timeout`).
    waiting: Option<Waiting<R>>,
}

impl<R> InBackground<R> {
    fn new(
        spec: &'static CacheSpec,
        policy: &'static CachePolicy,
        target: Target,
        claim: Claim,
        waiting: Option<Waiting<R>>,
    ) -> Self {
        InBackground {
            spec,
            policy,
            target,
            claim,
            waiting,
        }
    }
}

/// A call in the stale window that waits for a background load at most `soft_timeout`, and how
/// it is answered: the value and the entry to write it to (`Some`, in time) or that the body is
/// late (`None`).
struct Waiting<R> {
    soft_timeout: Duration,
    answer: oneshot::Sender<Option<(R, Target)>>,
}

/// Starts a call's body, of the return kind given, on the background runtime; `false` when there
/// is none (the body is dropped). The entry points whose body is `Send + 'static` give one to
/// [`serve`], which cannot require that of every body: [`start_awaited`] or [`start_blocking`].
type StartLoad<R, K, B> = fn(&K, B, InBackground<R>) -> bool;

/// [`StartLoad`] for an async function: the body's future is polled on the background runtime.
fn start_awaited<R, K, F>(kind: &K, Awaited(body): Awaited<F>, load: InBackground<R>) -> bool
where
    R: Send + 'static,
    K: ReturnKind<R> + Clone + Send + 'static,
    F: Future<Output = R> + Send + 'static,
{
    spawn_load(kind.clone(), async move { Some(body.await) }, load)
}

/// [`StartLoad`] for a sync function: the body is called on a blocking thread of the background
/// runtime.
fn start_blocking<R, K, L>(kind: &K, Blocking(body): Blocking<L>, load: InBackground<R>) -> bool
where
    R: Send + 'static,
    K: ReturnKind<R> + Clone + Send + 'static,
    L: FnOnce() -> R + Send + 'static,
{
    let body = async move { tokio::task::spawn_blocking(body).await.ok() };
    spawn_load(kind.clone(), body, load)
}

/// Spawns [`load_in_background`] for a body made a future (`None`: it panicked).
fn spawn_load<R, K, F>(kind: K, body: F, load: InBackground<R>) -> bool
where
    R: Send + 'static,
    K: ReturnKind<R> + Send + 'static,
    F: Future<Output = Option<R>> + Send + 'static,
{
    let Ok(runtime) = client::background() else {
        return false;
    };
    runtime.spawn(load_in_background::<R, K>(kind, body, load));
    true
}

/// A background load: runs the body (counted as a load) and writes its value, if cacheable, over
/// the entry it read (only if that entry is unchanged since: an invalidation meanwhile wins), then
/// releases the claim. A waiting call gets the value instead if the body answers within its soft
/// timeout (and writes it itself, as after any load); once it is late, or gone, the load finishes
/// here. Late, the call returned the old value, which a local tier (`local(…)`) of this process
/// may keep: the key is dropped from the local tiers once the load is done, so that the next call
/// reads the entry again.
async fn load_in_background<R, K: ReturnKind<R>>(
    kind: K,
    body: impl Future<Output = Option<R>>,
    load: InBackground<R>,
) {
    let InBackground {
        spec,
        policy,
        target,
        claim,
        waiting,
    } = load;
    let counters = stats::counters(spec.set);
    // With a lease, one process in the fleet loads the entry (see `lease`): the first to mark it.
    let target = match lease::length(policy) {
        Some(length) => match lease::claim_refresh(target, length).await {
            Some(target) => {
                if waiting.is_none() {
                    counters.count(Event::RefreshAhead);
                }
                target
            }
            None => {
                // Another process loads it: a waiting call answers with the old value now.
                if let Some(waiting) = waiting {
                    let _ = waiting.answer.send(None);
                }
                drop(claim);
                return;
            }
        },
        None => target,
    };
    counters.count(Event::Load);
    let loading = pin!(async move {
        let loaded = body.await;
        if let Some(loaded) = &loaded {
            count_failed_load::<R, K>(loaded, counters);
        }
        loaded
    });
    let (left, late_key) = match waiting {
        None => (loading.await.map(|loaded| (loaded, target)), None),
        Some(waiting) => answer_in_time(waiting, loading, target).await,
    };
    // `None`: the call took the value, or the body panicked and has nothing to write.
    if let Some((loaded, target)) = left {
        write_refreshed::<R, K>(spec, policy, kind, target, loaded, counters).await;
    }
    if let Some(user_key) = late_key {
        local::forget(&user_key);
    }
    drop(claim);
}

/// Gives a background load's value to the call waiting for it, if the body answers within the
/// call's soft timeout; else tells the call that it is late, and waits for the body. Returns what
/// is left to write here (nothing when the call took the value or the body panicked), and, when
/// the call was late, the entry's user key.
async fn answer_in_time<R>(
    waiting: Waiting<R>,
    mut loading: Pin<&mut impl Future<Output = Option<R>>>,
    target: Target,
) -> (Option<(R, Target)>, Option<UserKey>) {
    match tokio::time::timeout(waiting.soft_timeout, loading.as_mut()).await {
        // The call writes the value; a call that is gone (its future was dropped) leaves it here.
        Ok(loaded) => {
            let left = loaded.and_then(|loaded| {
                let answer = Some((loaded, target));
                waiting.answer.send(answer).err().flatten()
            });
            (left, None)
        }
        Err(_) => {
            // Whether the call still waits or not, the load goes on here.
            let _ = waiting.answer.send(None);
            let user_key = UserKey::of_record(&target.key);
            (loading.await.map(|loaded| (loaded, target)), user_key)
        }
    }
}

/// Writes the value a background load loaded, if cacheable, over the entry it read (only if the
/// entry is unchanged since: an invalidation meanwhile wins).
async fn write_refreshed<R, K: ReturnKind<R>>(
    spec: &'static CacheSpec,
    policy: &'static CachePolicy,
    kind: K,
    target: Target,
    loaded: R,
    counters: &'static SetCounters,
) {
    let ttl = entry_ttl::<R, K>(spec, policy, &kind, &loaded);
    let bytes = bytes_to_store::<R, K>(spec, target.codec, true, &loaded, counters);
    drop(loaded);
    if let Some(bytes) = bytes {
        store_with_ttl(spec, target, bytes, ttl, counters).await;
    }
}

/// The TTL of a returned value's entry: `none_ttl` for a cached `None`, else the function's;
/// plus the stale window of `stale_if_error`, during which the entry is kept but not fresh.
fn entry_ttl<R, K: ReturnKind<R>>(
    spec: &'static CacheSpec,
    policy: &'static CachePolicy,
    kind: &K,
    returned: &R,
) -> Ttl {
    let ttl = match (K::cacheable(returned), policy.none_ttl) {
        (Some(value), Some(none_ttl)) if K::is_negative(value) => none_ttl,
        (Some(value), _) => kind.ttl_of(value).map_or(spec.ttl, ttl_from_duration),
        (None, _) => spec.ttl,
    };
    with_stale_window(ttl, policy)
}

/// The record TTL for a duration from `ttl_from`: whole seconds, at least one (a record TTL of 0
/// would mean the namespace default), at most Aerospike's ten years.
fn ttl_from_duration(duration: Duration) -> Ttl {
    const MAX_SECONDS: u64 = 10 * 365 * 24 * 60 * 60;
    let seconds = duration.as_secs().clamp(1, MAX_SECONDS);
    Ttl::Seconds(u32::try_from(seconds).unwrap_or(u32::MAX))
}

/// A TTL in seconds lengthened by the stale window of `stale_if_error`.
fn with_stale_window(ttl: Ttl, policy: &CachePolicy) -> Ttl {
    match ttl {
        Ttl::Seconds(seconds) if seconds > 0 => {
            Ttl::Seconds(seconds.saturating_add(policy.stale_if_error_secs))
        }
        other => other,
    }
}

/// Whether an entry with `remaining` TTL is past its own TTL, in the stale window of
/// `stale_if_error` (the record lives `ttl + window`, so the void-time tells).
fn is_stale(policy: &CachePolicy, remaining: Option<Duration>) -> bool {
    let window = policy.stale_if_error_secs;
    window > 0 && remaining.is_some_and(|left| left <= Duration::from_secs(u64::from(window)))
}

/// Whether a hit with `remaining` TTL is due for a refresh-ahead under `policy`.
fn near_expiry(spec: &CacheSpec, policy: &CachePolicy, remaining: Option<Duration>) -> bool {
    let (Ttl::Seconds(ttl), Some(remaining)) = (spec.ttl, remaining) else {
        return false;
    };
    // What is left of the fresh part; the stale window comes after it.
    let window = Duration::from_secs(u64::from(policy.stale_if_error_secs));
    let remaining = remaining.saturating_sub(window);
    if policy.refresh_ahead_permille == 0 || ttl == 0 {
        return false;
    }
    let threshold_millis = u64::from(ttl) * u64::from(policy.refresh_ahead_permille);
    remaining.as_millis() < u128::from(threshold_millis)
}

/// A claim to refresh a hit ahead of its expiry, when the policy asks for it, the entry is near
/// expiry and no other call of this process refreshes this version of it.
fn claim_refresh(
    spec: &'static CacheSpec,
    policy: &CachePolicy,
    entry: &Target,
    remaining: Option<Duration>,
) -> Option<Claim> {
    if !near_expiry(spec, policy, remaining) {
        return None;
    }
    let Expected::Generation(generation) = entry.expected else {
        return None;
    };
    refresh_ahead::claim(
        Purpose::Refresh,
        FlightKey::of(spec, &entry.key),
        generation,
    )
}

/// What a hit does besides returning its value: claims a refresh-ahead (returned, for the
/// caller to hand its loader to the background), or else starts a touch in the background when
/// `touch_on_read` asks for one.
fn after_hit(
    spec: &'static CacheSpec,
    policy: &'static CachePolicy,
    (target, remaining): (Target, Option<Duration>),
    refreshing: bool,
    negative: bool,
) -> Option<(Target, Claim)> {
    if refreshing {
        if let Some(claim) = claim_refresh(spec, policy, &target, remaining) {
            return Some((target.loading(spec), claim));
        }
    }
    // A cached `None` keeps its own short life: reading it does not extend it.
    if !negative && due_for_touch(spec, policy, remaining) {
        touch_in_background(spec, policy, target);
    }
    None
}

/// Whether a hit with `remaining` TTL resets it under `touch_on_read`: when less than the
/// policy's part of the fresh TTL is left, as Aerospike's read-touch-TTL percent does on the
/// server (done here, so it works with every server version and costs a touch only now and then).
fn due_for_touch(spec: &CacheSpec, policy: &CachePolicy, remaining: Option<Duration>) -> bool {
    let (Ttl::Seconds(ttl), Some(remaining)) = (spec.ttl, remaining) else {
        return false;
    };
    if policy.touch_permille == 0 || ttl == 0 {
        return false;
    }
    let window = Duration::from_secs(u64::from(policy.stale_if_error_secs));
    let fresh_left = remaining.saturating_sub(window);
    let threshold_millis = u64::from(ttl) * u64::from(policy.touch_permille);
    fresh_left.as_millis() < u128::from(threshold_millis)
}

/// Resets the entry's TTL in the background, once per entry version per process, only if the
/// entry is unchanged since the read. Never blocks the caller; failures are counted.
fn touch_in_background(spec: &'static CacheSpec, policy: &'static CachePolicy, target: Target) {
    let Expected::Generation(generation) = target.expected else {
        return;
    };
    if matches!(target.namespace, NamespaceStatus::Present(info) if info.ttl_forbidden) {
        // Entries there never expire, or are not written at all: nothing to extend.
        return;
    }
    let flight_key = FlightKey::of(spec, &target.key);
    let Some(claim) = refresh_ahead::claim(Purpose::Touch, flight_key, generation) else {
        return;
    };
    let Ok(runtime) = client::background() else {
        return;
    };
    let counters = stats::counters(spec.set);
    let ttl = with_stale_window(spec.ttl, policy);
    let expiration = target.cache.config().cap_ttl(spec.set, ttl).expiration();
    runtime.spawn(async move {
        match target.cache.touch(target.key, expiration, generation).await {
            Ok(()) => counters.count(Event::Touch),
            // Changed since the read (a write, an invalidation, another touch) or gone.
            Err(error)
                if matches!(
                    error.server_code(),
                    Some(ResultCode::GenerationError | ResultCode::KeyNotFoundError)
                ) => {}
            Err(error) => counters.count_failed(&error),
        }
        drop(claim);
    });
}

/// One `get_or_load` call, async or sync alike (see [`wait`]): join the key's flight, read
/// the entry, and on anything but a hit run the body and write its value back.
async fn serve<R, K: ReturnKind<R>, B: Body<R>>(
    spec: &'static CacheSpec,
    policy: &'static CachePolicy,
    key: KeyResult,
    kind: &K,
    body: B,
    background: Option<StartLoad<R, K, B>>,
    call: &mut Call,
) -> Served<R, B> {
    let counters = stats::counters(spec.set);
    let usable = B::cache(prepare(spec, key, counters)).await;
    let mut leader = None;
    let flight = flight_of(spec, &usable);
    // The codec of the call's value, shared and written: its flight's, its target's if it has one.
    let codec = flight.as_ref().map_or(spec.codec, |flight| flight.codec);
    if let Some(Flight {
        key: flight_key,
        bound,
        ..
    }) = flight
    {
        loop {
            match flight::join(&flight_key, B::caller()) {
                Role::Leader(lead) => {
                    leader = Some(lead);
                    break;
                }
                Role::Follower(follower) => match B::follow(follower, bound).await {
                    Landing::Abandoned => continue,
                    landing => {
                        if let Some(value) = follow::<K::Value>(spec, codec, landing, counters) {
                            call.outcome = Outcome::Hit;
                            return Served::Done(K::from_cached(value));
                        }
                        break;
                    }
                },
            }
        }
    }
    let found = B::cache(lookup(spec, usable, counters)).await;
    let (mut write_target, stale) = match resolve::<K::Value>(spec, policy, found, counters, call) {
        Resolved::Hit(value, bytes, entry) => {
            let refreshing = background.is_some();
            return hit::<R, K, B>(spec, policy, leader, value, bytes, entry, body, refreshing);
        }
        Resolved::Load(write_target) => (write_target, None),
        Resolved::Stale(value, bytes, target) => (Some(target), Some((value, bytes))),
    };
    // `lease`: one load in the fleet (see `lease`); a stale entry at hand is served instead.
    let mut holding = None;
    let leasing = match (lease::length(policy), &stale) {
        (Some(length), None) => write_target.take().map(|target| (length, target)),
        _ => None,
    };
    if let Some((length, target)) = leasing {
        write_target = match B::cache(lease::take_or_wait(target, length, counters)).await {
            Leased::Held(target) => {
                holding = lease::Holding::of(&target);
                Some(target)
            }
            Leased::Found(target, stored, remaining) => {
                match decode::<K::Value>(target.codec, stored) {
                    Ok((value, bytes)) => {
                        call.outcome = Outcome::Hit;
                        let entry = (target, remaining);
                        let refreshing = background.is_some();
                        return hit::<R, K, B>(
                            spec, policy, leader, value, bytes, entry, body, refreshing,
                        );
                    }
                    Err(why) => {
                        found::undecodable(spec, counters, &why);
                        Some(target)
                    }
                }
            }
            Leased::Load(target) => target,
        };
    }
    let started = Instant::now();
    // In a block of its own: what is moved out of here takes no room in the call's future
    // during the write below.
    let (returned, write_target, stale) = {
        let ran = match stale {
            // Boxed, as the write below: a hit's future stays as small as without it.
            Some(stale) => {
                RecycledBox::new(load_stale::<R, K, B>(
                    spec,
                    policy,
                    kind,
                    body,
                    (write_target, stale),
                    background,
                    &mut leader,
                    call,
                ))
                .await
            }
            None => {
                let returned = run_loader::<R, K, B>(body, counters).await;
                Ran::Loaded(returned, write_target, None)
            }
        };
        match ran {
            Ran::Loaded(returned, write_target, stale) => (returned, write_target, stale),
            Ran::Answered(returned) => return Served::Done(returned),
        }
    };
    call.load = Some(started.elapsed());
    let loaded = after_load::<R, K>(
        spec,
        policy,
        kind,
        returned,
        write_target,
        codec,
        stale,
        leader,
        call,
    );
    if let Some((target, bytes, ttl)) = loaded.write {
        // Boxed: the write's future is larger than all a hit needs, and every call's future
        // would be as large (and copied as often) if it were held in place.
        B::cache(RecycledBox::new(store_with_ttl(
            spec, target, bytes, ttl, counters,
        )))
        .await;
    } else if let Some(holding) = holding {
        B::cache(holding.release()).await;
    }
    drop(loaded.landed);
    Served::Done(loaded.returned)
}

/// How the body of a call ended, for what follows the load.
// Lives for one step of a call that loads: boxing the large variant would cost an allocation.
#[allow(clippy::large_enum_variant)]
enum Ran<R, V> {
    /// It returned this value: [`after_load`] decides with the entry to write it to and the old
    /// value of an entry in the stale window.
    Loaded(R, Option<Target>, Option<(V, Vec<u8>)>),
    /// The call answers with this value (the old one) without waiting for the body.
    Answered(R),
}

/// What a call in the stale window of `stale_if_error` does with its body.
enum StaleLoad<R, K, B> {
    /// Runs it itself and waits for it, as any load (no `soft_timeout`, or a body that cannot go
    /// to the background).
    Here,
    /// Starts the entry's one background load of this process (claimed) and waits for it at most
    /// the soft timeout.
    Background(SoftLoad<R, K, B>),
    /// Another call's background load of the entry is running: answers with the old value now.
    Running,
}

/// A claimed background load, the soft timeout to wait for it, and how to start it.
type SoftLoad<R, K, B> = (Claim, Duration, StartLoad<R, K, B>);

/// Where the body of a call in the stale window runs: in the background under `soft_timeout`,
/// when it can go there, once per entry per process (a refresh-ahead of the entry counts).
fn stale_load<R, K, B>(
    spec: &'static CacheSpec,
    policy: &CachePolicy,
    background: Option<StartLoad<R, K, B>>,
    target: Option<&Target>,
) -> StaleLoad<R, K, B> {
    let (Some(start), Some(target)) = (background, target) else {
        return StaleLoad::Here;
    };
    let Expected::Generation(generation) = target.expected else {
        return StaleLoad::Here;
    };
    if policy.soft_timeout_ms == 0 {
        return StaleLoad::Here;
    }
    let soft_timeout = Duration::from_millis(u64::from(policy.soft_timeout_ms));
    match refresh_ahead::claim_stale(FlightKey::of(spec, &target.key), generation) {
        Some(claim) => StaleLoad::Background((claim, soft_timeout, start)),
        None => StaleLoad::Running,
    }
}

/// The body of a call that found its entry in the stale window. Without `soft_timeout` it runs
/// here. With it, it runs in the background and the call waits for it at most the soft timeout:
/// an answer in time is taken as any load's (an `Ok` replaces the entry and is returned, an `Err`
/// is answered with the old value); after that, the call answers with the old value, shared with
/// its followers, while the body finishes and writes its value itself.
#[allow(clippy::too_many_arguments)]
async fn load_stale<R, K: ReturnKind<R>, B: Body<R>>(
    spec: &'static CacheSpec,
    policy: &'static CachePolicy,
    kind: &K,
    body: B,
    (target, stale): (Option<Target>, (K::Value, Vec<u8>)),
    background: Option<StartLoad<R, K, B>>,
    leader: &mut Option<Leader>,
    call: &mut Call,
) -> Ran<R, K::Value> {
    let counters = stats::counters(spec.set);
    let soft_load = stale_load(spec, policy, background, target.as_ref());
    let ((claim, soft_timeout, start), target) = match (soft_load, target) {
        (StaleLoad::Background(soft_load), Some(target)) => (soft_load, target),
        (StaleLoad::Running, _) => {
            let answer = answer_stale::<R, K>(stale, leader.take(), counters, call, true);
            return Ran::Answered(answer);
        }
        (_, target) => {
            let returned = run_loader::<R, K, B>(body, counters).await;
            return Ran::Loaded(returned, target, Some(stale));
        }
    };
    let (answer, answered) = oneshot::channel();
    let waiting = Waiting {
        soft_timeout,
        answer,
    };
    // Without a background runtime the load is dropped with its `answer`: the wait ends at once.
    start(
        kind,
        body,
        InBackground::new(spec, policy, target, claim, Some(waiting)),
    );
    let late = match B::cache(answered).await {
        Ok(Some((returned, target))) => return Ran::Loaded(returned, Some(target), Some(stale)),
        Ok(None) => true,
        // The body panicked in the background, or could not start: a failed load.
        Err(_) => false,
    };
    Ran::Answered(answer_stale::<R, K>(
        stale,
        leader.take(),
        counters,
        call,
        late,
    ))
}

/// A hit: the value to return, shared with the call's followers if it has any; and what else
/// the hit starts (see [`after_hit`]).
#[allow(clippy::too_many_arguments)]
fn hit<R, K: ReturnKind<R>, L>(
    spec: &'static CacheSpec,
    policy: &'static CachePolicy,
    leader: Option<Leader>,
    value: K::Value,
    bytes: Vec<u8>,
    entry: (Target, Option<Duration>),
    load: L,
    refreshing: bool,
) -> Served<R, L> {
    if let Some(leader) = leader {
        leader.hit(|| Arc::new(bytes));
    }
    let negative = K::is_negative(&value);
    let returned = K::from_cached(value);
    match after_hit(spec, policy, entry, refreshing, negative) {
        Some((target, claim)) => Served::NearExpiry(returned, load, target, claim),
        None => Served::Done(returned),
    }
}

/// What a call does after its loader ran: what it returns, the write-back to make, and the
/// landed flight to hold until the write is done.
struct Loaded<R> {
    returned: R,
    write: Option<(Target, Vec<u8>, Ttl)>,
    landed: Option<Landed>,
}

/// Decides what follows a load: the stale value when the load failed in the stale window,
/// otherwise the loaded value, shared with the call's followers and written back if cacheable,
/// encoded in the call's codec.
#[allow(clippy::too_many_arguments)]
fn after_load<R, K: ReturnKind<R>>(
    spec: &'static CacheSpec,
    policy: &'static CachePolicy,
    kind: &K,
    returned: R,
    write_target: Option<Target>,
    codec: Codec,
    stale: Option<(K::Value, Vec<u8>)>,
    mut leader: Option<Leader>,
    call: &mut Call,
) -> Loaded<R> {
    let counters = stats::counters(spec.set);
    if let Some(stale) = serve_stale::<R, K>(&returned, stale, &mut leader, counters, call) {
        return Loaded {
            returned: stale,
            write: None,
            landed: None,
        };
    }
    let wanted = write_target.is_some() || leader.is_some();
    let shared = bytes_to_store::<R, K>(spec, codec, wanted, &returned, counters).map(Arc::new);
    let landed = land(leader, shared.clone());
    let write = match (write_target, shared) {
        (Some(target), Some(shared)) => {
            let ttl = entry_ttl::<R, K>(spec, policy, kind, &returned);
            Some((target, unshare(shared), ttl))
        }
        _ => None,
    };
    Loaded {
        returned,
        write,
        landed,
    }
}

/// `get_or_load` for a sync function: the cache operations run on the background runtime, the
/// loader on the caller's thread.
pub(crate) fn get_or_load_blocking<R, K: ReturnKind<R>, L: FnOnce() -> R>(
    spec: &'static CacheSpec,
    key: KeyResult,
    kind: K,
    load: L,
) -> R {
    get_or_load_with_blocking(spec, &CachePolicy::DEFAULT, key, kind, load)
}

/// `get_or_load_blocking` with a policy; refresh-ahead needs
/// [`get_or_load_blocking_refreshing`].
pub(crate) fn get_or_load_with_blocking<R, K: ReturnKind<R>, L: FnOnce() -> R>(
    spec: &'static CacheSpec,
    policy: &'static CachePolicy,
    key: KeyResult,
    kind: K,
    load: L,
) -> R {
    let mut call = Call::start(spec);
    let body = Blocking(load);
    let served = call.span.clone().in_scope(|| {
        wait::run_blocking(serve::<R, K, _>(
            spec, policy, key, &kind, body, None, &mut call,
        ))
    });
    call.finish(spec);
    match served {
        Served::Done(returned) | Served::NearExpiry(returned, ..) => returned,
    }
}

/// After a load in the stale window: when the body failed (nothing cacheable), the stale value to
/// return instead, shared with the call's followers. `None` when the load is to be returned.
fn serve_stale<R, K: ReturnKind<R>>(
    returned: &R,
    stale: Option<(K::Value, Vec<u8>)>,
    leader: &mut Option<Leader>,
    counters: &SetCounters,
    call: &mut Call,
) -> Option<R> {
    let stale = stale?;
    if K::cacheable(returned).is_some() {
        return None;
    }
    Some(answer_stale::<R, K>(
        stale,
        leader.take(),
        counters,
        call,
        false,
    ))
}

/// Answers a call in the stale window with the old value, shared with the call's followers:
/// counted as stale served, and as a soft timeout when it is because the body was `late`.
fn answer_stale<R, K: ReturnKind<R>>(
    (value, bytes): (K::Value, Vec<u8>),
    leader: Option<Leader>,
    counters: &SetCounters,
    call: &mut Call,
    late: bool,
) -> R {
    if late {
        counters.count(Event::SoftTimeout);
    }
    counters.count(Event::StaleServed);
    call.outcome = Outcome::Stale;
    drop(land(leader, Some(Arc::new(bytes))));
    K::from_cached(value)
}

/// `<fn>_peek`: the decoded entry, if any. Never loads or writes; counts no hit or miss.
pub(crate) async fn peek<R, K: ReturnKind<R>>(
    spec: &'static CacheSpec,
    key: KeyResult,
    _kind: K,
) -> Option<K::Value> {
    peeked::<K::Value>(find(spec, key).await)
}

/// [`peek`] for a sync function.
pub(crate) fn peek_blocking<R, K: ReturnKind<R>>(
    spec: &'static CacheSpec,
    key: KeyResult,
    _kind: K,
) -> Option<K::Value> {
    peeked::<K::Value>(bridge::block_on(find(spec, key)))
}

/// Reads the entry of a key, if the cache is usable.
async fn find(spec: &'static CacheSpec, key: KeyResult) -> Lookup {
    let counters = stats::counters(spec.set);
    let usable = prepare(spec, key, counters).await;
    lookup(spec, usable, counters).await
}

/// The value of a found entry, decoded in its target's codec.
fn peeked<T: serde::de::DeserializeOwned>(found: Lookup) -> Option<T> {
    match found {
        Lookup::Found(target, stored, _) => decode::<T>(target.codec, stored)
            .ok()
            .map(|(value, _)| value),
        Lookup::Bypass | Lookup::Missing(_) | Lookup::Failed(_) => None,
    }
}

/// How the calls of one key share one load.
struct Flight {
    key: FlightKey,
    /// How long followers wait for the leader.
    bound: Duration,
    /// What the leader's value is encoded in, for its followers and its write-back.
    codec: Codec,
}

/// The flight of a call, or `None` when the call does not coalesce (no key, or the cache is
/// disabled).
fn flight_of(spec: &'static CacheSpec, usable: &Result<Target, Bypass>) -> Option<Flight> {
    match usable {
        Ok(target) => Some(Flight {
            key: FlightKey::of(spec, &target.key),
            bound: target.cache.config().single_flight_wait(),
            codec: target.codec,
        }),
        // The cache is out of reach, but calls of one key still share one load, in the codec
        // of the configuration (as their followers with a target decode it).
        Err(Bypass::Unusable(user_key)) => {
            let key = FlightKey::new(spec, user_key)?;
            let (bound, codec) = client::flight_settings(spec)?;
            Some(Flight { key, bound, codec })
        }
        Err(Bypass::Alone) => None,
    }
}

/// Calls arriving from now on start a new flight: a refresh or an invalidation means the source
/// changed, so a load in flight may be stale.
pub(crate) fn detach_flight(spec: &'static CacheSpec, key: &KeyResult) {
    if let Some(flight_key) = key.as_ref().ok().and_then(|key| FlightKey::new(spec, key)) {
        flight::detach(&flight_key);
    }
}

/// A follower's value from its leader's landing, encoded in `codec`; `None` sends it to load for
/// itself.
fn follow<T: serde::de::DeserializeOwned>(
    spec: &'static CacheSpec,
    codec: Codec,
    landing: Landing,
    counters: &SetCounters,
) -> Option<T> {
    let Landing::Value(bytes) = landing else {
        return None;
    };
    match codec::decode_as(codec, &bytes) {
        Ok(value) => {
            counters.count(Event::Hit);
            counters.count(Event::Coalesced);
            Some(value)
        }
        Err(why) => {
            // Another function sharing this key and set, with another type.
            counters.count(Event::Undecodable);
            report::warn_once(Cause::Undecodable, spec.set, || {
                format!(
                    "set {}: a concurrent call's value does not decode as a value of {} ({why}); \
                     it loads for itself",
                    spec.set, spec.function,
                )
            });
            None
        }
    }
}

/// Lands a leader's flight with its encoded value, or with nothing to share. Keep the returned
/// guard until the value is written.
fn land(leader: Option<Leader>, shared: Option<Arc<Vec<u8>>>) -> Option<Landed> {
    leader.map(|leader| leader.land(shared.map_or(Landing::Nothing, Landing::Value)))
}

/// `refresh`: always runs `load`, writes its cacheable part, returns it. The entry is invalidated
/// before the load, so that readers meanwhile load for themselves instead of reading the old
/// value, and so that of two concurrent refreshes the later one's value stays.
pub(crate) async fn refresh<R, K: ReturnKind<R>, F: Future<Output = R>>(
    spec: &'static CacheSpec,
    key: KeyResult,
    kind: K,
    load: F,
) -> R {
    refresh_with(spec, &CachePolicy::DEFAULT, key, kind, load).await
}

/// `refresh` with a policy (a cached `None` gets `none_ttl`).
pub(crate) async fn refresh_with<R, K: ReturnKind<R>, F: Future<Output = R>>(
    spec: &'static CacheSpec,
    policy: &'static CachePolicy,
    key: KeyResult,
    kind: K,
    load: F,
) -> R {
    refresh_body(spec, policy, key, kind, Awaited(load)).await
}

/// `refresh` for a sync function.
pub(crate) fn refresh_blocking<R, K: ReturnKind<R>, L: FnOnce() -> R>(
    spec: &'static CacheSpec,
    key: KeyResult,
    kind: K,
    load: L,
) -> R {
    refresh_with_blocking(spec, &CachePolicy::DEFAULT, key, kind, load)
}

/// `refresh_blocking` with a policy.
pub(crate) fn refresh_with_blocking<R, K: ReturnKind<R>, L: FnOnce() -> R>(
    spec: &'static CacheSpec,
    policy: &'static CachePolicy,
    key: KeyResult,
    kind: K,
    load: L,
) -> R {
    wait::run_blocking(refresh_body(spec, policy, key, kind, Blocking(load)))
}

/// One `refresh` call, async or sync alike.
async fn refresh_body<R, K: ReturnKind<R>, B: Body<R>>(
    spec: &'static CacheSpec,
    policy: &'static CachePolicy,
    key: KeyResult,
    kind: K,
    body: B,
) -> R {
    let counters = stats::counters(spec.set);
    detach_flight(spec, &key);
    let target = B::cache(replacing_target(spec, key, counters, |spec, error| {
        format!(
            "set {}: cache refresh failed, the loaded value is returned uncached: {error}",
            spec.set
        )
    }))
    .await;
    let returned = run_loader::<R, K, B>(body, counters).await;
    let codec = target.as_ref().map_or(spec.codec, |target| target.codec);
    let wanted = target.is_some();
    if let Some(bytes) = bytes_to_store::<R, K>(spec, codec, wanted, &returned, counters) {
        if let Some(target) = target {
            let ttl = entry_ttl::<R, K>(spec, policy, &kind, &returned);
            B::cache(store_with_ttl(spec, target, bytes, ttl, counters)).await;
        }
    }
    returned
}

/// What the read of a call's entry found. Not generic, so that it can run on the background
/// runtime for sync callers; decoding happens on the caller's side.
enum Lookup {
    /// The cache cannot be used for this call (already counted and reported).
    Bypass,
    /// Bin `data` of the entry, still to decode, and what is left of its TTL.
    Found(Target, Value, Option<Duration>),
    /// No entry: load, and write back to the target.
    Missing(Option<Target>),
    /// The read failed: load, and write back if the failure allows it (`Some`), not after a
    /// timeout.
    Failed(Option<Target>),
}

/// What a call does after its lookup.
enum Resolved<T> {
    /// A decoded cached value, its bytes, and the entry with its remaining TTL (for a
    /// refresh-ahead): the body does not run.
    Hit(T, Vec<u8>, (Target, Option<Duration>)),
    /// Run the body; write back to the target, if any.
    Load(Option<Target>),
    /// An entry in the stale window of `stale_if_error`, decoded: run the body; if it fails,
    /// return this value; if it succeeds, replace the entry.
    Stale(T, Vec<u8>, Target),
}

/// Reads the entry of a usable cache.
async fn lookup(
    spec: &'static CacheSpec,
    usable: Result<Target, Bypass>,
    counters: &'static SetCounters,
) -> Lookup {
    let Ok(target) = usable else {
        return Lookup::Bypass;
    };
    match target.cache.read(&target.key).await {
        Ok(stored) => match found::found(target, stored) {
            Found::Entry(target, value, remaining) => Lookup::Found(target, value, remaining),
            Found::Missing(target) => Lookup::Missing(Some(target)),
        },
        Err(error) => {
            counters.count_failed(&error);
            report::warn_once(Cause::Read, spec.set, || {
                format!(
                    "set {}: cache read failed, loading instead: {error}",
                    spec.set
                )
            });
            Lookup::Failed(found::after_failed_read(&error, target))
        }
    }
}

/// Decodes a found entry; counts the hit or the miss and tells the call its outcome. A load's
/// target notes when the load starts (see `Target::loading`); a hit's does not.
fn resolve<T: serde::de::DeserializeOwned>(
    spec: &'static CacheSpec,
    policy: &CachePolicy,
    lookup: Lookup,
    counters: &SetCounters,
    call: &mut Call,
) -> Resolved<T> {
    call.outcome = Outcome::Miss;
    let write_target = match lookup {
        Lookup::Bypass => {
            call.outcome = Outcome::Bypass;
            None
        }
        Lookup::Missing(target) => target,
        Lookup::Failed(target) => {
            call.outcome = Outcome::Error;
            target
        }
        Lookup::Found(target, stored, remaining) => match decode::<T>(target.codec, stored) {
            Ok((value, bytes)) if is_stale(policy, remaining) => {
                // The body runs: a miss, whatever it returns.
                counters.count(Event::Miss);
                return Resolved::Stale(value, bytes, target.loading(spec));
            }
            Ok((value, bytes)) => {
                counters.count(Event::Hit);
                call.outcome = Outcome::Hit;
                return Resolved::Hit(value, bytes, (target, remaining));
            }
            Err(why) => {
                found::undecodable(spec, counters, &why);
                Some(target)
            }
        },
    };
    counters.count(Event::Miss);
    Resolved::Load(write_target.map(|target| target.loading(spec)))
}

/// `invalidate`: replaces the entry with an invalidation marker (see [`mark_invalidated`]). Absent
/// is fine; an unreachable cache is an error, because the caller needs to know the entry may
/// still be served. Such an invalidation is also kept and retried until it lands (see
/// [`recover`]).
pub(crate) async fn invalidate(spec: &'static CacheSpec, key: KeyResult) -> Result<(), Error> {
    let counters = stats::counters(spec.set);
    detach_flight(spec, &key);
    let user_key = key.inspect_err(|_| counters.count(Event::CacheError))?;
    let started = pending::now();
    match invalidate_record(spec, user_key.clone()).await {
        Ok(()) => {
            pending::landed(spec, &Invalidation::Key(user_key), started);
            Ok(())
        }
        Err(error) => {
            if !recover::keep_failed(spec, Invalidation::Key(user_key), &error) {
                report::warn_once(Cause::Delete, spec.set, || {
                    format!("set {}: cache invalidation failed: {error}", spec.set)
                });
            }
            Err(error)
        }
    }
}

/// Writes the invalidation marker of one record (counting a failure): what [`invalidate`] sends,
/// and each of its retries.
async fn invalidate_record(spec: &'static CacheSpec, user_key: UserKey) -> Result<(), Error> {
    let counters = stats::counters(spec.set);
    let cache = match locate::connect(spec, counters, None).await {
        Ok(cache) => cache,
        Err(Unconnected::Disabled) => return Ok(()),
        Err(Unconnected::Unavailable(error)) => return Err(error),
    };
    let key = locate::record_key(spec, &cache, user_key)
        .inspect_err(|_| counters.count(Event::CacheError))?;
    let namespace = match cache.namespace_status(key.namespace()) {
        // Nothing can be cached there, so nothing can be served.
        NamespaceStatus::Missing => return Ok(()),
        namespace => namespace,
    };
    mark_invalidated(spec, &cache, key.clone(), namespace)
        .await
        .inspect_err(|error| counters.count_failed(error))?;
    // Other processes' local tiers drop their copy; if they cannot be told, the retry tells them.
    backplane::announce(&cache, &key)
        .await
        .inspect_err(|error| counters.count_failed(error))
}

/// Truncates `spec`'s set in its namespace (counting a failure): `#[cache_evict(all = true)]`'s
/// request, and each of its retries. Loads of this process that started before it do not write
/// back (see `store::write::LoadStart`).
pub(crate) async fn truncate_set(spec: &'static CacheSpec) -> Result<(), Error> {
    let counters = stats::counters(spec.set);
    let cache = match locate::connect(spec, counters, None).await {
        Ok(cache) => cache,
        Err(Unconnected::Disabled) => return Ok(()),
        Err(Unconnected::Unavailable(error)) => return Err(error),
    };
    let namespace = locate::namespace_name(spec, &cache);
    // Before the request: a load of this process that started earlier must not write after it.
    note_truncate(spec, namespace);
    let started = pending::now();
    cache
        .truncate(namespace, spec.set)
        .await
        .inspect_err(|error| counters.count_failed(error))?;
    backplane::announce_all(&cache, namespace, spec.set)
        .await
        .inspect_err(|error| counters.count_failed(error))?;
    pending::landed(spec, &Invalidation::Set, started);
    Ok(())
}

/// The target of a write that replaces whatever the entry holds (`<fn>_refresh`, `#[cache_put]`):
/// the entry is invalidated first, so that the write lands only if nothing newer (another
/// invalidation, refresh or put) came after it. `None` when nothing is to be written: the cache
/// is bypassed, or the invalidation failed (counted, logged in the words of `failed`). The old
/// entry is then still there: when the cluster could not be reached, its invalidation is kept
/// and retried (see [`recover`]).
pub(crate) async fn replacing_target(
    spec: &'static CacheSpec,
    key: KeyResult,
    counters: &'static SetCounters,
    failed: fn(&'static CacheSpec, &Error) -> String,
) -> Option<Target> {
    let user_key = key.as_ref().ok().cloned().map(Invalidation::Key);
    let started = pending::now();
    let mut target = match prepare(spec, key, counters).await {
        Ok(target) => target.loading(spec),
        Err(Bypass::Unusable(user_key)) => {
            recover::keep(spec, Invalidation::Key(user_key));
            return None;
        }
        Err(Bypass::Alone) => return None,
    };
    let marked =
        match mark_invalidated(spec, &target.cache, target.key.clone(), target.namespace).await {
            // Other processes' local tiers drop their copy before the new value is written.
            Ok(expected) => backplane::announce(&target.cache, &target.key)
                .await
                .map(|()| expected),
            Err(error) => Err(error),
        };
    match marked {
        Ok(expected) => {
            if let Some(user_key) = &user_key {
                pending::landed(spec, user_key, started);
            }
            target.expected = expected;
            Some(target)
        }
        Err(error) => {
            counters.count_failed(&error);
            if let Some(user_key) = user_key {
                recover::keep_failed(spec, user_key, &error);
            }
            report::warn_once(Cause::Write, spec.set, || failed(spec, &error));
            None
        }
    }
}

/// What a cached call logs when it bypasses the cache.
const CALL_WORDING: Wording = Wording {
    bad_key: |spec, error| {
        format!(
            "set {}: the key of {} cannot be built, calls bypass the cache: {error}",
            spec.set, spec.function
        )
    },
    disconnected: Some(|spec, error| {
        format!("set {}: calls run without the cache: {error}", spec.set)
    }),
    invalid_key: |spec, error| {
        format!(
            "set {}: the key of {} is not a valid Aerospike key: {error}",
            spec.set, spec.function
        )
    },
};

/// The connected cache and the record's key, or why this call must bypass the cache.
async fn prepare(
    spec: &'static CacheSpec,
    key: KeyResult,
    counters: &'static SetCounters,
) -> Result<Target, Bypass> {
    locate::locate(spec, key, counters, &CALL_WORDING).await
}

/// Runs the body of a call, counting the load and whether it failed.
async fn run_loader<R, K: ReturnKind<R>, B: Body<R>>(body: B, counters: &SetCounters) -> R {
    counters.count(Event::Load);
    let returned = body.run().await;
    count_failed_load::<R, K>(&returned, counters);
    returned
}

/// Counts a load that returned nothing cacheable (an error, or `None` without `none_ttl`).
fn count_failed_load<R, K: ReturnKind<R>>(returned: &R, counters: &SetCounters) {
    if K::cacheable(returned).is_none() {
        counters.count(Event::LoadError);
    }
}

/// Decodes bin `data` written with `codec`; returns the bytes as well, to share with the call's
/// followers.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    codec: Codec,
    stored: Value,
) -> Result<(T, Vec<u8>), Undecodable> {
    match stored {
        Value::Blob(bytes) => {
            let value = codec::decode_as(codec, &bytes)?;
            Ok((value, bytes))
        }
        _ => Err(Undecodable::Malformed("bin data is not a blob")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static SPEC: CacheSpec = CacheSpec {
        cache: None,
        namespace: None,
        set: "engine_unit",
        ttl: Ttl::Seconds(100),
        function: "f",
        codec: crate::codec::Codec::MessagePack,
    };

    const fn policy(refresh_ahead_permille: u16, stale_if_error_secs: u32) -> CachePolicy {
        CachePolicy {
            none_ttl: None,
            refresh_ahead_permille,
            stale_if_error_secs,
            soft_timeout_ms: 0,
            touch_permille: 0,
            lease_ms: 0,
        }
    }

    #[test]
    fn touch_on_read_follows_the_fresh_part() {
        let touch = CachePolicy {
            touch_permille: 800,
            ..CachePolicy::DEFAULT
        };
        assert!(!due_for_touch(&SPEC, &touch, secs(81)));
        assert!(due_for_touch(&SPEC, &touch, secs(79)));
        assert!(!due_for_touch(&SPEC, &touch, None));
        assert!(!due_for_touch(&SPEC, &CachePolicy::DEFAULT, secs(1)), "off");
        let with_window = CachePolicy {
            stale_if_error_secs: 600,
            ..touch
        };
        assert!(!due_for_touch(&SPEC, &with_window, secs(681)));
        assert!(due_for_touch(&SPEC, &with_window, secs(679)));
    }

    fn secs(seconds: u64) -> Option<Duration> {
        Some(Duration::from_secs(seconds))
    }

    #[test]
    fn the_stale_window_follows_the_fresh_part() {
        let stale = policy(0, 600);
        assert!(!is_stale(&stale, secs(601)), "fresh");
        assert!(is_stale(&stale, secs(600)));
        assert!(is_stale(&stale, secs(1)));
        assert!(!is_stale(&stale, None), "never expires: never stale");
        assert!(!is_stale(&CachePolicy::DEFAULT, secs(1)), "off");
    }

    #[test]
    fn refresh_ahead_counts_only_the_fresh_part() {
        let ahead = policy(200, 0);
        assert!(!near_expiry(&SPEC, &ahead, secs(21)));
        assert!(near_expiry(&SPEC, &ahead, secs(19)));
        assert!(!near_expiry(&SPEC, &ahead, None));
        assert!(!near_expiry(&SPEC, &CachePolicy::DEFAULT, secs(1)), "off");
        let both = policy(200, 600);
        assert!(
            !near_expiry(&SPEC, &both, secs(621)),
            "21 s of fresh life left"
        );
        assert!(near_expiry(&SPEC, &both, secs(619)));
    }
}
