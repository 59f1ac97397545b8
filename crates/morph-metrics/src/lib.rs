//! Statistics for every Morph Memory layer (work in progress in this commit).
mod stats;
pub use stats::{
    AllocationStats, GcStats, GenerationalStats, HeapStats, MorphMemStats, ObjectStats,
    StatsSource, TypeStats,
};
