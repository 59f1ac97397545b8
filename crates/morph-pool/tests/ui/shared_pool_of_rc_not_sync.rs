// A shared pool of non-Send values cannot be shared between threads.
use std::rc::Rc;

use morph_pool::SharedPool;

fn main() {
    let pool: SharedPool<Rc<u8>> = SharedPool::new();
    std::thread::scope(|scope| {
        scope.spawn(|| drop(pool.alloc(Rc::new(1))));
    });
}
