//! `RefLock`: whole values with members replaced in place, through the
//! barrier, in young and old objects, during incremental cycles.

use std::panic::{AssertUnwindSafe, catch_unwind};

use morph_gengc::{Collection, GcConfig, Heap, Member, RefLock, Trace};

use crate::scaled;

#[derive(Trace)]
struct Leaf(u64);

/// A dynamic value: the enum a `RefLock` exists for.
#[derive(Trace)]
enum Value {
    Nil,
    Int(i64),
    Obj(Member<Leaf>),
    Next(Member<Holder>),
}

#[derive(Trace)]
struct Holder {
    value: RefLock<Value>,
}

fn holder(value: Value) -> Holder {
    Holder {
        value: RefLock::new(value),
    }
}

fn config() -> GcConfig {
    crate::manual_cycles_config()
}

/// Reads the leaf a holder's value refers to.
fn leaf_of(holder: &Holder, m: &morph_gengc::Mutator<'_>) -> Option<u64> {
    match &*holder.value.borrow() {
        Value::Obj(leaf) => leaf.get(m).map(|l| l.0),
        _ => None,
    }
}

/// An old holder switched to a variant whose member then gets a young
/// object: the member's own barrier records it, so minor collections keep
/// and move it.
#[test]
fn an_old_lock_switched_to_a_reference_keeps_its_young_referent() {
    let mut heap = Heap::new(config()).unwrap();
    heap.enter(|m| {
        let old = m.alloc_tenured(holder(Value::Int(1))).unwrap();
        for round in 0..scaled(200) as u64 {
            old.get(m).value.set(m, Value::Obj(Member::null()));
            let leaf = m.alloc(Leaf(round));
            if let Value::Obj(member) = &*old.get(m).value.borrow() {
                member.set(m, Some(leaf.get(m)));
            }
            drop(leaf);
            for _ in 0..50 {
                m.alloc(Leaf(u64::MAX)); // garbage: minor collections
            }
            m.collect(Collection::Minor);
            assert_eq!(leaf_of(&old.get(m), m), Some(round));
            old.get(m).value.set(m, Value::Nil);
        }
        m.verify().unwrap();
    });
}

/// An old object moved, while a cycle runs, from a lock the marker has not
/// reached into an object it has already traced, then the lock's value
/// replaced: the lock logs the value it drops, so the object is marked
/// though no traced object pointed at it.
#[test]
fn a_value_replaced_behind_the_marker_mid_cycle_keeps_its_old_referent() {
    let mut heap = Heap::new(config()).unwrap();
    heap.enter(|m| {
        // `from` heads a chain of old holders, longer than the marking steps
        // below trace, whose last one refers to `moved`.
        let from = m.alloc_tenured(holder(Value::Nil)).unwrap();
        let to = m.alloc_tenured(holder(Value::Nil)).unwrap();
        let mut last = m.root(from.get(m));
        for _ in 0..scaled(20_000) {
            let next = m.alloc_tenured(holder(Value::Nil)).unwrap();
            last.get(m).value.set(m, Value::Next(Member::null()));
            if let Value::Next(member) = &*last.get(m).value.borrow() {
                member.set(m, Some(next.get(m)));
            }
            last = next;
        }
        let moved = m.alloc_tenured(Leaf(3)).unwrap();
        last.get(m).value.set(m, Value::Obj(Member::null()));
        if let Value::Obj(member) = &*last.get(m).value.borrow() {
            member.set(m, Some(moved.get(m)));
        }
        drop((moved, last));
        m.collect(Collection::StartCycle);
        for _ in 0..scaled(1_000) {
            m.alloc(Leaf(u64::MAX)); // garbage: allocation runs marking steps
        }
        assert!(m.is_marking(), "the chain outlasts the steps so far");
        // Walk to the last holder, move its leaf to `to`, and replace the
        // last holder's value as a whole.
        let mut last = from.get(m);
        loop {
            let next = match &*last.value.borrow() {
                Value::Next(next) => next.get(m),
                _ => None,
            };
            match next {
                Some(next) => last = next,
                None => break,
            }
        }
        let target = match &*last.value.borrow() {
            Value::Obj(leaf) => leaf.get(m),
            _ => None,
        };
        assert_eq!(target.map(|l| l.0), Some(3));
        to.get(m).value.set(m, Value::Obj(Member::null()));
        if let Value::Obj(member) = &*to.get(m).value.borrow() {
            member.set(m, target);
        }
        last.value.set(m, Value::Int(0));
        m.collect(Collection::FinishCycle);
        m.verify().unwrap();
        assert_eq!(leaf_of(&to.get(m), m), Some(3));
    });
}

/// Replacing a value while it is borrowed panics and changes nothing; a
/// lock outside the heap cannot be set through a mutator.
#[test]
fn set_refuses_a_borrowed_lock_and_a_lock_outside_the_heap() {
    let mut heap = Heap::new(config()).unwrap();
    heap.enter(|m| {
        let h = m.alloc(holder(Value::Int(5)));
        let h = h.get(m);
        let borrowed = h.value.borrow();
        let set = catch_unwind(AssertUnwindSafe(|| h.value.set(m, Value::Nil)));
        assert!(set.is_err());
        assert!(matches!(&*borrowed, Value::Int(5)));
        drop(borrowed);
        let local = RefLock::new(Value::Nil);
        let outside = catch_unwind(AssertUnwindSafe(|| local.set(m, Value::Int(1))));
        assert!(outside.is_err());
    });
}
