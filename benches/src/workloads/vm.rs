//! Large-heap VM: a big live heap (about 1 GiB in `--full`, 256 MiB in quick
//! runs) that is built once and then partly mutated, the shape of a VM
//! running a program with a large resident data set.
//!
//! The heap holds [`VmShape::entries`] records (a 48-byte record pointing at
//! its own 16-byte leaf, 80 bytes with both headers) in a table of buckets.
//! The build phase allocates them all; the mutation phase replaces a
//! pseudo-random quarter of them with fresh records (reading the old one for
//! the checksum) and allocates [`TEMPORARIES`] short-lived records per step.
//! Every entry is read at the end.
//!
//! What this workload is for is the collector's pause distribution with a
//! large live set — minor pauses while the old generation is large, and the
//! major collections the growth triggers — so the runner records the phase
//! boundaries and, for morph-gengc, the collector's statistics. `Box` is the
//! reference for time and memory.

use std::hint::black_box;
use std::time::Instant;

use serde_json::json;

use super::{Outcome, Size, Xorshift, collector_details};
use crate::probe::{MemorySeries, StepTimer, distribution_json};

/// Short-lived records allocated per mutation step.
pub const TEMPORARIES: u64 = 2;
/// Build steps (one entry each) timed together as one stall sample.
const BUILD_BATCH: usize = 64;
/// Mutation steps timed together as one stall sample: a few hundred
/// nanoseconds of work, so a clock read pair (~40 ns) stays a small share
/// and a pause of the collector shows up whole in the sample it hit.
const MUTATE_BATCH: u64 = 8;

/// Stalls as the program sees them: the time of each batch of steps,
/// whatever the implementation did inside it (collector pauses, page
/// faults, `free`), for every implementation alike.
struct Stalls {
    build: StepTimer,
    mutate: StepTimer,
    started: Instant,
    /// The longest batch so far and when it ended (ms since `origin`).
    longest: (std::time::Duration, f64),
    origin: Instant,
}

impl Stalls {
    fn new() -> Self {
        Stalls {
            build: StepTimer::new(),
            mutate: StepTimer::new(),
            started: Instant::now(),
            longest: (std::time::Duration::ZERO, 0.0),
            origin: Instant::now(),
        }
    }

    /// Ends a batch of the build phase if step `i` closes one.
    #[inline]
    fn build_step(&mut self, i: usize) {
        if (i + 1).is_multiple_of(BUILD_BATCH) {
            self.end_batch(false);
        }
    }

    /// Ends a batch of the mutation phase if step `step` closes one.
    #[inline]
    fn mutate_step(&mut self, step: u64) {
        if (step + 1).is_multiple_of(MUTATE_BATCH) {
            self.end_batch(true);
        }
    }

    /// Records the batch just ended and starts the next, remembering the
    /// longest one.
    fn end_batch(&mut self, mutating: bool) {
        let took = self.started.elapsed();
        if mutating {
            self.mutate.record(took);
        } else {
            self.build.record(took);
        }
        self.started = Instant::now();
        if took > self.longest.0 {
            self.longest = (took, ms_since(self.origin));
        }
    }

    /// Starts timing the next phase.
    fn restart(&mut self) {
        self.started = Instant::now();
    }

    fn into_json(self) -> serde_json::Value {
        json!({
            "build_batch": BUILD_BATCH,
            "longest_ended_at_ms": self.longest.1,
            "mutate_batch": MUTATE_BATCH,
            "build": distribution_json(self.build.histogram()),
            "mutate": distribution_json(self.mutate.histogram()),
        })
    }
}
/// Entries per bucket of the table.
const BUCKET: usize = 256;

/// How large a VM run is.
#[derive(Clone, Copy, Debug)]
pub struct VmShape {
    /// Live records (each with its leaf).
    pub entries: usize,
    /// Mutation steps (each replaces one record).
    pub steps: u64,
}

impl VmShape {
    /// 3 Mi entries (~256 MiB live) in quick runs, 12 Mi (~1 GiB) in `--full`;
    /// a quarter of them replaced.
    #[must_use]
    pub fn of(size: Size) -> Self {
        let entries = match size {
            Size::Quick => 3 << 20,
            Size::Full => 12 << 20,
        };
        VmShape {
            entries,
            steps: entries as u64 / 4,
        }
    }

