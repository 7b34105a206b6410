//! Runs cache operations for synchronous callers.
//!
//! A sync function may be called from a plain thread, or from inside a tokio runtime (a
//! current-thread one included). `Runtime::block_on` panics inside a runtime and `tokio::time`
//! needs one, so nothing here touches the caller's runtime: the operation is spawned on the
//! cache's background runtime, which does the I/O and the timing, and the caller's thread waits
//! on a plain channel. Every operation spawned this way is bounded by the operation timeout on
//! the background runtime, so the wait is bounded too.

use core::future::Future;
use std::sync::mpsc;

use crate::client;

/// Runs `operation` on the background runtime and blocks the calling thread until it finishes.
/// `None` if the background runtime cannot run it (it could not be started, or the task was
/// lost); the caller then proceeds without the cache.
pub(crate) fn run<T, F>(operation: F) -> Option<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let runtime = client::background().ok()?;
    let (sender, receiver) = mpsc::sync_channel(1);
    runtime.spawn(async move {
        // The receiver only goes away if the caller's thread is gone; nothing to tell then.
        let _ = sender.send(operation.await);
    });
    // A task that panics or is dropped drops the sender, which ends the wait with an error.
    receiver.recv().ok()
}
