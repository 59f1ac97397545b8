use core::ptr::NonNull;

use morph_pool::{PoolConfig, PoolError, RawPool};

use crate::small_config;

fn interior(slot: NonNull<u8>, by: usize) -> NonNull<u8> {
    NonNull::new(slot.as_ptr().wrapping_add(by)).unwrap()
}

#[test]
fn allocated_slots_are_distinct_aligned_and_writable() {
    let mut pool = RawPool::new(48, small_config()).unwrap();
    let slots: Vec<_> = (0..200).map(|_| pool.alloc().unwrap()).collect();
    for (i, slot) in slots.iter().enumerate() {
        assert_eq!(slot.addr().get() % 16, 0);
        // SAFETY: each slot is 48 bytes and ours.
        unsafe { slot.as_ptr().write_bytes(i as u8, 48) };
    }
    for (i, slot) in slots.iter().enumerate() {
        // SAFETY: written above, still allocated.
        let bytes = unsafe { core::slice::from_raw_parts(slot.as_ptr(), 48) };
        assert!(
            bytes.iter().all(|&b| b == i as u8),
            "slot {i} was overwritten"
        );
    }
    let mut addrs: Vec<_> = slots.iter().map(|s| s.addr().get()).collect();
    addrs.sort_unstable();
    assert!(addrs.windows(2).all(|w| w[1] - w[0] >= 48), "slots overlap");
    assert!(
        pool.block_count() > 1,
        "200 slots of 48 bytes need several 4 KiB blocks"
    );
}

#[test]
fn freed_slot_is_reused_first() {
    let mut pool = RawPool::new(32, small_config()).unwrap();
    let a = pool.alloc().unwrap();
    let _b = pool.alloc().unwrap();
    pool.free(a).unwrap();
    assert_eq!(pool.alloc().unwrap(), a);
}

#[test]
fn double_free_is_an_error_and_changes_nothing() {
    let mut pool = RawPool::new(32, small_config()).unwrap();
    let a = pool.alloc().unwrap();
    let b = pool.alloc().unwrap();
    pool.free(a).unwrap();
    let before = pool.stats();
    assert_eq!(
        pool.free(a),
        Err(PoolError::DoubleFree {
            addr: a.addr().get()
        })
    );
    assert_eq!(pool.stats(), before);
    assert!(pool.contains(b));
}

#[test]
fn foreign_pointer_is_an_error() {
    let mut pool = RawPool::new(32, small_config()).unwrap();
    let _keep = pool.alloc().unwrap();
    let on_heap = Box::new([0u64; 4]);
    let foreign = NonNull::from(&*on_heap).cast::<u8>();
    assert_eq!(
        pool.free(foreign),
        Err(PoolError::ForeignPointer {
            addr: foreign.addr().get()
        })
    );
    let on_stack = 0u64;
    let stack = NonNull::from(&on_stack).cast::<u8>();
    assert!(matches!(
        pool.free(stack),
        Err(PoolError::ForeignPointer { .. })
    ));
    assert_eq!(pool.live_slots(), 1);
}

#[test]
fn slot_of_another_pool_is_foreign() {
    let mut ours = RawPool::new(32, small_config()).unwrap();
    let mut theirs = RawPool::new(32, small_config()).unwrap();
    let _keep = ours.alloc().unwrap();
    let their_slot = theirs.alloc().unwrap();
    assert!(matches!(
        ours.free(their_slot),
        Err(PoolError::ForeignPointer { .. })
    ));
    assert!(theirs.contains(their_slot));
    theirs.free(their_slot).unwrap();
}

#[test]
fn pointer_inside_a_slot_is_an_error_naming_the_slot() {
    let mut pool = RawPool::new(64, small_config()).unwrap();
    let slot = pool.alloc().unwrap();
    let err = pool.free(interior(slot, 24)).unwrap_err();
    assert_eq!(
        err,
        PoolError::InteriorPointer {
            addr: slot.addr().get() + 24,
            slot_start: slot.addr().get()
        }
    );
    assert!(err.to_string().contains("24 bytes into"));
    pool.free(slot).unwrap();
}

#[test]
fn pointer_into_the_block_header_is_foreign() {
    let mut pool = RawPool::new(32, small_config()).unwrap();
    let slot = pool.alloc().unwrap();
    let base = pool.blocks().next().unwrap().base();
    assert!(matches!(
        pool.free(base),
        Err(PoolError::ForeignPointer { .. })
    ));
    pool.free(slot).unwrap();
}

