//! The longest minor collections there are: a whole young tree promoted at
//! once, with the caches warm (eden just written by the mutator) or cold
//! (every cache flushed first, as when the mutator's own data, or another
//! program's, has pushed eden out).
//!
//! ```text
//! cargo run --release -p morph-benches --example full_survival [-- DEPTH [--cold]]
//! ```
//!
//! Each round builds a binary tree of depth `DEPTH` (default 16: 131,071
//! nodes, 3 MiB with headers) in an eden big enough to hold it, twice: top
//! down (parent first, children just after it: GCBench's `Populate`) and
//! bottom up (children first, as binary-trees), with the tree builders of
//! the `gcbench` and `binary-trees` workloads. A minor collection then
//! promotes it whole; its pause is timed around the collection alone. The
//! first round warms up and is not counted.

use std::hint::black_box;
use std::time::Instant;

use morph_benches::workloads::trees::morph_gengc_impl::{bottom_up, leaf, populate};
use morph_gengc::{Collection, GcConfig, Heap};

/// Reads and writes every line of a buffer far bigger than the caches.
fn flush_caches(buffer: &mut [u8]) {
    for line in buffer.chunks_mut(64) {
        line[0] = line[0].wrapping_add(1);
    }
    black_box(buffer);
}

fn summary(pauses: &mut [f64]) -> String {
    pauses.sort_by(f64::total_cmp);
    format!(
        "{:.0}/{:.0}/{:.0} µs",
        pauses[0],
        pauses[pauses.len() / 2],
        pauses[pauses.len() - 1]
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let depth: u32 = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(16)
        .clamp(1, 18);
    let cold = args.iter().any(|a| a == "--cold");
    let rounds = 11;
    let tree_bytes = ((1usize << (depth + 1)) - 1) * 24;
    let config = GcConfig {
        nursery_size: (tree_bytes * 2).next_multiple_of(8),
        survivor_size: 0,
        promotion_age: 1,
        adaptive_tenuring: false,
        ..GcConfig::default()
    };
    let mut heap = Heap::new(config).expect("a valid configuration");
    let mut flush = if cold {
        vec![0u8; 128 << 20]
    } else {
        Vec::new()
    };
    let (mut top_down_pauses, mut bottom_up_pauses) = (Vec::new(), Vec::new());
    heap.enter(|m| {
        for round in 0..rounds {
            for parent_first in [true, false] {
                let tree = if parent_first {
                    let root = m.alloc(leaf());
                    populate(m, depth, &root);
                    root
                } else {
                    bottom_up(m, depth)
                };
                flush_caches(&mut flush);
                let started = Instant::now();
                m.collect(Collection::Minor);
                let pause = started.elapsed().as_secs_f64() * 1e6;
                if round > 0 {
                    let pauses = if parent_first {
                        &mut top_down_pauses
                    } else {
                        &mut bottom_up_pauses
                    };
                    pauses.push(pause);
                }
                drop(tree);
                m.collect(Collection::Major);
            }
        }
    });
    println!(
        "depth {depth} ({} KiB), caches {}: top down {}, bottom up {} (min/median/max of {})",
        tree_bytes >> 10,
        if cold { "cold" } else { "warm" },
        summary(&mut top_down_pauses),
        summary(&mut bottom_up_pauses),
        rounds - 1
    );
}
