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
//!
//! Blocks are carved from anonymous mappings of [`CHUNK_BLOCKS`] blocks
//! (aligned by mapping one block more than needed), not taken from the
//! global allocator: glibc serves a block-aligned request by splitting a
//! larger chunk and keeps the pieces, which cost ~15–20 % more resident
//! memory than the blocks themselves (measured: 500 MiB of 64 KiB blocks
//! held 576 MiB, over twice the address space). A released block beyond
//! the idle target and an eighth of the blocks in use goes back to the
//! system with `madvise(MADV_DONTNEED)`, keeping its address for reuse:
//! freed memory leaves the process, and a later block costs only its page
//! faults again. (Under Miri, which cannot map
//! memory, blocks come from the global allocator as before.)

use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::Mutex;

use morph_pool::BlockSource;

use crate::object;

/// Blocks per mapping: 8 MiB with the 64 KiB old-generation block.
pub(crate) const CHUNK_BLOCKS: usize = 128;

#[derive(Debug)]
struct Inner {
    /// Idle, resident blocks.
    idle: Vec<NonNull<u8>>,
    /// Free blocks whose pages went back to the system: reused (and
    /// faulted in again) before a new block is carved.
    returned: Vec<NonNull<u8>>,
    /// Idle blocks to top up to.
    target: usize,
    /// Blocks handed out and not released: the old generation's size.
    in_use: usize,
    /// Where fresh blocks come from.
    chunks: Chunks,
}

/// The old generation's block source. See the module documentation.
#[derive(Debug)]
pub(crate) struct BlockReserve {
    layout: Layout,
    inner: Mutex<Inner>,
}

// SAFETY: the blocks are memory this reserve owns exclusively (mappings it
// made, or global-allocator blocks under Miri), handed out at most once;
// nothing about them is tied to a thread. All access goes through the mutex.
unsafe impl Send for BlockReserve {}
// SAFETY: as above; shared access only locks the mutex.
unsafe impl Sync for BlockReserve {}

