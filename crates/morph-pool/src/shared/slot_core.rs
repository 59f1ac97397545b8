//! `SlotCore`: the state one shared pool (one slot size) keeps for all
//! threads — its blocks, the depot of free slots, the block map and the
//! per-slot state bits of the checked raw API.
//!
//! # Block layout
//!
//! A shared block is `block_size` bytes aligned to `block_size`, like a
//! [`RawPool`](crate::RawPool) block, but its header is only the **state
//! words**: one `AtomicU64` per 64 slots, bit set iff the slot is held by a
//! user of the checked raw API (allocated through
//! [`SlotCore::alloc_checked`], not yet freed). The header takes the first
//! slots; slots are cut from the rest.
//!
//! ```text
//! base ─► | state words (AtomicU64 × ⌈slots/64⌉) | slot | slot | ... |
//! ```
//!
//! Slots are **carved** from the newest block in order, a magazine at a
//! time, under the `blocks` lock; after that a slot never goes back to its
//! block: it circulates between thread caches and the depot until the pool
//! is dropped. So blocks are never given back while the pool is shared, and
//! any pointer a checked free reads through stays valid.
//!
//! # Invariants
//! 1. Every block in `Blocks::list` came from `std::alloc::alloc` with
//!    `geometry.layout()`, has its state words initialised, is in `map`, and
//!    lives until `SlotCore` is dropped.
//! 2. A carved slot is in exactly one place: a thread cache, the depot, or a
//!    user's hands. Slots `>= Blocks::next_slot` of the current block are
//!    not carved yet.
//! 3. A slot's state bit is set iff it was handed out by `alloc_checked`
//!    and not given back by `free_checked` since; the typed API never sets
//!    it.
//! 4. Pointers into blocks are derived from the block base (strict
//!    provenance); addresses are only compared.

use core::marker::PhantomData;
use core::ops::Deref;
use core::ptr::NonNull;

use crossbeam_utils::CachePadded;

use super::block_map::BlockMap;
use super::depot::Depot;
use super::page_map;
use crate::block::Geometry;
use crate::config::{PoolConfig, SLOT_GRANULE};
use crate::error::PoolError;
use crate::stats::PoolStats;
use crate::sync::{Arc, AtomicU64, AtomicUsize, Mutex, MutexGuard, Ordering};

/// Blocks and the carving cursor.
#[derive(Debug)]
struct Blocks {
    list: Vec<NonNull<u8>>,
    /// Next slot to carve from the last block of `list`.
    next_slot: usize,
}

const _: () = assert!(align_of::<SlotCore>() > page_map::TAG_MASK);

/// Small ids for cores, so a thread finds its cache of a core by indexing.
/// An id goes back to the free list when its core is dropped.
static CORE_IDS: std::sync::Mutex<(usize, Vec<usize>)> = std::sync::Mutex::new((0, Vec::new()));

fn take_core_id() -> usize {
    let mut ids = CORE_IDS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match ids.1.pop() {
        Some(id) => id,
        None => {
            ids.0 += 1;
            ids.0 - 1
        }
    }
}

fn give_back_core_id(id: usize) {
    let mut ids = CORE_IDS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    ids.1.push(id);
}

/// The counters caches publish into.
#[derive(Debug)]
pub(crate) struct Counters {
    /// Slots carved so far.
    carved: AtomicUsize,
    /// Free slots in thread caches, as published by them.
    pub(crate) cached: AtomicUsize,
    pub(crate) allocs: AtomicU64,
    pub(crate) frees: AtomicU64,
}

/// One shared pool's state (one slot size). Aligned past the page map's
/// tag bits, so a page entry can carry the core's id.
#[derive(Debug)]
#[repr(align(64))]
pub(crate) struct SlotCore {
    /// Index of this core's cache in every thread's caches; unique among
    /// live cores.
    pub(crate) id: usize,
    pub(crate) geometry: Geometry,
    /// Slots per magazine.
    pub(crate) magazine_slots: usize,
    pub(crate) depot: Depot,
    blocks: CachePadded<Mutex<Blocks>>,
    map: BlockMap,
    /// Written by every thread's slow path: a cache line of their own, so
    /// those writes do not evict the fields above from other threads.
    pub(crate) counters: CachePadded<Counters>,
    /// Set when the pool handle is dropped: caches of other threads let go
    /// of the core when they next notice.
    pub(crate) closed: AtomicUsize,
}

