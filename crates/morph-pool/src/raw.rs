//! `RawPool`: slots of one size, handed out as raw pointers.
//!
//! This is the engine under every other pool of the crate, and the API the
//! GC's old generation builds on: allocate and free raw slots, walk the
//! allocated slots of each block, mark slots in a per-block side bitmap and
//! sweep the unmarked ones with word-wide bitmap operations.
//!
//! # Invariants (besides those of [`crate::block`])
//!
//! - **Ownership.** Every block in `blocks` is owned by this pool alone;
//!   `blocks[i].header` has `index == i`, and `by_base` maps exactly the base
//!   addresses of `blocks` to their index.
//! - **Lists.** A block is in exactly one place: the `nonfull_head` list iff
//!   `0 < free_count < usable`, the `empty_head` list iff
//!   `free_count == usable`, no list iff it is full. Both lists are doubly
//!   linked through the headers' `prev`/`next`. (Outside a method call; the
//!   allocation slow path moves a block from the empty list to the other
//!   and allocates from it at once.)
//! - **Empty count.** `empty_blocks` is the length of the empty list and
//!   never exceeds `retention.empty_limit(blocks in use)` (see
//!   [`crate::retention`]): a block that becomes empty beyond that is
//!   released, and so are the excess empty blocks when the limit falls.
//! - **Marks.** A block header's `mark_words` has one bit per slot; the mark bit of a free
//!   slot is clear (frees through [`RawPool::free`] and
//!   [`RawPool::free_unchecked`] clear it, sweeps clear every mark).
//! - **Exclusive access.** Headers are only touched through `&mut self`
//!   (mutation) or `&self` (reads), so a header reference never outlives the
//!   borrow of the pool that made it.

use core::hash::{BuildHasherDefault, Hasher};
use core::ptr::NonNull;
use std::collections::HashMap;
use std::sync::Arc;

use bitvec::prelude::{BitSlice, Lsb0};

use crate::block::{self, BlockHeader, Geometry};
use crate::config::PoolConfig;
use crate::error::PoolError;
use crate::retention::Retention;
use crate::source::BlockSource;
use crate::stats::PoolStats;

/// Hashes block base addresses (multiples of the block size) for `by_base`.
#[derive(Default)]
struct BlockAddressHasher(u64);

impl Hasher for BlockAddressHasher {
    fn finish(&self) -> u64 {
        // Base addresses have their low 12+ bits clear; the multiply spreads
        // the high bits and the rotation brings them down to where the table
        // takes its bucket index.
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(32)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 << 8) | u64::from(byte);
        }
    }
    fn write_usize(&mut self, value: usize) {
        self.0 = value as u64;
    }
}

type BlockMap = HashMap<usize, u32, BuildHasherDefault<BlockAddressHasher>>;

/// A block of the pool (its mark bitmap is in its header).
#[derive(Debug)]
struct BlockEntry {
    header: NonNull<BlockHeader>,
}

/// What a [`RawPool::sweep`] did.
///
/// ```
/// let outcome = morph_pool::SweepOutcome::default();
/// assert_eq!(outcome.freed_slots, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepOutcome {
    /// Allocated slots that were unmarked and are now free.
    pub freed_slots: usize,
    /// Slots that were marked and stay allocated.
    pub live_slots: usize,
    /// Blocks returned to the system because the sweep left them empty
    /// (beyond `retain_empty_blocks`).
    pub released_blocks: usize,
    /// Blocks swept.
    pub swept_blocks: usize,
}

/// A pool of fixed-size slots, handing out raw pointers.
///
/// Allocation and free are O(1): a pool keeps a list of the blocks that have
/// free slots, and each block keeps a two-level free bitmap (a summary word
/// says which bitmap words have a free bit), so finding a free slot is two
/// `trailing_zeros`. Slot pointers find their block by masking with the
/// block size.
///
/// [`free`](Self::free) checks its argument: a pointer that is not a slot of
/// this pool, points inside a slot, or was already freed is rejected with an
/// error and changes nothing.
///
/// ```
/// use morph_pool::{PoolConfig, PoolError, RawPool};
///
/// let mut pool = RawPool::new(64, PoolConfig::default())?;
/// let slot = pool.alloc()?;
/// // SAFETY: the slot is 64 bytes, 16-aligned, and ours until freed.
/// unsafe { slot.cast::<u64>().write(7) };
/// pool.free(slot)?;
/// assert_eq!(pool.free(slot), Err(PoolError::DoubleFree { addr: slot.addr().get() }));
/// # Ok::<(), PoolError>(())
/// ```
#[derive(Debug)]
pub struct RawPool {
    geometry: Geometry,
    /// The release policy: how many empty blocks to keep.
    retention: Retention,
    /// Head of the list of partly used blocks: where allocation looks first.
    nonfull_head: Option<NonNull<BlockHeader>>,
    /// Head of the list of retained empty blocks.
    empty_head: Option<NonNull<BlockHeader>>,
    blocks: Vec<BlockEntry>,
    by_base: BlockMap,
    empty_blocks: usize,
    total_allocs: u64,
    total_frees: u64,
    blocks_allocated: u64,
    blocks_released: u64,
    /// Where blocks come from; the global allocator when `None`.
    source: Option<Arc<dyn BlockSource>>,
}

// SAFETY: a RawPool exclusively owns its blocks (ownership invariant); it has
// no thread-affine state, so moving it to another thread moves that
// ownership with it.
unsafe impl Send for RawPool {}
// SAFETY: through `&RawPool` headers are only read, never written, so shared
// references on several threads cannot race.
unsafe impl Sync for RawPool {}

impl RawPool {
    /// A pool of `slot_size`-byte slots (a multiple of 16) with the given
    /// block policy. Takes no memory until the first allocation.
    ///
    /// # Errors
    /// A block-size error from [`PoolConfig::validate`], or
    /// [`PoolError::MisalignedSlotSize`], [`PoolError::SlotTooLarge`],
    /// [`PoolError::TooManySlots`].
    ///
    /// ```
    /// use morph_pool::{PoolConfig, PoolError, RawPool};
    ///
    /// assert!(RawPool::new(48, PoolConfig::default()).is_ok());
    /// assert!(matches!(
    ///     RawPool::new(40_000, PoolConfig::default()),
    ///     Err(PoolError::SlotTooLarge { .. })
    /// ));
    /// ```
    pub fn new(slot_size: usize, config: PoolConfig) -> Result<Self, PoolError> {
        config.validate()?;
        Ok(Self::with_geometry(
            Geometry::new(slot_size, config.block_size)?,
            config,
        ))
    }

