// A SharedBox of a local pool cannot go to a thread that may outlive the
// pool (only to scoped threads, or from a `static` pool).
use morph_pool::SharedPool;

fn main() {
    let pool = SharedPool::new();
    let b = pool.alloc(5u32);
    std::thread::spawn(move || drop(b));
}
