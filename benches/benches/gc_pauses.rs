//! Minor-collection pause percentiles on a workload with a realistic
//! survival rate: the interpreter-like loop of
//! `morph_benches::workloads::churn` (also the `table-churn` workload of
//! `cargo xtask bench`). Not a criterion benchmark: it reports the
//! collector's own pause histogram, from `Heap::stats`.
//!
//! `cargo bench -p morph-benches --bench gc_pauses` prints the percentiles
//! and writes `target/morph-bench/gc_pauses.json`.

use std::time::Instant;

use morph_benches::workloads::{Size, churn};
use morph_gengc::Heap;

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
    // The quick size of the `table-churn` workload.
    let steps = churn::steps(Size::Quick);
    let checksum = churn::run_in(&mut heap, steps);
    let elapsed = started.elapsed();
    let stats = heap.stats();
    let g = &stats.gc;
    let gen_stats = &stats.generational;
    println!(
        "gc_pauses: {steps} steps, {} allocations, checksum {checksum}",
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