    /// Twice the full size: 24 Mi entries, ~2 GiB live.
    #[must_use]
    pub fn double_full() -> Self {
        let full = Self::of(Size::Full);
        VmShape {
            entries: full.entries * 2,
            steps: full.steps * 2,
        }
    }

    /// Live bytes in morph-gengc's layout: 80 bytes an entry (record and leaf
    /// with their 8-byte headers) plus the buckets' member arrays.
    #[must_use]
    pub fn live_bytes(&self) -> u64 {
        self.entries as u64 * 80 + self.entries.div_ceil(BUCKET) as u64 * (BUCKET as u64 * 8 + 8)
    }

    /// What the run does, for the report.
    #[must_use]
    pub fn describe(&self) -> String {
        format!(
            "{} records + leaves (~{} MiB live), then {} replaced ({TEMPORARIES} temporaries per step)",
            self.entries,
            self.live_bytes() >> 20,
            self.steps
        )
    }

    /// Objects allocated in a run.
    #[must_use]
    pub fn allocations(&self) -> u64 {
        2 * self.entries as u64 + self.steps * (2 + TEMPORARIES)
    }
}

/// Runs the VM workload with `implementation`, or `None` if unknown.
#[must_use]
pub fn run(implementation: &str, size: Size) -> Option<Outcome> {
    run_shape(implementation, VmShape::of(size))
}

/// As [`run`], at a shape of the caller's choosing (`large-heap@2GiB`).
#[must_use]
pub fn run_shape(implementation: &str, shape: VmShape) -> Option<Outcome> {
    match implementation {
        "morph-gengc" => Some(morph::run(shape, true)),
        "morph-gengc-stw" => Some(morph::run(shape, false)),
        name if name.starts_with("box-") => Some(boxed::run(shape)),
        _ => None,
    }
}

fn ms_since(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1e3
}

/// `Box` on the binary's global allocator.
mod boxed {
    use super::*;

    struct Leaf {
        value: u64,
        extra: u64,
    }

    struct Record {
        key: u64,
        data: [u64; 4],
        child: Option<Box<Leaf>>,
    }

    fn record(version: u64) -> Box<Record> {
        Box::new(Record {
            key: version,
            data: [version, version + 1, version + 2, version + 3],
            child: Some(Box::new(Leaf {
                value: version * 3,
                extra: version,
            })),
        })
    }

    fn digest(record: &Record) -> u64 {
        let leaf = record.child.as_deref().map_or(0, |l| l.value + l.extra);
        record.key + record.data[3] + leaf
    }

    pub(super) fn run(shape: VmShape) -> Outcome {
        let started = Instant::now();
        let mut series = MemorySeries::new(started, shape.entries as u64 + shape.steps);
        let mut table: Vec<Box<Record>> = Vec::with_capacity(shape.entries);
        let mut stalls = Stalls::new();
        for i in 0..shape.entries {
            table.push(record(i as u64));
            if series.due(i as u64) {
                series.sample(None);
            }
            stalls.build_step(i);
        }
        let build_ms = ms_since(started);
        stalls.restart();
        let mutate = Instant::now();
        let mut rng = Xorshift::new();
        let mut checksum = 0u64;
        for step in 0..shape.steps {
            for t in 0..TEMPORARIES {
                let temporary = black_box(record(step + t));
                checksum = checksum.wrapping_add(temporary.key);
            }
            let slot = rng.below(shape.entries as u64) as usize;
            let old = std::mem::replace(&mut table[slot], record(shape.entries as u64 + step));
            checksum = checksum.wrapping_add(digest(black_box(&old)));
            drop(old);
            if series.due(shape.entries as u64 + step) {
                series.sample(None);
            }
            stalls.mutate_step(step);
        }
        let mutate_ms = ms_since(mutate);
        checksum = table
            .iter()
            .fold(checksum, |c, r| c.wrapping_add(digest(r)));
        drop(table);
        let mut outcome = Outcome::new(checksum, shape.allocations());
        outcome.detail(
            "phases_ms",
            json!({ "build": build_ms, "mutate": mutate_ms }),
        );
        outcome.detail("memory_series", series.into_json());
        outcome.detail("live_bytes_nominal", json!(shape.live_bytes()));
        outcome.detail("stalls", stalls.into_json());
        outcome
    }
}

