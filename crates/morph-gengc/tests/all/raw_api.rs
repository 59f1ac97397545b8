//! The raw API, as a VM with its own object model uses it.
// Test code plays the VM: object payloads are 8-aligned by the heap, and a
// few SAFETY comments cover two operations on the same live object.
#![allow(clippy::cast_ptr_alignment, clippy::multiple_unsafe_ops_per_block)]

use std::ptr::NonNull;

use morph_gengc::{AllocFlags, Collection, ObjectRef, RawHeap, RootSet};
use morph_header::{SlotVisitor, TypeDescriptor, TypeId, TypeRegistry};

use crate::{scaled, small_config};

/// A VM cons cell: two reference slots and a number.
#[repr(C)]
struct Cons {
    car: *mut u8,
    cdr: *mut u8,
    number: u64,
}

/// # Safety
/// `object` is a live `Cons`.
unsafe fn trace_cons(object: NonNull<u8>, visitor: &mut dyn SlotVisitor) {
    let cons = object.cast::<Cons>().as_ptr();
    // SAFETY: a live Cons; taking field addresses reads nothing.
    let car = unsafe { &raw mut (*cons).car };
    // SAFETY: as above.
    let cdr = unsafe { &raw mut (*cons).cdr };
    visitor.visit_slot(NonNull::new(car).unwrap());
    visitor.visit_slot(NonNull::new(cdr).unwrap());
}

static TYPES: TypeRegistry = TypeRegistry::new();

fn cons_type() -> TypeId {
    use std::sync::OnceLock;
    static ID: OnceLock<TypeId> = OnceLock::new();
    *ID.get_or_init(|| {
        TYPES
            .register(TypeDescriptor::of::<Cons>("Cons").with_trace(trace_cons))
            .unwrap()
    })
}

/// The VM's stack: a vector of root slots.
#[derive(Default)]
struct Stack(Vec<*mut u8>);

// SAFETY: the stack's slots hold null or payloads of live objects: the VM
// only stores what the heap returned, and collections update them. Each is
// reported once; nothing panics.
unsafe impl RootSet for Stack {
    fn visit_roots(&mut self, visitor: &mut dyn SlotVisitor) {
        for slot in &mut self.0 {
            visitor.visit_slot(NonNull::from(slot));
        }
    }
}

fn alloc_cons(heap: &mut RawHeap, stack: &mut Stack, number: u64) -> ObjectRef {
    // SAFETY: a zeroed Cons is valid (null references); its trace reads
    // `size_of::<Cons>()` bytes.
    let obj = unsafe { heap.try_alloc(size_of::<Cons>(), cons_type(), AllocFlags::DEFAULT, stack) }
        .unwrap();
    // SAFETY: a fresh, zeroed Cons payload.
    unsafe { obj.as_ptr().cast::<Cons>().as_mut().number = number };
    obj
}

/// Pushes `cons(number, stack[top])` and replaces the top with it.
fn push_front(heap: &mut RawHeap, stack: &mut Stack, number: u64) {
    let cell = alloc_cons(heap, stack, number);
    let list = *stack.0.last().unwrap();
    // SAFETY: `cell` is a live Cons, just allocated; no collection since.
    unsafe { cell.as_ptr().cast::<Cons>().as_mut().cdr = list };
    if let Some(list) = NonNull::new(list) {
        // SAFETY: both are live objects of this heap.
        unsafe { heap.write_barrier(cell, ObjectRef::from_payload(list)) };
    }
    *stack.0.last_mut().unwrap() = cell.as_ptr().as_ptr();
}

fn list_sum(mut cursor: *mut u8) -> (u64, u64) {
    let (mut sum, mut len) = (0, 0);
    while !cursor.is_null() {
        // SAFETY: the list is reachable from a root, so every cell is live.
        let cons = unsafe { &*cursor.cast::<Cons>() };
        sum += cons.number;
        len += 1;
        cursor = cons.cdr;
    }
    (sum, len)
}

