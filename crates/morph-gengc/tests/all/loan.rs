//! Eden lent out (`RawHeap::lend_eden`): a borrower that places objects
//! itself, as the C ABI's inline allocation does.
// Test code plays the borrower: it writes headers and payloads by hand.
#![allow(clippy::cast_ptr_alignment, clippy::multiple_unsafe_ops_per_block)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;

use morph_gengc::{
    AllocFlags, Collection, EdenLoan, GcConfig, ObjectRef, RawHeap, RootSet, object_size,
};
use morph_header::{SlotVisitor, TypeDescriptor, TypeId, TypeRegistry};

use crate::{scaled, small_config};

/// A list cell: one reference and a number.
#[repr(C)]
struct Cell {
    next: *mut u8,
    number: u64,
}

/// # Safety
/// `object` is a live `Cell`.
unsafe fn trace_cell(object: NonNull<u8>, visitor: &mut dyn SlotVisitor) {
    // SAFETY: a live Cell; taking a field's address reads nothing.
    let next = unsafe { &raw mut (*object.cast::<Cell>().as_ptr()).next };
    visitor.visit_slot(NonNull::new(next).unwrap());
}

static TYPES: TypeRegistry = TypeRegistry::new();

fn cell_type() -> TypeId {
    use std::sync::OnceLock;
    static ID: OnceLock<TypeId> = OnceLock::new();
    *ID.get_or_init(|| {
        TYPES
            .register(TypeDescriptor::of::<Cell>("LoanCell").with_trace(trace_cell))
            .unwrap()
    })
}

/// The list's head, the only root.
struct Head(*mut u8);

// SAFETY: the slot holds null or a live object's payload; reported once;
// nothing panics.
unsafe impl RootSet for Head {
    fn visit_roots(&mut self, visitor: &mut dyn SlotVisitor) {
        visitor.visit_slot(NonNull::from(&mut self.0));
    }
}

/// A borrower: a loan and its cursor.
struct Borrower {
    loan: EdenLoan,
    cursor: NonNull<u8>,
    objects: usize,
}

impl Borrower {
    fn new(heap: &mut RawHeap) -> Option<Self> {
        let loan = heap.lend_eden()?;
        Some(Borrower {
            loan,
            cursor: loan.start(),
            objects: 0,
        })
    }

    /// Places a zeroed `Cell`, if it fits.
    fn place(&mut self, ty: TypeId) -> Option<ObjectRef> {
        let size = object_size(size_of::<Cell>());
        if self.loan.limit().addr().get() - self.cursor.addr().get() < size {
            return None;
        }
        let start = self.cursor;
        // SAFETY: `size` bytes from the cursor lie inside the loan (checked
        // above): a header and a zeroed Cell.
        unsafe {
            start
                .cast::<u64>()
                .write(EdenLoan::header_bits(ty) | size_of::<Cell>() as u64);
            start.add(8).cast::<Cell>().write(Cell {
                next: std::ptr::null_mut(),
                number: 0,
            });
            self.cursor = start.add(size);
        }
        self.objects += 1;
        // SAFETY: a payload just placed, 8 bytes after its header.
        Some(unsafe { ObjectRef::from_payload(start.add(8)) })
    }

    fn repay(self, heap: &mut RawHeap) {
        // SAFETY: `objects` well-formed Cells of a loaded type without a
        // destructor lie from the loan's start to the cursor, each
        // reference null or a live object of this heap.
        unsafe { heap.repay_eden(self.loan, self.cursor, self.objects) };
    }
}

/// Pushes a cell holding `number` in front of the list at `head`.
fn link(heap: &mut RawHeap, head: &mut Head, cell: ObjectRef, number: u64) {
    // SAFETY: `cell` is a live Cell, placed since the last collection.
    unsafe {
        let payload = cell.as_ptr().cast::<Cell>().as_ptr();
        (*payload).number = number;
        (*payload).next = head.0;
    }
    if let Some(next) = NonNull::new(head.0) {
        // SAFETY: both are live objects of this heap.
        unsafe { heap.write_barrier(cell, ObjectRef::from_payload(next)) };
    }
    head.0 = cell.as_ptr().as_ptr();
}

fn list_sum(head: &Head) -> (usize, u64) {
    let (mut length, mut sum, mut at) = (0, 0, head.0);
    while !at.is_null() {
        // SAFETY: a live list of Cells.
        let cell = unsafe { &*at.cast::<Cell>() };
        length += 1;
        sum += cell.number;
        at = cell.next;
    }
    (length, sum)
}

fn heap(config: GcConfig) -> RawHeap {
    let mut heap = RawHeap::with_registry(config, &TYPES).unwrap();
    heap.preload_type(cell_type()).unwrap();
    heap
}

