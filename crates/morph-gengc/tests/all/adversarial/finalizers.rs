//! Class: finalizers reaching managed objects. A finalizer runs when its
//! object is already dead, and the objects its members point at may be
//! dead or moved too. It used to be able to make a fresh heap, enter it,
//! and read its members through that heap's mutator. No heap can be
//! entered while destructors run, wherever they run: in a collection
//! triggered by allocation, in one run outside `enter`, at heap drop.

use std::cell::Cell;

use morph_gengc::{Collection, Finalize, Heap, Member, Trace};

use super::panic_message;
use crate::small_config;

#[derive(Trace)]
struct Target {
    value: u64,
}

/// A finalizable object that tries to read its member from its finalizer.
#[derive(Trace)]
#[trace(finalize)]
struct Snoop {
    target: Member<Target>,
}

thread_local! {
    /// What a finalizer managed to read (it must never read anything).
    static READ: Cell<Option<u64>> = const { Cell::new(None) };
    /// Finalizers that started.
    static STARTED: Cell<usize> = const { Cell::new(0) };
}

impl Finalize for Snoop {
    fn finalize(&self) {
        STARTED.with(|s| s.set(s.get() + 1));
        let mut fresh = Heap::new(small_config()).unwrap();
        let value = fresh.enter(|m| self.target.get(m).map(|t| t.value));
        READ.with(|r| r.set(value));
    }
}

/// Allocates a dead `Snoop` whose target is dead too.
fn dead_snoop(m: &mut morph_gengc::Mutator<'_>) {
    let target = m.alloc(Target { value: 41 });
    let snoop = m.alloc(Snoop {
        target: Member::null(),
    });
    snoop.get(m).target.set(m, Some(target.get(m)));
}

fn assert_refused(message: &str) {
    assert!(
        message.contains("inside a finalizer"),
        "unexpected panic: {message}"
    );
    assert!(STARTED.with(Cell::get) > 0, "the finalizer ran");
    assert_eq!(READ.with(Cell::get), None, "a finalizer read a member");
}

#[test]
fn a_finalizer_cannot_enter_a_heap_during_a_collection_run_by_allocation() {
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let kept = m.alloc(Target { value: 1 });
        dead_snoop(m);
        let message = panic_message(|| {
            for _ in 0..crate::scaled(200_000) {
                // Until a minor collection finds the snoop dead.
                m.alloc(Target { value: 2 });
            }
        });
        assert_refused(&message);
        // The collection completed before the panic was re-raised.
        assert_eq!(kept.get(m).value, 1);
        assert_eq!(m.verify(), Ok(()));
        m.collect(Collection::Major);
        assert_eq!(kept.get(m).value, 1);
    });
}

#[test]
fn a_finalizer_cannot_enter_a_heap_during_a_collection_outside_enter() {
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(dead_snoop);
    let message = panic_message(|| heap.collect_raw(Collection::Minor, &mut ()));
    assert_refused(&message);
    heap.enter(|m| assert_eq!(m.verify(), Ok(())));
}

#[test]
fn a_finalizer_cannot_enter_a_heap_when_its_heap_is_dropped() {
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let snoop = m.alloc(Snoop {
            target: Member::null(),
        });
        let target = m.alloc(Target { value: 41 });
        snoop.get(m).target.set(m, Some(target.get(m)));
        // Promote both, so the finalizer runs on old objects at drop.
        m.collect(Collection::Major);
    });
    let message = panic_message(|| drop(heap));
    assert_refused(&message);
}
