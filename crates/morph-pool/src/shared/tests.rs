//! Unit tests of the shared pools' core, sized for Miri (threads included).

use core::alloc::Layout;
use core::ptr::NonNull;
use std::collections::HashSet;

use crate::{
    PoolConfig, PoolError, SharedPool, SharedRawPool, SharedSizeClassPool, SizeClassConfig,
};

fn small() -> PoolConfig {
    PoolConfig {
        block_size: 4096,
        retain_empty_blocks: 1,
    }
}

/// A raw slot handed between test threads (the tests synchronise).
#[derive(Clone, Copy)]
struct SendSlot(NonNull<u8>);
// SAFETY: plain memory; the tests order every use through joins.
unsafe impl Send for SendSlot {}

const N: usize = if cfg!(miri) { 40 } else { 4000 };

#[test]
fn slots_are_distinct_and_reused_after_free() {
    let pool = SharedRawPool::new(64, small(), 4).unwrap();
    let slots: Vec<_> = (0..N).map(|_| pool.alloc().unwrap()).collect();
    let distinct: HashSet<_> = slots.iter().map(|s| s.addr().get()).collect();
    assert_eq!(distinct.len(), N);
    for &slot in &slots {
        pool.free(slot).unwrap();
    }
    let blocks = pool.stats().blocks;
    let again: Vec<_> = (0..N).map(|_| pool.alloc().unwrap()).collect();
    assert_eq!(pool.stats().blocks, blocks, "freed slots were not reused");
    for slot in again {
        pool.free(slot).unwrap();
    }
    pool.flush_thread_cache();
    let stats = pool.stats();
    assert_eq!(stats.live_slots, 0);
    assert_eq!(
        (stats.total_allocs, stats.total_frees),
        (2 * N as u64, 2 * N as u64)
    );
}

#[test]
fn checked_free_rejects_foreign_interior_and_double_frees_and_loses_nothing() {
    let pool = SharedRawPool::new(64, small(), 4).unwrap();
    let other = SharedRawPool::new(64, small(), 4).unwrap();
    let slot = pool.alloc().unwrap();
    let theirs = other.alloc().unwrap();
    let on_heap = Box::new([0u64; 8]);
    let heap_ptr = NonNull::from(&*on_heap).cast::<u8>();
    assert!(matches!(
        pool.free(heap_ptr),
        Err(PoolError::ForeignPointer { .. })
    ));
    assert!(matches!(
        pool.free(theirs),
        Err(PoolError::ForeignPointer { .. })
    ));
    let inside = slot.map_addr(|a| a.checked_add(16).unwrap());
    assert!(matches!(
        pool.free(inside),
        Err(PoolError::InteriorPointer { .. })
    ));
    // The block header is not a slot.
    let header = slot.map_addr(|a| core::num::NonZeroUsize::new(a.get() & !4095).unwrap());
    assert!(matches!(
        pool.free(header),
        Err(PoolError::ForeignPointer { .. })
    ));
    pool.free(slot).unwrap();
    assert_eq!(
        pool.free(slot),
        Err(PoolError::DoubleFree {
            addr: slot.addr().get()
        })
    );
    // The refused double free did not put the slot in a cache twice.
    let a = pool.alloc().unwrap();
    let b = pool.alloc().unwrap();
    assert_ne!(a, b);
    pool.free(a).unwrap();
    pool.free(b).unwrap();
    other.free(theirs).unwrap();
    pool.flush_thread_cache();
    assert_eq!(pool.stats().live_slots, 0);
}

#[test]
fn racing_double_frees_succeed_exactly_once() {
    let pool = SharedRawPool::new(32, small(), 2).unwrap();
    let rounds = if cfg!(miri) { 4 } else { 200 };
    for _ in 0..rounds {
        let slot = SendSlot(pool.alloc().unwrap());
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let pool = &pool;
                    s.spawn(move || {
                        let slot = slot;
                        pool.free(slot.0).is_ok()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(results.iter().filter(|&&ok| ok).count(), 1, "{results:?}");
    }
    assert_eq!(pool.stats().live_slots, 0);
}

#[test]
fn boxes_drop_their_values_once_on_any_thread() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Counted(#[allow(dead_code)] u64);
    impl Drop for Counted {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::Relaxed);
        }
    }
    let pool = SharedPool::with_config(small(), 4).unwrap();
    let boxes: Vec<_> = (0..N as u64).map(|i| pool.alloc(Counted(i))).collect();
    std::thread::scope(|s| {
        s.spawn(move || drop(boxes)).join().unwrap();
    });
    assert_eq!(DROPS.load(Ordering::Relaxed), N);
    assert_eq!(pool.stats().live_slots, 0);
    assert_eq!(pool.stats().total_frees, N as u64);
}

