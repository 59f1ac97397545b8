//! `Pool<T>` and `PoolBox<'p, T>`: the typed, safe face of a pool.
//!
//! # Invariants
//! - A `PoolBox<'p, T>` owns an initialised `T` in a live slot of the pool it
//!   borrows for `'p`; the slot is freed exactly once, by its `Drop` or
//!   [`PoolBox::into_inner`] (or never, after [`PoolBox::leak`]).
//! - The `UnsafeCell<RawPool>` is only borrowed mutably inside one method
//!   call of `Pool<T>` and never while user code runs (values are dropped
//!   before the pool is borrowed), so no two borrows of it overlap even if a
//!   `Drop` impl allocates from or frees into the same pool. `Pool<T>` is
//!   `!Sync` (the cell), so borrows never race.

use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;

use crate::config::{PoolConfig, SLOT_GRANULE};
use crate::error::PoolError;
use crate::raw::RawPool;
use crate::stats::PoolStats;

/// A pool of `T` values: each [`alloc`](Pool::alloc) moves a value into a
/// slot and returns a [`PoolBox`] that frees the slot when dropped.
///
/// Slots are `size_of::<T>()` rounded up to a multiple of 16 (at least 16)
/// and aligned for `T`. Allocation takes `&self`, so many boxes can be live at
/// once; each box borrows the pool, so the pool cannot be dropped or moved
/// while a box is alive. A `Pool<T>` is `Send` when `T` is, and never `Sync`:
/// use [`SyncPool`](crate::SyncPool) to share a pool between threads.
///
/// **Drop semantics:** dropping a `PoolBox` runs `T`'s `Drop` and frees the
/// slot. Values given up with [`PoolBox::leak`] are never dropped; their
/// memory returns to the system when the pool is dropped.
///
/// ```
/// use morph_pool::Pool;
///
/// #[derive(Debug, PartialEq)]
/// struct Node { value: u64, children: [u32; 4] }
///
/// let pool = Pool::new();
/// let mut node = pool.alloc(Node { value: 1, children: [0; 4] });
/// node.value += 1;
/// let other = pool.alloc(Node { value: 10, children: [1, 2, 3, 4] });
/// assert_eq!(node.value + other.value, 12);
/// drop(node); // frees the slot
/// assert_eq!(pool.live(), 1);
/// assert_eq!(other.into_inner(), Node { value: 10, children: [1, 2, 3, 4] });
/// ```
pub struct Pool<T> {
    raw: UnsafeCell<RawPool>,
    _values: PhantomData<T>,
}

impl<T> Pool<T> {
    /// Slot size used for `T`.
    const SLOT_SIZE: usize = {
        let size = if size_of::<T>() > SLOT_GRANULE {
            size_of::<T>()
        } else {
            SLOT_GRANULE
        };
        let align = if align_of::<T>() > SLOT_GRANULE {
            align_of::<T>()
        } else {
            SLOT_GRANULE
        };
        size.div_ceil(align) * align
    };

    /// A pool with the default block policy (64 KiB blocks, one empty block
    /// retained).
    ///
    /// # Panics
    /// If `T` does not fit a 64 KiB block (larger than 32 KiB, or aligned to
    /// more than 32 KiB); use [`with_config`](Self::with_config) for those.
    ///
    /// ```
    /// let pool: morph_pool::Pool<[u8; 100]> = morph_pool::Pool::new();
    /// assert_eq!(pool.slot_size(), 112);
    /// ```
    pub fn new() -> Self {
        match Self::with_config(PoolConfig::default()) {
            Ok(pool) => pool,
            Err(err) => panic!(
                "morph-pool: cannot pool {}: {err}",
                core::any::type_name::<T>()
            ),
        }
    }

    /// A pool with the given block policy.
    ///
    /// # Errors
    /// A block-size error, or [`PoolError::SlotTooLarge`] if `T` (or its
    /// alignment) does not fit a block.
    ///
    /// ```
    /// use morph_pool::{Pool, PoolConfig};
    ///
    /// let config = PoolConfig { block_size: 4096, retain_empty_blocks: 0 };
    /// let pool = Pool::<u64>::with_config(config)?;
    /// drop(pool.alloc(5));
    /// assert_eq!(pool.stats().blocks, 0); // empty block released at once
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn with_config(config: PoolConfig) -> Result<Self, PoolError> {
        let raw = RawPool::new(Self::SLOT_SIZE, config)?;
        if raw.slot_align() < align_of::<T>() {
            return Err(PoolError::SlotTooLarge {
                slot_size: Self::SLOT_SIZE,
                block_size: config.block_size,
                largest: config.block_size / 2,
            });
        }
        Ok(Self {
            raw: UnsafeCell::new(raw),
            _values: PhantomData,
        })
    }

