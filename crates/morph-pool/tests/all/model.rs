//! Randomised alloc/free sequences against a plain model: every live
//! allocation is remembered with its layout and fill byte, and after every
//! step the pool must agree with the model.

use core::alloc::Layout;
use core::ptr::NonNull;
use std::collections::BTreeMap;

use morph_pool::{PoolError, SizeClassConfig, SizeClassPool};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Alloc { size: usize, align_log2: u32 },
    Free { pick: usize },
    FreeAgain { pick: usize },
    FreeInterior { pick: usize, offset: usize },
    FreeForeign,
    ReleaseEmpty,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..=300, 0u32..=7).prop_map(|(size, align_log2)| Op::Alloc { size, align_log2 }),
        4 => any::<usize>().prop_map(|pick| Op::Free { pick }),
        1 => any::<usize>().prop_map(|pick| Op::FreeAgain { pick }),
        1 => (any::<usize>(), 1usize..16).prop_map(|(pick, offset)| Op::FreeInterior { pick, offset }),
        1 => Just(Op::FreeForeign),
        1 => Just(Op::ReleaseEmpty),
    ]
}

struct Live {
    ptr: NonNull<u8>,
    layout: Layout,
    class_size: usize,
    fill: u8,
}

fn bytes(live: &Live) -> &[u8] {
    // SAFETY: the model only holds allocated slots, filled on allocation.
    unsafe { core::slice::from_raw_parts(live.ptr.as_ptr(), live.layout.size()) }
}

fn run(ops: Vec<Op>) {
    let config = SizeClassConfig {
        classes: vec![32, 64, 128, 256],
        pool: morph_pool::PoolConfig {
            block_size: 4096,
            retain_empty_blocks: 1,
        },
    };
    let mut pools = SizeClassPool::new(config).unwrap();
    let mut live: Vec<Live> = Vec::new();
    let mut freed: Vec<(NonNull<u8>, Layout)> = Vec::new();
    let mut fill = 0u8;
    let outside = Box::new([0u64; 8]);
    for op in ops {
        match op {
            Op::Alloc { size, align_log2 } => {
                let layout = Layout::from_size_align(size, 1 << align_log2).unwrap();
                match pools.alloc(layout) {
                    Ok(ptr) => {
                        assert_eq!(ptr.addr().get() % layout.align(), 0, "alignment");
                        fill = fill.wrapping_add(1);
                        // SAFETY: a fresh slot of at least `size` bytes.
                        unsafe { ptr.as_ptr().write_bytes(fill, size) };
                        let class_size = pools.class_size_for(layout).unwrap();
                        assert!(class_size >= size);
                        freed.retain(|(p, _)| *p != ptr);
                        live.push(Live {
                            ptr,
                            layout,
                            class_size,
                            fill,
                        });
                    }
                    Err(PoolError::TooLarge { .. }) => {
                        assert!(size > 256 || layout.align() > 256, "{layout:?} should fit");
                    }
                    Err(err) => panic!("unexpected {err}"),
                }
            }
            Op::Free { pick } if !live.is_empty() => {
                let victim = live.swap_remove(pick % live.len());
                assert!(
                    bytes(&victim).iter().all(|&b| b == victim.fill),
                    "contents lost"
                );
                pools.free(victim.ptr, victim.layout).unwrap();
                freed.push((victim.ptr, victim.layout));
            }
            Op::FreeAgain { pick } if !freed.is_empty() => {
                let (ptr, layout) = freed[pick % freed.len()];
                assert_eq!(
                    pools.free(ptr, layout),
                    Err(PoolError::DoubleFree {
                        addr: ptr.addr().get()
                    })
                );
            }
            Op::FreeInterior { pick, offset } if !live.is_empty() => {
                let victim = &live[pick % live.len()];
                let inside = NonNull::new(victim.ptr.as_ptr().wrapping_add(offset)).unwrap();
                assert!(matches!(
                    pools.free(inside, victim.layout),
                    Err(PoolError::InteriorPointer { .. })
                ));
            }
            Op::FreeForeign => {
                let foreign = NonNull::from(&*outside).cast::<u8>();
                let layout = Layout::new::<u64>();
                assert!(matches!(
                    pools.free(foreign, layout),
                    Err(PoolError::ForeignPointer { .. })
                ));
            }
            Op::ReleaseEmpty => {
                for class in 0..pools.class_count() {
                    pools.class_mut(class).release_empty_blocks();
                }
                // Released blocks may be reused at the same address by
                // anyone: their slots are no longer "ours and free".
                freed.clear();
            }
            _ => {}
        }
        check(&pools, &live);
    }
    for victim in live.drain(..) {
        assert!(
            bytes(&victim).iter().all(|&b| b == victim.fill),
            "contents lost"
        );
        pools.free(victim.ptr, victim.layout).unwrap();
    }
    assert!(
        pools
            .stats()
            .iter()
            .all(|s| s.live_slots == 0 && s.total_allocs == s.total_frees)
    );
}

fn check(pools: &SizeClassPool, live: &[Live]) {
    // No two live slots overlap (class-size extents).
    let mut extents = BTreeMap::new();
    for l in live {
        extents.insert(l.ptr.addr().get(), l.ptr.addr().get() + l.class_size);
    }
    assert_eq!(extents.len(), live.len(), "the same slot is live twice");
    let mut last_end = 0;
    for (&start, &end) in &extents {
        assert!(start >= last_end, "live slots overlap");
        last_end = end;
    }
    // Stats add up per class.
    for (class, stats) in pools.stats().iter().enumerate() {
        let size = pools.class(class).slot_size();
        let expected = live.iter().filter(|l| l.class_size == size).count();
        assert_eq!(stats.live_slots, expected, "class {size}");
        assert_eq!(stats.total_allocs - stats.total_frees, expected as u64);
        assert!(stats.live_slots <= stats.capacity_slots);
        // The release policy: empty blocks within the floor (1) or the
        // recent peak of blocks in use, so never more blocks than that peak
        // or the blocks in use plus the floor.
        let in_use = stats.blocks - stats.empty_blocks;
        assert!(stats.empty_blocks <= 1.max(stats.peak_blocks.saturating_sub(in_use)));
        assert!(
            stats.blocks <= stats.peak_blocks.max(in_use + 1),
            "{stats:?}"
        );
    }
    // Every live slot is listed by the block walk.
    let walked: usize = (0..pools.class_count())
        .map(|c| {
            pools
                .class(c)
                .blocks()
                .map(|b| b.allocated_slots().count())
                .sum::<usize>()
        })
        .sum();
    assert_eq!(walked, live.len());
}

fn config() -> ProptestConfig {
    if cfg!(miri) {
        ProptestConfig {
            cases: 3,
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    } else {
        ProptestConfig {
            cases: 128,
            ..ProptestConfig::default()
        }
    }
}

const MAX_OPS: usize = if cfg!(miri) { 40 } else { 400 };

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_alloc_free_sequences_match_the_model(ops in prop::collection::vec(op(), 1..MAX_OPS)) {
        run(ops);
    }
}
