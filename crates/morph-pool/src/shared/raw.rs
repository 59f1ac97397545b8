//! `SharedRawPool`: raw slots of a shared pool, with checked frees, for
//! runtimes and C callers that manage object lifetimes themselves.
//!
//! Safe to call: a free is checked before it changes anything, so a bad
//! pointer is an error, never corruption. The cost of the check (the block
//! map, an atomic bit per slot) is paid on every raw allocation and free;
//! the typed [`SharedPool`](crate::SharedPool) does not pay it.

use core::fmt;
use core::ptr::NonNull;

use super::DEFAULT_MAGAZINE_SLOTS;
use super::local;
use super::slot_core::{CoreRef, SlotCore};
use crate::config::PoolConfig;
use crate::error::PoolError;
use crate::stats::PoolStats;
use crate::sync::{Arc, Ordering};

/// Raw slots of one size shared between threads; every thread allocates
/// and frees through its own cache. Frees are checked in O(1) (no hashing,
/// no lock): a foreign pointer, a pointer inside a slot and a double free
/// are refused with an error and change nothing, even when two threads
/// free the same slot at once (exactly one succeeds).
///
/// **Contract of a slot:** [`alloc`](Self::alloc) returns
/// [`slot_size`](Self::slot_size) bytes aligned to 16 (the largest power of
/// two dividing the slot size), uninitialised, valid until the slot is
/// freed or the pool is dropped. Any thread may write, read and free it,
/// provided the caller orders those accesses (as for any pointer handed
/// between threads). Nothing is dropped: the pool never looks inside.
///
/// ```
/// use morph_pool::{PoolError, SharedRawPool};
///
/// let pool = SharedRawPool::new(64, Default::default(), 128)?;
/// let slot = pool.alloc()?;
/// // SAFETY: 64 bytes, 16-aligned, ours until freed.
/// unsafe { slot.cast::<u64>().write(42) };
/// pool.free(slot)?;
/// assert_eq!(pool.free(slot), Err(PoolError::DoubleFree { addr: slot.addr().get() }));
/// # Ok::<(), PoolError>(())
/// ```
pub struct SharedRawPool {
    core: Arc<SlotCore>,
}

impl SharedRawPool {
    /// A pool of `slot_size`-byte slots (a multiple of 16) whose thread
    /// caches hold up to two magazines of `magazine_slots` slots (grown up
    /// to 4× for threads whose batches overflow them).
    /// `retain_empty_blocks` is not used: blocks are kept until the pool is
    /// dropped.
    ///
    /// # Errors
    /// As [`RawPool::new`](crate::RawPool::new).
    ///
    /// ```
    /// let pool = morph_pool::SharedRawPool::new(48, Default::default(), 64)?;
    /// assert_eq!(pool.slot_size(), 48);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn new(
        slot_size: usize,
        config: PoolConfig,
        magazine_slots: usize,
    ) -> Result<Self, PoolError> {
        Ok(Self {
            core: Arc::new(SlotCore::new(slot_size, config, magazine_slots)?),
        })
    }

    /// A pool with the default block size and magazine size.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    ///
    /// ```
    /// let pool = morph_pool::SharedRawPool::with_slot_size(32)?;
    /// assert_eq!(pool.slot_size(), 32);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn with_slot_size(slot_size: usize) -> Result<Self, PoolError> {
        Self::new(slot_size, PoolConfig::default(), DEFAULT_MAGAZINE_SLOTS)
    }

    /// Bytes per slot.
    ///
    /// ```
    /// assert_eq!(morph_pool::SharedRawPool::with_slot_size(96)?.slot_size(), 96);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn slot_size(&self) -> usize {
        self.core.geometry.slot_size
    }

    /// Allocates a slot through the calling thread's cache.
    ///
    /// # Errors
    /// [`PoolError::OutOfMemory`].
    ///
    /// ```
    /// let pool = morph_pool::SharedRawPool::with_slot_size(32)?;
    /// let (a, b) = (pool.alloc()?, pool.alloc()?);
    /// assert_ne!(a, b);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    #[inline]
    pub fn alloc(&self) -> Result<NonNull<u8>, PoolError> {
        alloc_checked(&self.core)
    }

    /// Frees a slot into the calling thread's cache, after checking it.
    ///
    /// # Errors
    /// [`PoolError::ForeignPointer`], [`PoolError::InteriorPointer`] or
    /// [`PoolError::DoubleFree`]; nothing changes on error.
    ///
    /// ```
    /// use morph_pool::PoolError;
    /// let pool = morph_pool::SharedRawPool::with_slot_size(32)?;
    /// let slot = pool.alloc()?;
    /// let inside = slot.map_addr(|a| a.checked_add(8).unwrap());
    /// assert!(matches!(pool.free(inside), Err(PoolError::InteriorPointer { .. })));
    /// let on_heap = Box::new(0u64);
    /// let foreign = core::ptr::NonNull::from(&*on_heap).cast::<u8>();
    /// assert!(matches!(pool.free(foreign), Err(PoolError::ForeignPointer { .. })));
    /// pool.free(slot)?;
    /// # Ok::<(), PoolError>(())
    /// ```
    #[inline]
    pub fn free(&self, ptr: NonNull<u8>) -> Result<(), PoolError> {
        free_checked(&self.core, ptr)
    }

    /// Returns the calling thread's cached free slots to the shared depot.
    ///
    /// ```
    /// let pool = morph_pool::SharedRawPool::with_slot_size(32)?;
    /// pool.free(pool.alloc()?)?;
    /// pool.flush_thread_cache();
    /// assert_eq!(pool.stats().live_slots, 0);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn flush_thread_cache(&self) {
        local::flush(&self.core);
    }

    /// Counters, exact once every thread that used the pool has exited or
    /// flushed its cache.
    ///
    /// ```
    /// let pool = morph_pool::SharedRawPool::with_slot_size(32)?;
    /// let _slot = pool.alloc()?;
    /// pool.flush_thread_cache();
    /// assert_eq!(pool.stats().live_slots, 1);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn stats(&self) -> PoolStats {
        self.core.stats()
    }
}

/// Allocates through the thread cache and marks the slot held.
#[inline(always)]
pub(crate) fn alloc_checked(core: &Arc<SlotCore>) -> Result<NonNull<u8>, PoolError> {
    let slot = local::alloc(CoreRef::new(core))?;
    // SAFETY: just handed out by this core's cache.
    unsafe { core.mark_checked_alloc(slot) };
    Ok(slot)
}

/// Checks and frees through the thread cache.
#[inline(always)]
pub(crate) fn free_checked(core: &Arc<SlotCore>, ptr: NonNull<u8>) -> Result<(), PoolError> {
    core.check_free(ptr)?;
    // SAFETY: the check proved `ptr` a slot of this core held through the
    // checked API, and cleared its bit: this caller alone gives it up.
    unsafe { local::free(CoreRef::new(core), ptr) };
    Ok(())
}

impl Drop for SharedRawPool {
    fn drop(&mut self) {
        self.core.closed.store(1, Ordering::Relaxed);
        local::forget(&self.core);
    }
}

impl fmt::Debug for SharedRawPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedRawPool")
            .field("stats", &self.stats())
            .finish()
    }
}

impl morph_metrics::StatsSource for SharedRawPool {
    fn report_into(&self, stats: &mut morph_metrics::MorphMemStats) {
        self.stats().report_into(stats);
    }
}
