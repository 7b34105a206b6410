//! Runs cache operations for synchronous callers.
//!
//! A sync function may be called from a plain thread, or from inside a tokio runtime (a
//! current-thread one included). `Runtime::block_on` panics inside a runtime and `tokio::time`
//! needs one, so nothing here touches the caller's runtime. [`block_on`] polls the operation on
//! the caller's thread inside the background runtime's context (the cache's I/O and timers run
//! there) and parks the thread between polls; [`run`] spawns it on the background runtime and
//! waits on a plain channel. Every cache operation is bounded by the operation timeout, so the
//! wait is bounded too.

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use std::sync::{mpsc, Arc};
use std::task::Wake;
use std::thread::{self, Thread};

use crate::client;

/// Wakes a thread parked in [`block_on`].
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `operation` to completion on this thread, parked while it waits, inside the background
/// runtime's context when there is one (whatever it spawns or times goes there). Needs no task
/// and no channel: a cache hit of a sync function costs no thread hop beyond the reactor's
/// wake-up.
pub(crate) fn block_on<F: Future>(operation: F) -> F::Output {
    thread_local! {
        static WAKER: Waker = Waker::from(Arc::new(Unpark(thread::current())));
    }
    let handle = client::background()
        .ok()
        .map(tokio::runtime::Runtime::handle);
    // A thread whose locals are being destroyed gets a waker of its own.
    let waker = WAKER
        .try_with(Waker::clone)
        .unwrap_or_else(|_| Waker::from(Arc::new(Unpark(thread::current()))));
    let mut context = Context::from_waker(&waker);
    let mut operation = pin!(operation);
    loop {
        let polled = {
            let _inside = handle.map(tokio::runtime::Handle::enter);
            operation.as_mut().poll(&mut context)
        };
        match polled {
            Poll::Ready(output) => return output,
            // A wake-up before the park makes it return at once; a spurious one polls again.
            Poll::Pending => thread::park(),
        }
    }
}

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
