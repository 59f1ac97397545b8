// Roots are branded with their `enter` call and cannot leave it.
use morph_gengc::{Heap, Member, Trace};

#[derive(Trace)]
struct Node {
    next: Member<Node>,
}

fn main() {
    let mut heap = Heap::new(Default::default()).unwrap();
    let escaped = heap.enter(|m| m.alloc(Node { next: Member::null() }));
    drop(escaped);
}