/// morph-gengc, safe API, default configuration (`morph-gengc-stw`: with
/// incremental marking off, so major collections stop the world): the
/// table is a vector of rooted buckets, each an array of `Member`s, so
/// replacing an entry is an old-to-young store through the write barrier.
mod morph {
    use morph_gengc::{Gc, GcConfig, Heap, Member, Mutator, Root, Trace};

    use super::*;

    #[derive(Trace)]
    struct Leaf {
        value: u64,
        extra: u64,
    }

    #[derive(Trace)]
    struct Record {
        key: u64,
        data: [u64; 4],
        child: Member<Leaf>,
    }

    #[derive(Trace)]
    struct Bucket {
        entries: [Member<Record>; BUCKET],
    }

    fn record<'gc>(m: &mut Mutator<'gc>, version: u64) -> Root<'gc, Record> {
        let leaf = m.alloc(Leaf {
            value: version * 3,
            extra: version,
        });
        let record = m.alloc(Record {
            key: version,
            data: [version, version + 1, version + 2, version + 3],
            child: Member::null(),
        });
        record.get(m).child.set(m, Some(leaf.get(m)));
        record
    }

    fn digest(record: Gc<'_, Record>, m: &Mutator<'_>) -> u64 {
        let leaf = record.child.get(m).map_or(0, |l| l.value + l.extra);
        record.key + record.data[3] + leaf
    }

    fn heap_bytes(m: &Mutator<'_>) -> (u64, u64) {
        let usage = m.usage();
        let used = usage.nursery_used + usage.old_used + usage.large_reserved;
        (usage.reserved() as u64, used as u64)
    }

    pub(super) fn run(shape: VmShape, incremental_marking: bool) -> Outcome {
        let started = Instant::now();
        let mut heap = Heap::new(GcConfig {
            incremental_marking,
            ..GcConfig::default()
        })
        .expect("the default configuration is valid");
        let mut stalls = Stalls::new();
        let mut series = MemorySeries::new(started, shape.entries as u64 + shape.steps);
        let mut phases = (0.0, 0.0);
        let checksum = heap.enter(|m| {
            let buckets: Vec<Root<'_, Bucket>> = (0..shape.entries.div_ceil(BUCKET))
                .map(|_| {
                    m.alloc(Bucket {
                        entries: std::array::from_fn(|_| Member::null()),
                    })
                })
                .collect();
            // The table itself is set up outside the timed batches.
            stalls.restart();
            for i in 0..shape.entries {
                let entry = record(m, i as u64);
                buckets[i / BUCKET].get(m).entries[i % BUCKET].set(m, Some(entry.get(m)));
                if series.due(i as u64) {
                    series.sample(Some(heap_bytes(m)));
                }
                stalls.build_step(i);
            }
            phases.0 = ms_since(started);
            stalls.restart();
            let mutate = Instant::now();
            let mut rng = Xorshift::new();
            let mut checksum = 0u64;
            for step in 0..shape.steps {
                for t in 0..TEMPORARIES {
                    let temporary = m.alloc(Record {
                        key: step + t,
                        data: [0; 4],
                        child: Member::null(),
                    });
                    checksum = checksum.wrapping_add(black_box(temporary.get(m)).key);
                }
                let slot = rng.below(shape.entries as u64) as usize;
                let fresh = record(m, shape.entries as u64 + step);
                let entry = &buckets[slot / BUCKET].get(m).entries[slot % BUCKET];
                let old = entry.get(m).expect("every entry is filled");
                checksum = checksum.wrapping_add(digest(black_box(old), m));
                entry.set(m, Some(fresh.get(m)));
                if series.due(shape.entries as u64 + step) {
                    series.sample(Some(heap_bytes(m)));
                }
                stalls.mutate_step(step);
            }
            phases.1 = ms_since(mutate);
            buckets
                .iter()
                .flat_map(|b| b.get(m).get_ref().entries.iter().filter_map(|e| e.get(m)))
                .fold(checksum, |c, r| c.wrapping_add(digest(r, m)))
        });
        let mut outcome = Outcome::new(checksum, shape.allocations());
        outcome.detail(
            "phases_ms",
            json!({ "build": phases.0, "mutate": phases.1 }),
        );
        outcome.detail("memory_series", series.into_json());
        outcome.detail("live_bytes_nominal", json!(shape.live_bytes()));
        outcome.detail("gc", collector_details(&heap));
        outcome.detail("steady_from_heap_start_ms", json!(phases.0));
        outcome.detail("stalls", stalls.into_json());
        drop(heap);
        outcome
    }
}
