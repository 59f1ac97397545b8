//! `SharedPool<T>` and `SharedBox<'p, T>`: the safe, typed face of the
//! shared pools.
//!
//! # Invariants
//! - A `SharedBox<'p, T>` owns an initialised `T` in a carved slot of the
//!   core it refers to, which lives at least for `'p` (the box borrows the
//!   pool handle that owns an `Arc` of it). The slot is freed exactly once,
//!   by `Drop` or [`SharedBox::into_inner`] (never after
//!   [`SharedBox::leak`]), into the cache of whichever thread does it.
//! - The value is dropped before its slot is freed, so user code never runs
//!   while a thread cache is borrowed.

use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;

use super::local;
use super::slot_core::{CoreRef, SlotCore};
use super::{DEFAULT_MAGAZINE_SLOTS, typed_slot_size};
use crate::config::PoolConfig;
use crate::error::PoolError;
use crate::stats::PoolStats;
use crate::sync::{Arc, Ordering};

/// A pool of `T` values shared between threads: each thread allocates and
/// frees through its own cache, and a [`SharedBox`] may be dropped on any
/// thread.
///
/// Allocation takes `&self`; share the pool by reference (scoped threads),
/// in an `Arc`, or in a `static`. Boxes borrow the pool, so the pool
/// outlives them wherever they are dropped. A box is `Send` when `T` is.
///
/// Slots are sized and aligned as in [`Pool<T>`](crate::Pool). The pool
/// keeps its blocks until it is dropped: freed slots are reused, never
/// given back to the system one block at a time (see the
/// [module docs](crate#concurrency-sharedpool-and-friends)).
///
/// ```
/// use morph_pool::SharedPool;
///
/// let pool = SharedPool::new();
/// let boxes: Vec<_> = (0..4u64).map(|i| pool.alloc(i)).collect();
/// std::thread::scope(|scope| {
///     scope
///         .spawn(move || {
///             // Dropped here, on another thread, into this thread's cache.
///             assert_eq!(boxes.iter().map(|b| **b).sum::<u64>(), 6);
///         })
///         .join() // the thread's cache goes back to the pool as it exits
///         .unwrap();
/// });
/// pool.flush_thread_cache();
/// assert_eq!(pool.stats().live_slots, 0);
/// ```
pub struct SharedPool<T> {
    core: Arc<SlotCore>,
    _values: PhantomData<T>,
}

// SAFETY: the pool holds no `T`; values move between threads only inside
// boxes, which are `Send` only for `T: Send`. Requiring `T: Send` here too
// keeps a pool of thread-bound values on its thread.
unsafe impl<T: Send> Send for SharedPool<T> {}
// SAFETY: every method takes `&self` and goes through thread caches and the
// core's locks and atomics; see `Send` for the `T: Send` bound.
unsafe impl<T: Send> Sync for SharedPool<T> {}

impl<T> SharedPool<T> {
    const SLOT_SIZE: usize = typed_slot_size::<T>();

    /// A pool with 64 KiB blocks and magazines of
    /// [`DEFAULT_MAGAZINE_SLOTS`] slots.
    ///
    /// # Panics
    /// If `T` does not fit a 64 KiB block.
    ///
    /// ```
    /// let pool: morph_pool::SharedPool<[u8; 100]> = morph_pool::SharedPool::new();
    /// assert_eq!(pool.slot_size(), 112);
    /// ```
    pub fn new() -> Self {
        match Self::with_config(PoolConfig::default(), DEFAULT_MAGAZINE_SLOTS) {
            Ok(pool) => pool,
            Err(err) => panic!(
                "morph-pool: cannot pool {}: {err}",
                core::any::type_name::<T>()
            ),
        }
    }

