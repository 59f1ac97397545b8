//! Pool statistics and their report into morph-metrics.

use morph_metrics::{MorphMemStats, StatsSource};

use crate::raw::RawPool;

/// Counters of one pool (one slot size).
///
/// As a [`StatsSource`] it adds one pool to `heap.pool_count`, its blocks'
/// bytes to `heap.pool_bytes`, its allocated slots' bytes to
/// `heap.pool_used_bytes` and its blocks to `heap.pool_blocks`.
///
/// ```
/// use morph_metrics::{MorphMemStats, StatsSource};
///
/// let mut pool = morph_pool::RawPool::new(64, Default::default())?;
/// let _slot = pool.alloc()?;
/// let mut stats = MorphMemStats::default();
/// pool.report_into(&mut stats);
/// assert_eq!(stats.heap.pool_count, 1);
/// assert_eq!(stats.heap.pool_bytes, 65536);
/// assert_eq!(stats.heap.pool_used_bytes, 64);
/// # Ok::<(), morph_pool::PoolError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Bytes per slot.
    pub slot_size: usize,
    /// Bytes per block.
    pub block_size: usize,
    /// Blocks held (in use or retained empty).
    pub blocks: usize,
    /// Blocks held with no allocated slot.
    pub empty_blocks: usize,
    /// Slots the held blocks can hand out.
    pub capacity_slots: usize,
    /// Slots currently allocated.
    pub live_slots: usize,
    /// Slots handed out since the pool was created.
    pub total_allocs: u64,
    /// Slots freed (explicitly or by sweeps) since the pool was created.
    pub total_frees: u64,
    /// Blocks taken from the system since the pool was created.
    pub blocks_allocated: u64,
    /// Blocks returned to the system since the pool was created.
    pub blocks_released: u64,
    /// The release policy's recent high-water mark of blocks in use: the
    /// pool keeps empty blocks until it holds this many blocks in all (or
    /// `retain_empty_blocks` empty ones, if more). 0 when
    /// `retain_empty_blocks` is 0. See [`PoolConfig`](crate::PoolConfig).
    pub peak_blocks: usize,
}

impl PoolStats {
    /// Bytes held from the system.
    ///
    /// ```
    /// let stats = morph_pool::PoolStats { blocks: 2, block_size: 4096, ..Default::default() };
    /// assert_eq!(stats.reserved_bytes(), 8192);
    /// ```
    pub fn reserved_bytes(&self) -> usize {
        self.blocks * self.block_size
    }

    /// Bytes in allocated slots.
    ///
    /// ```
    /// let stats = morph_pool::PoolStats { live_slots: 3, slot_size: 32, ..Default::default() };
    /// assert_eq!(stats.used_bytes(), 96);
    /// ```
    pub fn used_bytes(&self) -> usize {
        self.live_slots * self.slot_size
    }

    /// Slots free for allocation in the held blocks.
    ///
    /// ```
    /// let stats = morph_pool::PoolStats { capacity_slots: 10, live_slots: 4, ..Default::default() };
    /// assert_eq!(stats.free_slots(), 6);
    /// ```
    pub fn free_slots(&self) -> usize {
        self.capacity_slots - self.live_slots
    }
}

impl StatsSource for PoolStats {
    fn report_into(&self, stats: &mut MorphMemStats) {
        stats.heap.pool_count += 1;
        stats.heap.pool_bytes += self.reserved_bytes() as u64;
        stats.heap.pool_used_bytes += self.used_bytes() as u64;
        stats.heap.pool_blocks += self.blocks as u64;
    }
}

impl StatsSource for RawPool {
    fn report_into(&self, stats: &mut MorphMemStats) {
        self.stats().report_into(stats);
    }
}