impl BlockReserve {
    /// A reserve of `block_size`-byte, `block_size`-aligned blocks.
    pub(crate) fn new(block_size: usize, target: usize) -> Self {
        let layout = Layout::from_size_align(block_size, block_size)
            .expect("the old generation's block size is a power of two");
        BlockReserve {
            layout,
            inner: Mutex::new(Inner {
                idle: Vec::new(),
                returned: Vec::new(),
                target,
                in_use: 0,
                chunks: Chunks::new(layout),
            }),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the lists consistent (every
        // operation is a push or a pop).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets how many idle blocks to keep, and gives the ones beyond it back
    /// to the system.
    pub(crate) fn set_target(&self, blocks: usize) {
        let mut inner = self.inner();
        inner.target = blocks;
        let keep = inner.keep();
        while inner.idle.len() > keep {
            let block = inner.idle.pop().expect("more idle blocks than the target");
            // SAFETY: an idle block is unused and this reserve's.
            unsafe { inner.give_back(block) };
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

    /// Bytes held idle (resident).
    pub(crate) fn idle_bytes(&self) -> usize {
        self.inner().idle.len() * self.layout.size()
    }

    /// Bytes of free blocks whose memory went back to the system.
    #[cfg(test)]
    pub(crate) fn returned_bytes(&self) -> usize {
        self.inner().returned.len() * self.layout.size()
    }

    /// Faults one more block in if the reserve is below its target; returns
    /// whether it did (false also when the system has no memory: the next
    /// collection then gets its blocks the slow way, or reports the error).
    pub(crate) fn top_up_one(&self) -> bool {
        if !self.wants_more() {
            return false;
        }
        let Some(block) = self.inner().take() else {
            return false;
        };
        // SAFETY: a block of `size` bytes that nothing else uses yet.
        unsafe { object::touch_pages(block, self.layout.size()) };
        self.inner().idle.push(block);
        true
    }
}

impl Inner {
    /// Idle blocks kept resident: the top-up target, plus an eighth of the
    /// blocks in use. The slack is the hysteresis of memory return: a sweep
    /// that empties many blocks while the program keeps allocating (a
    /// tree built and dropped over and over) would otherwise give each
    /// block back (a system call) and fault it in again a moment later.
    fn keep(&self) -> usize {
        self.target + self.in_use / 8
    }

    /// A free block: a returned one, else a fresh one.
    fn take(&mut self) -> Option<NonNull<u8>> {
        self.returned.pop().or_else(|| self.chunks.fresh())
    }

    /// Gives an unused block's memory back to the system, keeping it for
    /// reuse.
    ///
    /// # Safety
    /// `block` is a block of this reserve that nobody uses.
    unsafe fn give_back(&mut self, block: NonNull<u8>) {
        // SAFETY: forwarded caller contract.
        if unsafe { self.chunks.discard(block) } {
            self.returned.push(block);
        }
    }
}

// SAFETY: every block handed out is one of `self.layout` carved from this
// reserve's mappings (or, under Miri, from the global allocator with that
// layout), and it leaves the idle and returned lists when handed out.
unsafe impl BlockSource for BlockReserve {
    fn acquire(&self, layout: Layout) -> Option<NonNull<u8>> {
        assert_eq!(layout, self.layout, "one block size for the old generation");
        let mut inner = self.inner();
        let block = inner.idle.pop().or_else(|| inner.take())?;
        inner.in_use += 1;
        Some(block)
    }

    unsafe fn release(&self, block: NonNull<u8>, layout: Layout) {
        debug_assert_eq!(layout, self.layout);
        let mut inner = self.inner();
        inner.in_use -= 1;
        if inner.idle.len() < inner.keep() {
            inner.idle.push(block);
        } else {
            // SAFETY: the caller's contract: the block came from `acquire`
            // and is unused.
            unsafe { inner.give_back(block) };
        }
    }
}

/// Fresh blocks, carved from anonymous mappings of [`CHUNK_BLOCKS`] blocks.
#[cfg(not(miri))]
#[derive(Debug)]
struct Chunks {
    layout: Layout,
    /// Every mapping, unmapped when the reserve drops (after the pools
    /// that hold its blocks: they hold the reserve).
    maps: Vec<memmap2::MmapMut>,
    /// The next block of the newest mapping, and how many it has left.
    next: Option<(NonNull<u8>, usize)>,
}

#[cfg(not(miri))]
impl Chunks {
    fn new(layout: Layout) -> Self {
        Chunks {
            layout,
            maps: Vec::new(),
            next: None,
        }
    }

    /// A block nobody has used, or `None` if the system has no memory.
    fn fresh(&mut self) -> Option<NonNull<u8>> {
        let size = self.layout.size();
        if self.next.is_none_or(|(_, left)| left == 0) {
            // One block more than the chunk, so an aligned chunk fits; the
            // unaligned ends are never touched, so never resident.
            let mut map = memmap2::MmapMut::map_anon(size * (CHUNK_BLOCKS + 1)).ok()?;
            let base = map.as_mut_ptr();
            let start = base.wrapping_add(base.addr().next_multiple_of(size) - base.addr());
            self.maps.push(map);
            self.next = Some((NonNull::new(start)?, CHUNK_BLOCKS));
        }
        let (block, left) = self.next?;
        // Derived from the mapping's pointer: inside it while `left > 0`.
        let following = NonNull::new(block.as_ptr().wrapping_add(size))?;
        self.next = Some((following, left - 1));
        Some(block)
    }

    /// Gives `block`'s pages back to the system; returns whether the block
    /// stays usable (its pages read as zero when touched again).
    ///
    /// # Safety
    /// `block` came from [`fresh`](Self::fresh) and nobody uses it.
    unsafe fn discard(&mut self, block: NonNull<u8>) -> bool {
        let addr = block.addr().get();
        let Some(map) = self
            .maps
            .iter()
            .find(|m| (m.as_ptr().addr()..m.as_ptr().addr() + m.len()).contains(&addr))
        else {
            debug_assert!(false, "a block outside every mapping");
            return false;
        };
        let offset = addr - map.as_ptr().addr();
        // SAFETY: the range is one unused block of a private anonymous
        // mapping (caller contract): nothing reads what it held, and it
        // reads as zeroes afterwards.
        let discarded = unsafe {
            map.unchecked_advise_range(
                memmap2::UncheckedAdvice::DontNeed,
                offset,
                self.layout.size(),
            )
        };
        // If the system refused, the block simply stays resident.
        let _ = discarded;
        true
    }
}

/// Under Miri, which cannot map memory: blocks from the global allocator.
#[cfg(miri)]
#[derive(Debug)]
struct Chunks {
    layout: Layout,
}

#[cfg(miri)]
impl Chunks {
    fn new(layout: Layout) -> Self {
        Chunks { layout }
    }

    fn fresh(&mut self) -> Option<NonNull<u8>> {
        // SAFETY: the layout has a non-zero size.
        NonNull::new(unsafe { std::alloc::alloc(self.layout) })
    }

    /// Frees `block`; it is not kept.
    ///
    /// # Safety
    /// `block` came from [`fresh`](Self::fresh) and nobody uses it.
    unsafe fn discard(&mut self, block: NonNull<u8>) -> bool {
        // SAFETY: a global-allocator block of this layout (caller contract).
        unsafe { std::alloc::dealloc(block.as_ptr(), self.layout) };
        false
    }
}

#[cfg(miri)]
impl Drop for BlockReserve {
    fn drop(&mut self) {
        // Idle blocks go back to the global allocator.
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

    /// A block whose memory went back to the system is handed out again
    /// before a new one, and reads as zeroes.
    #[test]
    fn returned_blocks_are_reused_and_read_as_zero() {
        let reserve = BlockReserve::new(16 << 10, 0);
        let layout = reserve.layout;
        let a = reserve.acquire(layout).unwrap();
        // SAFETY: a fresh block of 16 KiB that this test owns.
        unsafe { a.as_ptr().write_bytes(0xAB, 16 << 10) };
        // SAFETY: from `acquire`, unused from here; the target is 0, so it
        // goes back to the system.
        unsafe { reserve.release(a, layout) };
        assert_eq!(reserve.idle_bytes(), 0);
        if cfg!(miri) {
            return; // under Miri the block was freed, not kept
        }
        assert_eq!(reserve.returned_bytes(), 16 << 10);
        let again = reserve.acquire(layout).unwrap();
        assert_eq!(again, a, "the returned block first");
        // SAFETY: the block is ours again, 16 KiB.
        let bytes = unsafe { std::slice::from_raw_parts(again.as_ptr(), 16 << 10) };
        assert!(bytes.iter().all(|&b| b == 0));
        // SAFETY: from `acquire`, unused.
        unsafe { reserve.release(again, layout) };
    }

    /// Blocks carved from one mapping are aligned and distinct.
    #[test]
    fn carved_blocks_are_aligned_and_distinct() {
        let reserve = BlockReserve::new(16 << 10, 0);
        let layout = reserve.layout;
        let blocks: Vec<_> = (0..CHUNK_BLOCKS + 3)
            .map(|_| reserve.acquire(layout).unwrap())
            .collect();
        let mut addrs: Vec<usize> = blocks.iter().map(|b| b.addr().get()).collect();
        assert!(addrs.iter().all(|a| a % (16 << 10) == 0));
        addrs.sort_unstable();
        assert!(addrs.windows(2).all(|w| w[1] - w[0] >= 16 << 10));
        for block in blocks {
            // SAFETY: from `acquire`, unused.
            unsafe { reserve.release(block, layout) };
        }
    }
}
