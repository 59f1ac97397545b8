// A pointer read out of a field is just as short-lived.
use morph_gengc::{Heap, Member, Trace};

#[derive(Trace)]
struct Node {
    next: Member<Node>,
}

fn main() {
    let mut heap = Heap::new(Default::default()).unwrap();
    heap.enter(|m| {
        let root = m.alloc(Node { next: Member::null() });
        let child = root.get(m).next.get(m);
        m.alloc(Node { next: Member::null() });
        let _ = child.is_some();
    });
}
