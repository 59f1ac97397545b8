//! Recording: the calls allocators and collectors make as they work.
//!
//! A layer that records is generic over [`Recorder`]. With [`NoMetrics`]
//! every call is an empty inline function on a zero-sized type, so "metrics
//! off" compiles to nothing; with [`Metrics`] an allocation costs a handful
//! of integer additions on memory the recorder owns (no atomics, no locks,
//! no allocation after the first use of a type id). The `metrics` benchmark
//! measures both against a bare bump loop.

use std::time::{Duration, Instant};

use morph_header::{TypeId, TypeRegistry};

use crate::{MorphMemStats, PauseHistogram, PauseSummary, PausesByKind, TypeStats};

/// The kind of a collection, as reported by a collector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CollectionKind {
    /// Young generation only (nursery evacuation).
    Minor,
    /// Whole heap.
    Major,
    /// One pause of an incremental major collection other than its last
    /// (its start or a marking step): a pause, not a collection, so it
    /// counts in the pause histogram only. The cycle's last pause, which
    /// frees memory, reports as [`Major`](Self::Major).
    Incremental,
}

/// What a collector reports about one collection.
///
/// ```
/// use morph_metrics::{CollectionEvent, CollectionKind};
/// use std::time::Duration;
///
/// let event = CollectionEvent {
///     kind: CollectionKind::Minor,
///     pause: Duration::from_micros(180),
///     bytes_before: 2 << 20,
///     bytes_after: 300 << 10,
///     promoted_objects: 1_200,
///     promoted_bytes: 38_400,
/// };
/// // Promoted bytes left the nursery but were not freed.
/// assert_eq!(event.bytes_reclaimed(), (2 << 20) - (300 << 10) - 38_400);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CollectionEvent {
    /// Minor or major.
    pub kind: CollectionKind,
    /// How long the mutator was stopped.
    pub pause: Duration,
    /// Bytes in use in the collected spaces before the collection.
    pub bytes_before: u64,
    /// Bytes in use in the collected spaces after the collection.
    pub bytes_after: u64,
    /// Objects promoted to the old generation.
    pub promoted_objects: u64,
    /// Bytes promoted to the old generation.
    pub promoted_bytes: u64,
}

impl CollectionEvent {
    /// Bytes the collection freed. A minor collection's spaces are the
    /// young generation, which promoted bytes leave without being freed
    /// (they are live in the old generation): they do not count. Counting
    /// them made the reclaimed total outgrow the allocated total on heaps
    /// whose survivors get promoted. A major collection's spaces are the
    /// whole heap, so whatever it promotes stays in `bytes_after`.
    pub fn bytes_reclaimed(&self) -> u64 {
        let freed = self.bytes_before.saturating_sub(self.bytes_after);
        match self.kind {
            CollectionKind::Minor => freed.saturating_sub(self.promoted_bytes),
            CollectionKind::Major | CollectionKind::Incremental => freed,
        }
    }
}

/// Receives allocation, free and collection events.
///
/// Implemented by [`NoMetrics`] (does nothing, costs nothing) and
/// [`Metrics`] (counts). Allocators take a `R: Recorder` type parameter so
/// the choice is made at compile time.
///
/// ```
/// use morph_metrics::{Metrics, NoMetrics, Recorder};
/// use morph_header::TypeId;
///
/// fn allocate_many<R: Recorder>(recorder: &mut R) {
///     let ty = TypeId::new(1).unwrap();
///     for _ in 0..10 {
///         recorder.record_alloc(ty, 32);
///     }
/// }
///
/// let mut off = NoMetrics;
/// allocate_many(&mut off);
/// let mut on = Metrics::new();
/// allocate_many(&mut on);
/// assert_eq!(on.live_bytes(), 320);
/// assert!(!NoMetrics::ENABLED && Metrics::ENABLED);
/// ```
pub trait Recorder {
    /// Whether this recorder records anything; lets callers skip work (such
    /// as reading a clock) that only feeds metrics.
    const ENABLED: bool;

    /// An object of `bytes` bytes and type `type_id` was allocated.
    fn record_alloc(&mut self, type_id: TypeId, bytes: usize);

    /// An object of `bytes` bytes and type `type_id` was freed.
    fn record_free(&mut self, type_id: TypeId, bytes: usize);

    /// Every object recorded as live was freed at once (an arena reset, a
    /// pool cleared): use a recorder per region that resets as a whole.
    fn record_reset(&mut self);

    /// A collection finished.
    fn record_collection(&mut self, event: &CollectionEvent);
}

/// The recorder that records nothing: metrics off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoMetrics;

impl Recorder for NoMetrics {
    const ENABLED: bool = false;

    #[inline(always)]
    fn record_alloc(&mut self, _type_id: TypeId, _bytes: usize) {}

