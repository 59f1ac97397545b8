//! Minor-collection pause percentiles on a workload with a realistic
//! survival rate: an interpreter-like loop that allocates short-lived
//! temporaries and, now and then, replaces an entry of a long-lived table
//! (a fixed live set, steadily churned). Not a criterion benchmark: it
//! reports the collector's own pause histogram, from `Heap::stats`.
//!
//! `cargo bench -p morph-benches --bench gc_pauses` prints the percentiles
//! and writes `target/morph-bench/gc_pauses.json`.

use std::time::Instant;

use morph_gengc::{Heap, Member, Root, Trace};

/// Buckets of the long-lived table, and entries per bucket: 100,352 entries
/// (a fixed live set of about 3.2 MiB), held in the heap the way an
/// interpreter holds its globals, not as 100,000 separate roots.
const BUCKETS: usize = 1024;
const PER_BUCKET: usize = 98;
/// Temporaries allocated per loop step.
const TEMPORARIES: usize = 8;
/// Loop steps.
const STEPS: usize = 2_000_000;

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

fn main() {
    // Honour a criterion-style name filter from `cargo bench -- FILTER`.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !filters.is_empty() && !filters.iter().any(|f| "gc_pauses".contains(f.as_str())) {
        return;
    }
    let mut heap = Heap::new(Default::default()).expect("default configuration");
    let started = Instant::now();
    let checksum = heap.enter(|m| {
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
        for step in 0..STEPS {
            // Temporaries: a short chain that dies at once.
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
            // allocations (~7 %) survive into the long-lived set (the
            // collector's trace shows ~6.4 % of eden's bytes promoted).
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
    });
    let elapsed = started.elapsed();
    let stats = heap.stats();
    let g = &stats.gc;
    let gen_stats = &stats.generational;
    println!(
        "gc_pauses: {STEPS} steps, {} allocations, checksum {checksum}",
        stats.allocation.total_allocated_objects
    );
    println!(
        "  collections: {} minor, {} major; GC time {:.1} ms of {:.1} ms ({:.2}%)",
        gen_stats.young_gc_count,
        gen_stats.old_gc_count,
        g.gc_time_us as f64 / 1e3,
        elapsed.as_secs_f64() * 1e3,
        100.0 * g.gc_time_us as f64 / 1e6 / elapsed.as_secs_f64()
    );
    println!(
        "  pauses: p50 {} us, p90 {} us, p99 {} us, max {} us (target: minor p99 < 1000 us)",
        g.gc_pause_p50_us, g.gc_pause_p90_us, g.gc_pause_p99_us, g.gc_pause_max_us
    );
    stats.print_stats();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/morph-bench");
    let _ = std::fs::create_dir_all(&dir);
    if let Err(e) = stats.dump_stats(dir.join("gc_pauses.json")) {
        eprintln!("gc_pauses: could not write the stats: {e}");
    }
}
