//! The release policy: how many completely empty blocks a pool keeps for
//! reuse instead of returning them to the system.
//!
//! This module only does the bookkeeping (no memory, no unsafe code); the
//! pool asks it on its slow paths, when a block is acquired (reused from the
//! empty list or taken from the system) and when a block becomes empty.
//!
//! # Why hysteresis
//!
//! A workload that allocates a batch spanning `M` blocks and frees all of it,
//! over and over, needs `M` blocks at every batch's peak. A fixed limit of
//! empty blocks below `M` returns blocks at the end of every batch only to
//! take them back from the system at the start of the next. In a process
//! where the system allocator serves 64 KiB aligned blocks with `mmap`, that
//! is an `mmap`, a `munmap` and fresh page faults per block per batch, about
//! 35 µs each: batches of 1000 256-byte objects ran 10× slower than with the
//! blocks reused.
//!
//! # The policy
//!
//! The pool remembers `peak`, a high-water mark of *blocks in use* (blocks
//! holding at least one allocated slot), and keeps empty blocks while
//!
//! ```text
//! empty blocks <= max(retain_empty_blocks, peak - blocks in use)
//! ```
//!
//! that is, it holds at most `max(peak, in use + retain_empty_blocks)` blocks
//! in all. A steady batch workload therefore keeps exactly the blocks its
//! batches need and never goes back to the system.
//!
//! `peak` rises at once when more blocks are in use. It falls only after a
//! *window* in which the pool never needed that many: a window ends after
//! `max(2 × peak, MIN_WINDOW)` block acquisitions, and if the most blocks in
//! use during it (`window_peak`) stayed below `peak`, then
//! `peak = max(window_peak, peak / 2)` and the empty blocks beyond the new
//! limit are released. So a pool whose use really shrank gives memory back
//! geometrically, half the excess per window, while a pool whose use only
//! dipped for a few blocks' worth of traffic keeps it.
//!
//! Why these choices:
//! - **Counting acquisitions, not time.** The pool has no clock on its fast
//!   paths, and should not: a pool nobody touches has no reason to change,
//!   and a burst of traffic is exactly when the decision matters. An
//!   acquisition is already a slow-path event, so counting it is free.
//! - **A window of `2 × peak` acquisitions.** A batch cycle that needs `M`
//!   blocks acquires `M` of them per cycle, so any run of `2M` consecutive
//!   acquisitions contains one whole ramp from few blocks to `M`: a steady
//!   workload reaches its peak in every window and `peak` never decays.
//!   The window scales with the peak so that large pools are not judged on
//!   a sliver of one batch; `MIN_WINDOW` keeps small pools from deciding on
//!   a handful of events.
//! - **Halving, not dropping to `window_peak`.** A workload with occasional
//!   large batches keeps half its excess through a quiet window, and the
//!   cost of a wrong decision is bounded: memory returns within
//!   `log2(peak)` windows, about `4 × peak` acquisitions in all.
//! - **`retain_empty_blocks` is the floor**, as before: that many empty
//!   blocks are kept regardless of the peak, so alloc/free at a block
//!   boundary never goes to the system. `retain_empty_blocks = 0` keeps no
//!   empty block at all, with no hysteresis: every empty block is returned
//!   at once, as that setting always promised.
//!
//! What it will not do: a pool that stops all block traffic (no block is
//! acquired any more) keeps its empty blocks, as no window ever ends;
//! [`RawPool::release_empty_blocks`](crate::RawPool::release_empty_blocks)
//! gives them back on request. Sweeps ([`RawPool::sweep`](crate::RawPool::sweep))
//! keep only the floor: a collector accounts held blocks against its heap
//! bound and decides itself when to collect, so blocks a sweep empties go
//! back at once beyond `retain_empty_blocks`, as they always did.
//!
//! Cost: O(1) per acquisition; releasing the excess after a decay is
//! amortised O(1), as each block is released at most once per acquisition.

/// Fewest block acquisitions in a decay window.
pub(crate) const MIN_WINDOW: usize = 16;

/// The release policy's state for one pool; see the module documentation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Retention {
    /// `PoolConfig::retain_empty_blocks`: empty blocks kept regardless of
    /// the peak; `0` turns the policy off.
    floor: usize,
    /// Recent high-water mark of blocks in use; never below the blocks in
    /// use now.
    peak: usize,
    /// Most blocks in use since the current window began.
    window_peak: usize,
    /// Block acquisitions since the current window began.
    window_acquisitions: usize,
}

