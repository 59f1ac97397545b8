//! Blocks: the unit of memory a pool takes from, and returns to, the system.
//!
//! A block is one allocation of `block_size` bytes, aligned to `block_size`,
//! cut into equal slots. Its header lives in the first slots, so the header of
//! any slot's block is found by masking the slot address: no table lookup on
//! the free fast path.
//!
//! ```text
//! base (aligned to block_size)
//! | header slots (BlockHeader) | slot first_slot | slot first_slot+1 | ... | tail |
//! ```
//!
//! # Invariants (the unsafe code of this crate relies on them)
//!
//! 1. **Block memory.** A block pointer (`NonNull<BlockHeader>`) held by a
//!    pool comes from [`allocate_block`] with that pool's [`Geometry`] and has
//!    not been passed to [`release_block`]: it points at `block_size` live
//!    bytes aligned to `block_size`, owned by exactly one pool.
//! 2. **Header placement.** The [`BlockHeader`] occupies slots
//!    `0..first_slot`; those slots are never free and never handed out, so no
//!    slot pointer overlaps the header and references to the header never
//!    alias user data.
//! 3. **Free bitmap.** Bit `i` of `free_words` is set iff slot `i` is free.
//!    Bits of header slots and of indices `>= slot_count` are always clear.
//! 4. **Summary.** Bit `w` of `free_summary` is set iff `free_words[w] != 0`,
//!    so the first free slot is two `trailing_zeros` away.
//! 5. **Count.** `free_count` equals the number of set bits of `free_words`.
//! 6. **Provenance.** Every slot and header pointer is derived from the block's
//!    base pointer by offsetting (`add`, `byte_sub`), never cast from an
//!    integer; addresses are only read (masking, lookups).
//!
//! This module must never hand out a slot: that is the pool's job.

use core::alloc::Layout;
use core::ptr::NonNull;

use crate::config::SLOT_GRANULE;
use crate::error::PoolError;
use crate::source::BlockSource;

/// Bitmap words per block; one bit per slot.
pub(crate) const WORDS: usize = 64;
/// Most slots one block can track (header slots included).
pub(crate) const MAX_SLOTS: usize = WORDS * 64;
/// Smallest supported block size.
pub(crate) const MIN_BLOCK_SIZE: usize = 4 * 1024;
/// Largest supported block size (keeps the reciprocal division exact, see
/// [`Geometry::slot_of_offset`]).
pub(crate) const MAX_BLOCK_SIZE: usize = 1024 * 1024;

/// Shift of the fixed-point reciprocal used to divide offsets by the slot size.
const RECIPROCAL_SHIFT: u32 = 40;

/// The metadata at the start of every block.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct BlockHeader {
    /// Bit `w` set iff `free_words[w] != 0` (invariant 4).
    pub(crate) free_summary: u64,
    /// Free slots in this block (invariant 5).
    pub(crate) free_count: u32,
    /// Position of this block in its pool's block table.
    pub(crate) index: u32,
    /// Next block of the pool's list of blocks with free slots.
    pub(crate) next: Option<NonNull<BlockHeader>>,
    /// Previous block of that list.
    pub(crate) prev: Option<NonNull<BlockHeader>>,
    /// One bit per slot, set iff the slot is free (invariant 3).
    pub(crate) free_words: [u64; WORDS],
    /// One bit per slot, the pool's mark bitmap (see [`crate::raw`]). In the
    /// block, next to the free bits, so a collector marking an object finds
    /// its bit by masking the object's address: no table lookup, and the
    /// line is shared by the neighbouring objects it marks next.
    pub(crate) mark_words: [u64; WORDS],
}

/// The shape of the blocks of one pool: slot size, block size and where the
/// slots start. Computed and validated once, copied freely.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) slot_size: usize,
    pub(crate) block_size: usize,
    /// First slot after the header.
    pub(crate) first_slot: u32,
    /// Slots that fit in the block, header slots included.
    pub(crate) slot_count: u32,
    /// Slots a block can hand out: `slot_count - first_slot`.
    pub(crate) usable: u32,
    /// `floor(2^40 / slot_size) + 1`: divides offsets by multiplication.
    reciprocal: u64,
}

impl Geometry {
    /// Validates a slot size (a multiple of [`SLOT_GRANULE`]) against a
    /// (validated) block size.
    pub(crate) fn new(slot_size: usize, block_size: usize) -> Result<Self, PoolError> {
        Self::with_granule(slot_size, block_size, SLOT_GRANULE)
    }

