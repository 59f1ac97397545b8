//! The realistic-survival workload: an interpreter-like loop that allocates
//! short-lived temporaries and, now and then, replaces an entry of a
//! long-lived table with one that keeps its step's temporaries (a fixed
//! live set, steadily churned; ~7 % of allocations survive into it).
//!
//! It exists to measure minor-collection pause percentiles at a survival
//! rate programs actually have, next to the tree workloads whose worst
//! collections see nearly everything survive. Shared by the per-process
//! runner (`cargo xtask bench`, workload `table-churn`) and the
//! `gc_pauses` bench, which prints the collector's own histogram.

use morph_gengc::{Heap, Member, Root, Trace};

use super::{Outcome, Size, collector_details};

/// Buckets of the long-lived table, and entries per bucket: 100,352 entries
/// (a fixed live set of about 3.2 MiB with the buckets), held in the heap the way an
/// interpreter holds its globals, not as 100,000 separate roots.
pub const BUCKETS: usize = 1024;
/// Entries per bucket.
pub const PER_BUCKET: usize = 98;
/// Temporaries allocated per loop step.
pub const TEMPORARIES: usize = 8;

#[derive(Trace)]
struct Entry {
    key: u64,
    value: Member<Entry>,
}

#[derive(Trace)]
struct Bucket {
    entries: [Member<Entry>; PER_BUCKET],
}

#[derive(Trace)]
struct Table {
    buckets: [Member<Bucket>; BUCKETS],
}

/// Loop steps per size.
#[must_use]
pub fn steps(size: Size) -> usize {
    match size {
        Size::Quick => 2_000_000,
        Size::Full => 10_000_000,
    }
}

/// Allocations a run of `steps` steps makes (for per-element times).
#[must_use]
pub fn allocations(steps: usize) -> u64 {
    let table = 1 + BUCKETS * (1 + PER_BUCKET);
    let replacements = steps.div_ceil(16);
    (table + steps * (1 + TEMPORARIES) + replacements) as u64
}

/// Runs the loop in `heap`; returns the checksum (the temporaries' keys and
/// the final table's keys, summed).
pub fn run_in(heap: &mut Heap, steps: usize) -> u64 {
    heap.enter(|m| {
        let table = m.alloc(Table {
            buckets: std::array::from_fn(|_| Member::null()),
        });
        for b in 0..BUCKETS {
            let bucket = m.alloc(Bucket {
                entries: std::array::from_fn(|_| Member::null()),
            });
            for e in 0..PER_BUCKET {
                let entry = m.alloc(Entry {
                    key: (b * PER_BUCKET + e) as u64,
                    value: Member::null(),
                });
                bucket.get(m).entries[e].set(m, Some(entry.get(m)));
            }
            table.get(m).buckets[b].set(m, Some(bucket.get(m)));
        }
        let mut checksum = 0u64;
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for step in 0..steps {
            // Temporaries: a short chain that dies at once, unless kept below.
            let mut previous: Root<'_, Entry> = m.alloc(Entry {
                key: step as u64,
                value: Member::null(),
            });
            for t in 0..TEMPORARIES {
                let temporary = m.alloc(Entry {
                    key: t as u64,
                    value: Member::null(),
                });
                temporary.get(m).value.set(m, Some(previous.get(m)));
                checksum = checksum.wrapping_add(temporary.get(m).key);
                previous = temporary;
            }
            // One step in 16 replaces a random table entry with a new one
            // that holds the step's chain of temporaries: 10 of every 145
            // allocations (~7 %) survive into the long-lived set.
            if step % 16 == 0 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let slot = (state % (BUCKETS * PER_BUCKET) as u64) as usize;
                let entry = m.alloc(Entry {
                    key: step as u64,
                    value: Member::null(),
                });
                entry.get(m).value.set(m, Some(previous.get(m)));
                let bucket = table.get(m).buckets[slot / PER_BUCKET]
                    .get(m)
                    .expect("filled above");
                bucket.entries[slot % PER_BUCKET].set(m, Some(entry.get(m)));
            }
        }
        let table = table.get(m);
        let live: u64 = table
            .buckets
            .iter()
            .filter_map(|b| b.get(m))
            .flat_map(|b| {
                b.entries
                    .iter()
                    .filter_map(|e| e.get(m))
                    .map(|e| e.key)
                    .collect::<Vec<_>>()
            })
            .sum();
        checksum.wrapping_add(live)
    })
}

/// The runner's entry: morph-gengc with the default configuration.
pub fn run(implementation: &str, size: Size) -> Option<Outcome> {
    if implementation != "morph-gengc" {
        return None;
    }
    let steps = std::hint::black_box(steps(size));
    let mut heap = Heap::new(Default::default()).expect("the default configuration is valid");
    let checksum = run_in(&mut heap, steps);
    let mut outcome = Outcome::new(checksum, allocations(steps));
    outcome.detail("gc", collector_details(&heap));
    Some(outcome)
}
