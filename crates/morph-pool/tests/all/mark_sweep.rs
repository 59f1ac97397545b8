use morph_pool::{PoolError, RawPool, SizeClassConfig, SizeClassPool, SweepOutcome};

use crate::small_config;

#[test]
fn sweep_frees_exactly_the_unmarked_slots() {
    let mut pool = RawPool::new(32, small_config()).unwrap();
    let slots: Vec<_> = (0..300).map(|_| pool.alloc().unwrap()).collect();
    for slot in slots.iter().step_by(7) {
        assert_eq!(pool.mark(*slot), Ok(true));
    }
    let marked = slots.iter().step_by(7).count();
    let outcome = pool.sweep();
    assert_eq!(outcome.live_slots, marked);
    assert_eq!(outcome.freed_slots, 300 - marked);
    for (i, slot) in slots.iter().enumerate() {
        assert_eq!(pool.contains(*slot), i % 7 == 0, "slot {i}");
    }
    assert_eq!(pool.live_slots(), marked);
}

#[test]
fn sweep_clears_marks_so_the_next_cycle_starts_white() {
    let mut pool = RawPool::new(32, small_config()).unwrap();
    let slot = pool.alloc().unwrap();
    pool.mark(slot).unwrap();
    pool.sweep();
    assert_eq!(pool.is_marked(slot), Ok(false));
    assert_eq!(pool.sweep().freed_slots, 1);
}

#[test]
fn sweep_releases_blocks_it_empties_by_the_policy() {
    let mut pool = RawPool::new(256, small_config()).unwrap();
    let per_block = pool.slots_per_block();
    let slots: Vec<_> = (0..per_block * 4).map(|_| pool.alloc().unwrap()).collect();
    pool.mark(slots[0]).unwrap();
    let outcome = pool.sweep();
    // Block 0 keeps one live slot; of the three emptied, one is retained.
    assert_eq!(
        outcome,
        SweepOutcome {
            freed_slots: per_block * 4 - 1,
            live_slots: 1,
            released_blocks: 2,
            swept_blocks: 4,
        }
    );
    assert_eq!(pool.block_count(), 2);
    assert!(pool.contains(slots[0]));
    // The pool still allocates normally after the sweep.
    let again: Vec<_> = (0..per_block * 2).map(|_| pool.alloc().unwrap()).collect();
    assert_eq!(pool.live_slots(), 1 + again.len());
}

#[test]
fn marking_a_free_or_foreign_slot_is_an_error() {
    let mut pool = RawPool::new(32, small_config()).unwrap();
    let slot = pool.alloc().unwrap();
    let other = pool.alloc().unwrap();
    pool.free(slot).unwrap();
    assert_eq!(
        pool.mark(slot),
        Err(PoolError::NotAllocated {
            addr: slot.addr().get()
        })
    );
    let outside = Box::new(0u128);
    let foreign = core::ptr::NonNull::from(&*outside).cast::<u8>();
    assert!(matches!(
        pool.mark(foreign),
        Err(PoolError::ForeignPointer { .. })
    ));
    assert_eq!(pool.mark(other), Ok(true));
}

#[test]
fn freeing_a_marked_slot_clears_its_mark_for_the_next_owner() {
    let mut pool = RawPool::new(32, small_config()).unwrap();
    let slot = pool.alloc().unwrap();
    pool.mark(slot).unwrap();
    pool.free(slot).unwrap();
    let reused = pool.alloc().unwrap();
    assert_eq!(reused, slot);
    assert_eq!(pool.is_marked(reused), Ok(false));
}

#[test]
fn block_views_split_marked_and_unmarked_slots() {
    let mut pool = RawPool::new(64, small_config()).unwrap();
    let a = pool.alloc().unwrap();
    let b = pool.alloc().unwrap();
    // SAFETY: `a` is an allocated slot of `pool`.
    assert!(unsafe { pool.mark_unchecked(a) });
    let block = pool.blocks().next().unwrap();
    assert_eq!(block.marked_slots().collect::<Vec<_>>(), [a]);
    assert_eq!(block.unmarked_slots().collect::<Vec<_>>(), [b]);
    let ones = |words: &[u64]| words.iter().map(|w| w.count_ones() as usize).sum::<usize>();
    assert_eq!(ones(block.mark_words()), 1);
    assert_eq!(ones(block.free_words()), pool.slots_per_block() - 2);
    // bitvec 1.x's BitSlice reads are rejected by Miri's Stacked Borrows
    // (zero-sized retags inside bitvec), so the bitvec views are checked
    // natively only.
    if !cfg!(miri) {
        assert_eq!(block.mark_bits().count_ones(), 1);
        assert_eq!(block.free_bits().count_ones(), pool.slots_per_block() - 2);
    }
}

#[test]
fn size_class_sweep_covers_every_class() {
    let mut pools = SizeClassPool::new(SizeClassConfig {
        classes: vec![32, 64, 128, 256],
        pool: small_config(),
    })
    .unwrap();
    let mut kept = Vec::new();
    for class in 0..4 {
        for i in 0..20 {
            let slot = pools.class_mut(class).alloc().unwrap();
            if i % 2 == 0 {
                pools.class_mut(class).mark(slot).unwrap();
                kept.push((class, slot));
            }
        }
    }
    let outcome = pools.sweep();
    assert_eq!((outcome.freed_slots, outcome.live_slots), (40, 40));
    assert!(
        kept.iter()
            .all(|&(class, slot)| pools.class(class).contains(slot))
    );
}

/// A sweep spread over calls of one block each frees exactly what one
/// whole sweep would, releasing emptied blocks on the way.
#[test]
fn a_sweep_in_steps_frees_what_one_sweep_frees() {
    let mut pool = RawPool::new(64, small_config()).unwrap();
    let per_block = pool.slots_per_block();
    let slots: Vec<_> = (0..per_block * 5).map(|_| pool.alloc().unwrap()).collect();
    // Blocks 0 and 3 keep a live slot; 1, 2 and 4 die whole.
    pool.mark(slots[1]).unwrap();
    pool.mark(slots[per_block * 3 + 2]).unwrap();
    let (mut next, mut total) = (0, SweepOutcome::default());
    let mut calls = 0;
    while next < pool.block_count() {
        let (outcome, after) = pool.sweep_blocks(next, 1);
        assert_eq!(outcome.swept_blocks, 1);
        total.freed_slots += outcome.freed_slots;
        total.live_slots += outcome.live_slots;
        next = after;
        calls += 1;
    }
    assert_eq!(calls, 5);
    assert_eq!(total.live_slots, 2);
    assert_eq!(total.freed_slots, per_block * 5 - 2);
    assert_eq!(pool.live_slots(), 2);
    assert!(pool.contains(slots[1]) && pool.contains(slots[per_block * 3 + 2]));
}
