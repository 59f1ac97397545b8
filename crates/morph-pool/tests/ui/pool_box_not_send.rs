// A PoolBox frees into its (single-threaded) pool, so it stays on its thread.
use morph_pool::Pool;

fn main() {
    let pool: Pool<u64> = Pool::new();
    let b = pool.alloc(1);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            drop(b);
        });
    });
}