    /// A pool whose slot size need only be a multiple of 8, so its slots are
    /// only guaranteed 8-byte alignment: for objects that never need more,
    /// such as a collector's old generation, where 24- and 40-byte classes
    /// spare two-word objects a third of their slot.
    ///
    /// # Errors
    /// As [`new`](Self::new), with 8 as the granule.
    ///
    /// ```
    /// use morph_pool::{PoolConfig, PoolError, RawPool};
    ///
    /// let mut pool = RawPool::new_word_granular(24, PoolConfig::default())?;
    /// let slot = pool.alloc()?;
    /// assert_eq!(slot.as_ptr() as usize % 8, 0);
    /// assert!(matches!(
    ///     RawPool::new_word_granular(20, PoolConfig::default()),
    ///     Err(PoolError::MisalignedSlotSize { granule: 8, .. })
    /// ));
    /// # Ok::<(), PoolError>(())
    /// ```
    pub fn new_word_granular(slot_size: usize, config: PoolConfig) -> Result<Self, PoolError> {
        config.validate()?;
        Ok(Self::with_geometry(
            Geometry::with_granule(slot_size, config.block_size, 8)?,
            config,
        ))
    }

    fn with_geometry(geometry: Geometry, config: PoolConfig) -> Self {
        Self {
            geometry,
            retention: Retention::new(config.retain_empty_blocks),
            nonfull_head: None,
            empty_head: None,
            blocks: Vec::new(),
            by_base: BlockMap::default(),
            empty_blocks: 0,
            total_allocs: 0,
            total_frees: 0,
            blocks_allocated: 0,
            blocks_released: 0,
            source: None,
        }
    }

    /// Takes blocks from `source` (and gives them back to it) instead of the
    /// global allocator. Set it before the first allocation.
    ///
    /// # Panics
    /// If the pool already holds blocks (they came from elsewhere).
    ///
    /// See [`BlockSource`] for an example.
    pub fn with_block_source(mut self, source: Arc<dyn BlockSource>) -> Self {
        assert!(
            self.blocks.is_empty(),
            "a pool's block source must be set before it takes any block"
        );
        self.source = Some(source);
        self
    }

