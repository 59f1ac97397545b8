//! Thread caches: each thread keeps, per shared pool it uses, two
//! magazines of free slots (`loaded` and `spare`). Allocation pops from
//! `loaded` and freeing pushes onto it — no lock, no atomic operation.
//!
//! When `loaded` runs empty, a full `spare` takes its place; otherwise a
//! full magazine comes from the depot (or fresh slots are carved). When
//! `loaded` is full, an empty `spare` takes its place; otherwise the full
//! spare goes to the depot. So a thread touches the depot at most once per
//! `magazine_slots` operations, and a batch of up to `2 × magazine_slots`
//! allocations then frees never touches it (Bonwick's magazines, 2001).
//!
//! The caches of a thread live in one `thread_local!`, indexed by the pool
//! core's small id (ids are recycled only once a core is gone); a cache holds an `Arc` of its core, so slots in a
//! cache never outlive their blocks. When the thread exits, its caches go
//! back to the depots. A free or allocation that cannot reach the thread
//! cache (during thread-local destruction) goes to the depot directly.
//!
//! # Invariants
//! - The `RefCell` is borrowed only inside one `alloc`/`free`/`flush` call,
//!   during which no user code runs (a box's value is dropped before its
//!   slot is freed), so it is never borrowed twice; if it were, the
//!   operation would take the uncached path instead of panicking.
//! - `LocalCache::published` is what this cache last added to
//!   `SlotCore::cached`.

use core::cell::RefCell;
use core::ptr::NonNull;

use super::depot::Magazine;
use super::slot_core::SlotCore;
use crate::error::PoolError;
use crate::sync::{Arc, Ordering, pool_thread_local};

