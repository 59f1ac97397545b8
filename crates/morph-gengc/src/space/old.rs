//! The old generation: mark-sweep over size-class blocks.
//!
//! Built on `morph_pool::RawPool`: one pool per size class, each a list of
//! aligned blocks whose headers hold a free bitmap and a mark bitmap. Objects
//! never move here. Marking sets a bit in the mark bitmap; sweeping frees every
//! unmarked slot a bitmap word (64 slots) at a time, so dead objects are not
//! visited one by one — only those with finalizers, which the collector keeps
//! on a list of their own.
//!
//! Invariants:
//! * an old object's block is a slot of the pool whose class is the smallest
//!   that fits `object_size(payload)`, so the header alone tells which pool
//!   owns an object;
//! * `block_class` maps the base address of every block of every pool to its
//!   class (refreshed whenever a pool's block count changes), so an interior
//!   address can be checked and resolved to its object without trusting it.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::ptr::NonNull;
use std::sync::Arc;

use morph_pool::{PoolConfig, PoolError, RawPool};

use crate::GcError;
use crate::object::{self, ObjectRef};
use crate::space::reserve::BlockReserve;

/// Hashes block base addresses for the block table. The keys are distinct
/// multiples of the block size, so one multiply (Fibonacci hashing) of the
/// block number spreads them; SipHash's DoS resistance buys nothing for
/// addresses the collector chose, and cost ~30 ns on every barrier and
/// `root` of an old object.
#[derive(Clone, Copy, Debug, Default)]
struct BuildBlockHasher;

impl std::hash::BuildHasher for BuildBlockHasher {
    type Hasher = BlockHasher;

    fn build_hasher(&self) -> BlockHasher {
        BlockHasher(0)
    }
}

/// See [`BuildBlockHasher`].
#[derive(Clone, Copy, Debug)]
struct BlockHasher(u64);