#[test]
fn a_list_placed_in_loans_survives_the_collections_between_them() {
    let ty = cell_type();
    let mut heap = heap(small_config());
    let mut head = Head(std::ptr::null_mut());
    let n = scaled(20_000) as u64;
    let mut borrower = Borrower::new(&mut heap);
    let mut loans = 0;
    for i in 0..n {
        let placed = borrower.as_mut().and_then(|b| b.place(ty));
        let cell = match placed {
            Some(cell) => cell,
            None => {
                // The loan is spent: repay, allocate through the heap
                // (which collects), and borrow again.
                if let Some(b) = borrower.take() {
                    b.repay(&mut heap);
                    loans += 1;
                }
                assert_eq!(heap.verify(&mut head), Ok(()));
                // SAFETY: a zeroed Cell is valid; its trace reads its size.
                let cell = unsafe {
                    heap.try_alloc(size_of::<Cell>(), ty, AllocFlags::DEFAULT, &mut head)
                }
                .unwrap();
                link(&mut heap, &mut head, cell, i);
                borrower = Borrower::new(&mut heap);
                continue;
            }
        };
        link(&mut heap, &mut head, cell, i);
    }
    if let Some(b) = borrower.take() {
        b.repay(&mut heap);
    }
    assert!(loans >= 2, "only {loans} loans were spent");
    assert_eq!(heap.verify(&mut head), Ok(()));
    heap.collect(Collection::Major, &mut head);
    assert_eq!(heap.verify(&mut head), Ok(()));
    assert_eq!(list_sum(&head), (n as usize, n * (n - 1) / 2));
    assert_eq!(heap.stats().objects.object_count, n);
}

#[test]
fn nothing_touches_eden_while_it_is_lent() {
    let mut heap = heap(small_config());
    let loan = heap.lend_eden().expect("an empty eden is lent");
    assert!(heap.eden_lent());
    assert_eq!(heap.lend_eden(), None, "one loan at a time");
    let mut head = Head(std::ptr::null_mut());
    let collect = catch_unwind(AssertUnwindSafe(|| {
        heap.collect(Collection::Minor, &mut head);
    }));
    assert!(collect.is_err(), "a collection ran while eden was lent");
    let alloc = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: a zeroed Cell is valid.
        unsafe {
            heap.try_alloc(
                size_of::<Cell>(),
                cell_type(),
                AllocFlags::DEFAULT,
                &mut head,
            )
        }
    }));
    assert!(alloc.is_err(), "an allocation ran while eden was lent");
    // SAFETY: nothing was placed.
    unsafe { heap.repay_eden(loan, loan.start(), 0) };
    assert!(!heap.eden_lent());
    assert_eq!(heap.usage().nursery_used, 0);
    heap.collect(Collection::Minor, &mut head);
    assert_eq!(heap.verify(&mut head), Ok(()));
}

#[test]
fn a_cursor_outside_the_loan_is_refused_and_changes_nothing() {
    let mut heap = heap(small_config());
    let loan = heap.lend_eden().unwrap();
    for cursor in [
        NonNull::new(loan.limit().as_ptr().wrapping_add(8)).unwrap(),
        // SAFETY: inside the loan.
        unsafe { loan.start().add(4) },
    ] {
        let repaid = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: refused before anything is read.
            unsafe { heap.repay_eden(loan, cursor, 0) };
        }));
        assert!(repaid.is_err());
        assert!(heap.eden_lent());
    }
    // SAFETY: nothing was placed.
    unsafe { heap.repay_eden(loan, loan.start(), 0) };
}

#[test]
fn stress_mode_lends_nothing() {
    let mut heap = heap(GcConfig {
        stress_every: std::num::NonZeroU32::new(3),
        ..small_config()
    });
    assert_eq!(heap.lend_eden(), None);
}

#[test]
fn type_stats_count_the_objects_of_a_loan_by_type() {
    let ty = cell_type();
    let mut heap = heap(GcConfig {
        type_stats: true,
        ..small_config()
    });
    let mut borrower = Borrower::new(&mut heap).unwrap();
    for _ in 0..5 {
        borrower.place(ty).unwrap();
    }
    borrower.repay(&mut heap);
    let stats = heap.stats();
    let cells = stats
        .objects
        .by_type
        .iter()
        .find(|t| t.type_id == ty.get())
        .expect("the cells' type is counted");
    assert_eq!(cells.objects, 5);
    assert_eq!(cells.bytes, 5 * object_size(size_of::<Cell>()) as u64);
    assert_eq!(stats.objects.object_count, 5);
}