    /// A pool with the given block size and magazine size (slots per
    /// magazine to start with; each thread caches up to two magazines,
    /// which grow up to 4× for threads whose batches overflow them). `retain_empty_blocks`
    /// is not used: a shared pool keeps its blocks until dropped.
    ///
    /// # Errors
    /// A block-size error, or [`PoolError::SlotTooLarge`] if `T` does not
    /// fit a block.
    ///
    /// ```
    /// use morph_pool::{PoolConfig, SharedPool};
    ///
    /// let config = PoolConfig { block_size: 16 * 1024, ..PoolConfig::default() };
    /// let pool = SharedPool::<u64>::with_config(config, 512)?;
    /// assert_eq!(*pool.alloc(5), 5);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn with_config(config: PoolConfig, magazine_slots: usize) -> Result<Self, PoolError> {
        let core = SlotCore::new(Self::SLOT_SIZE, config, magazine_slots)?;
        if core.geometry.slot_align() < align_of::<T>() {
            return Err(PoolError::SlotTooLarge {
                slot_size: Self::SLOT_SIZE,
                block_size: config.block_size,
                largest: config.block_size / 2,
            });
        }
        Ok(Self {
            core: Arc::new(core),
            _values: PhantomData,
        })
    }

    /// Bytes per slot.
    ///
    /// ```
    /// assert_eq!(morph_pool::SharedPool::<u8>::new().slot_size(), 16);
    /// ```
    pub fn slot_size(&self) -> usize {
        Self::SLOT_SIZE
    }

    /// Moves `value` into a slot.
    ///
    /// # Panics
    /// If the system refuses a new block (like `Box::new`, through
    /// [`std::alloc::handle_alloc_error`]).
    ///
    /// ```
    /// let pool = morph_pool::SharedPool::new();
    /// let b = pool.alloc(String::from("pooled"));
    /// assert_eq!(b.len(), 6);
    /// ```
    #[inline]
    pub fn alloc(&self, value: T) -> SharedBox<'_, T> {
        let core = CoreRef::new(&self.core);
        let slot = match local::alloc_from_loaded(core) {
            Some(slot) => slot,
            None => match local::alloc_slow(core) {
                Ok(slot) => slot,
                Err(_) => std::alloc::handle_alloc_error(core::alloc::Layout::new::<T>()),
            },
        };
        // SAFETY: a fresh slot of this core, SLOT_SIZE >= size_of::<T>()
        // bytes aligned to >= align_of::<T>() (checked in with_config).
        unsafe { SharedBox::new(core, slot, value) }
    }

    /// Moves `value` into a slot, or hands it back with the error.
    ///
    /// # Errors
    /// [`PoolError::OutOfMemory`].
    ///
    /// ```
    /// let pool = morph_pool::SharedPool::new();
    /// let b = pool.try_alloc(3u32).map_err(|(_value, err)| err)?;
    /// assert_eq!(*b, 3);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    #[inline]
    pub fn try_alloc(&self, value: T) -> Result<SharedBox<'_, T>, (T, PoolError)> {
        let core = CoreRef::new(&self.core);
        match local::alloc(core) {
            // SAFETY: a fresh slot of this core, SLOT_SIZE >= size_of::<T>()
            // bytes aligned to >= align_of::<T>() (checked in with_config).
            Ok(slot) => Ok(unsafe { SharedBox::new(core, slot, value) }),
            Err(err) => Err((value, err)),
        }
    }

    /// Values currently allocated, counting what other threads' caches
    /// have published (exact once each thread that used the pool has
    /// exited or called [`flush_thread_cache`](Self::flush_thread_cache)).
    ///
    /// ```
    /// let pool = morph_pool::SharedPool::new();
    /// let _a = pool.alloc(1);
    /// pool.flush_thread_cache();
    /// assert_eq!(pool.live(), 1);
    /// ```
    pub fn live(&self) -> usize {
        self.core.stats().live_slots
    }

    /// A snapshot of the counters (see [`live`](Self::live) for when they
    /// are exact). `blocks_released` is always 0: the pool keeps its blocks.
    ///
    /// ```
    /// let pool = morph_pool::SharedPool::new();
    /// let _a = pool.alloc([0u64; 4]);
    /// pool.flush_thread_cache();
    /// assert_eq!(pool.stats().used_bytes(), 32);
    /// ```
    pub fn stats(&self) -> PoolStats {
        self.core.stats()
    }

    /// Returns the calling thread's cached free slots to the shared depot
    /// (and publishes its counters). Threads do this on their own when they
    /// exit.
    ///
    /// ```
    /// let pool = morph_pool::SharedPool::new();
    /// drop(pool.alloc(1u8));
    /// pool.flush_thread_cache();
    /// assert_eq!(pool.stats().total_frees, 1);
    /// ```
    pub fn flush_thread_cache(&self) {
        local::flush(&self.core);
    }

    #[cfg(all(test, not(loom)))]
    pub(crate) fn core_for_tests(&self) -> Arc<SlotCore> {
        Arc::clone(&self.core)
    }
}

impl<T> Default for SharedPool<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for SharedPool<T> {
    fn drop(&mut self) {
        // Other threads' caches let go of the core at their next new cache
        // or when they exit; this thread's goes now.
        self.core.closed.store(1, Ordering::Relaxed);
        local::forget(&self.core);
    }
}

impl<T> fmt::Debug for SharedPool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedPool")
            .field("type", &core::any::type_name::<T>())
            .field("stats", &self.stats())
            .finish()
    }
}

impl<T> morph_metrics::StatsSource for SharedPool<T> {
    fn report_into(&self, stats: &mut morph_metrics::MorphMemStats) {
        self.stats().report_into(stats);
    }
}

