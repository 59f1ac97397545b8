// The pool cannot be dropped (or moved) while a box borrows it.
use morph_pool::Pool;

fn main() {
    let pool: Pool<u64> = Pool::new();
    let b = pool.alloc(1);
    drop(pool);
    println!("{}", *b);
}
