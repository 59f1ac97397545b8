// A RefLock hands out only shared borrows: its value (and the members in
// it) cannot be moved out of the heap, where nothing would trace them.
use morph_gengc::{Heap, Member, RefLock, Trace};

#[derive(Trace)]
enum Value {
    Nil,
    Next(Member<Holder>),
}

#[derive(Trace)]
struct Holder {
    value: RefLock<Value>,
}

fn main() {
    let mut heap = Heap::new(Default::default()).unwrap();
    heap.enter(|m| {
        let h = m.alloc(Holder { value: RefLock::new(Value::Nil) });
        let h = h.get(m);
        let _escaped = std::mem::replace(&mut *h.value.borrow(), Value::Nil);
    });
}
