// An inner scope borrows the outer one: the outer scope cannot make
// handles (or allocate) until the inner one ends.
use morph_gengc::{Heap, Trace};

#[derive(Trace)]
struct Leaf(u64);

fn main() {
    let mut heap = Heap::new(Default::default()).unwrap();
    heap.enter(|m| {
        m.scope(|outer| {
            outer.scope(|inner| {
                let a = inner.alloc_local(Leaf(1));
                let b = outer.alloc_local(Leaf(2));
                drop((a, b));
            });
        });
    });
}
