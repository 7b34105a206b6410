//! A box for the client's operation futures whose memory is reused, per thread.
//!
//! Every cache operation boxes the `aerospike` client's future (see `Cache::run`): 3.7 KiB for a
//! read, up to 5.5 KiB for a write. Allocations that large miss the allocator's per-thread cache,
//! and glibc's `malloc` then consolidates its free lists on every one of them: about 1,300
//! instructions per hit, more than the rest of the engine's bookkeeping. [`RecycledBox`] takes a
//! block of a fixed size from a list kept per thread and gives it back when dropped, so that a
//! busy thread allocates nothing per operation.
//!
//! A block may be given back on another thread than the one that took it (a task moves between
//! a runtime's workers): lists stay balanced over time, and each keeps at most
//! [`KEPT_PER_THREAD`] blocks; the rest go back to the allocator.

use core::future::Future;
use core::pin::Pin;
use core::ptr::NonNull;
use core::task::{Context, Poll};
use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::cell::RefCell;
use std::thread::LocalKey;

/// Free blocks a thread keeps per size class: enough for the operations its tasks have in
/// flight at once, at most 64 × 8 KiB of memory per thread.
pub(crate) const KEPT_PER_THREAD: usize = 64;

/// The alignment of every block (the futures of the client need 8).
const BLOCK_ALIGN: usize = 16;
/// The sizes of the two classes of blocks: a read's future fits the first, a write's the second.
const SMALL_SIZE: usize = 4096;
const LARGE_SIZE: usize = 8192;

/// A size class of blocks and its per-thread list of free ones.
struct Class {
    size: usize,
    free: &'static LocalKey<RefCell<FreeBlocks>>,
}

thread_local! {
    static FREE_4K: RefCell<FreeBlocks> = const { RefCell::new(FreeBlocks::new(SMALL_SIZE)) };
    static FREE_8K: RefCell<FreeBlocks> = const { RefCell::new(FreeBlocks::new(LARGE_SIZE)) };
}

static SMALL: Class = Class {
    size: SMALL_SIZE,
    free: &FREE_4K,
};
static LARGE: Class = Class {
    size: LARGE_SIZE,
    free: &FREE_8K,
};

/// The class whose blocks hold a `T`, if any (larger values are boxed as usual).
fn class_of<T>() -> Option<&'static Class> {
    let (size, align) = (size_of::<T>(), align_of::<T>());
    if size == 0 || align > BLOCK_ALIGN {
        None
    } else if size <= SMALL_SIZE {
        Some(&SMALL)
    } else if size <= LARGE_SIZE {
        Some(&LARGE)
    } else {
        None
    }
}

/// Free blocks of one size, owned by one thread; returned to the allocator when it ends.
struct FreeBlocks {
    layout_size: usize,
    blocks: Vec<NonNull<u8>>,
}

impl FreeBlocks {
    const fn new(layout_size: usize) -> Self {
        FreeBlocks {
            layout_size,
            blocks: Vec::new(),
        }
    }
}

impl Drop for FreeBlocks {
    fn drop(&mut self) {
        let layout = block_layout(self.layout_size);
        for block in self.blocks.drain(..) {
            // SAFETY: every block in the list was allocated with this layout and is unused.
            unsafe { dealloc(block.as_ptr(), layout) };
        }
    }
}

fn block_layout(size: usize) -> Layout {
    // A power of two, so a valid alignment, and sizes far below `isize::MAX`.
    Layout::from_size_align(size, BLOCK_ALIGN).unwrap_or_else(|_| unreachable!())
}

impl Class {
    /// A free block of this class: this thread's last freed one, or a new one.
    fn take(&self) -> NonNull<u8> {
        let reused = self
            .free
            .try_with(|free| free.try_borrow_mut().ok()?.blocks.pop())
            .ok()
            .flatten();
        reused.unwrap_or_else(|| {
            let layout = block_layout(self.size);
            // SAFETY: the layout's size is not zero.
            NonNull::new(unsafe { alloc(layout) }).unwrap_or_else(|| handle_alloc_error(layout))
        })
    }

    /// Gives an unused block of this class back: to this thread's list, or to the allocator
    /// when the list is full (or the thread is ending).
    ///
    /// # Safety
    /// `block` came from [`Class::take`] of this class and nothing uses it any more.
    unsafe fn give_back(&self, block: NonNull<u8>) {
        let kept = self
            .free
            .try_with(|free| {
                let Ok(mut free) = free.try_borrow_mut() else {
                    return false;
                };
                if free.blocks.len() >= KEPT_PER_THREAD {
                    return false;
                }
                free.blocks.push(block);
                true
            })
            .unwrap_or(false);
        if !kept {
            // SAFETY: allocated by `take` with this layout; the caller no longer uses it.
            unsafe { dealloc(block.as_ptr(), block_layout(self.size)) };
        }
    }
}

