use std::cell::Cell;
use std::rc::Rc;

use morph_pool::{Pool, PoolBox};

struct CountsDrops(Rc<Cell<usize>>);

impl Drop for CountsDrops {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn dropping_a_box_runs_drop_once_and_frees_the_slot() {
    let drops = Rc::new(Cell::new(0));
    let pool = Pool::new();
    let b = pool.alloc(CountsDrops(drops.clone()));
    assert_eq!(pool.live(), 1);
    drop(b);
    assert_eq!((drops.get(), pool.live()), (1, 0));
}

#[test]
fn into_inner_moves_the_value_out_without_dropping_it() {
    let drops = Rc::new(Cell::new(0));
    let pool = Pool::new();
    let value = pool.alloc(CountsDrops(drops.clone())).into_inner();
    assert_eq!((drops.get(), pool.live()), (0, 1 - 1));
    drop(value);
    assert_eq!(drops.get(), 1);
}

struct CountsDropsIn<'c>(&'c Cell<usize>);

impl Drop for CountsDropsIn<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn leaked_values_are_never_dropped_but_their_memory_goes_with_the_pool() {
    let drops = Cell::new(0);
    let pool = Pool::new();
    let leaked = PoolBox::leak(pool.alloc(CountsDropsIn(&drops)));
    assert_eq!(leaked.0.get(), 0);
    assert_eq!(pool.live(), 1);
    drop(pool);
    assert_eq!(drops.get(), 0, "a leaked value is never dropped");
}

#[test]
fn values_survive_many_allocations_and_frees() {
    let pool = Pool::new();
    let mut boxes: Vec<_> = (0..500u64).map(|i| pool.alloc([i; 5])).collect();
    boxes.retain(|b| b[0] % 2 == 0);
    let more: Vec<_> = (500..700u64).map(|i| pool.alloc([i; 5])).collect();
    for b in boxes.iter().chain(&more) {
        assert!(b.iter().all(|&w| w == b[0]));
    }
    assert_eq!(pool.live(), 250 + 200);
}

#[test]
fn over_aligned_types_get_aligned_slots() {
    #[repr(align(64))]
    struct Line([u8; 64]);
    let pool = Pool::new();
    let boxes: Vec<_> = (0..100).map(|i| pool.alloc(Line([i; 64]))).collect();
    for (i, b) in boxes.iter().enumerate() {
        assert_eq!(PoolBox::as_ptr(b).addr() % 64, 0);
        assert_eq!(b.0[63], i as u8);
    }
    assert_eq!(pool.slot_size(), 64);
}

#[test]
fn zero_sized_and_tiny_types_work() {
    let units = Pool::new();
    let a = units.alloc(());
    let b = units.alloc(());
    assert_ne!(PoolBox::as_ptr(&a), PoolBox::as_ptr(&b));
    let bytes = Pool::new();
    assert_eq!(*bytes.alloc(7u8), 7);
}

/// A value whose `Drop` allocates from and frees into the same pool: the
/// pool must not be borrowed while user code runs.
struct Reentrant<'p> {
    pool: &'p Pool<Reentrant<'p>>,
    child: Option<PoolBox<'p, Reentrant<'p>>>,
}

impl Drop for Reentrant<'_> {
    fn drop(&mut self) {
        if self.child.is_some() {
            let temp = self.pool.alloc(Reentrant {
                pool: self.pool,
                child: None,
            });
            drop(temp);
        }
    }
}

#[test]
fn drop_that_uses_the_same_pool_is_fine() {
    let pool = Pool::new();
    let leaf = pool.alloc(Reentrant {
        pool: &pool,
        child: None,
    });
    let root = pool.alloc(Reentrant {
        pool: &pool,
        child: Some(leaf),
    });
    drop(root);
    assert_eq!(pool.live(), 0);
}

#[test]
fn pool_can_move_to_another_thread_when_empty_of_borrows() {
    let pool: Pool<u64> = Pool::new();
    drop(pool.alloc(1));
    let handle = std::thread::spawn(move || {
        let b = pool.alloc(2);
        *b
    });
    assert_eq!(handle.join().unwrap(), 2);
}

#[test]
fn release_empty_blocks_gives_memory_back() {
    let mut pool = Pool::new();
    for i in 0..10u32 {
        drop(pool.alloc(i));
    }
    assert_eq!(pool.stats().blocks, 1);
    assert_eq!(pool.release_empty_blocks(), 1);
    assert_eq!(pool.stats().blocks, 0);
}