    /// Bytes per slot.
    ///
    /// ```
    /// let pool = morph_pool::RawPool::new(96, Default::default())?;
    /// assert_eq!(pool.slot_size(), 96);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn slot_size(&self) -> usize {
        self.geometry.slot_size
    }

    /// Alignment every slot is guaranteed: the largest power of two dividing
    /// the slot size (at least 16).
    ///
    /// ```
    /// let pool = morph_pool::RawPool::new(96, Default::default())?;
    /// assert_eq!(pool.slot_align(), 32);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn slot_align(&self) -> usize {
        self.geometry.slot_align()
    }

    /// Bytes per block.
    ///
    /// ```
    /// let pool = morph_pool::RawPool::new(32, Default::default())?;
    /// assert_eq!(pool.block_size(), morph_pool::DEFAULT_BLOCK_SIZE);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn block_size(&self) -> usize {
        self.geometry.block_size
    }

    /// Slots one block hands out (the block header takes the first slots).
    ///
    /// ```
    /// let pool = morph_pool::RawPool::new(256, Default::default())?;
    /// assert_eq!(pool.slots_per_block(), 65536 / 256 - 5);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn slots_per_block(&self) -> usize {
        self.geometry.usable as usize
    }

    /// Slots currently allocated.
    ///
    /// ```
    /// let mut pool = morph_pool::RawPool::new(32, Default::default())?;
    /// let slot = pool.alloc()?;
    /// assert_eq!(pool.live_slots(), 1);
    /// pool.free(slot)?;
    /// assert_eq!(pool.live_slots(), 0);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn live_slots(&self) -> usize {
        (self.total_allocs - self.total_frees) as usize
    }

    /// Blocks currently held (in use or retained empty).
    ///
    /// ```
    /// let mut pool = morph_pool::RawPool::new(32, Default::default())?;
    /// assert_eq!(pool.block_count(), 0);
    /// pool.alloc()?;
    /// assert_eq!(pool.block_count(), 1);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn block_count(&self) -> usize {
        self.blocks.len()
    }

    /// A snapshot of this pool's counters.
    ///
    /// ```
    /// let mut pool = morph_pool::RawPool::new(64, Default::default())?;
    /// let _slot = pool.alloc()?;
    /// let stats = pool.stats();
    /// assert_eq!((stats.live_slots, stats.blocks, stats.used_bytes()), (1, 1, 64));
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            slot_size: self.geometry.slot_size,
            block_size: self.geometry.block_size,
            blocks: self.blocks.len(),
            empty_blocks: self.empty_blocks,
            capacity_slots: self.blocks.len() * self.slots_per_block(),
            live_slots: self.live_slots(),
            total_allocs: self.total_allocs,
            total_frees: self.total_frees,
            blocks_allocated: self.blocks_allocated,
            blocks_released: self.blocks_released,
            peak_blocks: self.retention.peak(),
        }
    }

    /// Allocates one slot. Its contents are uninitialised (possibly an old
    /// object's bytes); it is [`slot_size`](Self::slot_size) bytes long and
    /// aligned to [`slot_align`](Self::slot_align).
    ///
    /// # Errors
    /// [`PoolError::OutOfMemory`] if a new block was needed and the system
    /// refused it.
    ///
    /// ```
    /// let mut pool = morph_pool::RawPool::new(32, Default::default())?;
    /// let a = pool.alloc()?;
    /// let b = pool.alloc()?;
    /// assert_ne!(a, b);
    /// assert_eq!(a.addr().get() % 32, 0);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    #[inline]
    pub fn alloc(&mut self) -> Result<NonNull<u8>, PoolError> {
        self.alloc_sized(self.geometry.slot_size)
    }

    /// The allocation fast path; `slot_size` equals the geometry's slot size
    /// (passed separately so typed pools can make it a constant).
    #[inline(always)]
    pub(crate) fn alloc_sized(&mut self, slot_size: usize) -> Result<NonNull<u8>, PoolError> {
        debug_assert_eq!(slot_size, self.geometry.slot_size);
        let Some(block) = self.nonfull_head else {
            return self.alloc_slow(slot_size);
        };
        // SAFETY: listed blocks are live blocks of this pool (invariant 1);
        // `&mut self` excludes every other header reference.
        let header = unsafe { block::header(block) };
        // Listed blocks have a free slot, so the summary is non-zero
        // (free-list and summary invariants).
        debug_assert!(header.free_count > 0 && header.free_summary != 0);
        let word_index = header.free_summary.trailing_zeros() as usize;
        let word = &mut header.free_words[word_index % block::WORDS];
        let bit = word.trailing_zeros() as usize;
        *word &= *word - 1;
        if *word == 0 {
            header.free_summary &= !(1u64 << word_index);
        }
        header.free_count -= 1;
        if header.free_count == 0 {
            self.unlink_full_head(block);
        }
        self.total_allocs += 1;
        let slot = word_index * 64 + bit;
        debug_assert!(slot >= self.geometry.first_slot as usize);
        debug_assert!(slot < self.geometry.slot_count as usize);
        // SAFETY: the slot was free, so it is a usable slot (< slot_count) of
        // a live block (bitmap invariant 3).
        Ok(unsafe { block::slot_ptr(block, slot, slot_size) })
    }

    /// Allocates a *run*: every free slot of one 64-slot bitmap word of a
    /// block, at once. Returns the address slot `i` of the word would have
    /// (`base + i * slot_size`; not itself a slot when bit `i` is clear)
    /// and the bits of the slots taken, at least one. Each taken slot is
    /// allocated, as if by [`alloc`](Self::alloc); hand them out with a
    /// bit scan and give back the rest with [`free_run`](Self::free_run).
    /// For bulk allocators, such as a collector promoting thousands of
    /// objects, that should not update a block header per object.
    ///
    /// # Errors
    /// As [`alloc`](Self::alloc).
    ///
    /// ```
    /// use morph_pool::{PoolConfig, RawPool};
    ///
    /// let mut pool = RawPool::new(32, PoolConfig::default())?;
    /// let (base, mut bits) = pool.alloc_run()?;
    /// let taken = bits.count_ones() as usize;
    /// assert_eq!(pool.live_slots(), taken);
    /// let first = bits.trailing_zeros() as usize;
    /// bits &= bits - 1;
    /// let slot = base.wrapping_add(first * 32); // the one slot used
    /// // SAFETY: the rest of the run is unused and came from this pool.
    /// unsafe { pool.free_run(base, bits) };
    /// assert_eq!(pool.live_slots(), 1);
    /// # let _ = slot;
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn alloc_run(&mut self) -> Result<(*mut u8, u64), PoolError> {
        let block = match self.nonfull_head {
            Some(block) => block,
            None => {
                self.acquire_block()?;
                self.nonfull_head
                    .expect("acquire_block lists a block with free slots")
            }
        };
        // SAFETY: listed blocks are live blocks of this pool (invariant 1);
        // `&mut self` excludes every other header reference.
        let header = unsafe { block::header(block) };
        debug_assert!(header.free_count > 0 && header.free_summary != 0);
        let word_index = header.free_summary.trailing_zeros() as usize % block::WORDS;
        let bits = std::mem::take(&mut header.free_words[word_index]);
        header.free_summary &= !(1u64 << word_index);
        let taken = bits.count_ones();
        header.free_count -= taken;
        if header.free_count == 0 {
            self.unlink_full_head(block);
        }
        self.total_allocs += u64::from(taken);
        // Slot `word_index * 64` is inside the block (word 0 starts at the
        // block base), so the pointer is in bounds; derived from the block.
        let base = block
            .cast::<u8>()
            .as_ptr()
            .wrapping_add(word_index * 64 * self.geometry.slot_size);
        Ok((base, bits))
    }

    /// Gives back the unused slots of a run.
    ///
    /// # Safety
    /// `base` and every bit of `bits` come from one [`alloc_run`](Self::alloc_run)
    /// of this pool, and those slots were not handed out (nor freed).
    pub unsafe fn free_run(&mut self, base: *mut u8, bits: u64) {
        if bits == 0 {
            return;
        }
        let block_offset = base.addr() & (self.geometry.block_size - 1);
        let block = NonNull::new(base.wrapping_sub(block_offset))
            .expect("a run's block is non-null")
            .cast::<BlockHeader>();
        let word_index = self.geometry.slot_of_offset(block_offset) / 64;
        self.total_allocs -= u64::from(bits.count_ones());
        self.return_bits(block, word_index, bits);
    }

    #[cold]
    #[inline(never)]
    fn alloc_slow(&mut self, slot_size: usize) -> Result<NonNull<u8>, PoolError> {
        self.acquire_block()?;
        self.alloc_sized(slot_size)
    }

    /// Puts a block with free slots on the non-full list (which is empty):
    /// a retained empty block, or a new one from the system.
    fn acquire_block(&mut self) -> Result<(), PoolError> {
        debug_assert!(self.nonfull_head.is_none());
        if let Some(block) = self.empty_head {
            // Reuse a retained empty block before asking the system.
            list_unlink(&mut self.empty_head, block);
            self.empty_blocks -= 1;
            list_push(&mut self.nonfull_head, block);
        } else {
            let index = u32::try_from(self.blocks.len()).expect("fewer than 2^32 blocks");
            let block = block::allocate_block(&self.geometry, index, self.source.as_deref())?;
            self.blocks.push(BlockEntry { header: block });
            self.by_base.insert(block.addr().get(), index);
            self.blocks_allocated += 1;
            list_push(&mut self.nonfull_head, block);
        }
        if self.retention.block_acquired(self.blocks_in_use()) {
            // The pool has needed fewer blocks for a while: give back the
            // empty ones beyond the lowered limit. (The block just acquired
            // is on the non-full list, out of reach of this.)
            while self.empty_blocks > self.retention.empty_limit(self.blocks_in_use()) {
                let Some(block) = self.empty_head else { break };
                list_unlink(&mut self.empty_head, block);
                self.empty_blocks -= 1;
                self.release(block);
            }
        }
        debug_assert!(self.empty_blocks <= self.retention.empty_limit(self.blocks_in_use()));
        Ok(())
    }

    /// Blocks holding at least one allocated slot (the held blocks that are
    /// not on the empty list).
    fn blocks_in_use(&self) -> usize {
        self.blocks.len() - self.empty_blocks
    }

    /// Removes `block`, the list head that just became full, from the list.
    #[inline(always)]
    fn unlink_full_head(&mut self, block: NonNull<BlockHeader>) {
        // SAFETY: `block` is a live block of this pool; no other header
        // reference is in use (the caller's ended at its last use).
        let header = unsafe { block::header(block) };
        debug_assert_eq!(self.nonfull_head, Some(block));
        self.nonfull_head = header.next.take();
        if let Some(next) = self.nonfull_head {
            // SAFETY: list members are live blocks of this pool.
            unsafe { block::header(next) }.prev = None;
        }
    }

    /// Frees a slot after checking that it is an allocated slot of this pool.
    /// Also clears the slot's mark bit.
    ///
    /// # Errors
    /// [`PoolError::ForeignPointer`] (not a slot of this pool),
    /// [`PoolError::InteriorPointer`] (inside a slot), or
    /// [`PoolError::DoubleFree`] (already free). On error nothing changes.
    ///
    /// ```
    /// use morph_pool::{PoolError, RawPool};
    ///
    /// let mut pool = RawPool::new(64, Default::default())?;
    /// let slot = pool.alloc()?;
    /// let inside = core::ptr::NonNull::new(slot.as_ptr().wrapping_add(8)).unwrap();
    /// assert!(matches!(pool.free(inside), Err(PoolError::InteriorPointer { .. })));
    /// let on_heap = Box::new(0u64);
    /// let foreign = core::ptr::NonNull::from(&*on_heap).cast::<u8>();
    /// assert!(matches!(pool.free(foreign), Err(PoolError::ForeignPointer { .. })));
    /// pool.free(slot)?;
    /// # Ok::<(), PoolError>(())
    /// ```
    pub fn free(&mut self, ptr: NonNull<u8>) -> Result<(), PoolError> {
        let (index, slot) = self.locate(ptr)?;
        let block = self.blocks[index].header;
        // SAFETY: located blocks are live blocks of this pool; the reference
        // ends before any other header access.
        let header = unsafe { block::header(block) };
        if header.free_words[slot / 64] >> (slot % 64) & 1 != 0 {
            return Err(PoolError::DoubleFree {
                addr: ptr.addr().get(),
            });
        }
        replace_bit(&mut header.mark_words, slot, false);
        self.release_slot(block, slot);
        Ok(())
    }

    /// Frees a slot without looking it up; clears its mark bit.
    ///
    /// Debug builds still detect a double free or a pointer inside a slot and
    /// panic naming it.
    ///
    /// # Safety
    /// `ptr` was returned by [`alloc`](Self::alloc) of this pool and has not
    /// been freed since.
    ///
    /// ```
    /// let mut pool = morph_pool::RawPool::new(32, Default::default())?;
    /// let slot = pool.alloc()?;
    /// // SAFETY: `slot` is a live slot of `pool`.
    /// unsafe { pool.free_unchecked(slot) };
    /// assert_eq!(pool.live_slots(), 0);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    #[inline]
    pub unsafe fn free_unchecked(&mut self, ptr: NonNull<u8>) {
        // SAFETY: forwarded caller contract.
        let (block, slot) = unsafe { self.block_and_slot_unchecked(ptr, SlotSize::Runtime) };
        // SAFETY: `block` is a live block of this pool; the reference ends
        // before `release_slot` takes the header again.
        let header = unsafe { block::header(block) };
        replace_bit(&mut header.mark_words, slot, false);
        self.release_slot(block, slot);
    }

    /// The free fast path for typed pools, which never mark: skips the mark
    /// bitmap.
    ///
    /// # Safety
    /// As [`free_unchecked`](Self::free_unchecked); `slot_size` equals the
    /// pool's slot size.
    #[inline(always)]
    pub(crate) unsafe fn free_unmarked_unchecked(&mut self, ptr: NonNull<u8>, slot_size: usize) {
        // SAFETY: forwarded caller contract.
        let (block, slot) =
            unsafe { self.block_and_slot_unchecked(ptr, SlotSize::Constant(slot_size)) };
        self.release_slot(block, slot);
    }

    /// Finds block and slot of a live slot pointer by masking.
    ///
    /// # Safety
    /// `ptr` is a live slot of this pool.
    #[inline(always)]
    unsafe fn block_and_slot_unchecked(
        &self,
        ptr: NonNull<u8>,
        slot_size: SlotSize,
    ) -> (NonNull<BlockHeader>, usize) {
        let offset = ptr.addr().get() & (self.geometry.block_size - 1);
        // SAFETY: `ptr` lies `offset` bytes past the base of its block, in the
        // same allocation (invariants 1 and 6).
        let block = unsafe { ptr.byte_sub(offset) }.cast::<BlockHeader>();
        let slot = match slot_size {
            SlotSize::Constant(size) => {
                debug_assert_eq!(size, self.geometry.slot_size);
                offset / size
            }
            SlotSize::Runtime => self.geometry.slot_of_offset(offset),
        };
        let slot_size = self.geometry.slot_size;
        debug_assert!(
            self.by_base.contains_key(&block.addr().get()),
            "morph-pool: pointer {ptr:p} was not allocated by this pool"
        );
        debug_assert!(
            offset.is_multiple_of(slot_size),
            "morph-pool: pointer {ptr:p} points inside a slot, not at its start"
        );
        debug_assert!(
            // SAFETY: a live slot's block is a live block of this pool.
            unsafe { block::header_ref(block) }.free_words[slot / 64] >> (slot % 64) & 1 == 0,
            "morph-pool: double free of the slot at {ptr:p}"
        );
        (block, slot)
    }

    /// Marks an allocated slot free and keeps the list, counts and release
    /// policy up to date.
    #[inline(always)]
    fn release_slot(&mut self, block: NonNull<BlockHeader>, slot: usize) {
        self.total_frees += 1;
        self.return_bits(block, slot / 64, 1u64 << (slot % 64));
    }

    /// Marks the allocated slots `bits` of bitmap word `word` free, and
    /// keeps the summary, the count and the lists up to date: a block that
    /// was full becomes allocatable again, one that is now empty goes to the
    /// release policy. Statistics are the caller's.
    #[inline(always)]
    fn return_bits(&mut self, block: NonNull<BlockHeader>, word: usize, bits: u64) {
        // SAFETY: `block` is a live block of this pool; `&mut self` excludes
        // other header references.
        let header = unsafe { block::header(block) };
        // `word < WORDS` (slots are below `slot_count <= 64 * WORDS`); the
        // modulo only spares the bounds check.
        let word = word % block::WORDS;
        let old_bits = header.free_words[word];
        debug_assert_eq!(old_bits & bits, 0, "morph-pool: returning a free slot");
        header.free_words[word] = old_bits | bits;
        // Only a word that had no free slot changes the summary: skipping the
        // store otherwise keeps consecutive frees from queueing on one
        // read-modify-write of the summary word.
        if old_bits == 0 {
            header.free_summary |= 1u64 << word;
        }
        let was_full = header.free_count == 0;
        header.free_count += bits.count_ones();
        if header.free_count == self.geometry.usable {
            // Was partly used, so listed as non-full (or full, and unlisted).
            if !was_full {
                list_unlink(&mut self.nonfull_head, block);
            }
            self.block_became_empty(block);
        } else if was_full {
            // Allocation may use it again.
            list_push(&mut self.nonfull_head, block);
        }
    }

    /// Applies the release policy to a block that a free just emptied and
    /// that is in no list: keep it while the empty blocks stay within the
    /// limit of [`Retention`], release it otherwise.
    #[cold]
    #[inline(never)]
    fn block_became_empty(&mut self, block: NonNull<BlockHeader>) {
        // The block is no longer in use (and not yet on the empty list).
        let in_use = self.blocks_in_use() - 1;
        let limit = self.retention.empty_limit(in_use);
        self.keep_or_release(block, limit);
    }

    /// Like [`block_became_empty`](Self::block_became_empty) for a block a
    /// sweep emptied, which is kept only within `retain_empty_blocks` (see
    /// [`crate::retention`] for why). Returns whether it was released.
    fn block_emptied_by_sweep(&mut self, block: NonNull<BlockHeader>) -> bool {
        let floor = self.retention.floor();
        self.keep_or_release(block, floor)
    }

    /// Puts an empty block that is in no list on the empty list if fewer
    /// than `limit` blocks are there, or releases it. Returns whether it was
    /// released.
    fn keep_or_release(&mut self, block: NonNull<BlockHeader>, limit: usize) -> bool {
        if self.empty_blocks < limit {
            self.empty_blocks += 1;
            list_push(&mut self.empty_head, block);
            return false;
        }
        self.release(block);
        true
    }

    /// Returns an empty block that is in no list to the system.
    fn release(&mut self, block: NonNull<BlockHeader>) {
        // SAFETY: `block` is a live block of this pool.
        let index = unsafe { block::header_ref(block) }.index as usize;
        let removed = self.blocks.swap_remove(index);
        debug_assert_eq!(removed.header, block);
        self.by_base.remove(&block.addr().get());
        if let Some(moved) = self.blocks.get(index) {
            // SAFETY: every entry of `blocks` is a live block of this pool.
            unsafe { block::header(moved.header) }.index = index as u32;
            self.by_base.insert(moved.header.addr().get(), index as u32);
        }
        self.blocks_released += 1;
        // SAFETY: the block is unlinked and removed from every table, and it
        // is empty, so no slot pointer into it is live.
        unsafe { block::release_block(&self.geometry, block, self.source.as_deref()) };
    }

    /// Returns every empty block to the system, ignoring the retention
    /// policy, and forgets the policy's recent peak (it is relearnt as
    /// blocks are used again). Returns how many were released.
    ///
    /// ```
    /// let mut pool = morph_pool::RawPool::new(32, Default::default())?;
    /// let slot = pool.alloc()?;
    /// pool.free(slot)?; // the block is empty, and retained (policy: keep 1)
    /// assert_eq!(pool.block_count(), 1);
    /// assert_eq!(pool.release_empty_blocks(), 1);
    /// assert_eq!(pool.block_count(), 0);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn release_empty_blocks(&mut self) -> usize {
        let mut released = 0;
        while let Some(block) = self.empty_head {
            list_unlink(&mut self.empty_head, block);
            self.empty_blocks -= 1;
            self.release(block);
            released += 1;
        }
        self.retention.reset(self.blocks_in_use());
        released
    }

    /// Block index and slot of `ptr` if it is a slot start of this pool
    /// (allocated or free).
    fn locate(&self, ptr: NonNull<u8>) -> Result<(usize, usize), PoolError> {
        let addr = ptr.addr().get();
        let base = addr & self.geometry.block_mask();
        let index = *self
            .by_base
            .get(&base)
            .ok_or(PoolError::ForeignPointer { addr })? as usize;
        let offset = addr - base;
        let slot = self.geometry.slot_of_offset(offset);
        if slot < self.geometry.first_slot as usize || slot >= self.geometry.slot_count as usize {
            return Err(PoolError::ForeignPointer { addr });
        }
        let slot_start = base + slot * self.geometry.slot_size;
        if slot_start != addr {
            return Err(PoolError::InteriorPointer { addr, slot_start });
        }
        Ok((index, slot))
    }

    /// Whether `ptr` is a currently allocated slot of this pool.
    ///
    /// ```
    /// let mut pool = morph_pool::RawPool::new(32, Default::default())?;
    /// let slot = pool.alloc()?;
    /// assert!(pool.contains(slot));
    /// pool.free(slot)?;
    /// assert!(!pool.contains(slot));
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn contains(&self, ptr: NonNull<u8>) -> bool {
        self.locate(ptr).is_ok_and(|(index, slot)| {
            // SAFETY: located blocks are live blocks of this pool.
            let header = unsafe { block::header_ref(self.blocks[index].header) };
            header.free_words[slot / 64] >> (slot % 64) & 1 == 0
        })
    }

    /// The allocated slot that contains the byte at `addr` (its start, with
    /// this pool's provenance), or `None` if no allocated slot of this pool
    /// contains it. This is how a collector finds the object that owns a
    /// field address (for a write barrier) without trusting the address.
    ///
    /// ```
    /// let mut pool = morph_pool::RawPool::new(64, Default::default())?;
    /// let slot = pool.alloc()?;
    /// let field = slot.addr().get() + 40;
    /// assert_eq!(pool.slot_containing(field), Some(slot));
    /// pool.free(slot)?;
    /// assert_eq!(pool.slot_containing(field), None);
    /// assert_eq!(pool.slot_containing(8), None);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn slot_containing(&self, addr: usize) -> Option<NonNull<u8>> {
        let base = addr & self.geometry.block_mask();
        let index = *self.by_base.get(&base)? as usize;
        let slot = self.geometry.slot_of_offset(addr - base);
        if slot < self.geometry.first_slot as usize || slot >= self.geometry.slot_count as usize {
            return None;
        }
        let block = self.blocks[index].header;
        // SAFETY: `by_base` maps only live blocks of this pool (ownership invariant).
        let header = unsafe { block::header_ref(block) };
        if header.free_words[slot / 64] >> (slot % 64) & 1 != 0 {
            return None;
        }
        // SAFETY: `slot` is inside the block's slot range, checked above.
        Some(unsafe { block::slot_ptr(block, slot, self.geometry.slot_size) })
    }

    /// Whether the allocated slot containing `addr` (any address inside
    /// it) is marked; `None` if `addr` is in no allocated slot of this
    /// pool. One lookup, for a collector checking many interior addresses
    /// (the fields it recorded) against its marks.
    ///
    /// ```
    /// let mut pool = morph_pool::RawPool::new(32, Default::default())?;
    /// let slot = pool.alloc()?;
    /// pool.mark(slot)?;
    /// assert_eq!(pool.marked_slot_containing(slot.addr().get() + 8), Some(true));
    /// assert_eq!(pool.marked_slot_containing(8), None);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn marked_slot_containing(&self, addr: usize) -> Option<bool> {
        let base = addr & self.geometry.block_mask();
        let index = *self.by_base.get(&base)? as usize;
        let slot = self.geometry.slot_of_offset(addr - base);
        if slot < self.geometry.first_slot as usize || slot >= self.geometry.slot_count as usize {
            return None;
        }
        // SAFETY: `by_base` maps only live blocks of this pool (ownership invariant).
        let header = unsafe { block::header_ref(self.blocks[index].header) };
        if header.free_words[slot / 64] >> (slot % 64) & 1 != 0 {
            return None;
        }
        Some(header.mark_words[slot / 64] >> (slot % 64) & 1 != 0)
    }

    /// Sets the mark bit of an allocated slot; returns `true` if it was not
    /// marked before (the GC's "first visit").
    ///
    /// # Errors
    /// [`PoolError::ForeignPointer`], [`PoolError::InteriorPointer`], or
    /// [`PoolError::NotAllocated`] for a free slot.
    ///
    /// ```
    /// let mut pool = morph_pool::RawPool::new(32, Default::default())?;
    /// let slot = pool.alloc()?;
    /// assert_eq!(pool.mark(slot), Ok(true));
    /// assert_eq!(pool.mark(slot), Ok(false));
    /// assert_eq!(pool.is_marked(slot), Ok(true));
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn mark(&mut self, ptr: NonNull<u8>) -> Result<bool, PoolError> {
        let (index, slot) = self.locate_allocated(ptr)?;
        let block = self.blocks[index].header;
        // SAFETY: located blocks are live blocks of this pool, and `&mut
        // self` excludes any other reference to the header.
        let header = unsafe { block::header(block) };
        Ok(!replace_bit(&mut header.mark_words, slot, true))
    }

    /// Sets the mark bit of a slot found by masking, without any check;
    /// returns `true` if it was not marked before.
    ///
    /// # Safety
    /// `ptr` is a currently allocated slot of this pool.
    ///
    /// ```
    /// let mut pool = morph_pool::RawPool::new(32, Default::default())?;
    /// let slot = pool.alloc()?;
    /// // SAFETY: `slot` is allocated from `pool`.
    /// assert!(unsafe { pool.mark_unchecked(slot) });
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    #[inline]
    pub unsafe fn mark_unchecked(&mut self, ptr: NonNull<u8>) -> bool {
        // SAFETY: forwarded caller contract (a live slot of this pool).
        let (block, slot) = unsafe { self.block_and_slot_unchecked(ptr, SlotSize::Runtime) };
        // SAFETY: `block` is a live block of this pool, and `&mut self`
        // excludes any other reference to its header.
        let header = unsafe { block::header(block) };
        !replace_bit(&mut header.mark_words, slot, true)
    }

    /// Whether an allocated slot is marked.
    ///
    /// # Errors
    /// As [`mark`](Self::mark).
    ///
    /// ```
    /// let mut pool = morph_pool::RawPool::new(32, Default::default())?;
    /// let slot = pool.alloc()?;
    /// assert_eq!(pool.is_marked(slot), Ok(false));
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn is_marked(&self, ptr: NonNull<u8>) -> Result<bool, PoolError> {
        let (index, slot) = self.locate_allocated(ptr)?;
        // SAFETY: located blocks are live blocks of this pool.
        let header = unsafe { block::header_ref(self.blocks[index].header) };
        Ok(header.mark_words[slot / 64] >> (slot % 64) & 1 != 0)
    }

    fn locate_allocated(&self, ptr: NonNull<u8>) -> Result<(usize, usize), PoolError> {
        let (index, slot) = self.locate(ptr)?;
        // SAFETY: located blocks are live blocks of this pool.
        let header = unsafe { block::header_ref(self.blocks[index].header) };
        if header.free_words[slot / 64] >> (slot % 64) & 1 != 0 {
            return Err(PoolError::NotAllocated {
                addr: ptr.addr().get(),
            });
        }
        Ok((index, slot))
    }

    /// Clears every mark bit.
    ///
    /// ```
    /// let mut pool = morph_pool::RawPool::new(32, Default::default())?;
    /// let slot = pool.alloc()?;
    /// pool.mark(slot)?;
    /// pool.clear_marks();
    /// assert_eq!(pool.is_marked(slot), Ok(false));
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn clear_marks(&mut self) {
        for entry in &self.blocks {
            // SAFETY: every entry is a live block of this pool, and `&mut
            // self` excludes any other reference to its header.
            let header = unsafe { block::header(entry.header) };
            header.mark_words.fill(0);
        }
    }

    /// Frees every allocated slot whose mark bit is clear, then clears all
    /// marks. Works a bitmap word (64 slots) at a time: dead objects are not
    /// visited, so run their finalizers *before* sweeping if they need any
    /// (walk [`blocks`](Self::blocks) for unmarked slots).
    ///
    /// Slots allocated after marking began are unmarked too: mark them if they
    /// must survive. Blocks left empty follow the release policy.
    ///
    /// ```
    /// let mut pool = morph_pool::RawPool::new(32, Default::default())?;
    /// let live = pool.alloc()?;
    /// let dead = pool.alloc()?;
    /// pool.mark(live)?;
    /// let outcome = pool.sweep();
    /// assert_eq!((outcome.freed_slots, outcome.live_slots), (1, 1));
    /// assert!(pool.contains(live) && !pool.contains(dead));
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn sweep(&mut self) -> SweepOutcome {
        self.sweep_blocks(0, usize::MAX).0
    }

    /// As [`sweep`](Self::sweep), for at most `max_blocks` blocks starting
    /// at block `from` (in [`blocks`](Self::blocks) order): sweeping spread
    /// over many calls. Returns the outcome and where the next call should
    /// start; the sweep is complete when that is [`block_count`](Self::block_count).
    ///
    /// A block released by the sweep is replaced in the order by the last
    /// block, which the same call then sweeps, so a series of calls from 0
    /// to the end sweeps every block exactly once, and blocks added in the
    /// meantime (at the end) too. Slots allocated while a sweep is spread
    /// out must be marked if they lie in blocks not swept yet.
    ///
    /// ```
    /// let mut pool = morph_pool::RawPool::new(32, Default::default())?;
    /// let live = pool.alloc()?;
    /// let dead = pool.alloc()?;
    /// pool.mark(live)?;
    /// let (outcome, next) = pool.sweep_blocks(0, 1);
    /// assert_eq!((outcome.freed_slots, next), (1, pool.block_count()));
    /// assert!(pool.contains(live) && !pool.contains(dead));
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn sweep_blocks(&mut self, from: usize, max_blocks: usize) -> (SweepOutcome, usize) {
        let geometry = self.geometry;
        let usable = geometry.usable;
        let mut outcome = SweepOutcome::default();
        let mut index = from;
        while index < self.blocks.len() && outcome.swept_blocks < max_blocks {
            outcome.swept_blocks += 1;
            let block = self.blocks[index].header;
            // SAFETY: every entry of `blocks` is a live block of this pool;
            // the reference ends before the list is touched below.
            let header = unsafe { block::header(block) };
            let free_before = header.free_count;
            let mut summary = 0u64;
            let mut free_count = 0u32;
            let (free_words, marks) = (&mut header.free_words, &mut header.mark_words);
            for word in 0..geometry.word_count() {
                let mark_word = std::mem::take(&mut marks[word]);
                let allocated = !free_words[word] & geometry.usable_mask(word);
                let dead = allocated & !mark_word;
                outcome.freed_slots += dead.count_ones() as usize;
                outcome.live_slots += (allocated & mark_word).count_ones() as usize;
                free_words[word] |= dead;
                if free_words[word] != 0 {
                    summary |= 1u64 << word;
                }
                free_count += free_words[word].count_ones();
            }
            header.free_summary = summary;
            header.free_count = free_count;
            self.total_frees += u64::from(free_count - free_before);
            if free_count != free_before {
                // Move the block to the list its new count belongs in (an
                // empty block has nothing to free, so it never gets here).
                if free_before > 0 {
                    list_unlink(&mut self.nonfull_head, block);
                }
                if free_count < usable {
                    list_push(&mut self.nonfull_head, block);
                } else if self.block_emptied_by_sweep(block) {
                    // The last block moved into `index`: look at it next.
                    outcome.released_blocks += 1;
                    continue;
                }
            }
            index += 1;
        }
        (outcome, index.min(self.blocks.len()))
    }

    /// The blocks of this pool, to walk allocated slots and mark bits.
    ///
    /// ```
    /// let mut pool = morph_pool::RawPool::new(32, Default::default())?;
    /// let a = pool.alloc()?;
    /// let b = pool.alloc()?;
    /// let slots: Vec<_> = pool.blocks().flat_map(|block| block.allocated_slots()).collect();
    /// assert_eq!(slots, [a, b]);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn blocks(&self) -> impl ExactSizeIterator<Item = BlockView<'_>> + '_ {
        self.blocks.iter().map(|entry| {
            // SAFETY: every entry of `blocks` is a live block of this pool,
            // and `&self` keeps it alive and unmodified while the view lives.
            let header = unsafe { block::header_ref(entry.header) };
            BlockView {
                header,
                block: entry.header,
                marks: &header.mark_words[..self.geometry.word_count()],
                geometry: self.geometry,
            }
        })
    }
}

