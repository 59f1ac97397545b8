//! The statistics snapshot: every figure a report shows, serde-serialisable.
//!
//! Field names follow the design document (`total_allocated`, `gc_count`,
//! `arena_bytes`, …) so the C-era dashboards map one to one; figures it did
//! not have (object counts beside byte counts, pause percentiles, per-space
//! detail) sit beside them.

use serde::{Deserialize, Serialize};

/// A point-in-time view of everything Morph Memory measures.
///
/// Build one with [`Metrics::snapshot`](crate::Metrics::snapshot), let each
/// active layer add its space figures through [`StatsSource`], then print it
/// ([`MorphMemStats::print_stats`]), dump it as JSON
/// ([`MorphMemStats::dump_stats`]) or expose it to Prometheus
/// ([`MorphMemStats::to_prometheus`]).
///
/// ```
/// use morph_metrics::MorphMemStats;
///
/// let mut stats = MorphMemStats::default();
/// stats.heap.arena_count = 2;
/// let json = serde_json::to_string(&stats)?;
/// assert_eq!(serde_json::from_str::<MorphMemStats>(&json)?, stats);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MorphMemStats {
    /// Workload mode of the owner (`COMPILER`, `RUNTIME`, `VM`, `SERVER`),
    /// empty when not set.
    pub mode: String,
    /// Time since the metrics were started, in microseconds.
    pub uptime_us: u64,
    /// Allocation counters.
    pub allocation: AllocationStats,
    /// Collector counters and pause distribution.
    pub gc: GcStats,
    /// Per-type counters.
    pub objects: ObjectStats,
    /// Per-space sizes (arena, pool, heap spaces).
    pub heap: HeapStats,
    /// Generational counters.
    pub generational: GenerationalStats,
}

/// Allocation counters: objects and bytes handed out, freed, live and at peak.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationStats {
    /// Bytes allocated since start.
    pub total_allocated: u64,
    /// Objects allocated since start.
    pub total_allocated_objects: u64,
    /// Bytes freed (explicitly, by reset, or by collection) since start.
    pub total_freed: u64,
    /// Objects freed since start.
    pub total_freed_objects: u64,
    /// Bytes currently live.
    pub current_live: u64,
    /// Objects currently live.
    pub current_live_objects: u64,
    /// Largest `current_live` seen.
    pub peak_live: u64,
    /// Largest `current_live_objects` seen.
    pub peak_live_objects: u64,
}

/// Collector counters and the pause distribution.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcStats {
    /// Collections of any kind.
    pub gc_count: u64,
    /// Total time spent in collection pauses, microseconds.
    pub gc_time_us: u64,
    /// Longest pause, microseconds.
    pub gc_pause_max_us: u64,
    /// Mean pause, microseconds.
    pub gc_pause_avg_us: u64,
    /// Median pause, microseconds.
    pub gc_pause_p50_us: u64,
    /// 90th-percentile pause, microseconds.
    pub gc_pause_p90_us: u64,
    /// 99th-percentile pause, microseconds.
    pub gc_pause_p99_us: u64,
    /// Bytes reclaimed by collections.
    pub bytes_reclaimed: u64,
    /// The pauses of each kind of collection apart: a few long major
    /// pauses hide under the p99 of many short minor ones.
    #[serde(default)]
    pub pauses_by_kind: PausesByKind,
}

/// The pause distribution of each kind of collection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PausesByKind {
    /// Minor collections.
    pub minor: PauseSummary,
    /// Whole major collections, and the finishing pause of incremental ones.
    pub major: PauseSummary,
    /// The other pauses of incremental major collections: their start,
    /// marking steps and sweeping steps.
    pub incremental: PauseSummary,
}

/// One kind's pauses, in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseSummary {
    /// Pauses recorded.
    pub count: u64,
    /// Their sum.
    pub total_us: u64,
    /// Median pause.
    pub p50_us: u64,
    /// 99th-percentile pause.
    pub p99_us: u64,
    /// Longest pause.
    pub max_us: u64,
}