#[test]
fn a_box_outlives_the_thread_that_allocated_it() {
    let pool = SharedPool::with_config(small(), 4).unwrap();
    let made_elsewhere = std::thread::scope(|s| {
        s.spawn(|| (0..10u64).map(|i| pool.alloc([i; 4])).collect::<Vec<_>>())
            .join()
            .unwrap()
    });
    // The allocating thread has exited (joined) and flushed its cache.
    std::thread::scope(|s| {
        s.spawn(move || {
            for (i, b) in made_elsewhere.into_iter().enumerate() {
                assert_eq!(*b, [i as u64; 4]);
            }
        })
        .join()
        .unwrap();
    });
    let stats = pool.stats();
    assert_eq!(
        (stats.live_slots, stats.total_allocs, stats.total_frees),
        (0, 10, 10)
    );
}

#[test]
fn producer_consumer_through_a_channel_keeps_counts() {
    let pool = SharedPool::with_config(small(), 4).unwrap();
    let (send, recv) = std::sync::mpsc::sync_channel(8);
    std::thread::scope(|s| {
        let producer = s.spawn(|| {
            for i in 0..N as u64 {
                send.send(pool.alloc(i)).unwrap();
            }
            drop(send);
        });
        let consumer = s.spawn(move || recv.iter().map(|b| *b).sum::<u64>());
        producer.join().unwrap();
        let n = N as u64;
        assert_eq!(consumer.join().unwrap(), n * (n - 1) / 2);
    });
    let stats = pool.stats();
    assert_eq!(stats.live_slots, 0);
    assert_eq!(stats.total_allocs, N as u64);
    // Slots moved from the consumer back to the producer: the pool grew
    // to at most half of N slots (or one block).
    let per_block = stats.capacity_slots / stats.blocks;
    assert!(stats.capacity_slots <= (N / 2).max(per_block), "{stats:?}");
}

#[test]
fn size_classes_route_and_check() {
    let pools = SharedSizeClassPool::with_magazine_slots(
        SizeClassConfig {
            classes: vec![32, 64, 128, 256],
            pool: small(),
        },
        4,
    )
    .unwrap();
    for (size, class) in [(1, 0), (32, 0), (33, 1), (100, 2), (256, 3)] {
        let layout = Layout::from_size_align(size, 8).unwrap();
        assert_eq!(pools.class_index_for(layout).unwrap(), class, "size {size}");
        let slot = pools.alloc(layout).unwrap();
        pools.free(slot, layout).unwrap();
        assert!(matches!(
            pools.free(slot, layout),
            Err(PoolError::DoubleFree { .. })
        ));
    }
    assert_eq!(
        pools
            .class_index_for(Layout::from_size_align(16, 64).unwrap())
            .unwrap(),
        1
    );
    assert!(matches!(
        pools.alloc(Layout::new::<[u8; 257]>()),
        Err(PoolError::TooLarge { size: 257, .. })
    ));
    let boxed = pools.alloc_box([1u64; 10]).map_err(|(_, e)| e).unwrap();
    assert_eq!(boxed.iter().sum::<u64>(), 10);
    // A typed box's slot is not the raw API's to free.
    let raw = NonNull::new(SharedBoxPtr::of(&boxed)).unwrap();
    assert!(matches!(
        pools.free(raw, Layout::new::<[u64; 10]>()),
        Err(PoolError::DoubleFree { .. })
    ));
    drop(boxed);
    pools.flush_thread_cache();
    assert!(pools.stats().iter().all(|s| s.live_slots == 0));
}

struct SharedBoxPtr;
impl SharedBoxPtr {
    fn of<T>(b: &crate::SharedBox<'_, T>) -> *mut u8 {
        crate::SharedBox::as_ptr(b).cast()
    }
}

#[test]
fn a_dropped_pool_is_released_by_the_threads_that_cached_it() {
    let pool = SharedPool::<u64>::with_config(small(), 4).unwrap();
    let core = std::sync::Arc::downgrade(&pool.core_for_tests());
    std::thread::scope(|s| {
        s.spawn(|| drop(pool.alloc(1))).join().unwrap();
    });
    drop(pool.alloc(2));
    drop(pool);
    assert!(
        core.upgrade().is_none(),
        "the core outlived its pool and threads"
    );
}