/// Sets bit `index` of a bitmap to `value`, returning its old value.
///
/// The bitmaps are plain words so the core stays strict-provenance clean
/// (bitvec encodes bit offsets in pointer addresses); bitvec serves the
/// read-only views of [`BlockView`].
#[inline]
fn replace_bit(words: &mut [u64], index: usize, value: bool) -> bool {
    let (word, bit) = (index / 64, 1u64 << (index % 64));
    let old = words[word] & bit != 0;
    if value {
        words[word] |= bit;
    } else {
        words[word] &= !bit;
    }
    old
}

/// Links `block` (in no list) at the head of the list starting at `head`.
fn list_push(head: &mut Option<NonNull<BlockHeader>>, block: NonNull<BlockHeader>) {
    let old_head = *head;
    {
        // SAFETY: `block` is a live block of the caller's pool (ownership
        // invariant), not referenced elsewhere during this scope.
        let header = unsafe { block::header(block) };
        header.prev = None;
        header.next = old_head;
    }
    if let Some(old) = old_head {
        // SAFETY: list members are live blocks of the same pool.
        unsafe { block::header(old) }.prev = Some(block);
    }
    *head = Some(block);
}

/// Unlinks `block` from the list starting at `head`, which contains it.
fn list_unlink(head: &mut Option<NonNull<BlockHeader>>, block: NonNull<BlockHeader>) {
    let (prev, next) = {
        // SAFETY: `block` is a live, listed block of the caller's pool.
        let header = unsafe { block::header(block) };
        (header.prev.take(), header.next.take())
    };
    match prev {
        // SAFETY: list members are live blocks of the same pool.
        Some(prev) => unsafe { block::header(prev) }.next = next,
        None => {
            debug_assert_eq!(*head, Some(block), "unlinking a block from the wrong list");
            *head = next;
        }
    }
    if let Some(next) = next {
        // SAFETY: list members are live blocks of the same pool.
        unsafe { block::header(next) }.prev = prev;
    }
}

