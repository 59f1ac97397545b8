// A `Local` names a slot of its heap's (thread-local) handle stack: it
// cannot cross threads.
use morph_gengc::{Heap, Trace};

#[derive(Trace)]
struct Leaf(u64);

fn main() {
    let mut heap = Heap::new(Default::default()).unwrap();
    heap.enter(|m| {
        m.scope(|s| {
            let local = s.alloc_local(Leaf(1));
            std::thread::scope(|t| {
                t.spawn(move || drop(local));
            });
        });
    });
}
