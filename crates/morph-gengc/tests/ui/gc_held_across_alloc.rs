// A `Gc` is a plain pointer: holding it across an allocation (which may move
// the object) must not compile.
use morph_gengc::{Heap, Member, Trace};

#[derive(Trace)]
struct Node {
    next: Member<Node>,
}

fn main() {
    let mut heap = Heap::new(Default::default()).unwrap();
    heap.enter(|m| {
        let root = m.alloc(Node { next: Member::null() });
        let node = root.get(m);
        m.alloc(Node { next: Member::null() });
        let _ = node.next.is_null();
    });
}