impl Drop for RawPool {
    fn drop(&mut self) {
        for entry in self.blocks.drain(..) {
            // SAFETY: the pool owns its blocks and is going away; a slot
            // pointer still held by a user dangles by contract (the raw API
            // does not track lifetimes, typed pools borrow the pool).
            unsafe { block::release_block(&self.geometry, entry.header, self.source.as_deref()) };
        }
    }
}

/// A read-only view of one block of a [`RawPool`]: its allocated slots, free
/// bitmap and mark bitmap.
///
/// ```
/// let mut pool = morph_pool::RawPool::new(64, Default::default())?;
/// let slot = pool.alloc()?;
/// pool.mark(slot)?;
/// let block = pool.blocks().next().unwrap();
/// assert_eq!(block.live_slots(), 1);
/// assert_eq!(block.marked_slots().collect::<Vec<_>>(), [slot]);
/// # Ok::<(), morph_pool::PoolError>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct BlockView<'a> {
    header: &'a BlockHeader,
    block: NonNull<BlockHeader>,
    marks: &'a [u64],
    geometry: Geometry,
}

impl<'a> BlockView<'a> {
    /// Address of the block (all of its slots lie within `block_size` bytes
    /// from here).
    ///
    /// ```
    /// let mut pool = morph_pool::RawPool::new(64, Default::default())?;
    /// let slot = pool.alloc()?;
    /// let base = pool.blocks().next().unwrap().base();
    /// assert_eq!(slot.addr().get() & !(pool.block_size() - 1), base.addr().get());
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn base(&self) -> NonNull<u8> {
        self.block.cast()
    }