// SAFETY: the core owns its blocks (invariant 1); the raw pointers it holds
// are to memory nobody else owns, and every mutable part is behind a mutex
// or atomic, so it may move to and be shared between threads.
unsafe impl Send for SlotCore {}
// SAFETY: as above — `&SlotCore` only reads immutable fields, locks, or
// uses atomics.
unsafe impl Sync for SlotCore {}

/// Depot shards for this machine: twice the hardware threads, rounded up
/// to a power of two (fewer under loom).
fn depot_shards() -> usize {
    if cfg!(loom) {
        return 2;
    }
    let threads = std::thread::available_parallelism().map_or(4, |n| n.get());
    (threads * 2).next_power_of_two().min(64)
}

/// A core borrowed from an `Arc<SlotCore>` for `'a`, kept as one pointer
/// to the core itself: what a box carries, so a free reaches the core's id
/// with one load where `&Arc<SlotCore>` needs two. It can give back an
/// `Arc` of its core (a thread cache keeps one).
///
/// Invariant: the pointer is `Arc::as_ptr` of an `Arc` that lives for `'a`
/// ([`CoreRef::new`] borrows it; [`CoreRef::from_page_entry`] takes the pointer
/// the core entered in the page map, and its caller vouches for `'a`), so
/// it has the provenance of the whole `Arc` allocation.
#[derive(Clone, Copy)]
pub(crate) struct CoreRef<'a> {
    ptr: NonNull<SlotCore>,
    _arc: PhantomData<&'a Arc<SlotCore>>,
}

// SAFETY: a `CoreRef` is a `&'a SlotCore` with another representation, and
// `SlotCore` is `Sync`.
unsafe impl Send for CoreRef<'_> {}
// SAFETY: as above.
unsafe impl Sync for CoreRef<'_> {}

impl<'a> CoreRef<'a> {
    #[inline(always)]
    pub(crate) fn new(core: &'a Arc<SlotCore>) -> Self {
        // SAFETY: `Arc::as_ptr` points into a live allocation: not null.
        let ptr = unsafe { NonNull::new_unchecked(Arc::as_ptr(core).cast_mut()) };
        Self {
            ptr,
            _arc: PhantomData,
        }
    }

    /// The core of a page-map entry (untagged).
    ///
    /// # Safety
    /// `core` is the untagged page-map entry of a slot of a core whose
    /// `Arc` lives for `'a`.
    #[inline(always)]
    pub(crate) unsafe fn from_page_entry(core: *const SlotCore) -> Self {
        debug_assert!(!core.is_null(), "a slot's page is in the page map");
        Self {
            // SAFETY: the slot's core entered the block's pages with its
            // `Arc::as_ptr` before the slot left it and clears them only
            // when dropped, which the caller rules out for `'a` (page-map
            // invariant 1): the entry is that pointer, not null.
            ptr: unsafe { NonNull::new_unchecked(core.cast_mut()) },
            _arc: PhantomData,
        }
    }

    /// The core's address, for identity comparisons.
    #[inline(always)]
    pub(crate) fn as_ptr(self) -> *const SlotCore {
        self.ptr.as_ptr()
    }

    /// A new `Arc` of the core.
    pub(crate) fn to_arc(self) -> Arc<SlotCore> {
        let ptr = self.as_ptr();
        // SAFETY: `ptr` is `Arc::as_ptr` of an `Arc` alive for `'a`
        // (type invariant), so the strong count is at least one here...
        unsafe { Arc::increment_strong_count(ptr) };
        // SAFETY: ...and the count just added is the one this `Arc` owns.
        unsafe { Arc::from_raw(ptr) }
    }
}

impl Deref for CoreRef<'_> {
    type Target = SlotCore;
    #[inline(always)]
    fn deref(&self) -> &SlotCore {
        // SAFETY: the core lives for `'a` in its `Arc` (type invariant) and
        // is only ever shared.
        unsafe { self.ptr.as_ref() }
    }
}

impl SlotCore {
    /// A core for `slot_size`-byte slots with `granule`-multiple sizes.
    pub(crate) fn new(
        slot_size: usize,
        config: PoolConfig,
        magazine_slots: usize,
    ) -> Result<Self, PoolError> {
        config.validate()?;
        let slot_count = config.block_size / slot_size.max(1);
        let header = slot_count.div_ceil(64) * size_of::<AtomicU64>();
        let geometry = Geometry::with_header(slot_size, config.block_size, SLOT_GRANULE, header)?;
        Ok(Self {
            id: take_core_id(),
            geometry,
            magazine_slots: magazine_slots.max(1),
            depot: Depot::new(depot_shards()),
            blocks: CachePadded::new(Mutex::new(Blocks {
                list: Vec::new(),
                next_slot: geometry.slot_count as usize,
            })),
            map: BlockMap::new(config.block_size.trailing_zeros()),
            counters: CachePadded::new(Counters {
                carved: AtomicUsize::new(0),
                cached: AtomicUsize::new(0),
                allocs: AtomicU64::new(0),
                frees: AtomicU64::new(0),
            }),
            closed: AtomicUsize::new(0),
        })
    }