    /// As [`new`](Self::new), with slot sizes a multiple of `granule` (a
    /// power of two, at least 8) instead.
    pub(crate) fn with_granule(
        slot_size: usize,
        block_size: usize,
        granule: usize,
    ) -> Result<Self, PoolError> {
        Self::with_header(slot_size, block_size, granule, size_of::<BlockHeader>())
    }

    /// As [`with_granule`](Self::with_granule), for blocks whose header
    /// takes `header` bytes instead of a [`BlockHeader`] (the shared pools'
    /// blocks, see [`crate::shared`]).
    pub(crate) fn with_header(
        slot_size: usize,
        block_size: usize,
        granule: usize,
        header: usize,
    ) -> Result<Self, PoolError> {
        debug_assert!(granule.is_power_of_two() && granule >= 8);
        if slot_size == 0 || !slot_size.is_multiple_of(granule) {
            return Err(PoolError::MisalignedSlotSize { slot_size, granule });
        }
        let first_slot = header.div_ceil(slot_size);
        let slot_count = block_size / slot_size;
        if slot_count <= first_slot {
            let largest = if block_size / 2 >= header {
                block_size / 2
            } else {
                0
            };
            return Err(PoolError::SlotTooLarge {
                slot_size,
                block_size,
                largest,
            });
        }
        if slot_count > MAX_SLOTS {
            return Err(PoolError::TooManySlots {
                slot_size,
                block_size,
                max_slots: MAX_SLOTS,
            });
        }
        Ok(Self {
            slot_size,
            block_size,
            first_slot: first_slot as u32,
            slot_count: slot_count as u32,
            usable: (slot_count - first_slot) as u32,
            reciprocal: (1u64 << RECIPROCAL_SHIFT) / slot_size as u64 + 1,
        })
    }

    /// Alignment every slot start has: the largest power of two dividing the
    /// slot size (slot starts are multiples of it from an aligned base).
    pub(crate) fn slot_align(&self) -> usize {
        1 << self.slot_size.trailing_zeros()
    }

    /// Mask that turns a slot address into its block's base address.
    #[inline(always)]
    pub(crate) fn block_mask(&self) -> usize {
        !(self.block_size - 1)
    }

    /// `offset / slot_size` without a division instruction.
    ///
    /// Exact because `offset < block_size <= 2^20` and `slot_size <= 2^20`,
    /// so `offset * slot_size < 2^40`: with `r = floor(2^40/d) + 1` the error
    /// term `offset * (r*d - 2^40) / (d * 2^40)` stays below `1/d`.
    #[inline(always)]
    pub(crate) fn slot_of_offset(&self, offset: usize) -> usize {
        let slot = ((offset as u64 * self.reciprocal) >> RECIPROCAL_SHIFT) as usize;
        debug_assert_eq!(slot, offset / self.slot_size);
        slot
    }

    pub(crate) fn layout(&self) -> Layout {
        // Validated: block_size is a power of two no larger than 1 MiB.
        Layout::from_size_align(self.block_size, self.block_size)
            .expect("validated block size forms a layout")
    }

    /// Mask of the slots of bitmap word `word` that can be handed out
    /// (excludes header slots and slots past the end).
    #[inline]
    pub(crate) fn usable_mask(&self, word: usize) -> u64 {
        let lo = word * 64;
        let hi = lo + 64;
        let start = (self.first_slot as usize).clamp(lo, hi) - lo;
        let end = (self.slot_count as usize).clamp(lo, hi) - lo;
        range_mask(start, end)
    }

    /// Bitmap words that can hold usable slots.
    #[inline]
    pub(crate) fn word_count(&self) -> usize {
        (self.slot_count as usize).div_ceil(64)
    }
}

/// Bits `start..end` of a word (`start <= end <= 64`).
#[inline]
fn range_mask(start: usize, end: usize) -> u64 {
    let upto = |n: usize| if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
    upto(end) & !upto(start)
}