    #[inline(always)]
    fn record_free(&mut self, _type_id: TypeId, _bytes: usize) {}

    #[inline(always)]
    fn record_reset(&mut self) {}

    #[inline(always)]
    fn record_collection(&mut self, _event: &CollectionEvent) {}
}

#[derive(Clone, Copy, Debug, Default)]
struct TypeCounter {
    objects: u64,
    bytes: u64,
    freed_objects: u64,
    freed_bytes: u64,
}

/// Type ids below this have a counter from the start; higher ids grow the
/// table on first use (out of line).
const PREALLOCATED_TYPES: usize = 128;

/// The counting recorder: allocation totals, live and peak figures,
/// per-type counts, collections and the pause histogram.
///
/// One `Metrics` belongs to one heap (or one thread's allocator): it takes
/// `&mut self` and needs no synchronisation. Combine several with
/// [`Metrics::merge`].
///
/// ```
/// use morph_metrics::{Metrics, Recorder};
/// use morph_header::{TypeDescriptor, TypeRegistry};
///
/// let registry = TypeRegistry::new();
/// let ident = registry.register(TypeDescriptor::of::<[u8; 24]>("Identifier"))?;
///
/// let mut metrics = Metrics::with_mode("COMPILER");
/// metrics.record_alloc(ident, 24);
/// metrics.record_alloc(ident, 24);
/// metrics.record_free(ident, 24);
///
/// let stats = metrics.snapshot(&registry);
/// assert_eq!(stats.allocation.total_allocated_objects, 2);
/// assert_eq!(stats.allocation.current_live, 24);
/// assert_eq!(stats.allocation.peak_live, 48);
/// assert_eq!(stats.objects.by_type[0].name, "Identifier");
/// # Ok::<(), morph_header::HeaderError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Metrics {
    mode: String,
    started: Instant,
    allocated_objects: u64,
    allocated_bytes: u64,
    freed_objects: u64,
    freed_bytes: u64,
    live_objects: u64,
    live_bytes: u64,
    peak_live_objects: u64,
    peak_live_bytes: u64,
    per_type: Vec<TypeCounter>,
    minor_collections: u64,
    major_collections: u64,
    promoted_objects: u64,
    promoted_bytes: u64,
    reclaimed_bytes: u64,
    pauses: PauseHistogram,
    /// The pauses again, by kind: minor, major, incremental.
    pauses_by_kind: [PauseHistogram; 3],
}

impl Metrics {
    /// A recorder with no mode label, its clock starting now.
    pub fn new() -> Self {
        Self::with_mode(String::new())
    }

    /// A recorder whose reports carry the given mode label.
    pub fn with_mode(mode: impl Into<String>) -> Self {
        Metrics {
            mode: mode.into(),
            started: Instant::now(),
            allocated_objects: 0,
            allocated_bytes: 0,
            freed_objects: 0,
            freed_bytes: 0,
            live_objects: 0,
            live_bytes: 0,
            peak_live_objects: 0,
            peak_live_bytes: 0,
            per_type: vec![TypeCounter::default(); PREALLOCATED_TYPES],
            minor_collections: 0,
            major_collections: 0,
            promoted_objects: 0,
            promoted_bytes: 0,
            reclaimed_bytes: 0,
            pauses: PauseHistogram::new(),
            pauses_by_kind: [
                PauseHistogram::new(),
                PauseHistogram::new(),
                PauseHistogram::new(),
            ],
        }
    }

    /// Sets the mode label.
    pub fn set_mode(&mut self, mode: impl Into<String>) {
        self.mode = mode.into();
    }

    /// Bytes currently live.
    pub fn live_bytes(&self) -> u64 {
        self.live_bytes
    }

    /// Objects currently live.
    pub fn live_objects(&self) -> u64 {
        self.live_objects
    }

    /// The pause histogram.
    pub fn pauses(&self) -> &PauseHistogram {
        &self.pauses
    }

    /// The pauses of one kind of collection.
    ///
    /// ```
    /// use morph_metrics::{CollectionEvent, CollectionKind, Metrics, Recorder};
    /// use std::time::Duration;
    ///
    /// let mut metrics = Metrics::new();
    /// for (kind, ms) in [(CollectionKind::Minor, 1), (CollectionKind::Incremental, 2)] {
    ///     metrics.record_collection(&CollectionEvent {
    ///         kind,
    ///         pause: Duration::from_millis(ms),
    ///         bytes_before: 0,
    ///         bytes_after: 0,
    ///         promoted_objects: 0,
    ///         promoted_bytes: 0,
    ///     });
    /// }
    /// assert_eq!(metrics.pauses_of(CollectionKind::Incremental).count(), 1);
    /// assert_eq!(metrics.pauses().count(), 2);
    /// ```
    pub fn pauses_of(&self, kind: CollectionKind) -> &PauseHistogram {
        &self.pauses_by_kind[kind_index(kind)]
    }

