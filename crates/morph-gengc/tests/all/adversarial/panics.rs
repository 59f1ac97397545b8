//! Class: a panic inside a collection. A panicking finalizer used to leave
//! a minor collection half done (survivors copied but the flip not made),
//! after which a rooted object was treated as dead. Now every destructor
//! of the batch runs, the collection completes, and the first panic is
//! re-raised after; observers likewise. A root set or trace function
//! that panics (their contracts forbid it) poisons the heap.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use morph_gengc::{
    AllocFlags, Collection, Finalize, GcError, Heap, Member, RawHeap, RootSet, Trace, VerifyError,
};
use morph_header::SlotVisitor;

use super::panic_message;
use crate::small_config;

#[derive(Trace)]
struct Node {
    value: u64,
    next: Member<Node>,
}

/// A finalizable object; finalizing the one numbered 13 panics.
#[derive(Trace)]
#[trace(finalize)]
struct Fragile {
    id: u64,
    /// Dropped even when the finalizer panics.
    token: Rc<()>,
}

thread_local! {
    /// How many times each id was finalized.
    static FINALIZED: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

impl Finalize for Fragile {
    fn finalize(&self) {
        FINALIZED.with(|f| {
            let mut f = f.borrow_mut();
            let id = self.id as usize;
            if f.len() <= id {
                f.resize(id + 1, 0);
            }
            f[id] += 1;
        });
        if self.id == 13 {
            panic!("finalizer 13 failed");
        }
    }
}

fn finalized() -> Vec<u32> {
    FINALIZED.with(|f| f.borrow().clone())
}

/// A list of `n` nodes with values `0..n`, rooted at the returned head.
fn list<'gc>(m: &mut morph_gengc::Mutator<'gc>, n: u64) -> morph_gengc::Root<'gc, Node> {
    let head = m.alloc(Node {
        value: 0,
        next: Member::null(),
    });
    let mut tail = head.clone();
    for value in 1..n {
        let node = m.alloc(Node {
            value,
            next: Member::null(),
        });
        tail.get(m).next.set(m, Some(node.get(m)));
        tail = node;
    }
    head
}

fn list_values<'gc>(
    m: &morph_gengc::Mutator<'gc>,
    head: &morph_gengc::Root<'gc, Node>,
) -> Vec<u64> {
    let mut values = Vec::new();
    let mut cursor = Some(head.get(m));
    while let Some(node) = cursor {
        values.push(node.value);
        cursor = node.next.get(m);
    }
    values
}

#[test]
fn a_finalizer_panic_in_a_minor_collection_completes_the_collection_first() {
    let token = Rc::new(());
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let head = list(m, 100);
        // Twenty dead finalizable objects, one of which panics, in eden
        // next to the live list.
        for id in 0..20 {
            m.alloc(Fragile {
                id,
                token: Rc::clone(&token),
            });
        }
        let message = panic_message(|| m.collect(Collection::Minor));
        assert_eq!(message, "finalizer 13 failed");
        assert_eq!(finalized(), vec![1; 20], "each dead object finalized once");
        assert_eq!(
            Rc::strong_count(&token),
            1,
            "every value dropped, the panicking one too"
        );
        // The rooted list survived, and survives what comes next.
        assert_eq!(m.verify(), Ok(()));
        for _ in 0..3 {
            for value in 0..5_000 {
                m.alloc(Node {
                    value,
                    next: Member::null(),
                });
            }
            m.collect(Collection::Minor);
            assert_eq!(list_values(m, &head), (0..100).collect::<Vec<_>>());
        }
        m.collect(Collection::Major);
        assert_eq!(list_values(m, &head), (0..100).collect::<Vec<_>>());
    });
    assert_eq!(finalized(), vec![1; 20], "none finalized twice");
}

#[test]
fn a_finalizer_panic_in_an_allocation_leaves_the_heap_consistent() {
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let head = list(m, 50);
        for id in 0..20 {
            m.alloc(Fragile {
                id,
                token: Rc::new(()),
            });
        }
        // The collection runs inside an allocation; the panic comes out of it.
        let message = panic_message(|| {
            for _ in 0..crate::scaled(200_000) {
                m.alloc(Node {
                    value: 0,
                    next: Member::null(),
                });
            }
        });
        assert_eq!(message, "finalizer 13 failed");
        assert_eq!(finalized(), vec![1; 20]);
        assert_eq!(m.verify(), Ok(()));
        m.collect(Collection::Minor);
        m.collect(Collection::Major);
        assert_eq!(list_values(m, &head), (0..50).collect::<Vec<_>>());
    });
}

