// What a `Local` reads is a `Gc` borrowing the scope: it cannot be held
// across an allocation (which may move the object).
use morph_gengc::{Heap, Trace};

#[derive(Trace)]
struct Leaf(u64);

fn main() {
    let mut heap = Heap::new(Default::default()).unwrap();
    heap.enter(|m| {
        m.scope(|s| {
            let a = s.alloc_local(Leaf(1));
            let gc = a.get(s);
            s.alloc_local(Leaf(2));
            assert_eq!(gc.0, 1);
        });
    });
}