#[test]
fn filling_a_block_moves_on_to_a_new_block_and_frees_make_room_again() {
    let mut pool = RawPool::new(256, small_config()).unwrap();
    let per_block = pool.slots_per_block();
    let first: Vec<_> = (0..per_block).map(|_| pool.alloc().unwrap()).collect();
    assert_eq!(pool.block_count(), 1);
    let extra = pool.alloc().unwrap();
    assert_eq!(pool.block_count(), 2);
    pool.free(first[3]).unwrap();
    // The block with a hole is preferred over the newer one's free slots.
    assert_eq!(pool.alloc().unwrap(), first[3]);
    pool.free(extra).unwrap();
}

/// Allocates `count` slots, then frees them in an order that changes with
/// `round` (LIFO, FIFO, or interleaved by a stride).
fn batch(pool: &mut RawPool, count: usize, round: usize) {
    let mut slots: Vec<_> = (0..count).map(|_| pool.alloc().unwrap()).collect();
    match round % 3 {
        0 => slots.reverse(),
        1 => {}
        _ => {
            let stride = 7;
            slots = (0..stride)
                .flat_map(|start| slots.iter().copied().skip(start).step_by(stride))
                .collect();
        }
    }
    for slot in slots {
        pool.free(slot).unwrap();
    }
}

#[test]
fn a_repeated_multi_block_batch_reuses_its_blocks() {
    let config = PoolConfig {
        block_size: 4096,
        retain_empty_blocks: 1,
    };
    let mut pool = RawPool::new(256, config).unwrap();
    // Three and a half blocks' worth: four blocks at every batch's peak.
    let count = pool.slots_per_block() * 7 / 2;
    let rounds = if cfg!(miri) { 40 } else { 1000 };
    for round in 0..rounds {
        batch(&mut pool, count, round);
    }
    let stats = pool.stats();
    assert_eq!(
        (stats.blocks_allocated, stats.blocks_released),
        (4, 0),
        "the batch went back to the system: {stats:?}"
    );
    assert_eq!(
        (stats.blocks, stats.empty_blocks, stats.peak_blocks),
        (4, 4, 4)
    );
}

#[test]
fn blocks_beyond_the_recent_peak_are_released_once_use_shrinks() {
    let config = PoolConfig {
        block_size: 4096,
        retain_empty_blocks: 1,
    };
    let mut pool = RawPool::new(256, config).unwrap();
    let per_block = pool.slots_per_block();
    for round in 0..3 {
        batch(&mut pool, per_block * 8, round);
    }
    assert_eq!((pool.stats().blocks, pool.stats().blocks_released), (8, 0));
    // A few smaller batches are a dip, not a shrink: the blocks stay.
    for round in 0..3 {
        batch(&mut pool, per_block * 3 / 2, round);
    }
    assert_eq!((pool.stats().blocks, pool.stats().blocks_released), (8, 0));
    // Keep needing two blocks: the peak decays (halving per window of
    // block acquisitions) and the excess goes back to the system.
    let mut held = Vec::new();
    for round in 0..100 {
        batch(&mut pool, per_block * 3 / 2, round);
        held.push(pool.block_count());
    }
    assert!(held.windows(2).all(|w| w[1] <= w[0]), "{held:?}");
    let stats = pool.stats();
    assert_eq!(
        (stats.blocks, stats.peak_blocks, stats.blocks_released),
        (2, 2, 6),
        "{stats:?}"
    );
    assert_eq!(stats.blocks_allocated, 8, "no block was taken back");
    // A big batch again relearns the peak at once.
    batch(&mut pool, per_block * 8, 0);
    batch(&mut pool, per_block * 8, 1);
    let stats = pool.stats();
    assert_eq!(
        (stats.blocks, stats.peak_blocks, stats.blocks_allocated),
        (8, 8, 14)
    );
}