/// Takes a fresh block from the system: every usable slot free, not linked.
///
/// The returned pointer satisfies invariants 1-5 for `geometry`.
pub(crate) fn allocate_block(
    geometry: &Geometry,
    index: u32,
    source: Option<&dyn BlockSource>,
) -> Result<NonNull<BlockHeader>, PoolError> {
    let layout = geometry.layout();
    let base = match source {
        Some(source) => source.acquire(layout),
        // SAFETY: the layout has a non-zero size (block_size >= 4 KiB).
        None => NonNull::new(unsafe { std::alloc::alloc(layout) }),
    };
    let base = base.ok_or(PoolError::OutOfMemory {
        bytes: geometry.block_size,
    })?;
    let mut free_words = [0u64; WORDS];
    let mut free_summary = 0;
    for (word, bits) in free_words
        .iter_mut()
        .enumerate()
        .take(geometry.word_count())
    {
        *bits = geometry.usable_mask(word);
        if *bits != 0 {
            free_summary |= 1 << word;
        }
    }
    let header = base.cast::<BlockHeader>();
    // SAFETY: `base` is a fresh allocation of block_size bytes (> header size,
    // checked by Geometry::new) aligned to block_size (>= align of the header).
    unsafe {
        header.write(BlockHeader {
            free_summary,
            free_count: geometry.usable,
            index,
            next: None,
            prev: None,
            free_words,
            mark_words: [0; WORDS],
        });
    }
    Ok(header)
}

/// Returns a block to the system.
///
/// # Safety
/// `block` came from [`allocate_block`] with this `geometry` and `source`,
/// has not been released, and no pointer into it is used afterwards.
pub(crate) unsafe fn release_block(
    geometry: &Geometry,
    block: NonNull<BlockHeader>,
    source: Option<&dyn BlockSource>,
) {
    match source {
        // SAFETY: the caller guarantees `block` came from this source's
        // `acquire` with exactly this layout and is no longer used.
        Some(source) => unsafe { source.release(block.cast(), geometry.layout()) },
        // SAFETY: the caller guarantees `block` is a live allocation made
        // with exactly this layout (invariant 1).
        None => unsafe { std::alloc::dealloc(block.cast::<u8>().as_ptr(), geometry.layout()) },
    }
}

/// The header of a block.
///
/// # Safety
/// `block` satisfies invariant 1 for the whole of `'a`, and no other
/// reference to this header is used during `'a`.
#[inline(always)]
pub(crate) unsafe fn header<'a>(block: NonNull<BlockHeader>) -> &'a mut BlockHeader {
    // SAFETY: the caller guarantees a live, initialised, unaliased header.
    unsafe { &mut *block.as_ptr() }
}

/// Read-only view of a block's header.
///
/// # Safety
/// `block` satisfies invariant 1 for the whole of `'a`, and no mutable
/// reference to this header is used during `'a`.
#[inline(always)]
pub(crate) unsafe fn header_ref<'a>(block: NonNull<BlockHeader>) -> &'a BlockHeader {
    // SAFETY: the caller guarantees a live, initialised header not mutated
    // during 'a.
    unsafe { &*block.as_ptr() }
}

/// Pointer to slot `slot` of `block`.
///
/// # Safety
/// `block` satisfies invariant 1 and `slot < geometry.slot_count`.
#[inline(always)]
pub(crate) unsafe fn slot_ptr(
    block: NonNull<BlockHeader>,
    slot: usize,
    slot_size: usize,
) -> NonNull<u8> {
    // SAFETY: slot * slot_size < block_size, so the result stays inside the
    // block allocation; derived from the base pointer (invariant 6).
    unsafe { block.cast::<u8>().add(slot * slot_size) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reciprocal_division_is_exact_for_every_offset() {
        for slot_size in [16, 32, 48, 80, 112, 208, 256, 1008] {
            let geometry = Geometry::new(slot_size, MIN_BLOCK_SIZE * 4).unwrap();
            let step = if cfg!(miri) { 97 } else { 1 };
            for offset in (0..MIN_BLOCK_SIZE * 4).step_by(step) {
                assert_eq!(geometry.slot_of_offset(offset), offset / slot_size);
            }
        }
    }

    #[test]
    fn header_fits_in_reserved_slots() {
        let geometry = Geometry::new(32, 65536).unwrap();
        assert!(geometry.first_slot as usize * 32 >= size_of::<BlockHeader>());
        assert_eq!(geometry.slot_count, 2048);
    }

    #[test]
    fn usable_masks_cover_exactly_the_usable_slots() {
        let geometry = Geometry::new(48, 8192).unwrap();
        let total: u32 = (0..geometry.word_count())
            .map(|w| geometry.usable_mask(w).count_ones())
            .sum();
        assert_eq!(total, geometry.usable);
    }
}
