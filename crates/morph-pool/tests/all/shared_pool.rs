//! The shared pools across threads: boxes that move, threads that exit
//! first, and checked raw frees from any thread.

use std::sync::LazyLock;
use std::sync::mpsc;

use morph_pool::{PoolError, SharedBox, SharedPool, SharedRawPool, SharedSizeClassPool};

use crate::small_config;

const N: usize = if cfg!(miri) { 30 } else { 3000 };

static STATIC_POOL: LazyLock<SharedPool<[u64; 3]>> =
    LazyLock::new(|| SharedPool::with_config(small_config(), 8).unwrap());

#[test]
fn a_box_dropped_after_its_allocating_thread_exited_frees_its_slot() {
    let boxes: Vec<SharedBox<'static, [u64; 3]>> =
        std::thread::spawn(|| (0..N as u64).map(|i| STATIC_POOL.alloc([i; 3])).collect())
            .join()
            .unwrap();
    // The allocating thread is gone (joined): its cache went to the depot.
    let before = STATIC_POOL.stats();
    std::thread::spawn(move || {
        for (i, b) in boxes.into_iter().enumerate() {
            assert_eq!(*b, [i as u64; 3]);
        }
    })
    .join()
    .unwrap();
    let after = STATIC_POOL.stats();
    assert_eq!(after.total_frees - before.total_frees, N as u64);
    assert_eq!(after.live_slots, before.live_slots - N);
    // The freed slots are reused, not fresh memory.
    let again: Vec<_> = (0..N as u64).map(|i| STATIC_POOL.alloc([i; 3])).collect();
    assert_eq!(STATIC_POOL.stats().blocks, after.blocks);
    drop(again);
}

#[test]
fn boxes_passed_around_a_ring_of_threads_are_all_freed() {
    let pool = SharedPool::<(usize, String)>::with_config(small_config(), 4).unwrap();
    const THREADS: usize = 3;
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..THREADS)
        .map(|_| mpsc::channel::<SharedBox<'_, (usize, String)>>())
        .unzip();
    std::thread::scope(|scope| {
        let mut workers = Vec::new();
        for (t, receiver) in receivers.into_iter().enumerate() {
            let next = senders[(t + 1) % THREADS].clone();
            let pool = &pool;
            workers.push(scope.spawn(move || {
                for i in 0..N / THREADS {
                    next.send(pool.alloc((t, format!("{t}-{i}")))).unwrap();
                }
                drop(next);
                // Free what the previous thread made.
                let mut seen = 0;
                for b in receiver {
                    assert_eq!(b.0, (t + THREADS - 1) % THREADS);
                    assert!(b.1.starts_with(&format!("{}-", b.0)));
                    seen += 1;
                }
                assert_eq!(seen, N / THREADS);
            }));
        }
        drop(senders);
        // Joined, not just ended with the scope: a scoped thread's
        // thread-locals (its cache) may be dropped after the scope returns.
        for worker in workers {
            worker.join().unwrap();
        }
    });
    let stats = pool.stats();
    assert_eq!(stats.live_slots, 0, "{stats:?}");
    assert_eq!(stats.total_allocs, stats.total_frees);
}

/// Raw slots handed to another test thread (the join orders the accesses).
struct SentSlots(Vec<std::ptr::NonNull<u8>>);
// SAFETY: plain memory, used by one thread at a time.
unsafe impl Send for SentSlots {}

#[test]
fn raw_slots_freed_on_another_thread_are_checked_there() {
    let pool = SharedRawPool::new(64, small_config(), 4).unwrap();
    let slots = SentSlots(
        (0..N)
            .map(|i| {
                let slot = pool.alloc().unwrap();
                // SAFETY: a fresh 64-byte slot.
                unsafe { slot.cast::<u64>().write(i as u64) };
                slot
            })
            .collect(),
    );
    // Every slot freed twice on another thread: once accepted, once refused.
    let results: Vec<Result<(), PoolError>> = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let slots = slots;
                slots
                    .0
                    .iter()
                    .flat_map(|&slot| [pool.free(slot), pool.free(slot)])
                    .collect()
            })
            .join()
            .unwrap()
    });
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), N);
    assert!(
        results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| matches!(r, Err(PoolError::DoubleFree { .. })))
    );
    // Nothing was cached twice: N fresh allocations are N distinct slots.
    let again: std::collections::HashSet<usize> =
        (0..N).map(|_| pool.alloc().unwrap().addr().get()).collect();
    assert_eq!(again.len(), N);
}

#[test]
fn size_class_boxes_of_every_class_cross_threads() {
    let pools = SharedSizeClassPool::new(Default::default()).unwrap();
    let small = pools.alloc_box(1u8).map_err(|(_, e)| e).unwrap();
    let medium = pools.alloc_box([2u64; 6]).map_err(|(_, e)| e).unwrap();
    let large = pools.alloc_box([3u64; 30]).map_err(|(_, e)| e).unwrap();
    let total = std::thread::scope(|scope| {
        scope
            .spawn(move || {
                u64::from(*small) + medium.iter().sum::<u64>() + large.iter().sum::<u64>()
            })
            .join()
            .unwrap()
    });
    assert_eq!(total, 1 + 12 + 90);
    pools.flush_thread_cache();
    assert!(pools.stats().iter().all(|s| s.live_slots == 0));
}
