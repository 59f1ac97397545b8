//! `SyncPool`: a pool shared between threads, with per-thread slot caches.
//!
//! # Design
//!
//! One [`RawPool`] holds every block. It sits, with the counters the caches
//! publish, behind a single mutex inside [`CachePadded`], so the lock word
//! does not share a cache line with anything the threads read on their own
//! paths.
//!
//! Each thread takes a [`LocalCache`] (`pool.cache()`): a small stack of free
//! slots it owns alone. Allocation pops from it and freeing pushes onto it,
//! with no lock and no atomic operation. An empty cache *refills* half its
//! capacity from the shared pool under one lock acquisition; a full cache
//! *flushes* half its slots back under one lock acquisition; dropping a cache
//! flushes all of it. So the lock is taken at most once per
//! `capacity / 2` operations of a thread.
//!
//! # Memory ordering
//!
//! All hand-over of slots between threads goes through the mutex: a thread's
//! writes to a slot happen before its flush releases the lock, and another
//! thread's refill acquires the lock before handing the slot out again. A
//! slot freed by a thread other than the one that allocated it needs no
//! extra care: the user already synchronised to pass the pointer over, and
//! the freeing thread's cache flushes it under the lock like any other.
//! There are no atomics to get wrong; the loom tests (`cfg(loom)`) check that
//! claim over every interleaving of 2-3 threads.
//!
//! # Invariants
//! - A slot is in at most one place: allocated to a user, in exactly one
//!   cache, or free in the shared `RawPool`.
//! - `Shared::cached_slots` is the number of slots in all caches; the shared
//!   pool counts those slots as allocated.
//! - Checked frees happen in the shared pool: a flush hands every cached slot
//!   to [`RawPool::free`], which panics naming a foreign or double free that
//!   slipped into a cache.

use core::ptr::NonNull;

use crossbeam_utils::CachePadded;

use crate::config::PoolConfig;
use crate::error::PoolError;
use crate::raw::RawPool;
use crate::stats::PoolStats;
use crate::sync::{Mutex, MutexGuard};

/// Default number of free slots a [`LocalCache`] holds at most.
pub const DEFAULT_CACHE_CAPACITY: usize = 64;

#[derive(Debug)]
struct Shared {
    raw: RawPool,
    /// Slots sitting in caches (allocated as far as `raw` knows).
    cached_slots: usize,
    /// Slots handed to users, as published by caches and direct calls.
    user_allocs: u64,
    /// Slots taken back from users, as published.
    user_frees: u64,
}

/// A thread-safe pool of fixed-size slots; threads allocate and free through
/// their own [`LocalCache`].
///
/// ```
/// use morph_pool::{PoolConfig, SyncPool};
///
/// let pool = SyncPool::new(64, PoolConfig::default(), 16)?;
/// std::thread::scope(|scope| {
///     for _ in 0..2 {
///         scope.spawn(|| {
///             let mut cache = pool.cache();
///             let slot = cache.alloc().unwrap();
///             // SAFETY: 64 bytes, 16-aligned, ours until freed.
///             unsafe { slot.cast::<u64>().write(1) };
///             // SAFETY: `slot` came from this pool and is freed once.
///             unsafe { cache.free(slot) };
///         });
///     }
/// });
/// assert_eq!(pool.stats().live_slots, 0);
/// # Ok::<(), morph_pool::PoolError>(())
/// ```
#[derive(Debug)]
pub struct SyncPool {
    shared: CachePadded<Mutex<Shared>>,
    cache_capacity: usize,
}

