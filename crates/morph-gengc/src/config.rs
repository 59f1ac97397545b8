//! Collector configuration and its validation.

use std::num::NonZeroU32;
use std::time::Duration;

use morph_header::Generation;

use crate::GcError;

/// How a heap is sized and when it collects.
///
/// Every field has a sensible default ([`GcConfig::default`]: a 2 MiB
/// nursery, promotion after 2 survived minor collections, 1 MiB large-object
/// threshold, a major collection when the old generation has grown past
/// twice its live data or by 8 MiB, whichever is more, no heap bound).
/// [`validate`](Self::validate) rejects nonsense with a message naming the
/// field.
///
/// ```
/// use morph_gengc::GcConfig;
///
/// let config = GcConfig { nursery_size: 4 << 20, heap_limit: Some(64 << 20), ..GcConfig::default() };
/// config.validate()?;
/// assert!(GcConfig { heap_limit: Some(1 << 20), ..config }.validate().is_err());
/// # Ok::<(), morph_gengc::GcError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GcConfig {
    /// Bytes of the nursery's allocation area (eden). A minor collection runs
    /// when it is full. At least 4 KiB, a multiple of 8.
    pub nursery_size: usize,
    /// Bytes of each of the two survivor spaces that hold young objects which
    /// survived a minor collection but are not old enough to promote. A
    /// multiple of 8; 0 promotes every survivor at once.
    pub survivor_size: usize,
    /// Minor collections a young object survives before it is promoted to
    /// the old generation (1..=253). See also
    /// [`adaptive_tenuring`](Self::adaptive_tenuring).
    pub promotion_age: u8,
    /// Promote at the first survival while most objects that survive one
    /// minor collection survive the next as well (measured from the
    /// survivor space, re-checked every 8th minor collection): copying such
    /// objects a second time buys nothing. `promotion_age` applies
    /// otherwise, and always when this is `false`.
    pub adaptive_tenuring: bool,
    /// Objects whose payload is at least this many bytes go straight to the
    /// large-object space: their own memory mapping, never moved.
    pub large_object_threshold: usize,
    /// Growth of the old generation and large-object space, in bytes, after
    /// which a major (whole-heap) collection runs. After each major
    /// collection the next one is due when the survivors have grown by this
    /// much or by [`heap_growth_percent`](Self::heap_growth_percent),
    /// whichever is more: this is the floor for small heaps, and the
    /// growth percentage governs above `gc_threshold × 100 /
    /// heap_growth_percent` of live data. 8 MiB by default.
    pub gc_threshold: usize,
    /// How far the old generation may grow past what the last major
    /// collection kept before the next one is due, in percent of it (Go's
    /// `GOGC`): 100 lets a 1 GiB live set reach 2 GiB. Lower keeps the heap
    /// closer to its live data at the price of more frequent collections
    /// (each marks the whole live set). At least 10.
    pub heap_growth_percent: u32,
    /// Upper bound on the bytes the heap reserves (nursery, survivors, old
    /// generation and large objects together), or `None` for no bound.
    /// Allocation fails with [`GcError::HeapExhausted`] rather than exceed it.
    pub heap_limit: Option<usize>,
    /// Stress mode: collect (minor) every N allocations, and run a major
    /// collection every 16th time. For shaking out missing roots and barriers
    /// in tests.
    pub stress_every: Option<NonZeroU32>,
    /// Count allocations per type for the "Top Types" report. Young objects
    /// are then counted at allocation (a counter per type: about a
    /// nanosecond each, nothing at collection time); without it, young
    /// allocations count only in the totals.
    pub type_stats: bool,
    /// Print one line per collection to standard error. Defaults to whether
    /// the environment variable `MORPH_GC_TRACE` is `1`.
    pub trace: bool,
    /// Adaptive sizing: when set, eden is resized after every minor
    /// collection so the next one is expected to pause for at most half this
    /// target (from the observed survival rate and copying cost), between
    /// half of `nursery_size` and [`max_nursery_size`](Self::max_nursery_size);
    /// and the old-generation growth that triggers a major collection
    /// follows how much each major collection reclaims (doubling when it
    /// frees little, halving back towards `gc_threshold / 4` when it frees
    /// most). `None` keeps both fixed.
    pub pause_target: Option<Duration>,
    /// The largest eden the adaptive policy may grow to (reserved up front,
    /// touched only as it is used); `None` means 4 × `nursery_size`. Ignored
    /// without [`pause_target`](Self::pause_target).
    pub max_nursery_size: Option<usize>,
    /// Mark the old generation incrementally: a major collection becomes a
    /// cycle of short steps interleaved with allocation (a pause to start,
    /// steps paced against promotion, a pause to finish), instead of one
    /// stop-the-world pause that grows with the heap. The safe API's
    /// stores carry the barrier it needs; raw-API users must call
    /// [`RawHeap::pre_write_barrier`](crate::RawHeap::pre_write_barrier)
    /// before overwriting a reference field, or turn this off.
    /// Explicit [`Collection::Major`](crate::Collection::Major) requests
    /// stay stop-the-world.
    pub incremental_marking: bool,
    /// Allocate a type's objects in the old generation directly while
    /// minor collections find that they all survive (three in a row, at
    /// least 90 %), so they are not copied out of the nursery; every major
    /// collection sends the types back to the nursery to be judged again.
    /// Off by default: it shortens minor pauses where whole edens survive,
    /// but an old-generation allocation still takes the slow path, which
    /// cost 35–50 % of throughput on the benchmark workloads (see
    /// docs/TUNING.md).
    pub pretenuring: bool,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            nursery_size: 2 << 20,
            survivor_size: 512 << 10,
            promotion_age: 2,
            adaptive_tenuring: true,
            large_object_threshold: 1 << 20,
            gc_threshold: 8 << 20,
            heap_growth_percent: 100,
            heap_limit: None,
            stress_every: None,
            type_stats: false,
            trace: std::env::var_os("MORPH_GC_TRACE").is_some_and(|v| v == "1"),
            pause_target: None,
            max_nursery_size: None,
            incremental_marking: true,
            pretenuring: false,
        }
    }
}