/// An owned `T` in a slot of a [`SharedPool`] (or a
/// [`SharedSizeClassPool`](crate::SharedSizeClassPool)): like `Box<T>`, and
/// `Send` when `T` is. Dropping it, on any thread, drops the value and
/// frees the slot into that thread's cache.
///
/// A box is one pointer, like `Box` (its pool is found again from the
/// value's address), and `Option<SharedBox>` is too.
///
/// ```
/// use morph_pool::SharedBox;
///
/// let pool = morph_pool::SharedPool::new();
/// let mut numbers = pool.alloc(vec![1, 2]);
/// numbers.push(3);
/// let total = std::thread::scope(|s| s.spawn(move || numbers.iter().sum::<i32>()).join().unwrap());
/// assert_eq!(total, 6);
/// assert_eq!(size_of::<Option<SharedBox<'_, u64>>>(), size_of::<usize>());
/// ```
pub struct SharedBox<'p, T> {
    ptr: NonNull<T>,
    /// The pool, found again from `ptr` through the page map when needed:
    /// a box is one pointer, like `Box`.
    _pool: PhantomData<CoreRef<'p>>,
    _owns: PhantomData<T>,
}

// SAFETY: the box owns its `T` (sent with it when `T: Send`); its slot may
// be freed from any thread (thread caches are per thread and the core is
// `Sync`).
unsafe impl<T: Send> Send for SharedBox<'_, T> {}
// SAFETY: `&SharedBox` only gives `&T`.
unsafe impl<T: Sync> Sync for SharedBox<'_, T> {}

impl<'p, T> SharedBox<'p, T> {
    /// Writes `value` into `slot` and wraps it.
    ///
    /// # Safety
    /// `slot` is a carved slot of `core` just handed out, at least
    /// `size_of::<T>()` bytes and aligned for `T`.
    #[inline(always)]
    pub(crate) unsafe fn new(core: CoreRef<'p>, slot: NonNull<u8>, value: T) -> Self {
        let _ = core; // only its lifetime: the box cannot outlive the pool
        let ptr = slot.cast::<T>();
        // SAFETY: size, alignment and exclusive use are the caller's contract.
        unsafe { ptr.write(value) };
        Self {
            ptr,
            _pool: PhantomData,
            _owns: PhantomData,
        }
    }

    /// Moves the value out and frees the slot.
    ///
    /// ```
    /// let pool = morph_pool::SharedPool::new();
    /// let b = pool.alloc(String::from("out"));
    /// assert_eq!(b.into_inner(), "out");
    /// ```
    pub fn into_inner(self) -> T {
        let this = ManuallyDrop::new(self);
        // SAFETY: the box owns an initialised T (module invariant), read
        // once; the box is never dropped (ManuallyDrop).
        let value = unsafe { this.ptr.read() };
        // SAFETY: the slot is given up here, once; its core lives for 'p,
        // which the box borrows.
        unsafe { local::free_to_owner(this.ptr.cast()) };
        value
    }

    /// Gives up ownership: the value lives as long as the pool and is never
    /// dropped; its slot is reclaimed when the pool is dropped.
    ///
    /// ```
    /// let pool = morph_pool::SharedPool::new();
    /// let forever: &mut u32 = morph_pool::SharedBox::leak(pool.alloc(7));
    /// *forever += 1;
    /// assert_eq!(*forever, 8);
    /// ```
    pub fn leak(this: Self) -> &'p mut T {
        let this = ManuallyDrop::new(this);
        // SAFETY: the slot holds an initialised T nothing else refers to,
        // and stays allocated while the core lives, at least `'p`.
        unsafe { &mut *this.ptr.as_ptr() }
    }

    /// The address of the value.
    ///
    /// ```
    /// let pool = morph_pool::SharedPool::new();
    /// let b = pool.alloc(1u64);
    /// assert_eq!(morph_pool::SharedBox::as_ptr(&b).cast_const(), &*b as *const u64);
    /// ```
    pub fn as_ptr(this: &Self) -> *mut T {
        this.ptr.as_ptr()
    }
}

impl<T> Deref for SharedBox<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the box owns an initialised T (module invariant).
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> DerefMut for SharedBox<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the box owns an initialised T; `&mut self` is exclusive.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T> Drop for SharedBox<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the box owns an initialised T, dropped exactly once, before
        // the slot is freed (module invariant: no cache is borrowed while
        // user code runs).
        unsafe { self.ptr.drop_in_place() };
        // SAFETY: the slot is given up here, once; its core lives for 'p,
        // which the box borrows.
        unsafe { local::free_to_owner(self.ptr.cast()) };
    }
}

impl<T: fmt::Debug> fmt::Debug for SharedBox<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for SharedBox<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: PartialEq> PartialEq for SharedBox<'_, T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T> AsRef<T> for SharedBox<'_, T> {
    fn as_ref(&self) -> &T {
        self
    }
}

impl<T> AsMut<T> for SharedBox<'_, T> {
    fn as_mut(&mut self) -> &mut T {
        self
    }
}
