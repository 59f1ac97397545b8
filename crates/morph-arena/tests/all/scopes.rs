use std::sync::Arc;

use morph_arena::{Arena, ArenaConfig};

use crate::counting::allocations_during;

#[test]
fn scope_frees_scratch_and_keeps_outer_allocations() {
    let arena = ArenaConfig::new().chunk_size(1024).build().unwrap();
    let outer = arena.alloc_slice_copy(&[1_u32, 2, 3]);
    let used_before = arena.stats().used_bytes;
    let sum = arena.scope(|scratch| {
        let mut total = 0;
        for i in 0..200 {
            let tmp = scratch.alloc_slice_copy(outer);
            tmp[0] += i;
            total += tmp.iter().sum::<u32>();
        }
        total
    });
    assert_eq!(sum, (0..200).map(|i| 6 + i).sum::<u32>());
    assert_eq!(outer, &[1, 2, 3]);
    assert_eq!(arena.stats().used_bytes, used_before);
    assert!(
        arena.stats().free_chunks > 0,
        "scratch chunks come back for reuse"
    );
}

#[test]
fn outer_allocations_made_inside_a_scope_survive_it() {
    let arena = Arena::new();
    let mut kept = None;
    arena.scope(|scratch| {
        scratch.alloc([0_u8; 100]);
        kept = Some(arena.alloc_str("result"));
    });
    assert_eq!(kept.unwrap(), "result");
}

#[test]
fn repeated_scopes_reuse_chunks_without_global_allocation() {
    let arena = ArenaConfig::new().chunk_size(4096).build().unwrap();
    let work = |arena: &Arena| {
        arena.scope(|scratch| {
            for i in 0..2000_u64 {
                scratch.alloc(i);
            }
        });
    };
    work(&arena);
    let (allocations, ()) = allocations_during(|| work(&arena));
    assert_eq!(allocations, 0);
}

#[test]
fn scope_runs_scratch_destructors_at_its_end() {
    let token = Arc::new(());
    let arena = Arena::new();
    arena.scope(|scratch| {
        scratch.alloc_with_drop(Arc::clone(&token));
        assert_eq!(Arc::strong_count(&token), 2);
    });
    assert_eq!(Arc::strong_count(&token), 1);
}

#[test]
fn scope_gives_chunks_back_when_the_closure_panics() {
    let arena = ArenaConfig::new().chunk_size(1024).build().unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        arena.scope(|scratch| {
            for i in 0..100_u64 {
                scratch.alloc(i);
            }
            panic!("scratch work failed");
        })
    }));
    assert!(result.is_err());
    assert!(arena.stats().free_chunks >= 1);
    assert_eq!(arena.stats().used_bytes, 0);
}

#[test]
fn checkpoint_rolls_back_in_place_across_chunks() {
    let mut arena = ArenaConfig::new().chunk_size(1024).build().unwrap();
    let base = *arena.alloc(7_u64);
    let before = arena.stats();
    {
        let scratch = arena.checkpoint();
        for i in 0..500_u64 {
            assert_eq!(*scratch.alloc(i), i);
        }
        scratch.alloc_slice_copy(&[1_u8; 5000]); // a dedicated chunk too
        assert!(scratch.stats().chunks > 3);
    }
    let after = arena.stats();
    assert_eq!(after.used_bytes, before.used_bytes);
    assert_eq!(after.wasted_bytes, before.wasted_bytes);
    assert_eq!(after.available_bytes, before.available_bytes);
    assert_eq!(
        after.chunks - after.free_chunks,
        1,
        "only the original chunk is in use"
    );
    // The next allocation lands right below the checkpoint position.
    let next = arena.alloc(8_u64);
    assert_eq!(*next, 8);
    assert_eq!(base, 7);
}

#[test]
fn nested_checkpoints_roll_back_innermost_first() {
    let token = Arc::new(());
    let mut arena = Arena::new();
    let mut outer = arena.checkpoint();
    outer.alloc_with_drop(Arc::clone(&token));
    let used_outer = outer.stats().used_bytes;
    {
        let inner = outer.checkpoint();
        inner.alloc_with_drop(Arc::clone(&token));
        assert_eq!(Arc::strong_count(&token), 3);
    }
    assert_eq!(Arc::strong_count(&token), 2);
    assert_eq!(outer.stats().used_bytes, used_outer);
    drop(outer);
    assert_eq!(Arc::strong_count(&token), 1);
    assert_eq!(arena.stats().used_bytes, 0);
}

#[test]
fn a_forgotten_checkpoint_keeps_its_allocations_until_reset() {
    let mut arena = Arena::new();
    let cp = arena.checkpoint();
    cp.alloc(1_u32);
    std::mem::forget(cp);
    assert_eq!(arena.stats().used_bytes, 4);
    arena.reset();
    assert_eq!(arena.stats().used_bytes, 0);
}