/// The next depot home shard, handed to threads round robin.
#[cfg(not(loom))]
fn next_home() -> usize {
    static NEXT_HOME: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    NEXT_HOME.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Under loom the counter must start again with every execution, or the
/// model would not be deterministic.
#[cfg(loom)]
fn next_home() -> usize {
    loom::lazy_static! {
        static ref NEXT_HOME: crate::sync::AtomicUsize = crate::sync::AtomicUsize::new(0);
    }
    NEXT_HOME.fetch_add(1, Ordering::Relaxed)
}

struct LocalCache {
    core: Arc<SlotCore>,
    /// `core.magazine_slots`, kept here so the free path reads one line.
    capacity: usize,
    loaded: Vec<NonNull<u8>>,
    spare: Vec<NonNull<u8>>,
    /// Allocations since the last publish. Frees are not counted on the
    /// fast path: they follow from the slots that came in and went out
    /// (see [`LocalCache::publish`]).
    allocs: u64,
    /// Slots brought into this cache (depot, carving) since the last publish.
    received: u64,
    /// Slots sent to the depot since the last publish.
    sent: u64,
    published: usize,
}

pub(crate) struct ThreadCaches {
    home: usize,
    /// Indexed by `SlotCore::id`.
    caches: Vec<Option<LocalCache>>,
}

pool_thread_local! {
    static CACHES: RefCell<ThreadCaches> = RefCell::new(ThreadCaches {
        home: next_home(),
        caches: Vec::new(),
    });
}

/// Allocates a slot of `core` through the calling thread's cache.
///
/// # Errors
/// [`PoolError::OutOfMemory`] if a new block was needed and refused.
#[inline(always)]
pub(crate) fn alloc(core: &Arc<SlotCore>) -> Result<NonNull<u8>, PoolError> {
    match alloc_from_loaded(core) {
        Some(slot) => Ok(slot),
        None => alloc_slow(core),
    }
}

/// The fast path: a pop from the thread's loaded magazine, or `None`.
/// Returns only a pointer, so nothing larger than a register crosses the
/// thread-local access.
#[inline(always)]
pub(crate) fn alloc_from_loaded(core: &Arc<SlotCore>) -> Option<NonNull<u8>> {
    CACHES
        .try_with(|caches| {
            let mut caches = caches.try_borrow_mut().ok()?;
            let cache = caches.find(core)?;
            let slot = cache.loaded.pop()?;
            cache.allocs += 1;
            Some(slot)
        })
        .ok()
        .flatten()
}

/// Everything but the fast path: a new cache, a refill, or no cache at all.
#[cold]
#[inline(never)]
pub(crate) fn alloc_slow(core: &Arc<SlotCore>) -> Result<NonNull<u8>, PoolError> {
    let cached = CACHES.try_with(|caches| {
        let mut caches = caches.try_borrow_mut().ok()?;
        Some(caches.alloc(core))
    });
    match cached {
        Ok(Some(result)) => result,
        _ => alloc_uncached(core),
    }
}

/// Frees a slot of `core` into the calling thread's cache.
///
/// # Safety
/// `slot` is a carved slot of `core` that its holder gives up: it is in no
/// cache, the depot, or anyone's hands afterwards.
#[inline(always)]
pub(crate) unsafe fn free(core: &Arc<SlotCore>, slot: NonNull<u8>) {
    let pushed = CACHES.try_with(|caches| {
        let Ok(mut caches) = caches.try_borrow_mut() else {
            return false;
        };
        let Some(cache) = caches.find(core) else {
            return false;
        };
        if cache.loaded.len() < cache.capacity {
            cache.loaded.push(slot);
            return true;
        }
        false
    });
    if !matches!(pushed, Ok(true)) {
        free_slow(core, slot);
    }
}

/// Everything but the fast path of [`free`].
#[cold]
#[inline(never)]
fn free_slow(core: &Arc<SlotCore>, slot: NonNull<u8>) {
    let cached = CACHES.try_with(|caches| {
        let Ok(mut caches) = caches.try_borrow_mut() else {
            return false;
        };
        caches.free(core, slot);
        true
    });
    if !matches!(cached, Ok(true)) {
        free_uncached(core, slot);
    }
}

/// Returns the calling thread's cached slots of `core` to the depot and
/// forgets the cache (so the thread holds no `Arc` of the core).
pub(crate) fn forget(core: &Arc<SlotCore>) {
    let _ = CACHES.try_with(|caches| {
        if let Ok(mut caches) = caches.try_borrow_mut() {
            let home = caches.home;
            if caches.find(core).is_some() {
                let mut cache = caches.caches[core.id].take().expect("just found");
                cache.flush(home);
            }
        }
    });
}

/// Returns the calling thread's cached slots of `core` to the depot, keeping
/// the (empty) cache.
pub(crate) fn flush(core: &Arc<SlotCore>) {
    let _ = CACHES.try_with(|caches| {
        if let Ok(mut caches) = caches.try_borrow_mut() {
            let home = caches.home;
            if let Some(cache) = caches.find(core) {
                cache.flush(home);
            }
        }
    });
}

#[cold]
#[inline(never)]
fn alloc_uncached(core: &SlotCore) -> Result<NonNull<u8>, PoolError> {
    core.counters.allocs.fetch_add(1, Ordering::Relaxed);
    if let Some(slot) = core.depot.take_one(0) {
        return Ok(slot);
    }
    let mut one = Vec::with_capacity(1);
    core.carve(&mut one, 1).inspect_err(|_| {
        core.counters.allocs.fetch_sub(1, Ordering::Relaxed);
    })?;
    Ok(one[0])
}

#[cold]
#[inline(never)]
fn free_uncached(core: &SlotCore, slot: NonNull<u8>) {
    core.counters.frees.fetch_add(1, Ordering::Relaxed);
    core.depot.put_one(0, slot, core.magazine_slots);
}

impl ThreadCaches {
    /// This thread's cache of `core`: the entry at the core's id. (An id
    /// is reused only after its core is dropped, which no cache allows
    /// while it holds the core's `Arc`; the pointer check is a safety net.)
    #[inline(always)]
    fn find(&mut self, core: &Arc<SlotCore>) -> Option<&mut LocalCache> {
        let cache = self.caches.get_mut(core.id)?.as_mut()?;
        if Arc::ptr_eq(&cache.core, core) {
            Some(cache)
        } else {
            None
        }
    }

    fn alloc(&mut self, core: &Arc<SlotCore>) -> Result<NonNull<u8>, PoolError> {
        let home = self.home;
        if let Some(cache) = self.find(core) {
            if let Some(slot) = cache.loaded.pop() {
                cache.allocs += 1;
                return Ok(slot);
            }
            return cache.refill(home);
        }
        self.register(core).refill(home)
    }

    fn free(&mut self, core: &Arc<SlotCore>, slot: NonNull<u8>) {
        let home = self.home;
        if let Some(cache) = self.find(core) {
            if cache.loaded.len() < cache.capacity {
                cache.loaded.push(slot);
                return;
            }
            return cache.make_room_and_free(home, slot);
        }
        self.register(core).make_room_and_free(home, slot);
    }

    /// A new cache for `core` (and, while at it, drops the caches of pools
    /// whose handle is gone).
    #[cold]
    #[inline(never)]
    fn register(&mut self, core: &Arc<SlotCore>) -> &mut LocalCache {
        let home = self.home;
        for entry in &mut self.caches {
            let closed = entry
                .as_ref()
                .is_some_and(|cache| cache.core.closed.load(Ordering::Relaxed) != 0);
            if closed && let Some(mut cache) = entry.take() {
                cache.flush(home);
            }
        }
        if self.caches.len() <= core.id {
            self.caches.resize_with(core.id + 1, || None);
        }
        if let Some(mut other) = self.caches[core.id].take() {
            // Unreachable by the id invariant; keep nothing of it anyway.
            other.flush(home);
        }
        let magazine = core.magazine_slots;
        self.caches[core.id].insert(LocalCache {
            core: Arc::clone(core),
            capacity: magazine,
            loaded: Vec::with_capacity(magazine),
            spare: Vec::with_capacity(magazine),
            allocs: 0,
            received: 0,
            sent: 0,
            published: 0,
        })
    }
}

impl LocalCache {
    /// `loaded` is empty: swap in a non-empty spare, or a magazine from the
    /// depot, or carve fresh slots; then allocate.
    #[cold]
    #[inline(never)]
    fn refill(&mut self, home: usize) -> Result<NonNull<u8>, PoolError> {
        debug_assert!(self.loaded.is_empty());
        if !self.spare.is_empty() {
            core::mem::swap(&mut self.loaded, &mut self.spare);
        } else {
            let empty = Magazine(core::mem::take(&mut self.loaded));
            match self.core.depot.take(home, Some(empty)) {
                Some(full) => self.loaded = full.0,
                None => {
                    self.loaded = Vec::with_capacity(self.capacity);
                    self.core.carve(&mut self.loaded, self.capacity)?;
                }
            }
            self.received += self.loaded.len() as u64;
        }
        let slot = self.loaded.pop().expect("a refilled magazine has a slot");
        self.allocs += 1;
        self.publish();
        Ok(slot)
    }

    /// `loaded` is full: swap in an empty spare, or leave the full spare in
    /// the depot; then free.
    #[cold]
    #[inline(never)]
    fn make_room_and_free(&mut self, home: usize, slot: NonNull<u8>) {
        if self.loaded.len() >= self.capacity {
            if self.spare.is_empty() {
                core::mem::swap(&mut self.loaded, &mut self.spare);
            } else {
                let full = Magazine(core::mem::take(&mut self.spare));
                self.sent += full.0.len() as u64;
                let empty = self.core.depot.put(home, full);
                let capacity = self.capacity;
                let empty = empty.map_or_else(|| Vec::with_capacity(capacity), |m| m.0);
                self.spare = core::mem::replace(&mut self.loaded, empty);
            }
        }
        self.loaded.push(slot);
        self.publish();
    }

    /// Brings the core's counters up to date with this cache. Frees are
    /// what balances the books: `cached now = cached before + received -
    /// sent + frees - allocs`.
    fn publish(&mut self) {
        let core = &self.core;
        let cached = self.loaded.len() + self.spare.len();
        let frees = (cached as u64 + self.sent + self.allocs)
            .checked_sub(self.published as u64 + self.received)
            .expect("a cache's slots are conserved");
        core.counters
            .allocs
            .fetch_add(core::mem::take(&mut self.allocs), Ordering::Relaxed);
        core.counters.frees.fetch_add(frees, Ordering::Relaxed);
        self.received = 0;
        self.sent = 0;
        if cached >= self.published {
            core.counters
                .cached
                .fetch_add(cached - self.published, Ordering::Relaxed);
        } else {
            core.counters
                .cached
                .fetch_sub(self.published - cached, Ordering::Relaxed);
        }
        self.published = cached;
    }

    /// Puts every cached slot into the depot.
    fn flush(&mut self, home: usize) {
        for magazine in [&mut self.loaded, &mut self.spare] {
            if !magazine.is_empty() {
                let full = Magazine(core::mem::take(magazine));
                self.sent += full.0.len() as u64;
                // The empty buffer handed back is dropped: this cache is
                // going away or idle.
                drop(self.core.depot.put(home, full));
            }
        }
        self.publish();
    }
}

impl Drop for ThreadCaches {
    fn drop(&mut self) {
        let home = self.home;
        for cache in self.caches.iter_mut().flatten() {
            cache.flush(home);
        }
    }
}
