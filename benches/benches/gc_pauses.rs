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

/// Long-lived table entries (a fixed live set of about 2.4 MiB).
const TABLE: usize = 100_000;
/// Temporaries allocated per loop step.
const TEMPORARIES: usize = 8;
/// Loop steps.
const STEPS: usize = 2_000_000;

#[derive(Trace)]
struct Entry {
    key: u64,
    value: Member<Entry>,
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
        let mut table: Vec<Root<'_, Entry>> = (0..TABLE as u64)
            .map(|key| {
                m.alloc(Entry {
                    key,
                    value: Member::null(),
                })
            })
            .collect();
        let mut checksum = 0u64;
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for step in 0..STEPS {
            // Temporaries: most die at once, a few are linked to the previous one.
            let mut previous = m.alloc(Entry {
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
            // One step in 16 replaces a random table entry: ~0.7% of
            // allocations survive into the long-lived set.
            if step % 16 == 0 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let slot = (state % TABLE as u64) as usize;
                table[slot] = m.alloc(Entry {
                    key: step as u64,
                    value: Member::null(),
                });
                table[slot].get(m).value.set(m, Some(previous.get(m)));
            }
        }
        checksum.wrapping_add(table.iter().map(|e| e.get(m).key).sum::<u64>())
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
