// A `Gc` is valid while its mutator is borrowed on this thread.
use morph_gengc::{Heap, Member, Trace};

#[derive(Trace)]
struct Node {
    next: Member<Node>,
}

fn main() {
    let mut heap = Heap::new(Default::default()).unwrap();
    heap.enter(|m| {
        let root = m.alloc(Node { next: Member::null() });
        let gc = root.get(m);
        std::thread::scope(|s| {
            s.spawn(move || gc.next.is_null());
        });
    });
}