#[test]
fn counters_add_up_after_threads_exit() {
    for _ in 0..if cfg!(miri) { 2 } else { 200 } {
        let pool = std::sync::Arc::new(SharedPool::<[u64; 32]>::with_config(small(), 2).unwrap());
        let first = {
            let pool = std::sync::Arc::clone(&pool);
            std::thread::spawn(move || {
                let boxes: Vec<_> = (0..3).map(|i| pool.alloc([i; 32])).collect();
                assert_eq!(boxes.iter().map(|b| b[31]).sum::<u64>(), 3);
            })
        };
        let second = {
            let pool = std::sync::Arc::clone(&pool);
            std::thread::spawn(move || assert_eq!(pool.alloc([7; 32])[0], 7))
        };
        first.join().unwrap();
        second.join().unwrap();
        let stats = pool.stats();
        assert_eq!(
            (stats.live_slots, stats.total_allocs, stats.total_frees),
            (0, 4, 4),
            "{stats:?}"
        );
    }
}

#[test]
fn pools_past_the_hot_table_keep_values_and_counts() {
    // More pools alive at once than the hot table has entries: the ones
    // with higher ids work through the `RefCell` caches alone, and the
    // two kinds of cache interleave on one thread.
    let pools: Vec<_> = (0..super::local::HOT_CACHES + 2)
        .map(|_| SharedPool::<u64>::with_config(small(), 4).unwrap())
        .collect();
    let (rounds, each) = if cfg!(miri) { (2, 2) } else { (50, 10) };
    for round in 0..rounds {
        let boxes: Vec<Vec<_>> = pools
            .iter()
            .enumerate()
            .map(|(p, pool)| {
                (0..each)
                    .map(|i| pool.alloc((p * 100 + i) as u64))
                    .collect()
            })
            .collect();
        for (p, boxes) in boxes.iter().enumerate() {
            let expected: u64 = (0..each).map(|i| (p * 100 + i) as u64).sum();
            assert_eq!(
                boxes.iter().map(|b| **b).sum::<u64>(),
                expected,
                "round {round}"
            );
        }
    }
    for pool in &pools {
        pool.flush_thread_cache();
        let stats = pool.stats();
        let total = (rounds * each) as u64;
        assert_eq!(
            (stats.live_slots, stats.total_allocs, stats.total_frees),
            (0, total, total),
            "{stats:?}"
        );
    }
}

#[test]
fn magazines_grow_to_the_batches_a_thread_churns_and_no_further() {
    use super::local::{GROWTH_LIMIT, magazine_capacity};
    let pool = SharedPool::<u64>::with_config(small(), 8).unwrap();
    let core = pool.core_for_tests();
    std::thread::scope(|s| {
        s.spawn(|| {
            // Batches of 20 overflow two magazines of 8: the cache grows
            // until its two magazines hold a batch wherever their fill
            // levels stand (16 or 32), and then stays.
            let churn = |rounds: u64| {
                for round in 0..rounds {
                    let batch: Vec<_> = (0..20).map(|i| pool.alloc(round + i)).collect();
                    assert_eq!(batch.iter().map(|b| **b).sum::<u64>(), 20 * round + 190);
                }
            };
            churn(6);
            let grown = magazine_capacity(&core).unwrap();
            assert!(grown == 16 || grown == 32, "{grown}");
            churn(6);
            assert_eq!(magazine_capacity(&core), Some(grown));
            // Batches past the limit (two magazines of 4 × 8) stop the
            // growth at the limit.
            for _ in 0..4 {
                let batch: Vec<_> = (0..100).map(|i| pool.alloc(i)).collect();
                drop(batch);
            }
            assert_eq!(magazine_capacity(&core), Some(8 * GROWTH_LIMIT));
            // This thread is not joined, and the scope's own wait does not
            // wait for its thread-local destructors, which would flush the
            // cache too late for the count below.
            pool.flush_thread_cache();
        });
        // A thread that only allocates (a producer) never turns round at
        // the depot: its magazines keep their size.
        let kept: Vec<_> = s
            .spawn(|| {
                let kept: Vec<_> = (0..100).map(|i| pool.alloc(i)).collect();
                assert_eq!(magazine_capacity(&core), Some(8));
                kept
            })
            .join()
            .unwrap();
        drop(kept);
    });
    pool.flush_thread_cache();
    assert_eq!(pool.stats().live_slots, 0);
}