    /// Bytes per slot of this pool.
    ///
    /// ```
    /// assert_eq!(morph_pool::Pool::<u8>::new().slot_size(), 16);
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
    /// let pool = morph_pool::Pool::new();
    /// let b = pool.alloc(String::from("pooled"));
    /// assert_eq!(b.len(), 6);
    /// ```
    #[inline]
    pub fn alloc(&self, value: T) -> PoolBox<'_, T> {
        // SAFETY: no other borrow of the cell is alive (module invariant:
        // borrows last one call and no user code runs during this one).
        let raw = unsafe { &mut *self.raw.get() };
        let Ok(slot) = raw.alloc_sized(Self::SLOT_SIZE) else {
            Self::alloc_failed()
        };
        let ptr = slot.cast::<T>();
        // SAFETY: the slot is SLOT_SIZE >= size_of::<T>() bytes, aligned to
        // slot_align >= align_of::<T>() (checked in with_config), and unused.
        unsafe { ptr.write(value) };
        PoolBox {
            ptr,
            pool: self,
            _owns: PhantomData,
        }
    }

    #[cold]
    #[inline(never)]
    fn alloc_failed() -> ! {
        let layout = core::alloc::Layout::new::<T>();
        std::alloc::handle_alloc_error(layout)
    }

    /// Moves `value` into a slot, or returns it with the error if the system
    /// refuses a new block.
    ///
    /// # Errors
    /// [`PoolError::OutOfMemory`], with the value handed back.
    ///
    /// ```
    /// let pool = morph_pool::Pool::new();
    /// let b = pool.try_alloc(3u32).map_err(|(_value, err)| err)?;
    /// assert_eq!(*b, 3);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    #[inline]
    pub fn try_alloc(&self, value: T) -> Result<PoolBox<'_, T>, (T, PoolError)> {
        // SAFETY: no other borrow of the cell is alive (module invariant:
        // borrows last one call and no user code runs during this one).
        let raw = unsafe { &mut *self.raw.get() };
        match raw.alloc_sized(Self::SLOT_SIZE) {
            Ok(slot) => {
                let ptr = slot.cast::<T>();
                // SAFETY: the slot is SLOT_SIZE >= size_of::<T>() bytes,
                // aligned to slot_align >= align_of::<T>() (checked in
                // with_config), and unused.
                unsafe { ptr.write(value) };
                Ok(PoolBox {
                    ptr,
                    pool: self,
                    _owns: PhantomData,
                })
            }
            Err(err) => Err((value, err)),
        }
    }

    /// Frees the slot of a box whose value has already been dropped or moved
    /// out.
    ///
    /// # Safety
    /// `ptr` is the slot of a `PoolBox` of this pool that will not be used
    /// again.
    #[inline]
    unsafe fn free_slot(&self, ptr: NonNull<T>) {
        // SAFETY: no other borrow of the cell is alive (module invariant).
        let raw = unsafe { &mut *self.raw.get() };
        // SAFETY: `ptr` is a live slot of this pool (caller contract).
        unsafe { raw.free_unmarked_unchecked(ptr.cast(), Self::SLOT_SIZE) };
    }

    fn raw(&self) -> &RawPool {
        // SAFETY: no mutable borrow of the cell is alive outside a method
        // call of this pool, and this shared one ends with the caller's use.
        unsafe { &*self.raw.get() }
    }

    /// Values currently allocated (leaked ones included).
    ///
    /// ```
    /// let pool = morph_pool::Pool::new();
    /// let _a = pool.alloc(1);
    /// assert_eq!(pool.live(), 1);
    /// ```
    pub fn live(&self) -> usize {
        self.raw().live_slots()
    }

    /// A snapshot of the pool's counters.
    ///
    /// ```
    /// let pool = morph_pool::Pool::new();
    /// let _a = pool.alloc([0u64; 4]);
    /// assert_eq!(pool.stats().used_bytes(), 32);
    /// ```
    pub fn stats(&self) -> PoolStats {
        self.raw().stats()
    }

    /// Returns every empty block to the system now, whatever the retention
    /// policy; returns how many. Takes `&mut self`: no box can be alive.
    ///
    /// ```
    /// let mut pool = morph_pool::Pool::new();
    /// drop(pool.alloc(1u8));
    /// assert_eq!(pool.release_empty_blocks(), 1);
    /// ```
    pub fn release_empty_blocks(&mut self) -> usize {
        self.raw.get_mut().release_empty_blocks()
    }
}

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("type", &core::any::type_name::<T>())
            .field("stats", &self.stats())
            .finish()
    }
}

