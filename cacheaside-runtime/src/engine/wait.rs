//! How a call waits, the one difference between an async and a sync cached function.
//!
//! The engine's steps are written once, as async code generic over a [`Body`]. An async
//! function's body ([`Awaited`]) awaits each step where it runs. A sync function's body
//! ([`Blocking`]) blocks its thread on each step instead: cache operations run through
//! [`bridge::block_on`], the loader is called in place, a follower parks until its leader lands.
//! Each of its steps is therefore finished when it is first polled, and [`run_blocking`] drives
//! the whole call on the caller's thread, outside any runtime, as if it were plain sync code.

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::bridge;
use crate::flight::{Caller, Follower, Landing};

/// A cached function's body and the way its call waits.
pub(crate) trait Body<R> {
    /// Who waits, as the call's flight sees it.
    fn caller() -> Caller;

    /// Runs a cache operation (a read, a write, connecting).
    fn cache<T>(operation: impl Future<Output = T>) -> impl Future<Output = T>;

    /// Waits for the leader of the call's flight, at most `bound`.
    fn follow(follower: Follower, bound: Duration) -> impl Future<Output = Landing>;

    /// Runs the body.
    fn run(self) -> impl Future<Output = R>;
}

/// The body of an async function: a future, awaited where the call runs.
pub(crate) struct Awaited<F>(pub(crate) F);

impl<R, F: Future<Output = R>> Body<R> for Awaited<F> {
    fn caller() -> Caller {
        Caller::current_async()
    }

    // The operation itself: the async path adds no layer of futures.
    fn cache<T>(operation: impl Future<Output = T>) -> impl Future<Output = T> {
        operation
    }

    fn follow(follower: Follower, bound: Duration) -> impl Future<Output = Landing> {
        follower.wait(bound)
    }

    fn run(self) -> impl Future<Output = R> {
        self.0
    }
}

/// The body of a sync function: a closure, called on the caller's thread.
pub(crate) struct Blocking<L>(pub(crate) L);

impl<R, L: FnOnce() -> R> Body<R> for Blocking<L> {
    fn caller() -> Caller {
        Caller::Blocking
    }

    async fn cache<T>(operation: impl Future<Output = T>) -> T {
        bridge::block_on(operation)
    }

    async fn follow(follower: Follower, bound: Duration) -> Landing {
        follower.wait_blocking(bound)
    }

    async fn run(self) -> R {
        (self.0)()
    }
}

/// Runs a call whose body is [`Blocking`] to its end on this thread.
///
/// Outside the background runtime's context on purpose: the user's sync loader runs inside
/// this poll, and may start or enter a runtime of its own.
pub(crate) fn run_blocking<T>(call: impl Future<Output = T>) -> T {
    let mut call = pin!(call);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        match call.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            // Unreachable with a blocking body, whose every step is done when first polled;
            // should one ever be pending, polling again keeps the call correct, only busier.
            Poll::Pending => std::thread::yield_now(),
        }
    }
}