    /// Allocated slots in this block.
    ///
    /// ```
    /// let mut pool = morph_pool::RawPool::new(64, Default::default())?;
    /// pool.alloc()?;
    /// assert_eq!(pool.blocks().next().unwrap().live_slots(), 1);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn live_slots(&self) -> usize {
        (self.geometry.usable - self.header.free_count) as usize
    }

    /// The free bitmap: bit `i` is set iff slot `i` is free (header slots
    /// and the tail read as not free).
    ///
    /// ```
    /// let mut pool = morph_pool::RawPool::new(64, Default::default())?;
    /// pool.alloc()?;
    /// let block = pool.blocks().next().unwrap();
    /// assert_eq!(block.free_bits().count_ones(), pool.slots_per_block() - 1);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn free_bits(&self) -> &'a BitSlice<u64, Lsb0> {
        &BitSlice::from_slice(&self.header.free_words)[..self.geometry.slot_count as usize]
    }

    /// The mark bitmap, one bit per slot.
    ///
    /// ```
    /// let mut pool = morph_pool::RawPool::new(64, Default::default())?;
    /// let slot = pool.alloc()?;
    /// pool.mark(slot)?;
    /// assert_eq!(pool.blocks().next().unwrap().mark_bits().count_ones(), 1);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn mark_bits(&self) -> &'a BitSlice<u64, Lsb0> {
        &BitSlice::from_slice(self.marks)[..self.geometry.slot_count as usize]
    }

    /// The free bitmap as raw words (bit `i % 64` of word `i / 64` is slot
    /// `i`): the same bits as [`free_bits`](Self::free_bits), for word-wide
    /// bitmap operations. (bitvec 1.x builds `BitSlice` pointers from
    /// integers, so its views do not run under Miri's strict-provenance
    /// mode; the raw words do.)
    ///
    /// ```
    /// let mut pool = morph_pool::RawPool::new(64, Default::default())?;
    /// pool.alloc()?;
    /// let block = pool.blocks().next().unwrap();
    /// let free: u32 = block.free_words().iter().map(|w| w.count_ones()).sum();
    /// assert_eq!(free as usize, pool.slots_per_block() - 1);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn free_words(&self) -> &'a [u64] {
        &self.header.free_words[..self.geometry.word_count()]
    }

    /// The mark bitmap as raw words (see [`free_words`](Self::free_words)).
    ///
    /// ```
    /// let mut pool = morph_pool::RawPool::new(64, Default::default())?;
    /// let slot = pool.alloc()?;
    /// pool.mark(slot)?;
    /// let block = pool.blocks().next().unwrap();
    /// assert_eq!(block.mark_words().iter().map(|w| w.count_ones()).sum::<u32>(), 1);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn mark_words(&self) -> &'a [u64] {
        self.marks
    }

    /// Every allocated slot, in address order.
    ///
    /// ```
    /// let mut pool = morph_pool::RawPool::new(64, Default::default())?;
    /// let slot = pool.alloc()?;
    /// let block = pool.blocks().next().unwrap();
    /// assert_eq!(block.allocated_slots().collect::<Vec<_>>(), [slot]);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn allocated_slots(&self) -> Slots<'a> {
        self.slots_where(|free, _mark| !free)
    }

    /// Allocated slots whose mark bit is set.
    ///
    /// ```
    /// let mut pool = morph_pool::RawPool::new(64, Default::default())?;
    /// let slot = pool.alloc()?;
    /// assert_eq!(pool.blocks().next().unwrap().marked_slots().count(), 0);
    /// # let _ = slot;
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn marked_slots(&self) -> Slots<'a> {
        self.slots_where(|free, mark| !free & mark)
    }

    /// Allocated slots whose mark bit is clear: what the next sweep frees.
    ///
    /// ```
    /// let mut pool = morph_pool::RawPool::new(64, Default::default())?;
    /// let slot = pool.alloc()?;
    /// assert_eq!(pool.blocks().next().unwrap().unmarked_slots().collect::<Vec<_>>(), [slot]);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn unmarked_slots(&self) -> Slots<'a> {
        self.slots_where(|free, mark| !free & !mark)
    }

    fn slots_where(&self, select: fn(u64, u64) -> u64) -> Slots<'a> {
        Slots {
            header: self.header,
            block: self.block,
            marks: self.marks,
            geometry: self.geometry,
            select,
            word: 0,
            bits: 0,
            started: false,
        }
    }
}