    fn lock_blocks(&self) -> MutexGuard<'_, Blocks> {
        self.blocks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn state_words(&self) -> usize {
        self.geometry.word_count()
    }

    /// Carves up to `count` fresh slots into `into` (at least one unless it
    /// fails).
    ///
    /// # Errors
    /// [`PoolError::OutOfMemory`] if no slot could be carved.
    #[cold]
    #[inline(never)]
    pub(crate) fn carve(
        this: CoreRef<'_>,
        into: &mut Vec<NonNull<u8>>,
        count: usize,
    ) -> Result<(), PoolError> {
        let slot_count = this.geometry.slot_count as usize;
        let slot_size = this.geometry.slot_size;
        let mut blocks = this.lock_blocks();
        let mut carved = 0;
        while carved < count {
            if blocks.next_slot == slot_count {
                match this.new_block(page_map::tagged(this.as_ptr(), this.id)) {
                    Ok(block) => {
                        blocks.list.push(block);
                        blocks.next_slot = this.geometry.first_slot as usize;
                    }
                    Err(err) if carved == 0 => return Err(err),
                    Err(_) => break,
                }
            }
            let block = *blocks.list.last().expect("a block was just ensured");
            // SAFETY: `next_slot < slot_count`, so the slot lies inside the
            // block (invariant 1); derived from the block base (invariant 4).
            into.push(unsafe { block.add(blocks.next_slot * slot_size) });
            blocks.next_slot += 1;
            carved += 1;
        }
        this.counters.carved.fetch_add(carved, Ordering::Relaxed);
        Ok(())
    }

    /// A new block with zeroed state words, entered in the block map and
    /// in the page map with `entry` (this core with its `Arc`'s provenance,
    /// tagged).
    fn new_block(&self, entry: *const SlotCore) -> Result<NonNull<u8>, PoolError> {
        let layout = self.geometry.layout();
        let out_of_memory = PoolError::OutOfMemory {
            bytes: layout.size(),
        };
        // SAFETY: the layout has a non-zero size (block_size >= 4 KiB).
        let base =
            NonNull::new(unsafe { std::alloc::alloc(layout) }).ok_or(out_of_memory.clone())?;
        for word in 0..self.state_words() {
            // SAFETY: `base` is a fresh block of this core's geometry.
            let word = unsafe { self.state_word(base, word) };
            // SAFETY: in bounds and aligned (state_word), not yet written.
            unsafe { word.write(AtomicU64::new(0)) };
        }
        // The page map first: it can take an entry back, the block map
        // cannot (and must never name a freed block).
        if !page_map::insert(base, layout.size(), entry) {
            // SAFETY: just made here with this layout, never handed out.
            unsafe { self.release_block(base) };
            return Err(out_of_memory);
        }
        if !self.map.insert(base.addr().get()) {
            page_map::remove(base, layout.size());
            // SAFETY: just made here with this layout, never handed out.
            unsafe { self.release_block(base) };
            return Err(out_of_memory);
        }
        Ok(base)
    }

    /// Pointer to state word `word` of `block`.
    ///
    /// # Safety
    /// `block` is the base of a block of this core's geometry (allocated,
    /// not necessarily initialised) and `word < self.state_words()`.
    #[inline(always)]
    unsafe fn state_word(&self, block: NonNull<u8>, word: usize) -> NonNull<AtomicU64> {
        debug_assert!(word < self.state_words());
        // SAFETY: the state words fit before `first_slot`
        // (Geometry::with_header) inside the block-aligned block, so the
        // word is in bounds and aligned; derived from the base (invariant 4).
        unsafe { block.cast::<AtomicU64>().add(word) }
    }

    /// Drops a block's state words and frees it.
    ///
    /// # Safety
    /// `block` came from `new_block` of this core and no pointer into it is
    /// used afterwards.
    unsafe fn release_block(&self, block: NonNull<u8>) {
        for word in 0..self.state_words() {
            // SAFETY: `block` is a block of this core (caller contract).
            let word = unsafe { self.state_word(block, word) };
            // SAFETY: written in `new_block`, dropped once here.
            unsafe { word.drop_in_place() };
        }
        // SAFETY: allocated in `new_block` with this layout (caller contract).
        unsafe { std::alloc::dealloc(block.as_ptr(), self.geometry.layout()) };
    }

