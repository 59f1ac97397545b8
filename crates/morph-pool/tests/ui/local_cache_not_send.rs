// A LocalCache belongs to the thread that made it.
use morph_pool::SyncPool;

fn main() {
    let pool = SyncPool::new(32, Default::default(), 8).unwrap();
    let cache = pool.cache();
    std::thread::scope(|scope| {
        scope.spawn(move || drop(cache));
    });
}