/// The smallest nursery we accept.
pub const MIN_NURSERY_SIZE: usize = 4 << 10;

impl GcConfig {
    /// Bytes the nursery reserves: eden (at its adaptive maximum) plus both
    /// survivor spaces (`usize::MAX` if that overflows: no heap can hold it).
    pub fn nursery_reservation(&self) -> usize {
        self.survivor_size
            .saturating_mul(2)
            .saturating_add(self.eden_capacity())
    }

    /// Bytes reserved for eden: `nursery_size`, or the adaptive maximum.
    pub fn eden_capacity(&self) -> usize {
        match self.pause_target {
            Some(_) => self
                .max_nursery_size
                .unwrap_or(self.nursery_size.saturating_mul(4))
                .max(self.nursery_size),
            None => self.nursery_size,
        }
    }

    /// The smallest eden the adaptive policy may shrink to.
    pub fn eden_floor(&self) -> usize {
        match self.pause_target {
            Some(_) => (self.nursery_size / 2 / 8 * 8).max(MIN_NURSERY_SIZE),
            None => self.nursery_size,
        }
    }

    /// Checks every field; the error names the field and what to change.
    pub fn validate(&self) -> Result<(), GcError> {
        let invalid = |reason: String| Err(GcError::InvalidConfig { reason });
        if self.nursery_size < MIN_NURSERY_SIZE || !self.nursery_size.is_multiple_of(8) {
            return invalid(format!(
                "nursery_size {} must be at least {MIN_NURSERY_SIZE} bytes and a multiple of 8",
                self.nursery_size
            ));
        }
        if !self.survivor_size.is_multiple_of(8) {
            return invalid(format!(
                "survivor_size {} must be a multiple of 8",
                self.survivor_size
            ));
        }
        if self.promotion_age == 0 || self.promotion_age > Generation::MAX_YOUNG_AGE {
            return invalid(format!(
                "promotion_age {} must be between 1 and {}",
                self.promotion_age,
                Generation::MAX_YOUNG_AGE
            ));
        }
        if self.large_object_threshold == 0 {
            return invalid("large_object_threshold must be positive".into());
        }
        if let Some(max) = self.max_nursery_size
            && (max < self.nursery_size || !max.is_multiple_of(8))
        {
            return invalid(format!(
                "max_nursery_size {max} must be a multiple of 8 and at least nursery_size {}",
                self.nursery_size
            ));
        }
        if self.pause_target.is_some_and(|t| t.is_zero()) {
            return invalid("pause_target must be positive (or None for fixed sizing)".into());
        }
        if self.heap_growth_percent < 10 {
            return invalid(format!(
                "heap_growth_percent {} must be at least 10 (the growth allowed past the live \
                 set before a major collection, in percent)",
                self.heap_growth_percent
            ));
        }
        if self.gc_threshold == 0 {
            return invalid("gc_threshold must be positive (it is the old-generation growth that triggers a major collection)".into());
        }
        if let Some(limit) = self.heap_limit {
            // Saturates: a reservation past the address space is above
            // every limit, which is the right verdict.
            let floor = self.nursery_reservation().saturating_mul(2);
            if limit < floor {
                return invalid(format!(
                    "heap_limit {limit} bytes is too small for a nursery reserving {} bytes: \
                     give at least {floor} bytes or shrink nursery_size/survivor_size",
                    self.nursery_reservation()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `config` fuzz target: the reservation overflowed (a
    /// panic with overflow checks, a wrapped and accepted value without).
    #[test]
    fn a_nursery_too_large_to_reserve_is_refused_under_a_heap_limit() {
        for survivor_size in [1 << 63, 18_446_743_253_370_793_728] {
            let config = GcConfig {
                nursery_size: 281_470_681_743_360,
                survivor_size,
                heap_limit: Some(720_650),
                ..GcConfig::default()
            };
            assert_eq!(config.nursery_reservation(), usize::MAX);
            let error = config.validate().unwrap_err();
            assert!(error.to_string().contains("heap_limit"), "{error}");
        }
    }
}
