//! `SizeClassPool`: one [`RawPool`] per size class, and the routing of a
//! request to the smallest class that fits it.
//!
//! No unsafe code here: it only routes to `RawPool`.

use core::alloc::Layout;
use core::ptr::NonNull;

use crate::config::SizeClassConfig;
use crate::error::PoolError;
use crate::raw::{RawPool, SweepOutcome};
use crate::stats::PoolStats;

/// Pools for a list of size classes (32, 64, 128 and 256 bytes by default).
///
/// A request of `size` bytes aligned to `align` goes to the smallest class
/// that is at least `size` bytes and whose slots are aligned to at least
/// `align`. A request no class fits returns [`PoolError::TooLarge`]: that is
/// the signal to use your fallback allocator, never a silently wrong slot.
///
/// Frees name the layout the slot was allocated with (as
/// `GlobalAlloc::dealloc` does), which routes to the same class; the class
/// then checks the pointer.
///
/// ```
/// use core::alloc::Layout;
/// use morph_pool::{PoolError, SizeClassPool};
///
/// let mut pools = SizeClassPool::new(Default::default())?;
/// let layout = Layout::from_size_align(40, 8).unwrap();
/// assert_eq!(pools.class_size_for(layout)?, 64);
/// let slot = pools.alloc(layout)?;
/// pools.free(slot, layout)?;
///
/// let big = Layout::from_size_align(1000, 8).unwrap();
/// assert!(matches!(pools.alloc(big), Err(PoolError::TooLarge { .. })));
/// # Ok::<(), PoolError>(())
/// ```
#[derive(Debug)]
pub struct SizeClassPool {
    classes: Vec<RawPool>,
}