impl std::hash::Hasher for BlockHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only usize keys are hashed; this is the general fallback.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    #[inline]
    fn write_usize(&mut self, addr: usize) {
        let block = (addr / OLD_BLOCK_SIZE) as u64;
        self.0 = block.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Slot sizes (object size, header included) of the old generation. Every
/// word size up to 64 bytes has its own class: two- and four-field objects
/// (24 and 40 bytes with their header: cons cells, tree nodes, boxed pairs)
/// are the commonest survivors, and a 16-byte step would waste a third of
/// a 24-byte object's slot.
const CLASSES: [usize; 35] = [
    16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768,
    896, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096, 5120, 6144, 7168, 8192,
];

/// Granule of [`OldSpace::class`]'s lookup table.
const CLASS_GRANULE: usize = 8;

/// `CLASS_OF[size.div_ceil(CLASS_GRANULE)]` is the class index for an
/// object size. A constant, so a promotion whose size is known at compile
/// time (a safe-API member's referent) finds its class at compile time too.
const CLASS_OF: [u8; MAX_OLD_OBJECT / CLASS_GRANULE + 1] = {
    let mut table = [0u8; MAX_OLD_OBJECT / CLASS_GRANULE + 1];
    let mut granules = 0;
    let mut class = 0;
    while granules < table.len() {
        while CLASSES[class] < granules * CLASS_GRANULE {
            class += 1;
        }
        table[granules] = class as u8;
        granules += 1;
    }
    table
};

/// Largest object (header included) the old generation stores in a slot;
/// larger ones go to the large-object space.
pub(crate) const MAX_OLD_OBJECT: usize = CLASSES[CLASSES.len() - 1];

/// Block size of the old generation's pools: small enough that touching a
/// new class costs little, large enough that the block header is noise.
/// (Smaller under Miri, whose tests run on tiny heaps.)
pub(crate) const OLD_BLOCK_SIZE: usize = if cfg!(miri) { 16 << 10 } else { 64 << 10 };

/// Worst-case bytes promotion may add beyond the objects' own sizes: one
/// fresh block per class.
pub(crate) const PROMOTION_SLACK: usize = CLASSES.len() * OLD_BLOCK_SIZE;

/// Slots of one class taken from its pool at once (a bitmap word's worth)
/// and handed out by promotion without touching the pool: slot `i` of the
/// word is at `base + i * slot size` for each set bit `i`.
#[derive(Clone, Copy, Debug)]
struct Run {
    base: *mut u8,
    bits: u64,
}

impl Run {
    const EMPTY: Run = Run {
        base: std::ptr::null_mut(),
        bits: 0,
    };
}

#[derive(Debug)]
pub(crate) struct OldSpace {
    /// Where every pool's blocks come from (shared by all classes).
    reserve: Arc<BlockReserve>,
    pools: Vec<RawPool>,
    /// Promotion's runs, one per class; all empty outside a minor
    /// collection ([`flush_runs`](Self::flush_runs)), so walks of the space
    /// never meet a reserved slot holding no object.
    runs: [Run; CLASSES.len()],
    block_class: HashMap<usize, u8, BuildBlockHasher>,
    block_counts: Vec<usize>,
    /// A sweep spread over many steps ([`begin_sweep`](Self::begin_sweep)):
    /// per class, the next block to sweep. `None` when no sweep is pending.
    sweep_cursors: Option<Box<[usize; CLASSES.len()]>>,
    /// Whether some object may carry a mark that no sweep will clear: one
    /// allocated black while a sweep was pending, in a block already swept.
    stale_marks: bool,
}

impl OldSpace {
    /// An empty old generation whose blocks come from `reserve`.
    pub(crate) fn new(reserve: Arc<BlockReserve>) -> Result<Self, GcError> {
        let config = PoolConfig {
            block_size: OLD_BLOCK_SIZE,
            retain_empty_blocks: 2,
        };
        let pools = CLASSES
            .iter()
            .map(|&size| {
                RawPool::new_word_granular(size, config)
                    .map(|pool| pool.with_block_source(reserve.clone()))
            })
            .collect::<Result<Vec<_>, PoolError>>()
            .map_err(|e| GcError::InvalidConfig {
                reason: format!("old-space pools: {e}"),
            })?;
        Ok(OldSpace {
            reserve,
            pools,
            runs: [Run::EMPTY; CLASSES.len()],
            block_class: HashMap::default(),
            block_counts: vec![0; CLASSES.len()],
            sweep_cursors: None,
            stale_marks: false,
        })
    }

    #[inline(always)]
    fn class(&self, size: usize) -> usize {
        debug_assert!(size <= MAX_OLD_OBJECT);
        CLASS_OF[size.div_ceil(CLASS_GRANULE)] as usize
    }

    /// Bytes reserved from the system: whole blocks of the pools, and the
    /// idle blocks of the reserve.
    pub(crate) fn reserved(&self) -> usize {
        self.pools
            .iter()
            .map(|p| p.block_count() * p.block_size())
            .sum::<usize>()
            + self.reserve.idle_bytes()
    }

    /// The block reserve.
    pub(crate) fn reserve(&self) -> &BlockReserve {
        &self.reserve
    }

    /// Bytes in allocated slots.
    pub(crate) fn used(&self) -> usize {
        self.pools
            .iter()
            .map(|p| p.live_slots() * p.slot_size())
            .sum()
    }

    /// Objects allocated.
    pub(crate) fn objects(&self) -> usize {
        self.pools.iter().map(RawPool::live_slots).sum()
    }

    /// Bytes a new object of `size` would add to [`reserved`](Self::reserved)
    /// at most (a block, if its class has no free slot).
    pub(crate) fn growth_for(&self, size: usize) -> usize {
        let pool = &self.pools[self.class(size)];
        if pool.live_slots() < pool.block_count() * pool.slots_per_block() {
            0
        } else {
            OLD_BLOCK_SIZE
        }
    }

    /// Allocates a block for an object of `size` bytes (header included,
    /// at most [`MAX_OLD_OBJECT`]); its contents are unspecified.
    pub(crate) fn alloc(&mut self, size: usize) -> Result<NonNull<u8>, GcError> {
        let class = self.class(size);
        let pool = &mut self.pools[class];
        let slot = pool.alloc().map_err(|_| GcError::OutOfMemory {
            bytes: OLD_BLOCK_SIZE,
        })?;
        self.note_blocks(class, slot.addr().get());
        Ok(slot)
    }

    /// Keeps `block_class` current after pool `class` served a request from
    /// the block holding `addr`.
    #[inline]
    fn note_blocks(&mut self, class: usize, addr: usize) {
        let blocks = self.pools[class].block_count();
        if blocks == self.block_counts[class] + 1 {
            // A pool takes a new block only when it has no free slot, and
            // serves the request from it: the address names the new block.
            self.block_class
                .insert(addr & !(OLD_BLOCK_SIZE - 1), class as u8);
            self.block_counts[class] = blocks;
        } else if blocks != self.block_counts[class] {
            self.refresh_blocks(class);
        }
    }

    /// As [`alloc`](Self::alloc), for promotion: slots come from a per-class
    /// run, so most calls are a bit scan. Call [`flush_runs`](Self::flush_runs)
    /// before anything else looks at the space.
    #[inline(always)]
    pub(crate) fn alloc_promoted(&mut self, size: usize) -> Result<NonNull<u8>, GcError> {
        let class = self.class(size);
        let bits = match NonZeroU64::new(self.runs[class].bits) {
            Some(bits) => bits,
            None => self.refill(class)?,
        };
        let run = &mut self.runs[class];
        let index = bits.trailing_zeros() as usize;
        run.bits = bits.get() & (bits.get() - 1);
        // Slot `index` of the run's word: inside its block (a set bit is an
        // allocated slot), derived from the block's pointer.
        let slot = run.base.wrapping_add(index * CLASSES[class]);
        Ok(NonNull::new(slot).unwrap_or_else(|| unreachable!("slots are non-null")))
    }

    /// Takes a new run for `class` and returns its slots (never none).
    #[cold]
    fn refill(&mut self, class: usize) -> Result<NonZeroU64, GcError> {
        let (base, bits) = self.pools[class]
            .alloc_run()
            .map_err(|_| GcError::OutOfMemory {
                bytes: OLD_BLOCK_SIZE,
            })?;
        self.runs[class] = Run { base, bits };
        self.note_blocks(class, base.addr());
        Ok(NonZeroU64::new(bits).expect("a run holds at least one free slot"))
    }

    /// Gives the unused slots of every run back to their pools.
    pub(crate) fn flush_runs(&mut self) {
        for class in 0..CLASSES.len() {
            let run = std::mem::replace(&mut self.runs[class], Run::EMPTY);
            if run.bits != 0 {
                // SAFETY: the run came from this pool's `alloc_run` and its
                // remaining bits are the slots not handed out.
                unsafe { self.pools[class].free_run(run.base, run.bits) };
                if self.pools[class].block_count() != self.block_counts[class] {
                    self.refresh_blocks(class);
                }
            }
        }
    }

    fn refresh_blocks(&mut self, class: usize) {
        self.block_class.retain(|_, c| *c as usize != class);
        for block in self.pools[class].blocks() {
            self.block_class
                .insert(block.base().addr().get(), class as u8);
        }
        self.block_counts[class] = self.pools[class].block_count();
    }

    /// The old object whose block contains `addr`, if any.
    pub(crate) fn owner_of(&self, addr: usize) -> Option<ObjectRef> {
        let class = *self.block_class.get(&(addr & !(OLD_BLOCK_SIZE - 1)))?;
        let start = self.pools[class as usize].slot_containing(addr)?;
        // SAFETY: `start` is an allocated slot of the old space, at least 16 bytes.
        Some(unsafe { ObjectRef::from_start(start) })
    }

    /// Whether the old object whose block holds `addr` is marked; `None`
    /// if `addr` is in no old object.
    pub(crate) fn owner_marked(&self, addr: usize) -> Option<bool> {
        let class = *self.block_class.get(&(addr & !(OLD_BLOCK_SIZE - 1)))?;
        self.pools[class as usize].marked_slot_containing(addr)
    }

    /// Sets the mark bit of a live old object; `true` if it was not set.
    ///
    /// # Safety
    /// `obj` is a live object of this space.
    #[inline]
    pub(crate) unsafe fn mark(&mut self, obj: ObjectRef) -> bool {
        // SAFETY: caller contract: a live object, so its header is readable.
        let size = object::object_size(unsafe { obj.header() }.payload_size());
        let class = self.class(size);
        // SAFETY: the object's block is an allocated slot of pool `class` (module invariant).
        unsafe { self.pools[class].mark_unchecked(obj.start()) }
    }

    /// Whether a live old object is marked.
    pub(crate) fn is_marked(&self, obj: ObjectRef) -> bool {
        self.owner_pool(obj)
            .is_some_and(|pool| pool.is_marked(obj.start()) == Ok(true))
    }

    fn owner_pool(&self, obj: ObjectRef) -> Option<&RawPool> {
        let class = *self
            .block_class
            .get(&(obj.start().addr().get() & !(OLD_BLOCK_SIZE - 1)))?;
        Some(&self.pools[class as usize])
    }

    /// Clears every mark without freeing anything.
    pub(crate) fn clear_marks(&mut self) {
        for pool in &mut self.pools {
            pool.clear_marks();
        }
        self.stale_marks = false;
    }

    /// Starts a sweep that [`sweep_some`](Self::sweep_some) spreads over
    /// many steps. Until it completes, every object allocated or promoted
    /// here must be marked ([`mark`](Self::mark)): those in blocks not
    /// swept yet would be freed otherwise.
    pub(crate) fn begin_sweep(&mut self) {
        debug_assert!(self.sweep_cursors.is_none());
        self.sweep_cursors = Some(Box::new([0; CLASSES.len()]));
    }

    /// Whether a sweep begun by [`begin_sweep`](Self::begin_sweep) is
    /// still pending.
    #[inline]
    pub(crate) fn sweeping(&self) -> bool {
        self.sweep_cursors.is_some()
    }

    /// Notes that an object was marked while a sweep was pending: its mark
    /// may outlive the sweep (its block may be swept already), so the next
    /// marking must start from [`clear_marks`](Self::clear_marks).
    pub(crate) fn note_black_allocation(&mut self) {
        self.stale_marks = true;
    }

    /// Whether marks from allocation during a sweep may remain.
    pub(crate) fn has_stale_marks(&self) -> bool {
        self.stale_marks
    }

    /// Sweeps up to `max_blocks` blocks of the pending sweep; returns
    /// whether it is complete (then no sweep is pending).
    pub(crate) fn sweep_some(&mut self, max_blocks: usize) -> bool {
        let Some(mut cursors) = self.sweep_cursors.take() else {
            return true;
        };
        let mut budget = max_blocks;
        for class in 0..CLASSES.len() {
            if budget == 0 {
                break;
            }
            let pool = &mut self.pools[class];
            if cursors[class] >= pool.block_count() {
                continue;
            }
            let (outcome, next) = pool.sweep_blocks(cursors[class], budget);
            budget -= outcome.swept_blocks;
            cursors[class] = next;
            if self.pools[class].block_count() != self.block_counts[class] {
                self.refresh_blocks(class);
            }
        }
        let done = (0..CLASSES.len()).all(|c| cursors[c] >= self.pools[c].block_count());
        if !done {
            self.sweep_cursors = Some(cursors);
        }
        done
    }

    /// Completes the pending sweep, if any.
    pub(crate) fn finish_sweep(&mut self) {
        self.sweep_some(usize::MAX);
    }

    /// Frees every unmarked object and clears the marks; returns (objects,
    /// bytes) freed. Finalizers must have run before.
    pub(crate) fn sweep(&mut self) -> (usize, usize) {
        let mut freed = (0, 0);
        for (class, slot_size) in CLASSES.iter().enumerate() {
            let outcome = self.pools[class].sweep();
            freed.0 += outcome.freed_slots;
            freed.1 += outcome.freed_slots * slot_size;
            if self.pools[class].block_count() != self.block_counts[class] {
                self.refresh_blocks(class);
            }
        }
        freed
    }

    /// Calls `f` on every allocated object.
    pub(crate) fn for_each_object(&self, mut f: impl FnMut(ObjectRef)) {
        for pool in &self.pools {
            for block in pool.blocks() {
                for start in block.allocated_slots() {
                    // SAFETY: allocated slots of the old space are object blocks.
                    f(unsafe { ObjectRef::from_start(start) });
                }
            }
        }
    }
}
