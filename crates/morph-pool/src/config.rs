//! Configuration of pools and size classes, validated before any memory is
//! taken.

use crate::block::{Geometry, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE};
use crate::error::PoolError;

/// Default block size: 64 KiB, a multiple of the page size and small enough
/// that a mostly idle pool holds little memory.
pub const DEFAULT_BLOCK_SIZE: usize = 64 * 1024;

/// Default number of completely empty blocks a pool always keeps for reuse
/// (per size class): the floor of the release policy, see [`PoolConfig`].
pub const DEFAULT_RETAIN_EMPTY_BLOCKS: usize = 1;

/// Default size classes, in bytes.
pub const DEFAULT_SIZE_CLASSES: [usize; 4] = [32, 64, 128, 256];

/// Every slot size is a multiple of this, so every slot is at least 16-byte
/// aligned.
pub const SLOT_GRANULE: usize = 16;

/// How one pool (one slot size) takes memory from, and gives it back to, the
/// system.
///
/// **Release policy:** empty blocks are kept for reuse, with hysteresis, so
/// that a workload that repeatedly allocates and frees a batch spanning
/// several blocks does not hand them back to the system after every batch.
/// The pool tracks a recent high-water mark of *blocks in use* (the `peak`,
/// reported as [`PoolStats::peak_blocks`](crate::PoolStats::peak_blocks))
/// and, when a free leaves a block empty, keeps it while
///
/// ```text
/// empty blocks <= max(retain_empty_blocks, peak - blocks in use)
/// ```
///
/// and returns it to the system otherwise. The peak rises as soon as more
/// blocks are in use; it halves (never below what was needed) only after
/// `2 × peak` block acquisitions (at least 16) in which the pool never
/// needed that many, and the empty blocks beyond the new limit are then
/// released. So a steady batch workload keeps exactly its blocks, and a
/// pool whose use really shrank gives the excess back within about
/// `4 × peak` block acquisitions. A retained block is reused before any new
/// block is allocated.
///
/// `retain_empty_blocks` is the floor: that many empty blocks are kept
/// regardless of the peak. `1` (the default) avoids allocating and releasing
/// a block on every alloc/free at a block boundary. `0` turns the policy
/// off: every empty block is returned immediately, with no hysteresis.
/// Blocks emptied by a [`sweep`](crate::RawPool::sweep) are kept only up to
/// the floor (a collector decides itself when memory is given back), and
/// [`release_empty_blocks`](crate::RawPool::release_empty_blocks) gives back
/// every empty block on request.
///
/// ```
/// use morph_pool::PoolConfig;
///
/// let config = PoolConfig { block_size: 16 * 1024, retain_empty_blocks: 0 };
/// config.validate()?;
/// assert!(PoolConfig { block_size: 3000, ..PoolConfig::default() }.validate().is_err());
/// # Ok::<(), morph_pool::PoolError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Bytes per block: a power of two between 4 KiB and 1 MiB. Blocks are
    /// aligned to their size, so a slot finds its block by masking.
    pub block_size: usize,
    /// Completely empty blocks always kept for reuse, the floor of the
    /// release policy above; `0` returns every empty block at once.
    pub retain_empty_blocks: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            block_size: DEFAULT_BLOCK_SIZE,
            retain_empty_blocks: DEFAULT_RETAIN_EMPTY_BLOCKS,
        }
    }
}

impl PoolConfig {
    /// Checks the block size.
    ///
    /// # Errors
    /// [`PoolError::BlockSizeNotPowerOfTwo`] or
    /// [`PoolError::BlockSizeOutOfRange`].
    ///
    /// ```
    /// use morph_pool::{PoolConfig, PoolError};
    ///
    /// let err = PoolConfig { block_size: 1 << 30, ..Default::default() }.validate();
    /// assert!(matches!(err, Err(PoolError::BlockSizeOutOfRange { .. })));
    /// ```
    pub fn validate(&self) -> Result<(), PoolError> {
        if !self.block_size.is_power_of_two() {
            return Err(PoolError::BlockSizeNotPowerOfTwo {
                block_size: self.block_size,
            });
        }
        if !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&self.block_size) {
            return Err(PoolError::BlockSizeOutOfRange {
                block_size: self.block_size,
                min: MIN_BLOCK_SIZE,
                max: MAX_BLOCK_SIZE,
            });
        }
        Ok(())
    }
}

/// The size classes of a [`SizeClassPool`](crate::SizeClassPool) and the
/// block policy shared by all of them.
///
/// Classes must be non-zero, multiples of 16, strictly ascending, and each
/// must fit a block next to its header.
///
/// ```
/// use morph_pool::{PoolError, SizeClassConfig};
///
/// SizeClassConfig::default().validate()?; // 32, 64, 128, 256
/// SizeClassConfig::with_classes(vec![16, 48, 96]).validate()?;
/// assert!(matches!(
///     SizeClassConfig::with_classes(vec![24]).validate(),
///     Err(PoolError::MisalignedSlotSize { .. })
/// ));
/// # Ok::<(), PoolError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SizeClassConfig {
    /// Slot sizes in bytes, strictly ascending.
    pub classes: Vec<usize>,
    /// Block size and release policy of every class.
    pub pool: PoolConfig,
}

impl Default for SizeClassConfig {
    fn default() -> Self {
        Self {
            classes: DEFAULT_SIZE_CLASSES.to_vec(),
            pool: PoolConfig::default(),
        }
    }
}

impl SizeClassConfig {
    /// The given classes with the default block policy.
    ///
    /// ```
    /// let config = morph_pool::SizeClassConfig::with_classes(vec![32, 512]);
    /// assert_eq!(config.classes, [32, 512]);
    /// ```
    pub fn with_classes(classes: Vec<usize>) -> Self {
        Self {
            classes,
            pool: PoolConfig::default(),
        }
    }

    /// Checks the block policy and every class.
    ///
    /// # Errors
    /// [`PoolError::NoSizeClasses`], [`PoolError::ZeroSizeClass`],
    /// [`PoolError::UnsortedSizeClasses`], [`PoolError::MisalignedSlotSize`],
    /// [`PoolError::SlotTooLarge`], [`PoolError::TooManySlots`], or a block
    /// size error from [`PoolConfig::validate`].
    ///
    /// ```
    /// use morph_pool::{PoolError, SizeClassConfig};
    ///
    /// let err = SizeClassConfig::with_classes(vec![32, 0]).validate().unwrap_err();
    /// assert_eq!(err, PoolError::ZeroSizeClass { index: 1 });
    /// ```
    pub fn validate(&self) -> Result<(), PoolError> {
        self.pool.validate()?;
        if self.classes.is_empty() {
            return Err(PoolError::NoSizeClasses);
        }
        for (index, &class) in self.classes.iter().enumerate() {
            if class == 0 {
                return Err(PoolError::ZeroSizeClass { index });
            }
            if index > 0 {
                let previous = self.classes[index - 1];
                if class <= previous {
                    return Err(PoolError::UnsortedSizeClasses {
                        index,
                        previous,
                        class,
                    });
                }
            }
            Geometry::new(class, self.pool.block_size)?;
        }
        Ok(())
    }
}