impl SyncPool {
    /// A shared pool of `slot_size`-byte slots whose caches hold at most
    /// `cache_capacity` free slots (at least 2 is used).
    ///
    /// # Errors
    /// As [`RawPool::new`].
    ///
    /// ```
    /// let pool = morph_pool::SyncPool::new(32, Default::default(), 8)?;
    /// assert_eq!(pool.slot_size(), 32);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn new(
        slot_size: usize,
        config: PoolConfig,
        cache_capacity: usize,
    ) -> Result<Self, PoolError> {
        let raw = RawPool::new(slot_size, config)?;
        Ok(Self {
            shared: CachePadded::new(Mutex::new(Shared {
                raw,
                cached_slots: 0,
                user_allocs: 0,
                user_frees: 0,
            })),
            cache_capacity: cache_capacity.max(2),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic while holding the lock can only come from a detected
        // invalid free (the pool itself is left consistent), so the data is
        // still sound to use.
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Bytes per slot.
    ///
    /// ```
    /// assert_eq!(morph_pool::SyncPool::new(48, Default::default(), 8)?.slot_size(), 48);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn slot_size(&self) -> usize {
        self.lock().raw.slot_size()
    }

    /// A cache for the calling thread. Create one per thread (it is not
    /// `Send`); dropping it returns its free slots to the shared pool.
    ///
    /// ```
    /// let pool = morph_pool::SyncPool::new(32, Default::default(), 8)?;
    /// let mut cache = pool.cache();
    /// let slot = cache.alloc()?;
    /// assert_eq!(cache.cached(), 3); // refilled half of 8, handed out one
    /// # let _ = slot;
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn cache(&self) -> LocalCache<'_> {
        LocalCache {
            pool: self,
            slots: Vec::with_capacity(self.cache_capacity),
            published_cached: 0,
            pending_allocs: 0,
            pending_frees: 0,
        }
    }

    /// Allocates one slot directly from the shared pool (takes the lock).
    ///
    /// # Errors
    /// [`PoolError::OutOfMemory`].
    ///
    /// ```
    /// let pool = morph_pool::SyncPool::new(32, Default::default(), 8)?;
    /// let slot = pool.alloc()?;
    /// pool.free(slot)?;
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn alloc(&self) -> Result<NonNull<u8>, PoolError> {
        let mut shared = self.lock();
        let slot = shared.raw.alloc()?;
        shared.user_allocs += 1;
        Ok(slot)
    }

    /// Frees one slot directly into the shared pool, checked (takes the
    /// lock).
    ///
    /// # Errors
    /// [`PoolError::ForeignPointer`], [`PoolError::InteriorPointer`] or
    /// [`PoolError::DoubleFree`]; nothing changes on error.
    ///
    /// ```
    /// use morph_pool::PoolError;
    /// let pool = morph_pool::SyncPool::new(32, Default::default(), 8)?;
    /// let slot = pool.alloc()?;
    /// pool.free(slot)?;
    /// assert!(matches!(pool.free(slot), Err(PoolError::DoubleFree { .. })));
    /// # Ok::<(), PoolError>(())
    /// ```
    pub fn free(&self, ptr: NonNull<u8>) -> Result<(), PoolError> {
        let mut shared = self.lock();
        shared.raw.free(ptr)?;
        shared.user_frees += 1;
        Ok(())
    }

    /// Counters of the shared pool. `live_slots` counts slots held by users
    /// (not those waiting in caches); `total_allocs`/`total_frees` count
    /// what caches have published so far (exact once every cache is flushed
    /// or dropped).
    ///
    /// ```
    /// let pool = morph_pool::SyncPool::new(32, Default::default(), 8)?;
    /// {
    ///     let mut cache = pool.cache();
    ///     let _slot = cache.alloc()?;
    ///     assert_eq!(pool.stats().live_slots, 1);
    /// } // the slot stays allocated; the cache's free slots go back
    /// assert_eq!(pool.cached_slots(), 0);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn stats(&self) -> PoolStats {
        let shared = self.lock();
        let mut stats = shared.raw.stats();
        stats.live_slots -= shared.cached_slots;
        stats.total_allocs = shared.user_allocs;
        stats.total_frees = shared.user_frees;
        stats
    }

    /// Free slots currently held in caches.
    ///
    /// ```
    /// let pool = morph_pool::SyncPool::new(32, Default::default(), 8)?;
    /// assert_eq!(pool.cached_slots(), 0);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn cached_slots(&self) -> usize {
        self.lock().cached_slots
    }
}

impl morph_metrics::StatsSource for SyncPool {
    fn report_into(&self, stats: &mut morph_metrics::MorphMemStats) {
        self.stats().report_into(stats);
    }
}

/// A thread's cache of free slots of a [`SyncPool`]. Allocation and free
/// touch only this cache until it runs empty or full.
///
/// ```
/// let pool = morph_pool::SyncPool::new(64, Default::default(), 4)?;
/// let mut cache = pool.cache();
/// let slots: Vec<_> = (0..10).map(|_| cache.alloc()).collect::<Result<_, _>>()?;
/// for slot in slots {
///     // SAFETY: each slot came from this pool and is freed once.
///     unsafe { cache.free(slot) };
/// }
/// drop(cache);
/// assert_eq!(pool.stats().live_slots, 0);
/// # Ok::<(), morph_pool::PoolError>(())
/// ```
#[derive(Debug)]
pub struct LocalCache<'p> {
    pool: &'p SyncPool,
    slots: Vec<NonNull<u8>>,
    /// `slots.len()` as last added into `Shared::cached_slots`.
    published_cached: usize,
    pending_allocs: u64,
    pending_frees: u64,
}