#[test]
fn a_vm_stack_of_lists_survives_collections_and_the_barrier_keeps_old_to_young_links() {
    let mut heap = RawHeap::with_registry(small_config(), &TYPES).unwrap();
    let mut stack = Stack(vec![std::ptr::null_mut()]);
    let n = scaled(20_000) as u64;
    for i in 0..n {
        push_front(&mut heap, &mut stack, i);
        // Garbage between every cell.
        alloc_cons(&mut heap, &mut stack, 0);
    }
    assert!(heap.collections() > 0);
    assert_eq!(list_sum(stack.0[0]), (n * (n - 1) / 2, n));
    heap.verify(&mut stack).unwrap();

    // An old cell pointing at a young one, through the explicit barrier.
    heap.collect(Collection::Major, &mut stack);
    for _ in 0..4 {
        heap.collect(Collection::Minor, &mut stack);
    }
    let head = stack.0[0];
    // SAFETY: a live object of the heap, reachable from the stack.
    let head_ref = unsafe { ObjectRef::from_payload(NonNull::new(head).unwrap()) };
    assert!(!heap.is_young(head_ref));
    stack.0.push(std::ptr::null_mut());
    let young = alloc_cons(&mut heap, &mut stack, 1_000_000);
    stack.0.pop();
    let head = stack.0[0];
    // SAFETY: `head` is a live Cons; no collection since it was read.
    unsafe { (*head.cast::<Cons>()).car = young.as_ptr().as_ptr() };
    // SAFETY: both live.
    unsafe { heap.write_barrier(ObjectRef::from_payload(NonNull::new(head).unwrap()), young) };
    heap.verify(&mut stack).unwrap();
    heap.collect(Collection::Minor, &mut stack);
    // SAFETY: `head` is old and does not move; its car was updated.
    let car = unsafe { (*stack.0[0].cast::<Cons>()).car };
    // SAFETY: reachable from the old head, so live.
    assert_eq!(unsafe { (*car.cast::<Cons>()).number }, 1_000_000);
    heap.verify(&mut stack).unwrap();
}

#[test]
fn a_missing_barrier_is_caught_by_the_verifier() {
    let mut heap = RawHeap::with_registry(small_config(), &TYPES).unwrap();
    let mut stack = Stack(vec![std::ptr::null_mut()]);
    push_front(&mut heap, &mut stack, 1);
    heap.collect(Collection::Major, &mut stack);
    for _ in 0..4 {
        heap.collect(Collection::Minor, &mut stack);
    }
    stack.0.push(std::ptr::null_mut());
    let young = alloc_cons(&mut heap, &mut stack, 2);
    stack.0.pop();
    // Store without the barrier: the verifier must notice.
    // SAFETY: a live Cons; no collection since.
    unsafe { (*stack.0[0].cast::<Cons>()).car = young.as_ptr().as_ptr() };
    let errors = heap.verify(&mut stack).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, morph_gengc::VerifyError::NotRemembered { .. })),
        "{errors:?}"
    );
}

#[test]
fn unknown_types_and_huge_sizes_are_errors() {
    let mut heap = RawHeap::with_registry(small_config(), &TYPES).unwrap();
    let unknown = TypeId::new(60_000).unwrap();
    assert_eq!(
        // SAFETY: refused before anything is allocated.
        unsafe { heap.try_alloc(8, unknown, AllocFlags::DEFAULT, &mut ()) }.unwrap_err(),
        morph_gengc::GcError::UnknownType { type_id: 60_000 }
    );
    assert!(matches!(
        // SAFETY: refused before anything is allocated.
        unsafe { heap.try_alloc(usize::MAX - 4, cons_type(), AllocFlags::DEFAULT, &mut ()) },
        Err(morph_gengc::GcError::ObjectTooLarge { .. })
    ));
}
