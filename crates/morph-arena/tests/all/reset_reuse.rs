use morph_arena::{Arena, ArenaConfig};

use crate::counting::allocations_during;

/// Fills the arena with ~`bytes` of small node-like values of mixed sizes.
fn fill(arena: &Arena, bytes: usize) -> u64 {
    let mut checksum = 0_u64;
    let mut used = 0;
    let mut i = 0_u64;
    while used < bytes {
        let node = arena.alloc([i, i + 1, i + 2]);
        checksum = checksum.wrapping_add(node[2]);
        let name = arena.alloc_str("identifier");
        checksum = checksum.wrapping_add(name.len() as u64);
        let small = arena.alloc((i as u8, i as u16));
        checksum = checksum.wrapping_add(u64::from(small.1));
        used += 24 + 10 + 4;
        i += 1;
    }
    checksum
}

#[test]
fn refill_after_reset_makes_no_global_allocation() {
    let filled = if cfg!(miri) { 40 * 1024 } else { 5 << 20 };
    let chunk = if cfg!(miri) { 8 * 1024 } else { 256 * 1024 };
    let mut arena = ArenaConfig::new()
        .chunk_size(chunk)
        .retained_bytes(usize::MAX)
        .build()
        .unwrap();
    let expected = fill(&arena, filled);
    arena.reset();
    let chunks = arena.stats().chunks;
    assert!(
        chunks > 4,
        "the fill must span several chunks, got {chunks}"
    );
    for _ in 0..3 {
        let (allocations, checksum) = allocations_during(|| {
            let checksum = fill(&arena, filled);
            arena.reset();
            checksum
        });
        assert_eq!(checksum, expected);
        assert_eq!(allocations, 0, "a reset + refill cycle must reuse chunks");
        assert_eq!(arena.stats().chunks, chunks);
    }
}

#[test]
fn reset_returns_chunks_beyond_the_retention_cap() {
    let chunk = 4096;
    let mut arena = ArenaConfig::new()
        .chunk_size(chunk)
        .retained_bytes(3 * chunk)
        .build()
        .unwrap();
    for i in 0..1000_u64 {
        arena.alloc([i; 4]);
    }
    assert!(arena.stats().reserved_bytes > 3 * chunk);
    arena.reset();
    let stats = arena.stats();
    assert_eq!(stats.reserved_bytes, 3 * chunk);
    assert_eq!(stats.free_chunks, 3);
    assert_eq!(stats.used_bytes, 0);
}

#[test]
fn zero_retention_releases_everything_on_reset() {
    let mut arena = ArenaConfig::new().retained_bytes(0).build().unwrap();
    arena.alloc_str("spike");
    arena.reset();
    assert_eq!(arena.stats().chunks, 0);
    assert_eq!(arena.stats().reserved_bytes, 0);
    assert_eq!(*arena.alloc(3_u8), 3, "the arena stays usable");
}

#[test]
fn a_spike_of_large_allocations_is_not_pinned_after_reset() {
    let mut arena = ArenaConfig::new()
        .chunk_size(4096)
        .retained_bytes(16 * 1024)
        .build()
        .unwrap();
    let big = if cfg!(miri) { 64 * 1024 } else { 8 << 20 };
    let buffer = arena.alloc_slice_fill_iter(std::iter::repeat_n(7_u8, big));
    assert_eq!(buffer[big - 1], 7);
    assert!(arena.stats().reserved_bytes >= big);
    arena.reset();
    assert!(arena.stats().reserved_bytes <= 16 * 1024);
}

#[test]
fn reset_counts_and_clears_usage() {
    let mut arena = Arena::new();
    arena.alloc(1_u32);
    arena.reset();
    arena.reset();
    let stats = arena.stats();
    assert_eq!(stats.resets, 2);
    assert_eq!(stats.used_bytes, 0);
    assert_eq!(stats.wasted_bytes, 0);
    assert_eq!(stats.free_chunks, 1);
}
