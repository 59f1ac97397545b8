// The heap is single-threaded: roots cannot cross threads.
use morph_gengc::{Heap, Member, Trace};

#[derive(Trace)]
struct Node {
    next: Member<Node>,
}

fn main() {
    let mut heap = Heap::new(Default::default()).unwrap();
    heap.enter(|m| {
        let root = m.alloc(Node { next: Member::null() });
        std::thread::scope(|s| {
            s.spawn(move || drop(root));
        });
    });
}
