// Managed objects are only ever shared: a member cannot be moved out of
// one (the collector would no longer update it).
use morph_gengc::{Heap, Member, Trace};

#[derive(Trace)]
struct Node {
    next: Member<Node>,
}

fn main() {
    let mut heap = Heap::new(Default::default()).unwrap();
    heap.enter(|m| {
        let root = m.alloc(Node { next: Member::null() });
        let mut gc = root.get(m);
        let _stolen = std::mem::replace(&mut gc.next, Member::null());
    });
}