impl SizeClassPool {
    /// Pools for the configured classes (validated first).
    ///
    /// # Errors
    /// Any error of [`SizeClassConfig::validate`].
    ///
    /// ```
    /// let pools = morph_pool::SizeClassPool::new(morph_pool::SizeClassConfig::with_classes(
    ///     vec![16, 48, 160],
    /// ))?;
    /// assert_eq!(pools.class_sizes().collect::<Vec<_>>(), [16, 48, 160]);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn new(config: SizeClassConfig) -> Result<Self, PoolError> {
        config.validate()?;
        let classes = config
            .classes
            .iter()
            .map(|&class| RawPool::new(class, config.pool))
            .collect::<Result<_, _>>()?;
        Ok(Self { classes })
    }

    /// The slot size of every class, ascending.
    ///
    /// ```
    /// let pools = morph_pool::SizeClassPool::new(Default::default())?;
    /// assert_eq!(pools.class_sizes().collect::<Vec<_>>(), [32, 64, 128, 256]);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn class_sizes(&self) -> impl Iterator<Item = usize> + '_ {
        self.classes.iter().map(RawPool::slot_size)
    }

    /// Index of the class a layout routes to.
    ///
    /// # Errors
    /// [`PoolError::TooLarge`] when no class fits: use the fallback allocator.
    ///
    /// ```
    /// use core::alloc::Layout;
    /// let pools = morph_pool::SizeClassPool::new(Default::default())?;
    /// assert_eq!(pools.class_index_for(Layout::new::<[u8; 33]>())?, 1);
    /// // 64-byte alignment skips the 32-byte class even for 8 bytes.
    /// assert_eq!(pools.class_index_for(Layout::from_size_align(8, 64).unwrap())?, 1);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    #[inline]
    pub fn class_index_for(&self, layout: Layout) -> Result<usize, PoolError> {
        let (size, align) = (layout.size(), layout.align());
        self.classes
            .iter()
            .position(|class| class.slot_size() >= size && class.slot_align() >= align)
            .ok_or_else(|| PoolError::TooLarge {
                size,
                align,
                largest_class: self.classes.last().map_or(0, RawPool::slot_size),
            })
    }

    /// Slot size of the class a layout routes to.
    ///
    /// # Errors
    /// [`PoolError::TooLarge`] when no class fits.
    ///
    /// ```
    /// use core::alloc::Layout;
    /// let pools = morph_pool::SizeClassPool::new(Default::default())?;
    /// assert_eq!(pools.class_size_for(Layout::new::<u8>())?, 32);
    /// assert_eq!(pools.class_size_for(Layout::new::<[u64; 32]>())?, 256);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn class_size_for(&self, layout: Layout) -> Result<usize, PoolError> {
        self.class_index_for(layout)
            .map(|index| self.classes[index].slot_size())
    }

    /// Allocates a slot for `layout` from the smallest class that fits.
    ///
    /// # Errors
    /// [`PoolError::TooLarge`] (use the fallback allocator) or
    /// [`PoolError::OutOfMemory`].
    ///
    /// ```
    /// use core::alloc::Layout;
    /// let mut pools = morph_pool::SizeClassPool::new(Default::default())?;
    /// let slot = pools.alloc(Layout::new::<[u64; 10]>())?; // 80 bytes -> 128 class
    /// assert_eq!(pools.class(2).live_slots(), 1);
    /// # let _ = slot;
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    #[inline]
    pub fn alloc(&mut self, layout: Layout) -> Result<NonNull<u8>, PoolError> {
        let index = self.class_index_for(layout)?;
        self.classes[index].alloc()
    }

    /// Frees a slot allocated with `layout`.
    ///
    /// # Errors
    /// [`PoolError::TooLarge`] for a layout no class serves;
    /// [`PoolError::ForeignPointer`], [`PoolError::InteriorPointer`] or
    /// [`PoolError::DoubleFree`] from the class's check (a slot of another
    /// class is foreign to this one). On error nothing changes.
    ///
    /// ```
    /// use core::alloc::Layout;
    /// use morph_pool::PoolError;
    /// let mut pools = morph_pool::SizeClassPool::new(Default::default())?;
    /// let small = Layout::new::<u64>();
    /// let slot = pools.alloc(small)?;
    /// let wrong = Layout::new::<[u64; 16]>();
    /// assert!(matches!(pools.free(slot, wrong), Err(PoolError::ForeignPointer { .. })));
    /// pools.free(slot, small)?;
    /// # Ok::<(), PoolError>(())
    /// ```
    pub fn free(&mut self, ptr: NonNull<u8>, layout: Layout) -> Result<(), PoolError> {
        let index = self.class_index_for(layout)?;
        self.classes[index].free(ptr)
    }

    /// Number of classes.
    ///
    /// ```
    /// assert_eq!(morph_pool::SizeClassPool::new(Default::default())?.class_count(), 4);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn class_count(&self) -> usize {
        self.classes.len()
    }

    /// The pool of class `index` (for walking blocks, marking, stats).
    ///
    /// # Panics
    /// If `index >= class_count()`.
    ///
    /// ```
    /// let pools = morph_pool::SizeClassPool::new(Default::default())?;
    /// assert_eq!(pools.class(0).slot_size(), 32);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn class(&self, index: usize) -> &RawPool {
        &self.classes[index]
    }

    /// The pool of class `index`, mutably (for raw alloc/free, marking).
    ///
    /// # Panics
    /// If `index >= class_count()`.
    ///
    /// ```
    /// let mut pools = morph_pool::SizeClassPool::new(Default::default())?;
    /// let slot = pools.class_mut(3).alloc()?;
    /// assert_eq!(pools.class(3).live_slots(), 1);
    /// # let _ = slot;
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn class_mut(&mut self, index: usize) -> &mut RawPool {
        &mut self.classes[index]
    }

    /// Sweeps every class (see [`RawPool::sweep`]) and sums the outcomes.
    ///
    /// ```
    /// use core::alloc::Layout;
    /// let mut pools = morph_pool::SizeClassPool::new(Default::default())?;
    /// pools.alloc(Layout::new::<u64>())?;
    /// pools.alloc(Layout::new::<[u64; 20]>())?;
    /// assert_eq!(pools.sweep().freed_slots, 2);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn sweep(&mut self) -> SweepOutcome {
        let mut total = SweepOutcome::default();
        for class in &mut self.classes {
            let outcome = class.sweep();
            total.freed_slots += outcome.freed_slots;
            total.live_slots += outcome.live_slots;
            total.released_blocks += outcome.released_blocks;
            total.swept_blocks += outcome.swept_blocks;
        }
        total
    }

    /// Per-class statistics, in class order.
    ///
    /// ```
    /// let pools = morph_pool::SizeClassPool::new(Default::default())?;
    /// assert_eq!(pools.stats().len(), 4);
    /// # Ok::<(), morph_pool::PoolError>(())
    /// ```
    pub fn stats(&self) -> Vec<PoolStats> {
        self.classes.iter().map(RawPool::stats).collect()
    }
}

impl morph_metrics::StatsSource for SizeClassPool {
    fn report_into(&self, stats: &mut morph_metrics::MorphMemStats) {
        for class in &self.classes {
            class.report_into(stats);
        }
    }
}
