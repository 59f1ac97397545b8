//! loom models of the shared pools' engine: thread caches, depot and
//! carving together, with magazines of two slots so that a handful of
//! operations crosses every path.

use core::ptr::NonNull;
use std::collections::HashSet;

use crate::sync::Arc;
use crate::{PoolConfig, PoolError, SharedPool, SharedRawPool};

fn tiny() -> PoolConfig {
    // 1 MiB blocks keep the block map's tables small for the model.
    PoolConfig {
        block_size: 1 << 20,
        retain_empty_blocks: 1,
    }
}

/// An address handed between model threads (the test synchronises).
#[derive(Clone, Copy)]
struct Addr(NonNull<u8>);
// SAFETY: the slot is plain memory; one thread uses it at a time.
unsafe impl Send for Addr {}

#[test]
fn loom_two_threads_never_get_the_same_slot() {
    loom::model(|| {
        let pool = Arc::new(SharedRawPool::new(256, tiny(), 2).unwrap());
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let pool = Arc::clone(&pool);
                loom::thread::spawn(move || {
                    let a = pool.alloc().unwrap();
                    let b = pool.alloc().unwrap();
                    pool.free(a).unwrap();
                    let c = pool.alloc().unwrap();
                    [Addr(b), Addr(c)]
                })
            })
            .collect();
        let kept: Vec<Addr> = workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect();
        let distinct: HashSet<usize> = kept.iter().map(|a| a.0.addr().get()).collect();
        assert_eq!(distinct.len(), 4, "a slot was handed out twice");
        for addr in kept {
            pool.free(addr.0).unwrap();
        }
    });
}

#[test]
fn loom_cross_thread_free_reaches_another_thread() {
    loom::model(|| {
        let pool = Arc::new(SharedPool::<[u64; 32]>::with_config(tiny(), 2).unwrap());
        // Two threads allocating and freeing at once, through the depot
        // and fresh carving; every count must add up after both exit.
        let first = {
            let pool = Arc::clone(&pool);
            loom::thread::spawn(move || {
                let boxes: Vec<_> = (0..3).map(|i| pool.alloc([i; 32])).collect();
                assert_eq!(boxes.iter().map(|b| b[31]).sum::<u64>(), 3);
                drop(boxes);
                // What a thread's exit does too; loom's join does not order
                // the drop of a thread's locals before it, so flush here.
                pool.flush_thread_cache();
            })
        };
        let second = {
            let pool = Arc::clone(&pool);
            loom::thread::spawn(move || {
                let b = pool.alloc([7; 32]);
                assert_eq!(b[0], 7);
                drop(b);
                pool.flush_thread_cache();
            })
        };
        first.join().unwrap();
        second.join().unwrap();
        let stats = pool.stats();
        assert_eq!(stats.live_slots, 0, "{stats:?}");
        assert_eq!(stats.total_allocs, 4, "{stats:?}");
        assert_eq!(stats.total_frees, 4);
    });
}

#[test]
fn loom_racing_double_free_fails_once() {
    loom::model(|| {
        let pool = Arc::new(SharedRawPool::new(256, tiny(), 2).unwrap());
        let slot = Addr(pool.alloc().unwrap());
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let pool = Arc::clone(&pool);
                loom::thread::spawn(move || pool.free(slot.0))
            })
            .collect();
        let results: Vec<Result<(), PoolError>> =
            racers.into_iter().map(|r| r.join().unwrap()).collect();
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{results:?}"
        );
    });
}
