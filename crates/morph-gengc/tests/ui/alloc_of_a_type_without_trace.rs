// Only `Trace` types live in the managed heap; the error says how to make
// one.
use morph_gengc::Heap;

struct Plain {
    value: u32,
}

fn main() {
    let mut heap = Heap::new(Default::default()).unwrap();
    heap.enter(|m| {
        m.alloc(Plain { value: 1 });
    });
}