/// Per-type counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectStats {
    /// Objects allocated since start, all types.
    pub object_count: u64,
    /// One entry per type that allocated anything, in type-id order (the
    /// design's `object_count_by_type` / `bytes_by_type`, widened past 128
    /// types and given names).
    pub by_type: Vec<TypeStats>,
}

/// Counters of one type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeStats {
    /// The type id (see `morph_header::TypeId`).
    pub type_id: u32,
    /// The registered name.
    pub name: String,
    /// Objects of this type allocated since start.
    pub objects: u64,
    /// Bytes of this type allocated since start.
    pub bytes: u64,
    /// Objects of this type currently live.
    pub live_objects: u64,
    /// Bytes of this type currently live.
    pub live_bytes: u64,
}

/// Per-space sizes. Each active layer adds its own figures through
/// [`StatsSource`]; "bytes" are reserved from the system, "used" are handed
/// out to objects, "wasted" are reserved but unusable (chunk tails, slot
/// padding).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeapStats {
    /// Arena chunks held (in use or kept for reuse).
    pub arena_count: u64,
    /// Bytes reserved by arena chunks.
    pub arena_bytes: u64,
    /// Bytes handed out by arenas.
    pub arena_used_bytes: u64,
    /// Bytes lost at arena chunk ends.
    pub arena_wasted_bytes: u64,
    /// Arena resets since start.
    pub arena_resets: u64,
    /// Pools (one per size class).
    pub pool_count: u64,
    /// Bytes reserved by pool blocks.
    pub pool_bytes: u64,
    /// Bytes in allocated pool slots.
    pub pool_used_bytes: u64,
    /// Pool blocks held.
    pub pool_blocks: u64,
    /// Bytes reserved by the collected heap (nursery + old + large).
    pub heap_bytes: u64,
    /// Bytes reserved by the nursery.
    pub nursery_bytes: u64,
    /// Bytes reserved by the old generation.
    pub old_bytes: u64,
    /// Bytes reserved by the large-object space.
    pub large_bytes: u64,
    /// Objects in the large-object space.
    pub large_count: u64,
    /// Bytes of address space reserved by a JIT code cache (VM mode).
    #[serde(default)]
    pub code_bytes: u64,
    /// Bytes in live code blocks (whole pages).
    #[serde(default)]
    pub code_used_bytes: u64,
    /// Live code blocks.
    #[serde(default)]
    pub code_blocks: u64,
}

/// Generational counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerationalStats {
    /// Minor (young-generation) collections.
    pub young_gc_count: u64,
    /// Major (whole-heap) collections.
    pub old_gc_count: u64,
    /// Objects promoted from the nursery to the old generation.
    pub promoted_objects: u64,
    /// Bytes promoted from the nursery to the old generation.
    pub promoted_bytes: u64,
}

/// A layer that can add its figures to a snapshot.
///
/// Sources *add* to the fields they own (so two arenas report the sum of
/// both) and leave every other field alone.
///
/// ```
/// use morph_metrics::{MorphMemStats, StatsSource};
///
/// struct Scratch { chunks: u64, bytes: u64 }
/// impl StatsSource for Scratch {
///     fn report_into(&self, stats: &mut MorphMemStats) {
///         stats.heap.arena_count += self.chunks;
///         stats.heap.arena_bytes += self.bytes;
///     }
/// }
///
/// let mut stats = MorphMemStats::default();
/// Scratch { chunks: 1, bytes: 4096 }.report_into(&mut stats);
/// Scratch { chunks: 2, bytes: 8192 }.report_into(&mut stats);
/// assert_eq!((stats.heap.arena_count, stats.heap.arena_bytes), (3, 12288));
/// ```
pub trait StatsSource {
    /// Adds this layer's figures to `stats`.
    fn report_into(&self, stats: &mut MorphMemStats);
}