impl Retention {
    pub(crate) fn new(retain_empty_blocks: usize) -> Self {
        Self {
            floor: retain_empty_blocks,
            peak: 0,
            window_peak: 0,
            window_acquisitions: 0,
        }
    }

    /// `retain_empty_blocks`: empty blocks kept regardless of the peak.
    pub(crate) fn floor(&self) -> usize {
        self.floor
    }

    /// The recent high-water mark of blocks in use (0 when the policy is off).
    pub(crate) fn peak(&self) -> usize {
        if self.floor == 0 { 0 } else { self.peak }
    }

    /// Most empty blocks the pool may hold while `in_use` blocks hold
    /// allocated slots.
    #[inline]
    pub(crate) fn empty_limit(&self, in_use: usize) -> usize {
        if self.floor == 0 {
            return 0;
        }
        self.floor.max(self.peak.saturating_sub(in_use))
    }

    /// Records that a block was acquired and `in_use` blocks (that one
    /// included) now hold allocated slots. Returns `true` if a window ended
    /// and the peak fell, so the pool must release the empty blocks beyond
    /// [`empty_limit`](Self::empty_limit).
    #[inline]
    pub(crate) fn block_acquired(&mut self, in_use: usize) -> bool {
        self.peak = self.peak.max(in_use);
        self.window_peak = self.window_peak.max(in_use);
        self.window_acquisitions += 1;
        if self.window_acquisitions < (2 * self.peak).max(MIN_WINDOW) {
            return false;
        }
        let old_peak = self.peak;
        // `window_peak <= peak`, so this is a no-op unless the window stayed
        // below the peak.
        self.peak = self.window_peak.max(self.peak / 2);
        self.window_peak = in_use;
        self.window_acquisitions = 0;
        self.peak < old_peak
    }

    /// Forgets the history: the peak becomes the blocks in use now and a new
    /// window begins (after an explicit release of every empty block).
    pub(crate) fn reset(&mut self, in_use: usize) {
        self.peak = in_use;
        self.window_peak = in_use;
        self.window_acquisitions = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives `retention` through `cycles` batches that each use `blocks`
    /// blocks (acquire them one by one, then empty all), returning the
    /// limit on empty blocks at the end of the last batch.
    fn batches(retention: &mut Retention, blocks: usize, cycles: usize) -> usize {
        for _ in 0..cycles {
            for in_use in 1..=blocks {
                retention.block_acquired(in_use);
            }
        }
        retention.empty_limit(0)
    }

    #[test]
    fn a_steady_batch_keeps_its_peak() {
        let mut retention = Retention::new(1);
        for blocks in [1, 2, 4, 9, 100] {
            let mut retention_for = retention;
            assert_eq!(batches(&mut retention_for, blocks, 50), blocks.max(1));
        }
        assert_eq!(batches(&mut retention, 4, 10_000), 4);
    }

    #[test]
    fn the_peak_halves_per_quiet_window_down_to_the_need() {
        let mut retention = Retention::new(1);
        batches(&mut retention, 64, 1);
        assert_eq!(retention.empty_limit(0), 64);
        // A window is 128 acquisitions while the peak is 64; the first one
        // saw the big batch, so it changes nothing.
        batches(&mut retention, 2, 32);
        assert_eq!(retention.peak(), 64);
        // The second saw at most 2 blocks in use: the peak halves.
        batches(&mut retention, 2, 64);
        assert_eq!(retention.peak(), 32);
        batches(&mut retention, 2, 1_000);
        assert_eq!(retention.peak(), 2);
        assert_eq!(retention.empty_limit(0), 2);
        assert_eq!(retention.empty_limit(2), 1, "the floor");
    }

    #[test]
    fn zero_floor_keeps_nothing() {
        let mut retention = Retention::new(0);
        assert_eq!(batches(&mut retention, 8, 10), 0);
        assert_eq!(retention.peak(), 0);
    }

    #[test]
    fn reset_forgets_the_peak() {
        let mut retention = Retention::new(3);
        batches(&mut retention, 10, 2);
        retention.reset(1);
        assert_eq!(retention.empty_limit(1), 3);
    }
}
