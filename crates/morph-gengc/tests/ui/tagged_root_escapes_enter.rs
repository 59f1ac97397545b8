// A rooted dynamic value is branded with its `enter` call, as a `Root` is.
use morph_gengc::{Heap, TaggedValue};

fn main() {
    let mut heap = Heap::new(Default::default()).unwrap();
    let escaped = heap.enter(|m| {
        let s = m.alloc_str("x");
        m.root_tagged(TaggedValue::Ref(s.get(m).into()))
    });
    drop(escaped);
}