    /// Time since this recorder was created.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    #[inline]
    fn counter(&mut self, type_id: TypeId) -> &mut TypeCounter {
        let index = type_id.index();
        if index >= self.per_type.len() {
            self.grow_types(index);
        }
        &mut self.per_type[index]
    }

    #[cold]
    #[inline(never)]
    fn grow_types(&mut self, index: usize) {
        self.per_type.resize(index + 1, TypeCounter::default());
    }

    /// Records `objects` allocations of one type totalling `bytes` at once,
    /// as a collector does when it counts a region after the fact.
    ///
    /// ```
    /// use morph_metrics::Metrics;
    /// use morph_header::TypeId;
    ///
    /// let mut m = Metrics::new();
    /// m.record_allocs(TypeId::new(3).unwrap(), 10, 320);
    /// assert_eq!((m.live_objects(), m.live_bytes()), (10, 320));
    /// ```
    #[inline]
    pub fn record_allocs(&mut self, type_id: TypeId, objects: u64, bytes: u64) {
        self.record_untyped_allocs(objects, bytes);
        let counter = self.counter(type_id);
        counter.objects += objects;
        counter.bytes += bytes;
    }

    /// Records `objects` allocations totalling `bytes` whose types were not
    /// tracked (a collector counting its nursery by its fill level): they
    /// count in the totals but in no type's row.
    ///
    /// ```
    /// use morph_metrics::Metrics;
    ///
    /// let mut m = Metrics::new();
    /// m.record_untyped_allocs(100, 3200);
    /// assert_eq!(m.live_bytes(), 3200);
    /// ```
    #[inline]
    pub fn record_untyped_allocs(&mut self, objects: u64, bytes: u64) {
        self.allocated_objects += objects;
        self.allocated_bytes += bytes;
        self.live_objects += objects;
        self.live_bytes += bytes;
        self.peak_live_bytes = self.peak_live_bytes.max(self.live_bytes);
        self.peak_live_objects = self.peak_live_objects.max(self.live_objects);
    }

    /// Sets the live figures from a census (a collector knows them exactly
    /// after a collection, without a free event per dead object). Frees are
    /// derived: everything allocated and no longer live was freed. Per-type
    /// live figures keep counting only explicit frees.
    ///
    /// ```
    /// use morph_metrics::{Metrics, Recorder};
    /// use morph_header::TypeId;
    ///
    /// let mut m = Metrics::new();
    /// for _ in 0..10 {
    ///     m.record_alloc(TypeId::new(1).unwrap(), 16);
    /// }
    /// m.record_live(3, 48); // a collection found 3 survivors
    /// assert_eq!((m.live_objects(), m.live_bytes()), (3, 48));
    /// ```
    pub fn record_live(&mut self, objects: u64, bytes: u64) {
        self.live_objects = objects;
        self.live_bytes = bytes;
        self.freed_objects = self.allocated_objects.saturating_sub(objects);
        self.freed_bytes = self.allocated_bytes.saturating_sub(bytes);
        self.peak_live_objects = self.peak_live_objects.max(objects);
        self.peak_live_bytes = self.peak_live_bytes.max(bytes);
    }

    /// Adds everything `other` recorded to `self` (totals, per-type counts,
    /// collections, pauses). Peaks are summed, an upper bound on the joint peak.
    pub fn merge(&mut self, other: &Metrics) {
        self.allocated_objects += other.allocated_objects;
        self.allocated_bytes += other.allocated_bytes;
        self.freed_objects += other.freed_objects;
        self.freed_bytes += other.freed_bytes;
        self.live_objects += other.live_objects;
        self.live_bytes += other.live_bytes;
        self.peak_live_objects += other.peak_live_objects;
        self.peak_live_bytes += other.peak_live_bytes;
        if other.per_type.len() > self.per_type.len() {
            self.per_type
                .resize(other.per_type.len(), TypeCounter::default());
        }
        for (mine, theirs) in self.per_type.iter_mut().zip(&other.per_type) {
            mine.objects += theirs.objects;
            mine.bytes += theirs.bytes;
            mine.freed_objects += theirs.freed_objects;
            mine.freed_bytes += theirs.freed_bytes;
        }
        self.minor_collections += other.minor_collections;
        self.major_collections += other.major_collections;
        self.promoted_objects += other.promoted_objects;
        self.promoted_bytes += other.promoted_bytes;
        self.reclaimed_bytes += other.reclaimed_bytes;
        self.pauses.merge(&other.pauses);
        for (mine, theirs) in self.pauses_by_kind.iter_mut().zip(&other.pauses_by_kind) {
            mine.merge(theirs);
        }
    }