/// An owned, pinned value in a recycled block: `Pin<Box<T>>` without an allocation per value
/// (values too large or too aligned for a block are boxed as usual).
pub(crate) struct RecycledBox<T> {
    value: NonNull<T>,
}

// SAFETY: a `RecycledBox` owns its value like a `Box` does; the block goes back to a list of the
// dropping thread, which owns it from then on.
unsafe impl<T: Send> Send for RecycledBox<T> {}
// SAFETY: shared access only reaches `&T`.
unsafe impl<T: Sync> Sync for RecycledBox<T> {}

// The value never moves: it lives in its block until dropped, whatever moves the box.
impl<T> Unpin for RecycledBox<T> {}

impl<T> RecycledBox<T> {
    /// Moves `value` into a block and pins it there.
    pub(crate) fn new(value: T) -> Self {
        let value = match class_of::<T>() {
            Some(class) => {
                let slot = class.take().cast::<T>();
                // SAFETY: the block is unused, large and aligned enough for a `T`.
                unsafe { slot.as_ptr().write(value) };
                slot
            }
            None => NonNull::from(Box::leak(Box::new(value))),
        };
        RecycledBox { value }
    }

    /// The value, pinned.
    pub(crate) fn pinned(&mut self) -> Pin<&mut T> {
        // SAFETY: the value is owned by `self` and never moved out of its block.
        unsafe { Pin::new_unchecked(self.value.as_mut()) }
    }
}

impl<T> Drop for RecycledBox<T> {
    fn drop(&mut self) {
        match class_of::<T>() {
            Some(class) => {
                /// Gives the block back even when the value's `drop` panics.
                struct Block<'c>(&'c Class, NonNull<u8>);
                impl Drop for Block<'_> {
                    fn drop(&mut self) {
                        // SAFETY: taken from this class; the value in it is dropped.
                        unsafe { self.0.give_back(self.1) };
                    }
                }
                let _block = Block(class, self.value.cast());
                // SAFETY: the value was written by `new` and is dropped only here.
                unsafe { self.value.as_ptr().drop_in_place() };
            }
            // SAFETY: leaked from a `Box` by `new`.
            None => drop(unsafe { Box::from_raw(self.value.as_ptr()) }),
        }
    }
}

impl<F: Future> Future for RecycledBox<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.get_mut().pinned().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Counts its drops.
    struct Counted<const N: usize>(Arc<AtomicUsize>, [u8; N]);

    impl<const N: usize> Drop for Counted<N> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn free_small() -> usize {
        FREE_4K.with(|free| free.borrow().blocks.len())
    }

    #[test]
    fn drops_the_value_once_and_reuses_its_block() {
        let drops = Arc::new(AtomicUsize::new(0));
        let first = RecycledBox::new(Counted(Arc::clone(&drops), [7; 3000]));
        let address = first.value.cast::<u8>();
        let before = free_small();
        drop(first);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(free_small(), before + 1);
        let second = RecycledBox::new(Counted(Arc::clone(&drops), [9; 3000]));
        assert_eq!(
            second.value.cast::<u8>(),
            address,
            "the freed block is reused"
        );
        // SAFETY: read only, while `second` owns the value.
        assert_eq!(unsafe { second.value.as_ref() }.1[2999], 9);
        drop(second);
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn keeps_a_bounded_number_of_blocks_per_thread() {
        let drops = Arc::new(AtomicUsize::new(0));
        let boxes: Vec<_> = (0..KEPT_PER_THREAD + 10)
            .map(|_| RecycledBox::new(Counted(Arc::clone(&drops), [0; 2000])))
            .collect();
        drop(boxes);
        assert_eq!(drops.load(Ordering::SeqCst), KEPT_PER_THREAD + 10);
        assert_eq!(free_small(), KEPT_PER_THREAD);
    }

    #[test]
    fn boxes_values_larger_than_a_block_as_usual() {
        let drops = Arc::new(AtomicUsize::new(0));
        assert!(class_of::<Counted<9000>>().is_none());
        drop(RecycledBox::new(Counted(Arc::clone(&drops), [1; 9000])));
        assert!(class_of::<Counted<5000>>().is_some_and(|class| class.size == 8192));
        drop(RecycledBox::new(Counted(Arc::clone(&drops), [1; 5000])));
        assert!(class_of::<()>().is_none());
        drop(RecycledBox::new(()));
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_block_given_back_on_another_thread_stays_there() {
        let drops = Arc::new(AtomicUsize::new(0));
        let moved = RecycledBox::new(Counted(Arc::clone(&drops), [3; 100]));
        let kept_there = std::thread::spawn(move || {
            drop(moved);
            free_small()
        })
        .join()
        .expect("the thread ends");
        assert_eq!(kept_there, 1);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn polls_the_future_in_place() {
        let mut future = RecycledBox::new(async { 40 + 2 });
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert_eq!(Pin::new(&mut future).poll(&mut cx), Poll::Ready(42));
    }
}
