use core::ptr::NonNull;
use std::collections::HashSet;

use morph_pool::{PoolError, SyncPool};

use crate::small_config;

/// A slot pointer handed between test threads (joins synchronise).
struct SendSlot(NonNull<u8>);
// SAFETY: plain memory, owned by one thread at a time in these tests.
unsafe impl Send for SendSlot {}

const THREADS: usize = 4;
const PER_THREAD: usize = if cfg!(miri) { 20 } else { 2000 };

#[test]
fn threads_never_share_a_live_slot_and_contents_survive() {
    let pool = SyncPool::new(64, small_config(), 16).unwrap();
    let kept: Vec<Vec<SendSlot>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let pool = &pool;
                scope.spawn(move || {
                    let mut cache = pool.cache();
                    let mut live = Vec::new();
                    for i in 0..PER_THREAD {
                        let slot = cache.alloc().unwrap();
                        let tag = (t * PER_THREAD + i) as u64;
                        // SAFETY: a fresh 64-byte slot.
                        unsafe { slot.cast::<u64>().write(tag) };
                        live.push((slot, tag));
                        if i % 3 == 0 {
                            let (old, old_tag) = live.swap_remove(live.len() / 2);
                            // SAFETY: written by this thread, still allocated.
                            assert_eq!(unsafe { old.cast::<u64>().read() }, old_tag);
                            // SAFETY: allocated from `pool`, freed once.
                            unsafe { cache.free(old) };
                        }
                    }
                    for &(slot, tag) in &live {
                        // SAFETY: still allocated by this thread.
                        assert_eq!(unsafe { slot.cast::<u64>().read() }, tag);
                    }
                    live.into_iter().map(|(slot, _)| SendSlot(slot)).collect()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let all: Vec<_> = kept.iter().flatten().map(|s| s.0).collect();
    let distinct: HashSet<_> = all.iter().map(|s| s.addr().get()).collect();
    assert_eq!(distinct.len(), all.len(), "a slot was handed out twice");
    let stats = pool.stats();
    assert_eq!(stats.live_slots, all.len());
    assert_eq!(stats.total_allocs - stats.total_frees, all.len() as u64);
    assert_eq!(pool.cached_slots(), 0);
    for slot in all {
        pool.free(slot).unwrap();
    }
    assert_eq!(pool.stats().live_slots, 0);
}

#[test]
fn slots_freed_on_another_thread_return_to_the_pool() {
    let pool = SyncPool::new(32, small_config(), 8).unwrap();
    let slots: Vec<SendSlot> = {
        let mut cache = pool.cache();
        (0..100).map(|_| SendSlot(cache.alloc().unwrap())).collect()
    };
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut cache = pool.cache();
            for slot in slots {
                // SAFETY: allocated from `pool` on the main thread, freed once.
                unsafe { cache.free(slot.0) };
            }
        });
    });
    assert_eq!(pool.stats().live_slots, 0);
    assert_eq!(pool.cached_slots(), 0);
}

#[test]
fn direct_free_rejects_double_and_foreign_frees() {
    let pool = SyncPool::new(32, small_config(), 8).unwrap();
    let slot = pool.alloc().unwrap();
    pool.free(slot).unwrap();
    assert!(matches!(pool.free(slot), Err(PoolError::DoubleFree { .. })));
    let outside = Box::new([0u64; 4]);
    let foreign = NonNull::from(&*outside).cast::<u8>();
    assert!(matches!(
        pool.free(foreign),
        Err(PoolError::ForeignPointer { .. })
    ));
}

#[test]
#[should_panic(expected = "invalid free through a LocalCache")]
fn double_free_through_caches_is_caught_at_flush() {
    let pool = SyncPool::new(32, small_config(), 8).unwrap();
    let slot = pool.alloc().unwrap();
    let mut first = pool.cache();
    let mut second = pool.cache();
    // SAFETY: allocated from `pool`, freed once here...
    unsafe { first.free(slot) };
    first.flush();
    // SAFETY: ...and deliberately again: the flush must catch it.
    unsafe { second.free(slot) };
    second.flush();
}

#[test]
fn repeated_batches_through_a_cache_reuse_the_shared_blocks() {
    let pool = SyncPool::new(256, small_config(), 16).unwrap();
    let per_block = morph_pool::RawPool::new(256, small_config())
        .unwrap()
        .slots_per_block();
    let rounds = if cfg!(miri) { 20 } else { 1000 };
    let mut cache = pool.cache();
    for _ in 0..rounds {
        let slots: Vec<_> = (0..per_block * 2).map(|_| cache.alloc().unwrap()).collect();
        for slot in slots {
            // SAFETY: allocated from `pool` above, freed once.
            unsafe { cache.free(slot) };
        }
    }
    drop(cache);
    let stats = pool.stats();
    assert_eq!(stats.live_slots, 0);
    // Two blocks of slots plus what the cache holds: at most four blocks,
    // taken once.
    assert!(
        stats.blocks_released == 0 && stats.blocks_allocated <= 4,
        "batches went back to the system: {stats:?}"
    );
}