impl<T> morph_metrics::StatsSource for Pool<T> {
    fn report_into(&self, stats: &mut morph_metrics::MorphMemStats) {
        self.stats().report_into(stats);
    }
}

/// An owned `T` in a slot of a [`Pool`]: like `Box<T>`, but the memory comes
/// from the pool and goes back to it when the box is dropped.
///
/// The box borrows its pool, so it cannot outlive it, and cannot be sent to
/// another thread (the pool is not thread-safe).
///
/// ```
/// let pool = morph_pool::Pool::new();
/// let mut numbers = pool.alloc(vec![1, 2]);
/// numbers.push(3);
/// assert_eq!(*numbers, [1, 2, 3]);
/// ```
pub struct PoolBox<'p, T> {
    ptr: NonNull<T>,
    pool: &'p Pool<T>,
    _owns: PhantomData<T>,
}

impl<'p, T> PoolBox<'p, T> {
    /// Moves the value out and frees the slot.
    ///
    /// ```
    /// let pool = morph_pool::Pool::new();
    /// let b = pool.alloc(String::from("out"));
    /// let s: String = b.into_inner();
    /// assert_eq!((s.as_str(), pool.live()), ("out", 0));
    /// ```
    pub fn into_inner(self) -> T {
        let this = ManuallyDrop::new(self);
        // SAFETY: the box owns an initialised T (module invariant); it is
        // read once and the box is never dropped (ManuallyDrop).
        let value = unsafe { this.ptr.read() };
        // SAFETY: the slot belongs to `this.pool` and is not used again.
        unsafe { this.pool.free_slot(this.ptr) };
        value
    }

    /// Gives up ownership: the value lives as long as the pool and is never
    /// dropped; its slot returns to the system when the pool is dropped.
    ///
    /// ```
    /// let pool = morph_pool::Pool::new();
    /// let forever: &mut u32 = morph_pool::PoolBox::leak(pool.alloc(7));
    /// *forever += 1;
    /// assert_eq!((*forever, pool.live()), (8, 1));
    /// ```
    pub fn leak(this: Self) -> &'p mut T {
        let this = ManuallyDrop::new(this);
        // SAFETY: the slot holds an initialised T that nothing else refers
        // to, and stays allocated while the pool lives (it is never freed).
        unsafe { &mut *this.ptr.as_ptr() }
    }

    /// The address of the value (for identity comparisons and FFI).
    ///
    /// ```
    /// let pool = morph_pool::Pool::new();
    /// let b = pool.alloc(1u64);
    /// assert_eq!(morph_pool::PoolBox::as_ptr(&b).cast_const(), &*b as *const u64);
    /// ```
    pub fn as_ptr(this: &Self) -> *mut T {
        this.ptr.as_ptr()
    }
}

impl<T> Deref for PoolBox<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the box owns an initialised T (module invariant); shared
        // access follows the borrow of the box.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> DerefMut for PoolBox<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the box owns an initialised T; `&mut self` is exclusive.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T> Drop for PoolBox<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the box owns an initialised T, dropped exactly once here.
        // This runs user code before the pool is borrowed (module invariant).
        unsafe { self.ptr.drop_in_place() };
        // SAFETY: the slot belongs to `self.pool` and is not used again.
        unsafe { self.pool.free_slot(self.ptr) };
    }
}

impl<T: fmt::Debug> fmt::Debug for PoolBox<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for PoolBox<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: PartialEq> PartialEq for PoolBox<'_, T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T> AsRef<T> for PoolBox<'_, T> {
    fn as_ref(&self) -> &T {
        self
    }
}

impl<T> AsMut<T> for PoolBox<'_, T> {
    fn as_mut(&mut self) -> &mut T {
        self
    }
}