    /// A snapshot of everything recorded, with type names from `registry`.
    /// Space figures (`heap.*`) are left at zero for the layers to add with
    /// [`StatsSource`](crate::StatsSource).
    pub fn snapshot(&self, registry: &TypeRegistry) -> MorphMemStats {
        let mut stats = MorphMemStats {
            mode: self.mode.clone(),
            uptime_us: micros(self.uptime()),
            ..MorphMemStats::default()
        };

        let a = &mut stats.allocation;
        a.total_allocated = self.allocated_bytes;
        a.total_allocated_objects = self.allocated_objects;
        a.total_freed = self.freed_bytes;
        a.total_freed_objects = self.freed_objects;
        a.current_live = self.live_bytes();
        a.current_live_objects = self.live_objects();
        a.peak_live = self.peak_live_bytes;
        a.peak_live_objects = self.peak_live_objects;

        let g = &mut stats.gc;
        g.gc_count = self.minor_collections + self.major_collections;
        g.gc_time_us = micros(self.pauses.total());
        g.gc_pause_max_us = micros(self.pauses.max());
        g.gc_pause_avg_us = micros(self.pauses.mean());
        g.gc_pause_p50_us = micros(self.pauses.percentile(0.50));
        g.gc_pause_p90_us = micros(self.pauses.percentile(0.90));
        g.gc_pause_p99_us = micros(self.pauses.percentile(0.99));
        g.bytes_reclaimed = self.reclaimed_bytes;
        let summary = |h: &PauseHistogram| PauseSummary {
            count: h.count(),
            total_us: micros(h.total()),
            p50_us: micros(h.percentile(0.50)),
            p99_us: micros(h.percentile(0.99)),
            max_us: micros(h.max()),
        };
        g.pauses_by_kind = PausesByKind {
            minor: summary(self.pauses_of(CollectionKind::Minor)),
            major: summary(self.pauses_of(CollectionKind::Major)),
            incremental: summary(self.pauses_of(CollectionKind::Incremental)),
        };

        stats.objects.object_count = self.allocated_objects;
        stats.objects.by_type = self
            .per_type
            .iter()
            .enumerate()
            .filter(|(_, c)| c.objects > 0 || c.bytes > 0)
            .map(|(index, c)| {
                let name = TypeId::new(index as u32)
                    .map_or("<invalid>", |id| registry.name_of(id))
                    .to_owned();
                TypeStats {
                    type_id: index as u32,
                    name,
                    objects: c.objects,
                    bytes: c.bytes,
                    live_objects: c.objects.saturating_sub(c.freed_objects),
                    live_bytes: c.bytes.saturating_sub(c.freed_bytes),
                }
            })
            .collect();

        let gen_stats = &mut stats.generational;
        gen_stats.young_gc_count = self.minor_collections;
        gen_stats.old_gc_count = self.major_collections;
        gen_stats.promoted_objects = self.promoted_objects;
        gen_stats.promoted_bytes = self.promoted_bytes;
        stats
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Recorder for Metrics {
    const ENABLED: bool = true;

    #[inline]
    fn record_alloc(&mut self, type_id: TypeId, bytes: usize) {
        self.record_allocs(type_id, 1, bytes as u64);
    }

    #[inline]
    fn record_free(&mut self, type_id: TypeId, bytes: usize) {
        let bytes = bytes as u64;
        self.freed_objects += 1;
        self.freed_bytes += bytes;
        self.live_objects = self.live_objects.saturating_sub(1);
        self.live_bytes = self.live_bytes.saturating_sub(bytes);
        let counter = self.counter(type_id);
        counter.freed_objects += 1;
        counter.freed_bytes += bytes;
    }

    fn record_reset(&mut self) {
        self.freed_objects = self.allocated_objects;
        self.freed_bytes = self.allocated_bytes;
        self.live_objects = 0;
        self.live_bytes = 0;
        for counter in &mut self.per_type {
            counter.freed_objects = counter.objects;
            counter.freed_bytes = counter.bytes;
        }
    }

    fn record_collection(&mut self, event: &CollectionEvent) {
        match event.kind {
            CollectionKind::Minor => self.minor_collections += 1,
            CollectionKind::Major => self.major_collections += 1,
            CollectionKind::Incremental => {}
        }
        self.promoted_objects += event.promoted_objects;
        self.promoted_bytes += event.promoted_bytes;
        self.reclaimed_bytes += event.bytes_reclaimed();
        self.pauses.record(event.pause);
        self.pauses_by_kind[kind_index(event.kind)].record(event.pause);
    }
}

/// Index of a kind's histogram in `Metrics::pauses_by_kind`.
fn kind_index(kind: CollectionKind) -> usize {
    match kind {
        CollectionKind::Minor => 0,
        CollectionKind::Major => 1,
        CollectionKind::Incremental => 2,
    }
}
