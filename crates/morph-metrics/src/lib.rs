//! Observability for Morph Memory: what every layer measures, and the
//! reports built from it.
//!
//! Three pieces:
//!
//! * **Recording** — allocators and collectors call a [`Recorder`] as they
//!   work. [`NoMetrics`] compiles every call away (metrics off costs
//!   nothing); [`Metrics`] counts allocations per type, live and peak bytes,
//!   collections, and keeps a [`PauseHistogram`] (p50/p90/p99/max within
//!   0.1 %).
//! * **Snapshots** — [`MorphMemStats`] holds every figure of the design
//!   document (allocation, GC, per-type, per-space, generational) and is
//!   serde-serialisable. Layers that own memory add their space figures to a
//!   snapshot through [`StatsSource`].
//! * **Reports** — [`MorphMemStats::print_stats`] (the design's text layout:
//!   Allocations / Breakdown / GC / Top Types), [`MorphMemStats::dump_stats`]
//!   (JSON) and [`MorphMemStats::to_prometheus`] (text exposition for a
//!   server's `/metrics`).
//!
//! ```
//! use morph_header::{TypeDescriptor, TypeRegistry};
//! use morph_metrics::{Metrics, Recorder};
//!
//! let registry = TypeRegistry::new();
//! let ident = registry.register(TypeDescriptor::of::<[u8; 24]>("Identifier"))?;
//! let mut metrics = Metrics::with_mode("COMPILER");
//! for _ in 0..1000 {
//!     metrics.record_alloc(ident, 24);
//! }
//! let stats = metrics.snapshot(&registry);
//! assert!(stats.report().contains("1. Identifier"));
//! # Ok::<(), morph_header::HeaderError>(())
//! ```
//!
//! # What this crate must never do
//! It is reported into and never reaches back: it names no allocator or
//! collector crate, and recording never allocates on the fast path.
#![deny(unsafe_op_in_unsafe_fn)]
#![forbid(unsafe_code)]

mod error;
mod histogram;
mod recorder;
mod report;
mod stats;

pub use error::MetricsError;
pub use histogram::{MAX_TRACKED_PAUSE, PauseHistogram, SIGNIFICANT_DIGITS};
pub use recorder::{CollectionEvent, CollectionKind, Metrics, NoMetrics, Recorder};
pub use report::TOP_TYPES;
pub use stats::{
    AllocationStats, GcStats, GenerationalStats, HeapStats, MorphMemStats, ObjectStats,
    PauseSummary, PausesByKind, StatsSource, TypeStats,
};
