// An initializer borrows the handles its members are to point at: it
// cannot outlive them, so a member is never filled from a released root.
use morph_gengc::{Heap, Member, Trace};

#[derive(Trace)]
#[trace(init)]
struct Link {
    next: Member<Link>,
}

fn main() {
    let mut heap = Heap::new(Default::default()).unwrap();
    heap.enter(|m| {
        let init = {
            let target = m.alloc_init(LinkInit { next: None });
            LinkInit { next: Some(&target) }
        };
        m.alloc_init(init);
    });
}
