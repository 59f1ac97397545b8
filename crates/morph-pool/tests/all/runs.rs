//! Runs: many slots of one bitmap word taken and given back at once.

use std::collections::BTreeMap;
use std::ptr::NonNull;

use morph_pool::RawPool;

use crate::small_config;

/// Hands out one slot of a run.
fn take(base: *mut u8, bits: &mut u64, slot_size: usize) -> Option<NonNull<u8>> {
    if *bits == 0 {
        return None;
    }
    let i = bits.trailing_zeros() as usize;
    *bits &= *bits - 1;
    NonNull::new(base.wrapping_add(i * slot_size))
}

#[test]
fn runs_and_single_allocations_never_hand_out_a_slot_twice() {
    let mut pool = RawPool::new(48, small_config()).unwrap();
    // Live slots by address (the pointers keep their provenance).
    let mut live = BTreeMap::new();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..200 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        match state % 3 {
            0 => {
                let (base, mut bits) = pool.alloc_run().unwrap();
                assert_ne!(bits, 0);
                // Use a few slots of the run, give the rest back.
                for _ in 0..(state >> 8) % 5 + 1 {
                    if let Some(slot) = take(base, &mut bits, 48) {
                        let addr = slot.addr().get();
                        assert!(live.insert(addr, slot).is_none(), "slot handed out twice");
                        assert_eq!(addr % 16, 0);
                    }
                }
                // SAFETY: the unused rest of the run just taken.
                unsafe { pool.free_run(base, bits) };
            }
            1 => {
                let slot = pool.alloc().unwrap();
                assert!(
                    live.insert(slot.addr().get(), slot).is_none(),
                    "slot handed out twice"
                );
            }
            _ => {
                if let Some(&addr) = live.keys().nth(round % live.len().max(1)) {
                    let slot = live.remove(&addr).unwrap();
                    pool.free(slot).unwrap();
                }
            }
        }
        assert_eq!(pool.live_slots(), live.len(), "round {round}");
    }
    for slot in std::mem::take(&mut live).into_values() {
        pool.free(slot).unwrap();
    }
    assert_eq!(pool.live_slots(), 0);
}

#[test]
fn a_whole_run_given_back_leaves_the_pool_as_it_was() {
    let mut pool = RawPool::new(32, small_config()).unwrap();
    let (base, bits) = pool.alloc_run().unwrap();
    assert_eq!(pool.live_slots(), bits.count_ones() as usize);
    // SAFETY: nothing of the run was handed out.
    unsafe { pool.free_run(base, bits) };
    assert_eq!(pool.live_slots(), 0);
    // The emptied block is kept (retain_empty_blocks = 1) and reused.
    assert_eq!(pool.stats().empty_blocks, 1);
    let slot = pool.alloc().unwrap();
    assert_eq!(pool.stats().blocks, 1);
    pool.free(slot).unwrap();
}

#[test]
fn runs_fill_a_block_and_the_next_run_takes_a_new_one() {
    let mut pool = RawPool::new(16, small_config()).unwrap();
    let slots_per_block = pool.slots_per_block();
    let mut taken = 0;
    while pool.stats().blocks < 2 {
        let (_, bits) = pool.alloc_run().unwrap();
        taken += bits.count_ones() as usize;
    }
    // Every slot of the first block, then one run of the second.
    assert!(taken > slots_per_block);
    assert_eq!(pool.live_slots(), taken);
}
