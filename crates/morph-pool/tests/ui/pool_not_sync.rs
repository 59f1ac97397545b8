// Pool<T> is single-threaded: it cannot be shared between threads.
use morph_pool::Pool;

fn main() {
    let pool: Pool<u64> = Pool::new();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let _ = pool.alloc(1);
        });
    });
}