#[test]
fn a_finalizer_panic_in_a_major_collection_completes_the_sweep_first() {
    let mut heap = Heap::new(small_config()).unwrap();
    let live_before = heap.enter(|m| {
        let head = list(m, 100);
        let mut fragile = Vec::new();
        for id in 0..20 {
            fragile.push(m.alloc(Fragile {
                id,
                token: Rc::new(()),
            }));
        }
        // Tenure them all, then let them die.
        m.collect(Collection::Major);
        m.collect(Collection::Minor);
        m.collect(Collection::Minor);
        m.collect(Collection::Minor);
        let old_before = m.usage().old_used;
        drop(fragile);
        let message = panic_message(|| m.collect(Collection::Major));
        assert_eq!(message, "finalizer 13 failed");
        assert_eq!(finalized(), vec![1; 20]);
        assert!(m.usage().old_used < old_before, "the sweep ran");
        assert_eq!(m.verify(), Ok(()));
        m.collect(Collection::Major);
        assert_eq!(list_values(m, &head), (0..100).collect::<Vec<_>>());
        old_before
    });
    assert!(live_before > 0);
    drop(heap);
    assert_eq!(finalized(), vec![1; 20], "none finalized again at drop");
}

#[test]
fn a_finalizer_panic_at_heap_drop_still_finalizes_every_object() {
    let token = Rc::new(());
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        for id in 0..20 {
            // Rooted until the heap goes: finalized at drop.
            std::mem::forget(m.alloc(Fragile {
                id,
                token: Rc::clone(&token),
            }));
        }
    });
    let message = panic_message(|| drop(heap));
    assert_eq!(message, "finalizer 13 failed");
    assert_eq!(finalized(), vec![1; 20]);
    assert_eq!(Rc::strong_count(&token), 1);
}

#[test]
fn an_observer_panic_is_reraised_after_a_complete_collection() {
    let mut heap = Heap::new(small_config()).unwrap();
    let calls = Rc::new(Cell::new(0));
    let seen = Rc::clone(&calls);
    heap.set_collection_observer(Some(Box::new(move |_, _| {
        seen.set(seen.get() + 1);
        if seen.get() == 2 {
            panic!("observer failed");
        }
    })));
    heap.enter(|m| {
        let head = list(m, 100);
        m.collect(Collection::Minor);
        let message = panic_message(|| m.collect(Collection::Minor));
        assert_eq!(message, "observer failed");
        assert_eq!(m.verify(), Ok(()));
        m.collect(Collection::Major);
        assert_eq!(list_values(m, &head), (0..100).collect::<Vec<_>>());
    });
    assert_eq!(calls.get(), 3);
}

/// Roots that panic when visited: a broken `RootSet` (its contract forbids
/// panics), to check the collector's last line of defence.
struct PanickingRoots(Vec<*mut u8>);

// SAFETY: the slots hold live payloads; it panics, which the contract
// forbids: this is what the test exercises.
unsafe impl RootSet for PanickingRoots {
    fn visit_roots(&mut self, visitor: &mut dyn SlotVisitor) {
        for slot in &mut self.0 {
            visitor.visit_slot(std::ptr::NonNull::from(slot));
        }
        panic!("root set failed");
    }
}

#[test]
fn a_root_set_that_panics_poisons_the_heap() {
    static TYPES: morph_header::TypeRegistry = morph_header::TypeRegistry::new();
    let leaf = TYPES
        .register(morph_header::TypeDescriptor::new(
            "Leaf",
            std::alloc::Layout::new::<[u64; 2]>(),
        ))
        .unwrap();
    let mut heap = RawHeap::with_registry(small_config(), &TYPES).unwrap();
    let mut roots = PanickingRoots(Vec::new());
    for _ in 0..10 {
        // SAFETY: a leaf type of 16 bytes: nothing to trace or drop.
        let obj = unsafe { heap.try_alloc(16, leaf, AllocFlags::DEFAULT, &mut ()) }.unwrap();
        roots.0.push(obj.as_ptr().as_ptr());
    }
    let message = panic_message(|| heap.collect(Collection::Minor, &mut roots));
    assert_eq!(message, "root set failed");
    assert!(heap.is_poisoned());
    // Every later call refuses, with an error where it can return one.
    for flags in [AllocFlags::DEFAULT, AllocFlags::TENURED] {
        // SAFETY: as above.
        let refused = unsafe { heap.try_alloc(16, leaf, flags, &mut ()) };
        assert_eq!(refused.unwrap_err(), GcError::Poisoned);
    }
    assert_eq!(heap.verify(&mut ()), Err(vec![VerifyError::Poisoned]));
    let message = panic_message(|| heap.collect(Collection::Major, &mut ()));
    assert!(message.contains("poisoned"), "{message}");
    drop(heap); // frees the spaces, runs no destructor
}