/// Iterator over selected slots of a block (see [`BlockView`]).
///
/// ```
/// let mut pool = morph_pool::RawPool::new(32, Default::default())?;
/// for _ in 0..3 { pool.alloc()?; }
/// let block = pool.blocks().next().unwrap();
/// assert_eq!(block.allocated_slots().count(), 3);
/// # Ok::<(), morph_pool::PoolError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Slots<'a> {
    header: &'a BlockHeader,
    block: NonNull<BlockHeader>,
    marks: &'a [u64],
    geometry: Geometry,
    select: fn(u64, u64) -> u64,
    word: usize,
    bits: u64,
    started: bool,
}

impl Slots<'_> {
    fn load(&mut self) {
        let word = self.word;
        let mark = self.marks.get(word).copied().unwrap_or(0);
        self.bits =
            (self.select)(self.header.free_words[word], mark) & self.geometry.usable_mask(word);
    }
}

impl Iterator for Slots<'_> {
    type Item = NonNull<u8>;

    fn next(&mut self) -> Option<NonNull<u8>> {
        if !self.started {
            self.started = true;
            self.load();
        }
        while self.bits == 0 {
            self.word += 1;
            if self.word >= self.geometry.word_count() {
                self.word = self.geometry.word_count();
                return None;
            }
            self.load();
        }
        let slot = self.word * 64 + self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        // SAFETY: usable_mask keeps slot < slot_count of a live block (the
        // view borrows the pool).
        Some(unsafe { block::slot_ptr(self.block, slot, self.geometry.slot_size) })
    }
}

/// How [`RawPool::block_and_slot_unchecked`] turns a block offset into a
/// slot index.
#[derive(Clone, Copy, Debug)]
enum SlotSize {
    /// A typed pool's `size_of`, a constant once inlined: the compiler
    /// divides by multiplying.
    Constant(usize),
    /// The pool's own slot size, known only at run time: divided by the
    /// geometry's reciprocal, not a division instruction (which cost the
    /// collector's marker ~8 instructions and a divider's latency an object).
    Runtime,
}
