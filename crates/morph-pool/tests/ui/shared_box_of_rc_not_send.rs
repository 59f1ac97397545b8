// A SharedBox of a non-Send value cannot move to another thread.
use std::rc::Rc;

use morph_pool::SharedSizeClassPool;

fn main() {
    let pools = SharedSizeClassPool::new(Default::default()).unwrap();
    let shared = pools.alloc_box(Rc::new(1u8)).map_err(|(_, e)| e).unwrap();
    std::thread::scope(|scope| {
        scope.spawn(move || drop(shared));
    });
}
