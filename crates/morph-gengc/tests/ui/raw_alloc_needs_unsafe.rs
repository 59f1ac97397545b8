// Raw allocation runs the type's trace and drop functions on a zeroed
// payload: its caller vouches for them, in an `unsafe` block.
use morph_gengc::{AllocFlags, GcConfig, RawHeap};
use morph_header::{TypeDescriptor, TypeRegistry};

fn main() {
    let boxed = TypeRegistry::global()
        .register(TypeDescriptor::of::<Box<u64>>("Boxed"))
        .unwrap();
    let mut heap = RawHeap::new(GcConfig::default()).unwrap();
    // A zeroed `Box<u64>` would be dropped when it dies.
    let _ = heap.try_alloc(8, boxed, AllocFlags::DEFAULT, &mut ());
}
