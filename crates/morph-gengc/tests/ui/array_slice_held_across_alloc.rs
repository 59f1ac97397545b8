// An array's elements borrow the mutator like any `Gc`: a slice cannot be
// held across an allocation, which may move the array.
use morph_gengc::{Heap, Tagged};

fn main() {
    let mut heap = Heap::new(Default::default()).unwrap();
    heap.enter(|m| {
        let array = m.alloc_array(4, |_| Tagged::nil());
        let elements = array.get(m).as_slice();
        m.alloc_array(4, |_| Tagged::nil());
        let _ = elements.len();
    });
}
