// A `Local` lives only as long as its scope: its slot is released when the
// scope ends, so it cannot be returned or stored outside.
use morph_gengc::{Heap, Trace};

#[derive(Trace)]
struct Leaf(u64);

fn main() {
    let mut heap = Heap::new(Default::default()).unwrap();
    heap.enter(|m| {
        let escaped = m.scope(|s| s.alloc_local(Leaf(1)));
        let mut stored = None;
        m.scope(|s| stored = Some(s.alloc_local(Leaf(2))));
        drop((escaped, stored));
    });
}
