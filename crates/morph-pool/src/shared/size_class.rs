//! `SharedSizeClassPool`: one shared core per size class, and routing of a
//! layout to the smallest class that fits. No unsafe code of its own
//! beyond writing a typed value into its slot.

use core::alloc::Layout;
use core::fmt;
use core::ptr::NonNull;

use super::raw::{alloc_checked, free_checked};
use super::slot_core::{CoreRef, SlotCore};
use super::typed::SharedBox;
use super::{DEFAULT_MAGAZINE_SLOTS, local};
use crate::config::{SLOT_GRANULE, SizeClassConfig};
use crate::error::PoolError;
use crate::stats::PoolStats;
use crate::sync::{Arc, Ordering};

/// The thread-safe twin of [`SizeClassPool`](crate::SizeClassPool): a
/// shared pool per size class (32/64/128/256 bytes by default), each with
/// per-thread caches.
///
/// Two faces over the same slots:
/// - **raw, checked:** [`alloc`](Self::alloc) by [`Layout`] and
///   [`free`](Self::free) with the same layout, from any thread; a bad free
///   is an error that changes nothing.
/// - **typed:** [`alloc_box`](Self::alloc_box) moves a value into the
///   class that fits it and returns a [`SharedBox`], `Send` when the value
///   is, that frees itself wherever it is dropped.
///
/// A layout no class fits gets [`PoolError::TooLarge`]: use your fallback
/// allocator.
///
/// ```
/// use core::alloc::Layout;
/// use morph_pool::{PoolError, SharedSizeClassPool};
///
/// let pools = SharedSizeClassPool::new(Default::default())?;
/// let layout = Layout::from_size_align(40, 8).unwrap();
/// let slot = pools.alloc(layout)?; // the 64-byte class
/// let node = pools.alloc_box([7u64; 12]).map_err(|(_, err)| err)?; // 96 bytes: 128 class
/// std::thread::scope(|s| {
///     s.spawn(move || assert_eq!(node.iter().sum::<u64>(), 84));
/// });
/// pools.free(slot, layout)?;
/// let huge = Layout::new::<[u8; 4096]>();
/// assert!(matches!(pools.alloc(huge), Err(PoolError::TooLarge { .. })));
/// # Ok::<(), PoolError>(())
/// ```
pub struct SharedSizeClassPool {
    classes: Box<[Arc<SlotCore>]>,
    /// Class index for `size.div_ceil(16)`, for alignments up to 16.
    route: Box<[u16]>,
}