impl LocalCache<'_> {
    /// Allocates a slot, from the cache if it has one.
    ///
    /// # Errors
    /// [`PoolError::OutOfMemory`] if the cache was empty and the shared pool
    /// could not get a block.
    ///
    /// ```
    /// let pool = morph_pool::SyncPool::new(32, Default::default(), 8)?;
    /// let mut cache = pool.cache();
    /// let a = cache.alloc()?;
    /// let b = cache.alloc()?;
    /// assert_ne!(a, b);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    #[inline]
    pub fn alloc(&mut self) -> Result<NonNull<u8>, PoolError> {
        self.pending_allocs += 1;
        match self.slots.pop() {
            Some(slot) => Ok(slot),
            None => self.refill(),
        }
    }

    #[cold]
    #[inline(never)]
    fn refill(&mut self) -> Result<NonNull<u8>, PoolError> {
        let pool = self.pool;
        let batch = pool.cache_capacity / 2;
        let mut shared = pool.lock();
        let first = match shared.raw.alloc() {
            Ok(slot) => slot,
            Err(err) => {
                self.pending_allocs -= 1;
                return Err(err);
            }
        };
        while self.slots.len() < batch - 1 {
            match shared.raw.alloc() {
                Ok(slot) => self.slots.push(slot),
                Err(_) => break, // keep the slots we got; the next refill retries
            }
        }
        self.publish(&mut shared);
        Ok(first)
    }

    /// Returns a slot to the cache (flushing half of it to the shared pool
    /// first if it is full).
    ///
    /// Debug builds check that the slot is not already in this cache; every
    /// slot is checked against double and foreign frees when it reaches the
    /// shared pool, which panics naming the problem.
    ///
    /// # Safety
    /// `ptr` was allocated from this cache's pool (through any cache, or
    /// [`SyncPool::alloc`]) and has not been freed since.
    ///
    /// ```
    /// let pool = morph_pool::SyncPool::new(32, Default::default(), 8)?;
    /// let slot = pool.cache().alloc()?; // that cache is gone: the slot still lives
    /// let mut other = pool.cache();
    /// // SAFETY: allocated from `pool`, freed once.
    /// unsafe { other.free(slot) };
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    #[inline]
    pub unsafe fn free(&mut self, ptr: NonNull<u8>) {
        debug_assert!(
            !self.slots.contains(&ptr),
            "morph-pool: double free of the slot at {ptr:p} (already in this thread's cache)"
        );
        if self.slots.len() == self.pool.cache_capacity {
            self.flush_to(self.pool.cache_capacity / 2);
        }
        self.slots.push(ptr);
        self.pending_frees += 1;
    }

    /// Returns every cached slot to the shared pool.
    ///
    /// # Panics
    /// If a slot in the cache is foreign to the pool or was freed twice (a
    /// broken [`free`](Self::free) contract), naming the problem.
    ///
    /// ```
    /// let pool = morph_pool::SyncPool::new(32, Default::default(), 8)?;
    /// let mut cache = pool.cache();
    /// let _slot = cache.alloc()?;
    /// cache.flush();
    /// assert_eq!((cache.cached(), pool.cached_slots()), (0, 0));
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn flush(&mut self) {
        self.flush_to(0);
    }

    /// Free slots in this cache.
    ///
    /// ```
    /// let pool = morph_pool::SyncPool::new(32, Default::default(), 8)?;
    /// assert_eq!(pool.cache().cached(), 0);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn cached(&self) -> usize {
        self.slots.len()
    }

    #[cold]
    fn flush_to(&mut self, keep: usize) {
        let pool = self.pool;
        let mut shared = pool.lock();
        let mut invalid = None;
        for slot in self.slots.drain(keep..) {
            if let Err(err) = shared.raw.free(slot) {
                invalid.get_or_insert(err);
            }
        }
        self.publish(&mut shared);
        drop(shared);
        if let Some(err) = invalid {
            panic!("morph-pool: invalid free through a LocalCache: {err}");
        }
    }

    /// Brings the shared counters up to date with this cache (under the
    /// lock the caller holds).
    fn publish(&mut self, shared: &mut Shared) {
        shared.cached_slots = shared.cached_slots + self.slots.len() - self.published_cached;
        self.published_cached = self.slots.len();
        shared.user_allocs += core::mem::take(&mut self.pending_allocs);
        shared.user_frees += core::mem::take(&mut self.pending_frees);
    }
}

