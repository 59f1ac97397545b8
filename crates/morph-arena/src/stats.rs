//! Arena statistics and their report into `morph-metrics`.

use morph_metrics::{MorphMemStats, StatsSource};

use crate::Arena;

/// A snapshot of an arena's memory, from [`Arena::stats`].
///
/// Every reserved byte is in exactly one bucket:
/// `reserved_bytes == used_bytes + wasted_bytes + available_bytes +
/// free_bytes + overhead_bytes`.
///
/// ```
/// let arena = morph_arena::Arena::new();
/// arena.alloc_str("hello");
/// let stats = arena.stats();
/// assert_eq!((stats.chunks, stats.used_bytes), (1, 5));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArenaStats {
    /// Chunks held: in use, plus idle ones kept for reuse.
    pub chunks: usize,
    /// Idle chunks kept for reuse (on the free list).
    pub free_chunks: usize,
    /// Bytes obtained from the system allocator for all chunks held.
    pub reserved_bytes: usize,
    /// Bytes handed out since the last reset, alignment padding included.
    pub used_bytes: usize,
    /// Bytes left unused at the ends of chunks that were retired when a
    /// request did not fit (and the slack of dedicated chunks).
    pub wasted_bytes: usize,
    /// Bytes still free in the current chunk.
    pub available_bytes: usize,
    /// Bytes of idle chunks on the free list.
    pub free_bytes: usize,
    /// Chunk headers of the chunks in use.
    pub overhead_bytes: usize,
    /// Resets since the arena was created.
    pub resets: u64,
}

/// Adds the arena's figures to the `heap.arena_*` fields.
///
/// ```
/// use morph_metrics::{MorphMemStats, StatsSource};
///
/// let arena = morph_arena::Arena::new();
/// arena.alloc(0_u32);
/// let mut stats = MorphMemStats::default();
/// arena.report_into(&mut stats);
/// arena.report_into(&mut stats); // sources add up
/// assert_eq!(stats.heap.arena_count, 2);
/// assert_eq!(stats.heap.arena_used_bytes, 8);
/// ```
impl StatsSource for Arena {
    fn report_into(&self, stats: &mut MorphMemStats) {
        let own = self.stats();
        let heap = &mut stats.heap;
        heap.arena_count += own.chunks as u64;
        heap.arena_bytes += own.reserved_bytes as u64;
        heap.arena_used_bytes += own.used_bytes as u64;
        heap.arena_wasted_bytes += own.wasted_bytes as u64;
        heap.arena_resets += own.resets;
    }
}