impl SharedSizeClassPool {
    /// Shared pools for the configured classes, with magazines of
    /// [`DEFAULT_MAGAZINE_SLOTS`] slots.
    ///
    /// # Errors
    /// Any error of [`SizeClassConfig::validate`].
    ///
    /// ```
    /// let pools = morph_pool::SharedSizeClassPool::new(Default::default())?;
    /// assert_eq!(pools.class_sizes().collect::<Vec<_>>(), [32, 64, 128, 256]);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn new(config: SizeClassConfig) -> Result<Self, PoolError> {
        Self::with_magazine_slots(config, DEFAULT_MAGAZINE_SLOTS)
    }

    /// As [`new`](Self::new), with `magazine_slots` slots per magazine in
    /// every class (see `docs/TUNING.md`).
    ///
    /// # Errors
    /// Any error of [`SizeClassConfig::validate`].
    ///
    /// ```
    /// use morph_pool::{SharedSizeClassPool, SizeClassConfig};
    /// let config = SizeClassConfig::with_classes(vec![16, 48, 96, 192]);
    /// let pools = SharedSizeClassPool::with_magazine_slots(config, 512)?;
    /// assert_eq!(pools.class_count(), 4);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn with_magazine_slots(
        config: SizeClassConfig,
        magazine_slots: usize,
    ) -> Result<Self, PoolError> {
        config.validate()?;
        let classes: Box<[Arc<SlotCore>]> = config
            .classes
            .iter()
            .map(|&class| SlotCore::new(class, config.pool, magazine_slots).map(Arc::new))
            .collect::<Result<_, _>>()?;
        let largest = *config.classes.last().expect("validated: not empty");
        let route = (0..=largest.div_ceil(SLOT_GRANULE))
            .map(|granules| {
                let size = granules * SLOT_GRANULE;
                // Classes are multiples of 16 no larger than half a 1 MiB
                // block, so there are fewer than 2^16 of them.
                config
                    .classes
                    .iter()
                    .position(|&class| class >= size)
                    .expect("size <= largest") as u16
            })
            .collect();
        Ok(Self { classes, route })
    }

    /// The slot size of every class, ascending.
    ///
    /// ```
    /// let pools = morph_pool::SharedSizeClassPool::new(Default::default())?;
    /// assert_eq!(pools.class_sizes().last(), Some(256));
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn class_sizes(&self) -> impl Iterator<Item = usize> + '_ {
        self.classes.iter().map(|core| core.geometry.slot_size)
    }

    /// Number of classes.
    ///
    /// ```
    /// assert_eq!(morph_pool::SharedSizeClassPool::new(Default::default())?.class_count(), 4);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn class_count(&self) -> usize {
        self.classes.len()
    }

    /// Index of the class a layout routes to: the smallest at least
    /// `size` bytes whose slots are aligned to `align`.
    ///
    /// # Errors
    /// [`PoolError::TooLarge`] when no class fits.
    ///
    /// ```
    /// use core::alloc::Layout;
    /// let pools = morph_pool::SharedSizeClassPool::new(Default::default())?;
    /// assert_eq!(pools.class_index_for(Layout::new::<[u8; 33]>())?, 1);
    /// assert_eq!(pools.class_index_for(Layout::from_size_align(8, 64).unwrap())?, 1);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    #[inline]
    pub fn class_index_for(&self, layout: Layout) -> Result<usize, PoolError> {
        let (size, align) = (layout.size(), layout.align());
        if align <= SLOT_GRANULE
            && let Some(&index) = self.route.get(size.div_ceil(SLOT_GRANULE))
        {
            return Ok(usize::from(index));
        }
        self.classes
            .iter()
            .position(|core| core.geometry.slot_size >= size && core.geometry.slot_align() >= align)
            .ok_or_else(|| PoolError::TooLarge {
                size,
                align,
                largest_class: self
                    .classes
                    .last()
                    .map_or(0, |core| core.geometry.slot_size),
            })
    }

    /// Allocates a slot for `layout` (checked raw API) through the calling
    /// thread's cache of the class that fits.
    ///
    /// # Errors
    /// [`PoolError::TooLarge`] (use the fallback allocator) or
    /// [`PoolError::OutOfMemory`].
    ///
    /// ```
    /// use core::alloc::Layout;
    /// let pools = morph_pool::SharedSizeClassPool::new(Default::default())?;
    /// let slot = pools.alloc(Layout::new::<[u64; 10]>())?;
    /// pools.free(slot, Layout::new::<[u64; 10]>())?;
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    #[inline]
    pub fn alloc(&self, layout: Layout) -> Result<NonNull<u8>, PoolError> {
        let index = self.class_index_for(layout)?;
        alloc_checked(&self.classes[index])
    }

    /// Frees a slot allocated with `layout` by [`alloc`](Self::alloc),
    /// checked.
    ///
    /// # Errors
    /// [`PoolError::TooLarge`] for a layout no class serves;
    /// [`PoolError::ForeignPointer`] (also a slot of another class),
    /// [`PoolError::InteriorPointer`] or [`PoolError::DoubleFree`]. Nothing
    /// changes on error.
    ///
    /// ```
    /// use core::alloc::Layout;
    /// use morph_pool::PoolError;
    /// let pools = morph_pool::SharedSizeClassPool::new(Default::default())?;
    /// let small = Layout::new::<u64>();
    /// let slot = pools.alloc(small)?;
    /// let wrong = Layout::new::<[u64; 16]>();
    /// assert!(matches!(pools.free(slot, wrong), Err(PoolError::ForeignPointer { .. })));
    /// pools.free(slot, small)?;
    /// assert!(matches!(pools.free(slot, small), Err(PoolError::DoubleFree { .. })));
    /// # Ok::<(), PoolError>(())
    /// ```
    #[inline]
    pub fn free(&self, ptr: NonNull<u8>, layout: Layout) -> Result<(), PoolError> {
        let index = self.class_index_for(layout)?;
        free_checked(&self.classes[index], ptr)
    }

    /// Moves `value` into a slot of the class that fits `T`.
    ///
    /// # Errors
    /// [`PoolError::TooLarge`] if no class fits `T`, or
    /// [`PoolError::OutOfMemory`]; the value is handed back.
    ///
    /// ```
    /// let pools = morph_pool::SharedSizeClassPool::new(Default::default())?;
    /// let name = pools.alloc_box(String::from("request")).map_err(|(_, e)| e)?;
    /// assert_eq!(name.len(), 7);
    /// assert!(pools.alloc_box([0u8; 1000]).is_err());
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    #[inline]
    pub fn alloc_box<T>(&self, value: T) -> Result<SharedBox<'_, T>, (T, PoolError)> {
        let index = match self.class_index_for(Layout::new::<T>()) {
            Ok(index) => index,
            Err(err) => return Err((value, err)),
        };
        let core = CoreRef::new(&self.classes[index]);
        let slot = match local::alloc_from_loaded(core) {
            Some(slot) => Ok(slot),
            None => local::alloc_slow(core),
        };
        match slot {
            // SAFETY: a fresh slot of this class, which is at least
            // size_of::<T>() bytes and aligned to align_of::<T>() (routing).
            Ok(slot) => Ok(unsafe { SharedBox::new(core, slot, value) }),
            Err(err) => Err((value, err)),
        }
    }

    /// Returns the calling thread's cached slots of every class to the
    /// shared depots.
    ///
    /// ```
    /// let pools = morph_pool::SharedSizeClassPool::new(Default::default())?;
    /// drop(pools.alloc_box(1u32));
    /// pools.flush_thread_cache();
    /// assert_eq!(pools.stats()[0].live_slots, 0);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn flush_thread_cache(&self) {
        for core in &self.classes {
            local::flush(core);
        }
    }

    /// Per-class counters, in class order (exact once the threads that
    /// used the pool have exited or flushed their caches).
    ///
    /// ```
    /// let pools = morph_pool::SharedSizeClassPool::new(Default::default())?;
    /// assert_eq!(pools.stats().len(), 4);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn stats(&self) -> Vec<PoolStats> {
        self.classes.iter().map(|core| core.stats()).collect()
    }
}

impl Drop for SharedSizeClassPool {
    fn drop(&mut self) {
        for core in &self.classes {
            core.closed.store(1, Ordering::Relaxed);
            local::forget(core);
        }
    }
}

impl fmt::Debug for SharedSizeClassPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedSizeClassPool")
            .field("classes", &self.class_sizes().collect::<Vec<_>>())
            .finish()
    }
}

impl morph_metrics::StatsSource for SharedSizeClassPool {
    fn report_into(&self, stats: &mut morph_metrics::MorphMemStats) {
        for class in self.stats() {
            class.report_into(stats);
        }
    }
}
