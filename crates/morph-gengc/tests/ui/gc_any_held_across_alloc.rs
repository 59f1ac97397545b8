// A `GcAny`, like a `Gc`, borrows the mutator: it cannot be held across an
// allocation, which may move its object.
use morph_gengc::{GcAny, Heap, Trace};

#[derive(Trace)]
struct Text(String);

fn main() {
    let mut heap = Heap::new(Default::default()).unwrap();
    heap.enter(|m| {
        let text = m.alloc(Text("x".into()));
        let any = GcAny::from(text.get(m));
        m.alloc(Text("y".into()));
        let _ = any.downcast::<Text>(m);
    });
}
