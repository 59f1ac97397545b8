//! Randomised sequences on a `SharedSizeClassPool` against a plain model:
//! raw allocations (checked frees, on this thread or another), refused
//! frees (double, interior, foreign, wrong class) and typed boxes. After
//! every step no two live slots overlap, contents are intact, and — once
//! the thread cache is flushed — the counters agree with the model.

use core::alloc::Layout;
use core::ptr::NonNull;
use std::collections::BTreeMap;

use morph_pool::{PoolConfig, PoolError, SharedBox, SharedSizeClassPool, SizeClassConfig};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Alloc { size: usize, align_log2: u32 },
    Free { pick: usize },
    FreeOnOtherThread { pick: usize },
    FreeAgain { pick: usize },
    FreeInterior { pick: usize, offset: usize },
    FreeWrongClass { pick: usize },
    FreeForeign,
    Boxed { value: u64 },
    DropBox { pick: usize },
    Flush,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..=300, 0u32..=6).prop_map(|(size, align_log2)| Op::Alloc { size, align_log2 }),
        3 => any::<usize>().prop_map(|pick| Op::Free { pick }),
        1 => any::<usize>().prop_map(|pick| Op::FreeOnOtherThread { pick }),
        1 => any::<usize>().prop_map(|pick| Op::FreeAgain { pick }),
        1 => (any::<usize>(), 1usize..16).prop_map(|(pick, offset)| Op::FreeInterior { pick, offset }),
        1 => any::<usize>().prop_map(|pick| Op::FreeWrongClass { pick }),
        1 => Just(Op::FreeForeign),
        2 => any::<u64>().prop_map(|value| Op::Boxed { value }),
        1 => any::<usize>().prop_map(|pick| Op::DropBox { pick }),
        1 => Just(Op::Flush),
    ]
}

#[derive(Clone, Copy)]
struct Live {
    ptr: NonNull<u8>,
    layout: Layout,
    class: usize,
    fill: u8,
}

/// A raw slot moved to another test thread (the join orders the accesses).
struct Sent(NonNull<u8>, Layout);
// SAFETY: plain memory, used by one thread at a time.
unsafe impl Send for Sent {}

fn intact(live: &Live) -> bool {
    // SAFETY: the model only holds allocated slots, filled on allocation.
    let bytes = unsafe { core::slice::from_raw_parts(live.ptr.as_ptr(), live.layout.size()) };
    bytes.iter().all(|&b| b == live.fill)
}

fn run(ops: Vec<Op>) {
    let config = SizeClassConfig {
        classes: vec![32, 64, 128, 256],
        pool: PoolConfig {
            block_size: 4096,
            retain_empty_blocks: 1,
        },
    };
    let pools = SharedSizeClassPool::with_magazine_slots(config, 3).unwrap();
    let sizes: Vec<usize> = pools.class_sizes().collect();
    let mut live: Vec<Live> = Vec::new();
    let mut freed: Vec<(NonNull<u8>, Layout)> = Vec::new();
    let mut boxes: Vec<SharedBox<'_, [u64; 5]>> = Vec::new();
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
                        let class = pools.class_index_for(layout).unwrap();
                        assert!(sizes[class] >= size);
                        freed.retain(|(p, _)| *p != ptr);
                        live.push(Live {
                            ptr,
                            layout,
                            class,
                            fill,
                        });
                    }
                    Err(PoolError::TooLarge { .. }) => assert!(size > 256, "{layout:?}"),
                    Err(err) => panic!("unexpected {err}"),
                }
            }
            Op::Free { pick } if !live.is_empty() => {
                let victim = live.swap_remove(pick % live.len());
                assert!(intact(&victim), "contents lost");
                pools.free(victim.ptr, victim.layout).unwrap();
                freed.push((victim.ptr, victim.layout));
            }
            Op::FreeOnOtherThread { pick } if !live.is_empty() => {
                let victim = live.swap_remove(pick % live.len());
                assert!(intact(&victim), "contents lost");
                let sent = Sent(victim.ptr, victim.layout);
                let pools = &pools;
                std::thread::scope(|s| {
                    s.spawn(move || {
                        let sent = sent;
                        pools.free(sent.0, sent.1)
                    })
                    .join()
                    .unwrap()
                })
                .unwrap();
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
                let victim = live[pick % live.len()];
                let inside = victim.ptr.map_addr(|a| a.checked_add(offset).unwrap());
                assert!(matches!(
                    pools.free(inside, victim.layout),
                    Err(PoolError::InteriorPointer { .. })
                ));
            }
            Op::FreeWrongClass { pick } if !live.is_empty() => {
                let victim = live[pick % live.len()];
                let other = (victim.class + 1) % sizes.len();
                let wrong = Layout::from_size_align(sizes[other], 16).unwrap();
                assert!(matches!(
                    pools.free(victim.ptr, wrong),
                    Err(PoolError::ForeignPointer { .. })
                ));
            }
            Op::FreeForeign => {
                let foreign = NonNull::from(&*outside).cast::<u8>();
                assert!(matches!(
                    pools.free(foreign, Layout::new::<u64>()),
                    Err(PoolError::ForeignPointer { .. })
                ));
            }
            Op::Boxed { value } => {
                boxes.push(pools.alloc_box([value; 5]).map_err(|(_, e)| e).unwrap());
            }
            Op::DropBox { pick } if !boxes.is_empty() => {
                let b = boxes.swap_remove(pick % boxes.len());
                assert!(b.iter().all(|&w| w == b[0]), "box contents lost");
            }
            Op::Flush => {
                pools.flush_thread_cache();
                let stats = pools.stats();
                for (class, s) in stats.iter().enumerate() {
                    let raw = live.iter().filter(|l| l.class == class).count();
                    // [u64; 5] (40 bytes) lives in the 64-byte class.
                    let typed = if class == 1 { boxes.len() } else { 0 };
                    assert_eq!(s.live_slots, raw + typed, "class {}", sizes[class]);
                    assert_eq!(s.total_allocs - s.total_frees, (raw + typed) as u64);
                }
            }
            _ => {}
        }
        check(&live, &boxes, &sizes);
    }
    drop(boxes);
    for victim in live.drain(..) {
        assert!(intact(&victim), "contents lost");
        pools.free(victim.ptr, victim.layout).unwrap();
    }
    pools.flush_thread_cache();
    assert!(
        pools
            .stats()
            .iter()
            .all(|s| s.live_slots == 0 && s.total_allocs == s.total_frees)
    );
}

fn check(live: &[Live], boxes: &[SharedBox<'_, [u64; 5]>], sizes: &[usize]) {
    let mut extents = BTreeMap::new();
    for l in live {
        extents.insert(l.ptr.addr().get(), l.ptr.addr().get() + sizes[l.class]);
    }
    for b in boxes {
        let start = SharedBox::as_ptr(b).addr();
        extents.insert(start, start + 64);
    }
    assert_eq!(
        extents.len(),
        live.len() + boxes.len(),
        "the same slot is live twice"
    );
    let mut last_end = 0;
    for (&start, &end) in &extents {
        assert!(start >= last_end, "live slots overlap");
        last_end = end;
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: if cfg!(miri) { 2 } else { 64 },
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn shared_size_classes_agree_with_a_model(
        ops in prop::collection::vec(op(), 1..if cfg!(miri) { 30 } else { 300 })
    ) {
        run(ops);
    }
}
