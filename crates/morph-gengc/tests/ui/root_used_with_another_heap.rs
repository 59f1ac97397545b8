// A root of one heap cannot be read through another heap's mutator.
use morph_gengc::{Heap, Member, Trace};

#[derive(Trace)]
struct Node {
    next: Member<Node>,
}

fn main() {
    let mut one = Heap::new(Default::default()).unwrap();
    let mut two = Heap::new(Default::default()).unwrap();
    one.enter(|m1| {
        let root = m1.alloc(Node { next: Member::null() });
        two.enter(|m2| {
            let _ = root.get(m2);
        });
    });
}
