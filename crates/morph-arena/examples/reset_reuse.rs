//! Fills an arena with ~64 MiB of compiler-like values, resets it, and
//! refills it N more times, so a system-call trace can show that reuse after
//! a reset costs no system call: the chunk memory is obtained once, on the
//! first fill, and returned once, when the arena is dropped.
//!
//! ```text
//! cargo build --release -p morph-arena --example reset_reuse
//! strace -c -f -e trace=mmap,munmap,brk target/release/examples/reset_reuse 1
//! strace -c -f -e trace=mmap,munmap,brk target/release/examples/reset_reuse 100
//! ```
//!
//! The retention cap is raised to 128 MiB so the whole 64 MiB unit is kept.
//! With the default cap (16 MiB; pass `--default-cap` as the second argument)
//! each reset returns the chunks beyond the cap to the system, by design, and
//! the counts do grow with N: that is the cap working, not a leak.

use std::hint::black_box;

use morph_arena::{Arena, ArenaConfig};

/// Bytes allocated per compilation unit.
const UNIT_BYTES: usize = 64 << 20;

/// One compilation unit: small nodes, identifiers and 64-byte records until
/// `UNIT_BYTES` have been handed out. Returns a checksum of what was written.
fn fill(arena: &Arena) -> u64 {
    const IDENTS: [&str; 4] = ["x", "main", "parse_expression", "BinaryOperatorKind"];
    let mut checksum = 0_u64;
    let mut i = 0_u64;
    while arena.stats().used_bytes < UNIT_BYTES {
        // A thousand allocations between two (cheap) progress checks.
        for _ in 0..1000 {
            let node = black_box(arena.alloc([i, i / 2, i % 7]));
            let name = black_box(arena.alloc_str(IDENTS[(i % 4) as usize]));
            let record = black_box(arena.alloc([i; 8]));
            checksum = checksum
                .wrapping_add(node[1])
                .wrapping_add(name.len() as u64)
                .wrapping_add(record[7]);
            i += 1;
        }
    }
    checksum
}

fn main() {
    let mut args = std::env::args().skip(1);
    let refills: u32 = match args.next() {
        Some(n) => n
            .parse()
            .expect("usage: reset_reuse [REFILLS] [--default-cap]"),
        None => 1,
    };
    let config = match args.next().as_deref() {
        Some("--default-cap") => ArenaConfig::new(),
        Some(other) => {
            panic!("unknown argument {other:?}; usage: reset_reuse [REFILLS] [--default-cap]")
        }
        None => ArenaConfig::new().retained_bytes(2 * UNIT_BYTES),
    };
    let mut arena = config.build().expect("valid configuration");

    let expected = fill(&arena);
    let reserved = arena.stats().reserved_bytes;
    arena.reset();
    for _ in 0..refills {
        assert_eq!(fill(&arena), expected, "every unit writes the same values");
        arena.reset();
    }
    let stats = arena.stats();
    println!(
        "{refills} refills of {} MiB: {} chunks, {} MiB reserved after the first fill, \
         {} MiB kept after the last reset, {} resets",
        UNIT_BYTES >> 20,
        stats.chunks,
        reserved >> 20,
        stats.reserved_bytes >> 20,
        stats.resets,
    );
}