#[test]
fn the_floor_is_kept_after_the_peak_decays() {
    let config = PoolConfig {
        block_size: 4096,
        retain_empty_blocks: 3,
    };
    let mut pool = RawPool::new(256, config).unwrap();
    let per_block = pool.slots_per_block();
    batch(&mut pool, per_block * 6, 0);
    assert_eq!(pool.block_count(), 6);
    for round in 0..200 {
        batch(&mut pool, 1, round);
    }
    let stats = pool.stats();
    assert_eq!(
        (stats.blocks, stats.empty_blocks, stats.peak_blocks),
        (3, 3, 1)
    );
}

#[test]
fn releasing_empty_blocks_forgets_the_peak() {
    let mut pool = RawPool::new(256, crate::small_config()).unwrap();
    let per_block = pool.slots_per_block();
    batch(&mut pool, per_block * 4, 0);
    assert_eq!(pool.release_empty_blocks(), 4);
    assert_eq!(pool.stats().peak_blocks, 0);
    // One block at a time now: the floor of one empty block applies again.
    let slot = pool.alloc().unwrap();
    pool.free(slot).unwrap();
    assert_eq!((pool.block_count(), pool.stats().empty_blocks), (1, 1));
}

#[test]
fn retention_zero_releases_every_empty_block_at_once() {
    let config = PoolConfig {
        block_size: 4096,
        retain_empty_blocks: 0,
    };
    let mut pool = RawPool::new(32, config).unwrap();
    let slot = pool.alloc().unwrap();
    pool.free(slot).unwrap();
    assert_eq!(pool.block_count(), 0);
}

#[test]
fn unchecked_free_returns_the_slot() {
    let mut pool = RawPool::new(32, small_config()).unwrap();
    let slot = pool.alloc().unwrap();
    // SAFETY: `slot` is a live slot of `pool`.
    unsafe { pool.free_unchecked(slot) };
    assert!(!pool.contains(slot));
}

#[cfg(debug_assertions)]
#[test]
#[should_panic(expected = "double free")]
fn unchecked_double_free_panics_in_debug_builds() {
    let mut pool = RawPool::new(32, small_config()).unwrap();
    let slot = pool.alloc().unwrap();
    let _other = pool.alloc().unwrap();
    // SAFETY: live slot.
    unsafe { pool.free_unchecked(slot) };
    // SAFETY: deliberately broken contract; debug builds must catch it
    // before touching anything.
    unsafe { pool.free_unchecked(slot) };
}

#[test]
fn iteration_lists_exactly_the_allocated_slots_in_address_order() {
    let mut pool = RawPool::new(64, small_config()).unwrap();
    let slots: Vec<_> = (0..150).map(|_| pool.alloc().unwrap()).collect();
    for slot in slots.iter().step_by(3) {
        pool.free(*slot).unwrap();
    }
    let mut expected: Vec<_> = slots
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(_, s)| s.addr().get())
        .collect();
    expected.sort_unstable();
    let mut listed: Vec<_> = pool
        .blocks()
        .flat_map(|block| {
            block
                .allocated_slots()
                .map(|s| s.addr().get())
                .collect::<Vec<_>>()
        })
        .collect();
    listed.sort_unstable();
    assert_eq!(listed, expected);
    let per_block_live: usize = pool.blocks().map(|b| b.live_slots()).sum();
    assert_eq!(per_block_live, 100);
}

/// Frees into a bitmap word that already has a free slot skip the summary
/// update (a fast-path choice); allocation must still find every free slot of
/// a full block, word by word, before it takes a new block.
#[test]
fn slots_freed_into_partly_free_words_are_all_found_again() {
    let mut pool = RawPool::new(32, small_config()).unwrap();
    let per_block = pool.slots_per_block();
    let slots: Vec<_> = (0..per_block).map(|_| pool.alloc().unwrap()).collect();
    assert_eq!(pool.block_count(), 1);
    // Several frees per word, in both directions, typed and checked paths.
    let mut freed: Vec<_> = slots.iter().copied().step_by(3).collect();
    freed.reverse();
    for (i, &slot) in freed.iter().enumerate() {
        if i % 2 == 0 {
            pool.free(slot).unwrap();
        } else {
            // SAFETY: `slot` is an allocated slot of `pool`, freed once.
            unsafe { pool.free_unchecked(slot) };
        }
    }
    let mut again: Vec<_> = (0..freed.len()).map(|_| pool.alloc().unwrap()).collect();
    assert_eq!(pool.block_count(), 1, "a free slot was missed");
    again.sort();
    freed.sort();
    assert_eq!(again, freed);
}
