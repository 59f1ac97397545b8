// A SharedBox borrows its pool: the pool cannot be dropped while a box,
// wherever it went, is alive.
use morph_pool::{SharedBox, SharedPool};

fn main() {
    let kept: SharedBox<'_, u64>;
    {
        let pool = SharedPool::new();
        kept = pool.alloc(1u64);
    }
    std::thread::spawn(move || drop(kept));
}
