// A weak field is cleared by collections only where the heap lists it:
// inside its object. It cannot be copied out, where no collection would
// clear it once its referent died.
use morph_gengc::{Heap, Trace, WeakMember};

#[derive(Trace)]
struct Cache {
    last: WeakMember<Cache>,
}

fn main() {
    let mut heap = Heap::new(Default::default()).unwrap();
    heap.enter(|m| {
        let root = m.alloc(Cache { last: WeakMember::null() });
        let cache = root.get(m);
        cache.last.set(m, Some(cache));
        let _copy: WeakMember<Cache> = cache.last.clone();
    });
}