    /// The state word and bit of a slot known to be ours.
    ///
    /// # Safety
    /// `slot` is the start of a usable slot of a block of this core.
    #[inline(always)]
    unsafe fn state_of(&self, slot: NonNull<u8>) -> (&AtomicU64, u64) {
        let offset = slot.addr().get() & (self.geometry.block_size - 1);
        let index = self.geometry.slot_of_offset(offset);
        // SAFETY: `slot` is `offset` bytes into its block (caller contract),
        // so the base is in the same allocation; derived from `slot`.
        let base = unsafe { slot.byte_sub(offset) };
        // SAFETY: `base` is a block of this core; `index / 64` is below its
        // word count because `index < slot_count`.
        let word = unsafe { self.state_word(base, index / 64) };
        // SAFETY: an initialised state word (invariant 1), alive as long as
        // the core (`&self`).
        let word = unsafe { word.as_ref() };
        (word, 1 << (index % 64))
    }

    /// Marks a slot just taken from a cache as held by the checked raw API.
    ///
    /// # Safety
    /// `slot` was just handed out by a cache of this core.
    #[inline]
    pub(crate) unsafe fn mark_checked_alloc(&self, slot: NonNull<u8>) {
        // SAFETY: a slot handed out by this core's cache (caller contract).
        let (word, bit) = unsafe { self.state_of(slot) };
        let old = word.fetch_or(bit, Ordering::AcqRel);
        debug_assert_eq!(old & bit, 0, "a free slot was marked as held");
    }

    /// Checks that `ptr` is a slot held through the checked raw API and
    /// clears its state bit. O(1): the block map, a division by
    /// multiplication, one atomic read-modify-write. On error nothing
    /// changes.
    ///
    /// # Errors
    /// [`PoolError::ForeignPointer`], [`PoolError::InteriorPointer`], or
    /// [`PoolError::DoubleFree`] (also for a slot the typed API holds: it
    /// was never allocated through the checked API).
    #[inline]
    pub(crate) fn check_free(&self, ptr: NonNull<u8>) -> Result<(), PoolError> {
        let addr = ptr.addr().get();
        let base = addr & self.geometry.block_mask();
        if !self.map.contains(base) {
            return Err(PoolError::ForeignPointer { addr });
        }
        let offset = addr - base;
        let index = self.geometry.slot_of_offset(offset);
        if index < self.geometry.first_slot as usize || index >= self.geometry.slot_count as usize {
            return Err(PoolError::ForeignPointer { addr });
        }
        let slot_start = base + index * self.geometry.slot_size;
        if slot_start != addr {
            return Err(PoolError::InteriorPointer { addr, slot_start });
        }
        // SAFETY: `ptr` is the start of a usable slot of one of our blocks
        // (map and range checks above); blocks live as long as the core.
        let (word, bit) = unsafe { self.state_of(ptr) };
        let old = word.fetch_and(!bit, Ordering::AcqRel);
        if old & bit == 0 {
            return Err(PoolError::DoubleFree { addr });
        }
        Ok(())
    }

    /// Blocks held.
    pub(crate) fn block_count(&self) -> usize {
        self.lock_blocks().list.len()
    }

    /// Counters; exact once every thread cache of this pool is flushed.
    pub(crate) fn stats(&self) -> PoolStats {
        let blocks = self.block_count();
        let carved = self.counters.carved.load(Ordering::Relaxed);
        let free = self.depot.free_slots() + self.counters.cached.load(Ordering::Relaxed);
        PoolStats {
            slot_size: self.geometry.slot_size,
            block_size: self.geometry.block_size,
            blocks,
            empty_blocks: 0,
            capacity_slots: blocks * self.geometry.usable as usize,
            live_slots: carved.saturating_sub(free),
            total_allocs: self.counters.allocs.load(Ordering::Relaxed),
            total_frees: self.counters.frees.load(Ordering::Relaxed),
            blocks_allocated: blocks as u64,
            blocks_released: 0,
            peak_blocks: blocks,
        }
    }
}

impl Drop for SlotCore {
    fn drop(&mut self) {
        let blocks = core::mem::take(&mut self.lock_blocks().list);
        for block in blocks {
            page_map::remove(block, self.geometry.block_size);
            // SAFETY: the core is going away: no cache, box or raw user
            // holds one of its slots any more (the handles borrow or own an
            // `Arc` of it), so nothing points into the block.
            unsafe { self.release_block(block) };
        }
        give_back_core_id(self.id);
    }
}
