//! A reserve of old-generation blocks that are already faulted in.
//!
//! A promoted object lands in a block of the old generation, and a block
//! fresh from the system costs a page fault per 4 KiB on first touch
//! (~25 µs for a 64 KiB block here: the kernel zeroes each page and
//! charges it). Paid during a minor collection, that was a third to a half
//! of the pause of a collection that promotes a lot. The reserve moves the
//! cost out of the pause:
//!
//! * it is the [`BlockSource`] of every size class of the old generation,
//!   so a block one class frees (a sweep emptied it) is reused by any other
//!   instead of going back to the system and being faulted in again;
//! * between collections the allocator tops it up to a target, one block
//!   per 64 KiB of eden allocated, touching each page of the block: the
//!   faults are paid by the mutator in small steps, paced by allocation the
//!   way incremental collectors pace their work, instead of all at once in
//!   the next pause.
//!
//! Idle blocks count as reserved memory of the heap (they are resident),
//! so the heap bound covers them, and the allocator only tops up while the
//! bound leaves room.

use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::Mutex;

use morph_pool::BlockSource;

use crate::object;

#[derive(Debug)]
struct Inner {
    /// Idle blocks, each `layout.size()` bytes from the global allocator.
    idle: Vec<NonNull<u8>>,
    /// Idle blocks to keep: top-ups stop here, and released blocks beyond
    /// it go back to the system.
    target: usize,
}

/// The old generation's block source. See the module documentation.
#[derive(Debug)]
pub(crate) struct BlockReserve {
    layout: Layout,
    inner: Mutex<Inner>,
}

// SAFETY: the idle blocks are memory this reserve owns exclusively (taken
// from the global allocator, handed out at most once); nothing about them
// is tied to a thread. All access goes through the mutex.
unsafe impl Send for BlockReserve {}
// SAFETY: as above; shared access only locks the mutex.
unsafe impl Sync for BlockReserve {}

impl BlockReserve {
    /// A reserve of `block_size`-byte, `block_size`-aligned blocks.
    pub(crate) fn new(block_size: usize, target: usize) -> Self {
        BlockReserve {
            layout: Layout::from_size_align(block_size, block_size)
                .expect("the old generation's block size is a power of two"),
            inner: Mutex::new(Inner {
                idle: Vec::new(),
                target,
            }),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the list consistent (every
        // operation is a push or a pop).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets how many idle blocks to keep, and gives the ones beyond it back
    /// to the system.
    pub(crate) fn set_target(&self, blocks: usize) {
        let excess = {
            let mut inner = self.inner();
            inner.target = blocks;
            let keep = inner.idle.len().min(blocks);
            inner.idle.split_off(keep)
        };
        for block in excess {
            // SAFETY: idle blocks are global-allocator blocks of this layout
            // that nobody else holds.
            unsafe { std::alloc::dealloc(block.as_ptr(), self.layout) }
        }
    }

    /// Whether the reserve is below its target.
    pub(crate) fn wants_more(&self) -> bool {
        self.deficit() > 0
    }

    /// Blocks missing to reach the target.
    pub(crate) fn deficit(&self) -> usize {
        let inner = self.inner();
        inner.target.saturating_sub(inner.idle.len())
    }

    /// Bytes held idle.
    pub(crate) fn idle_bytes(&self) -> usize {
        self.inner().idle.len() * self.layout.size()
    }

    /// Faults one more block in if the reserve is below its target; returns
    /// whether it did (false also when the system has no memory: the next
    /// collection then gets its blocks the slow way, or reports the error).
    pub(crate) fn top_up_one(&self) -> bool {
        if !self.wants_more() {
            return false;
        }
        // SAFETY: the layout has a non-zero size.
        let Some(block) = NonNull::new(unsafe { std::alloc::alloc(self.layout) }) else {
            return false;
        };
        // SAFETY: a fresh block of `size` bytes that nothing else uses yet.
        unsafe { object::touch_pages(block, self.layout.size()) };
        self.inner().idle.push(block);
        true
    }
}

// SAFETY: every block handed out is a fresh `self.layout` allocation from
// the global allocator or an idle one taken back by `release` (so the same
// layout), and it leaves the idle list when handed out.
unsafe impl BlockSource for BlockReserve {
    fn acquire(&self, layout: Layout) -> Option<NonNull<u8>> {
        assert_eq!(layout, self.layout, "one block size for the old generation");
        if let Some(block) = self.inner().idle.pop() {
            return Some(block);
        }
        // SAFETY: the layout has a non-zero size.
        NonNull::new(unsafe { std::alloc::alloc(layout) })
    }

    unsafe fn release(&self, block: NonNull<u8>, layout: Layout) {
        debug_assert_eq!(layout, self.layout);
        let mut inner = self.inner();
        if inner.idle.len() < inner.target {
            inner.idle.push(block);
        } else {
            drop(inner);
            // SAFETY: the caller's contract: the block came from `acquire`,
            // so from the global allocator with this layout, and is unused.
            unsafe { std::alloc::dealloc(block.as_ptr(), layout) }
        }
    }
}

impl Drop for BlockReserve {
    fn drop(&mut self) {
        // Keeping none gives every idle block back.
        self.set_target(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_ups_stop_at_the_target_and_blocks_are_reused() {
        let reserve = BlockReserve::new(16 << 10, 2);
        assert!(reserve.top_up_one());
        assert!(reserve.top_up_one());
        assert!(!reserve.top_up_one(), "at the target");
        assert_eq!(reserve.idle_bytes(), 32 << 10);
        let layout = reserve.layout;
        let a = reserve.acquire(layout).unwrap();
        let b = reserve.acquire(layout).unwrap();
        let c = reserve.acquire(layout).unwrap(); // from the system
        assert_eq!(reserve.idle_bytes(), 0);
        assert_eq!(a.addr().get() % (16 << 10), 0);
        for block in [a, b, c] {
            // SAFETY: from `acquire` with this layout; the third is beyond
            // the target and goes back to the system.
            unsafe { reserve.release(block, layout) };
        }
        assert_eq!(reserve.idle_bytes(), 32 << 10);
        reserve.set_target(1);
        assert!(!reserve.wants_more());
        assert_eq!(reserve.idle_bytes(), 16 << 10, "the excess went back");
    }
}
