//! Auto-recovery: an invalidation, evict, put or truncate that could not reach the cluster is
//! kept (see [`pending`]) and retried in the background until it lands.
//!
//! The call that failed still reports it (`invalidate` and `<fn>_invalidate` return the error;
//! the attributes, which never fail, count and log it): a caller may alert. Meanwhile calls of
//! this process for the key bypass the cache, so neither the old entry nor a write-back of a
//! load that read it is served here; other processes serve the old entry until the retry lands.
//! A put is retried as an invalidation: by the time the cluster answers, its value may be older
//! than the source, and a miss is always right.
//!
//! Retries run on the cache's background runtime, oldest first: one as a probe, then the rest
//! of a round ([`pending::DUE_AT_ONCE`]) [`CONCURRENT`] at a time, until one fails. After a
//! failed round the next waits twice as long, from [`FIRST_DELAY`] up to [`MAX_DELAY`]. So an
//! invalidation lands about [`MAX_DELAY`] after the client can reach the cluster again (its
//! reconnect interval, one second by default, comes first when the whole cluster was gone).
//!
//! Kept until it lands, not until the entry would have expired: how long an entry lives is not
//! known where it is invalidated (`ttl_from`, `touch_on_read` and `stale_if_error` extend it, and
//! `invalidate(set, key)` knows no TTL at all). `pending` bounds the memory instead.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::breaker;
use crate::client;
use crate::pending::{self, Due, Invalidation, Kept};
use crate::report::{self, Cause};
use crate::spec::CacheSpec;
use crate::stats::{self, Event};
use crate::Error;

/// The wait before the first retry, and after a round in which everything landed.
const FIRST_DELAY: Duration = Duration::from_millis(50);

/// The longest wait between two rounds.
const MAX_DELAY: Duration = Duration::from_millis(500);

/// Retries of one round in flight at once, after the probe landed.
const CONCURRENT: usize = 32;

/// Whether the retry task runs.
static RETRYING: AtomicBool = AtomicBool::new(false);

/// Whether an operation that failed with `error` is worth retrying: the cluster was unreachable,
/// timed out or failed as a whole. A refused key, a missing permission or a bad configuration
/// fails the same way every time.
pub(crate) fn worth_retrying(error: &Error) -> bool {
    breaker::is_failure(error)
}

/// Keeps an invalidation that failed with `error` when that is worth retrying (and then logs
/// it); whether it was kept.
pub(crate) fn keep_failed(spec: &'static CacheSpec, what: Invalidation, error: &Error) -> bool {
    if !worth_retrying(error) {
        return false;
    }
    keep(spec, what);
    true
}

/// Keeps an invalidation that did not reach the cluster, logs it once, and makes sure the
/// retries run.
pub(crate) fn keep(spec: &'static CacheSpec, what: Invalidation) {
    let counters = stats::counters(spec.set);
    counters.count(Event::InvalidationKept);
    if pending::keep(spec, what) == Kept::Truncate {
        report::error_once(Cause::Recovery, spec.set, || {
            format!(
                "set {}: the set's entries cannot be invalidated one by one ({} invalidations \
                 already wait for the cluster, or the set's truncate failed): the whole set is \
                 truncated when the cluster answers again; until then calls of this process \
                 bypass the set's cache",
                spec.set,
                pending::MAX_KEYS
            )
        });
    } else {
        report::warn_once(Cause::Recovery, spec.set, || {
            format!(
                "set {}: an invalidation could not reach the cluster; it is retried until it \
                 lands, and calls of this process for its key bypass the cache meanwhile",
                spec.set
            )
        });
    }
    start_retrying();
}

/// Starts the retry task on the background runtime, unless it runs.
fn start_retrying() {
    if RETRYING.swap(true, Ordering::SeqCst) {
        return;
    }
    match client::background() {
        Ok(runtime) => {
            runtime.spawn(retry_until_landed());
        }
        Err(error) => {
            RETRYING.store(false, Ordering::SeqCst);
            report::error_once(Cause::Recovery, "background", || {
                format!("kept invalidations cannot be retried: {error}")
            });
        }
    }
}

/// Retries rounds of the oldest kept invalidations until none waits.
async fn retry_until_landed() {
    let mut delay = FIRST_DELAY;
    loop {
        tokio::time::sleep(delay).await;
        let due = pending::due();
        if due.is_empty() {
            RETRYING.store(false, Ordering::SeqCst);
            // One kept between the last look and the flag: this task goes on for it.
            if pending::count() == 0 || RETRYING.swap(true, Ordering::SeqCst) {
                return;
            }
            continue;
        }
        delay = match retry_round(due).await {
            Tried::Landed => FIRST_DELAY,
            // Nothing was sent (no connection yet, a breaker open): asking again costs nothing,
            // and the first chance after the cluster is back is taken at once.
            Tried::Unsent => FIRST_DELAY,
            Tried::Failed => (delay * 2).min(MAX_DELAY),
        };
    }
}

/// How a retry, or a round of them, went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tried {
    /// Landed (or given up for good).
    Landed,
    /// Not sent: the client knew the cluster or the key's partition was failing.
    Unsent,
    /// Sent, and failed.
    Failed,
}

/// One round: the oldest invalidation as a probe, then the others, until one fails.
async fn retry_round(due: Vec<Due>) -> Tried {
    let mut due = due.into_iter();
    let Some(probe) = due.next() else {
        return Tried::Landed;
    };
    match retry(probe).await {
        Tried::Landed => {}
        failed => return failed,
    }
    let mut running = tokio::task::JoinSet::new();
    let mut all_landed = true;
    for next in due {
        if running.len() >= CONCURRENT {
            all_landed &= running
                .join_next()
                .await
                .is_none_or(|done| matches!(done, Ok(Tried::Landed)));
        }
        if !all_landed {
            break;
        }
        running.spawn(retry(next));
    }
    while let Some(done) = running.join_next().await {
        all_landed &= matches!(done, Ok(Tried::Landed));
    }
    if all_landed {
        Tried::Landed
    } else {
        Tried::Failed
    }
}

/// Sends one kept invalidation again: it lands, is given up (it never will), or fails.
async fn retry(due: Due) -> Tried {
    let started = pending::now();
    let spec = due.spec;
    let sent = match &due.what {
        Invalidation::Key(key) => super::invalidate_record(spec, key.clone()).await,
        Invalidation::Set => super::truncate_set(spec).await,
    };
    match sent {
        Ok(()) => {
            pending::landed(spec, &due.what, started);
            let counters = stats::counters(spec.set);
            counters.count(Event::InvalidationRecovered);
            if counters.pending() == 0 {
                report::resumed(Cause::Recovery, spec.set);
            }
            Tried::Landed
        }
        Err(error) if error.is_bypass() => Tried::Unsent,
        Err(error) if worth_retrying(&error) => Tried::Failed,
        Err(error) => {
            pending::give_up(&due);
            report::error_once(Cause::Recovery, spec.set, || {
                let what = match &due.what {
                    Invalidation::Key(key) => format!("the invalidation of key {key}"),
                    Invalidation::Set => "the truncate of the set".to_owned(),
                };
                format!(
                    "set {}: {what} is given up, the cluster refuses it ({error}); the old entry \
                     may be served until its ttl ends",
                    spec.set
                )
            });
            Tried::Landed
        }
    }
}
