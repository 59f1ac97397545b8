// A pool of non-Send values is not Send.
use std::rc::Rc;

use morph_pool::Pool;

fn main() {
    let pool: Pool<Rc<u8>> = Pool::new();
    std::thread::spawn(move || {
        drop(pool);
    });
}
