use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use morph_arena::Arena;

/// Records its id in a shared log when dropped.
struct Logged(u32, Arc<Mutex<Vec<u32>>>);

impl Drop for Logged {
    fn drop(&mut self) {
        self.1.lock().unwrap().push(self.0);
    }
}

fn log() -> Arc<Mutex<Vec<u32>>> {
    Arc::new(Mutex::new(Vec::new()))
}

#[test]
fn plain_alloc_never_runs_drop() {
    // A static counter (no heap data) so the never-dropped value leaks nothing.
    static PLAIN_DROPS: AtomicUsize = AtomicUsize::new(0);
    struct CountsDrops;
    impl Drop for CountsDrops {
        fn drop(&mut self) {
            PLAIN_DROPS.fetch_add(1, Ordering::Relaxed);
        }
    }
    let mut arena = Arena::new();
    arena.alloc(CountsDrops);
    arena.alloc_slice_fill_iter([CountsDrops, CountsDrops]);
    arena.reset();
    arena.alloc(CountsDrops);
    drop(arena);
    assert_eq!(PLAIN_DROPS.load(Ordering::Relaxed), 0);
}

#[test]
fn registered_destructors_run_on_reset_newest_first() {
    let log = log();
    let mut arena = Arena::new();
    for id in 1..=3 {
        arena.alloc_with_drop(Logged(id, Arc::clone(&log)));
    }
    arena.reset();
    assert_eq!(*log.lock().unwrap(), [3, 2, 1]);
    arena.reset();
    assert_eq!(log.lock().unwrap().len(), 3, "each destructor runs once");
}

#[test]
fn registered_destructors_run_when_the_arena_is_dropped() {
    let log = log();
    let arena = Arena::new();
    arena.alloc_with_drop(Logged(7, Arc::clone(&log)));
    arena.alloc_with_drop(String::from("owned buffer, freed too"));
    drop(arena);
    assert_eq!(*log.lock().unwrap(), [7]);
}

#[test]
fn values_without_drop_glue_cost_no_registration() {
    let arena = Arena::new();
    arena.alloc_with_drop(5_u64);
    assert_eq!(arena.stats().used_bytes, 8);
}

#[test]
fn a_panicking_destructor_does_not_run_others_twice() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("boom");
        }
    }
    let log = log();
    let mut arena = Arena::new();
    arena.alloc_with_drop(Logged(1, Arc::clone(&log)));
    arena.alloc_with_drop(Bomb);
    arena.alloc_with_drop(Logged(2, Arc::clone(&log)));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| arena.reset()));
    assert!(result.is_err());
    assert_eq!(*log.lock().unwrap(), [2]);
    drop(arena);
    assert_eq!(*log.lock().unwrap(), [2, 1]);
}