impl Drop for LocalCache<'_> {
    fn drop(&mut self) {
        if !self.slots.is_empty() || self.pending_allocs != 0 || self.pending_frees != 0 {
            self.flush();
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// A slot pointer moved between test threads (the test synchronises).
    struct SendSlot(NonNull<u8>);
    // SAFETY: the slot is plain memory; the tests hand each slot to one
    // thread at a time through `join`.
    unsafe impl Send for SendSlot {}

    fn small_pool() -> SyncPool {
        let config = PoolConfig {
            block_size: 4096,
            retain_empty_blocks: 1,
        };
        SyncPool::new(256, config, 2).expect("valid config")
    }

    #[test]
    fn loom_concurrent_allocs_never_share_a_slot() {
        loom::model(|| {
            let pool = Arc::new(small_pool());
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    let pool = Arc::clone(&pool);
                    thread::spawn(move || {
                        let mut cache = pool.cache();
                        let kept: Vec<_> =
                            (0..2).map(|_| SendSlot(cache.alloc().unwrap())).collect();
                        kept
                    })
                })
                .collect();
            let mut all: Vec<usize> = Vec::new();
            let mut slots = Vec::new();
            for worker in workers {
                for slot in worker.join().unwrap() {
                    all.push(slot.0.addr().get());
                    slots.push(slot.0);
                }
            }
            all.sort_unstable();
            all.dedup();
            assert_eq!(all.len(), 4, "a slot was handed out twice");
            assert_eq!(pool.stats().live_slots, 4);
            for slot in slots {
                pool.free(slot).unwrap();
            }
            let stats = pool.stats();
            assert_eq!(
                (stats.live_slots, stats.total_allocs, stats.total_frees),
                (0, 4, 4)
            );
            assert_eq!(pool.cached_slots(), 0);
        });
    }

    #[test]
    fn loom_free_from_another_thread_is_seen() {
        loom::model(|| {
            let pool = Arc::new(small_pool());
            let slot = {
                let mut cache = pool.cache();
                let slot = cache.alloc().unwrap();
                // SAFETY: a fresh 256-byte slot.
                unsafe { slot.cast::<u64>().write(42) };
                SendSlot(slot)
            };
            let freer = {
                let pool = Arc::clone(&pool);
                thread::spawn(move || {
                    let slot = slot;
                    // SAFETY: written before the spawn, which synchronises.
                    assert_eq!(unsafe { slot.0.cast::<u64>().read() }, 42);
                    let mut cache = pool.cache();
                    // SAFETY: allocated from `pool`, freed once.
                    unsafe { cache.free(slot.0) };
                })
            };
            let allocator = {
                let pool = Arc::clone(&pool);
                thread::spawn(move || {
                    let mut cache = pool.cache();
                    let slot = cache.alloc().unwrap();
                    // SAFETY: allocated from `pool`, freed once.
                    unsafe { cache.free(slot) };
                })
            };
            freer.join().unwrap();
            allocator.join().unwrap();
            let stats = pool.stats();
            assert_eq!(stats.live_slots, 0, "a free from another thread was lost");
            assert_eq!(stats.total_allocs, stats.total_frees);
            assert_eq!(pool.cached_slots(), 0);
        });
    }

    #[test]
    fn loom_three_threads_churn_keeps_counts_consistent() {
        loom::model(|| {
            let pool = Arc::new(small_pool());
            let workers: Vec<_> = (0..3)
                .map(|_| {
                    let pool = Arc::clone(&pool);
                    thread::spawn(move || {
                        let mut cache = pool.cache();
                        let a = cache.alloc().unwrap();
                        // SAFETY: allocated from `pool`, freed once.
                        unsafe { cache.free(a) };
                        let b = cache.alloc().unwrap();
                        SendSlot(b)
                    })
                })
                .collect();
            let kept: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
            let mut addrs: Vec<_> = kept.iter().map(|s| s.0.addr().get()).collect();
            addrs.sort_unstable();
            addrs.dedup();
            assert_eq!(addrs.len(), 3, "a slot was handed out twice");
            let stats = pool.stats();
            assert_eq!(stats.live_slots, 3);
            assert_eq!(stats.total_allocs - stats.total_frees, 3);
        });
    }
}
