// A PoolBox borrows its pool: it cannot outlive it.
use morph_pool::{Pool, PoolBox};

fn main() {
    let escaped: PoolBox<'_, u32>;
    {
        let pool = Pool::new();
        escaped = pool.alloc(1);
    }
    println!("{}", *escaped);
}
