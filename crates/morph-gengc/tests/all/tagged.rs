//! Dynamic values: `Tagged` words (immediates and references to any type)
//! and `GcAny` downcasts, through collections and incremental cycles.

use std::panic::{AssertUnwindSafe, catch_unwind};

use morph_gengc::{Collection, GcAny, GcConfig, Heap, Member, Tagged, TaggedValue, Trace};

use crate::scaled;

#[derive(Trace)]
struct Pair {
    first: Tagged,
    second: Tagged,
}

#[derive(Trace)]
struct Text(String);

#[derive(Trace)]
struct Chain {
    value: Tagged,
    next: Member<Chain>,
}

fn pair() -> Pair {
    Pair {
        first: Tagged::nil(),
        second: Tagged::nil(),
    }
}

fn config() -> GcConfig {
    crate::manual_cycles_config()
}

#[test]
fn immediates_read_back_as_stored() {
    let mut heap = Heap::new(config()).unwrap();
    heap.enter(|m| {
        let p = m.alloc(pair());
        let p = p.get(m);
        let values = [
            TaggedValue::Nil,
            TaggedValue::Bool(false),
            TaggedValue::Bool(true),
            TaggedValue::Int(0),
            TaggedValue::Int(-1),
            TaggedValue::Int(Tagged::MAX_INT),
            TaggedValue::Int(Tagged::MIN_INT),
            TaggedValue::Float(0.0),
            TaggedValue::Float(-0.0),
            TaggedValue::Float(1.5),
            TaggedValue::Float(f64::MAX),
            TaggedValue::Float(f64::MIN_POSITIVE / 4.0),
            TaggedValue::Float(f64::INFINITY),
            TaggedValue::Float(f64::NEG_INFINITY),
        ];
        for value in values {
            p.first.set(m, value);
            let read = p.first.get(m);
            assert_eq!(read, value, "{value:?}");
            if let (TaggedValue::Float(a), TaggedValue::Float(b)) = (read, value) {
                assert_eq!(a.to_bits(), b.to_bits(), "{value:?} keeps its sign");
            }
        }
        for nan in [f64::NAN, -f64::NAN, f64::from_bits(0xFFFF_FFFF_FFFF_FFFF)] {
            p.first.set(m, TaggedValue::Float(nan));
            assert!(matches!(p.first.get(m), TaggedValue::Float(f) if f.is_nan()));
        }
        let too_big = catch_unwind(AssertUnwindSafe(|| {
            p.first.set(m, TaggedValue::Int(Tagged::MAX_INT + 1))
        }));
        assert!(too_big.is_err());
        assert!(!Tagged::int_fits(Tagged::MIN_INT - 1));
        assert!(matches!(p.first.get(m), TaggedValue::Float(f) if f.is_nan()));
    });
}

/// References of any type, in young and old holders, through minor and
/// major collections; downcasts check the type.
#[test]
fn references_of_any_type_survive_collections_and_downcast_by_type() {
    let mut heap = Heap::new(config()).unwrap();
    heap.enter(|m| {
        let young = m.alloc(pair());
        let old = m.alloc_tenured(pair()).unwrap();
        for round in 0..scaled(300) as i64 {
            let text = m.alloc(Text(format!("t{round}")));
            let other = m.alloc(pair());
            other.get(m).first.set(m, TaggedValue::Int(round));
            young
                .get(m)
                .first
                .set(m, TaggedValue::Ref(text.get(m).into()));
            old.get(m)
                .first
                .set(m, TaggedValue::Ref(other.get(m).into()));
            old.get(m)
                .second
                .set(m, TaggedValue::Ref(text.get(m).into()));
            drop((text, other));
            for _ in 0..40 {
                m.alloc(Text(String::new())); // garbage: minor collections
            }
            if round % 50 == 0 {
                m.collect(Collection::Major);
            }
            let young = young.get(m);
            let old = old.get(m);
            let TaggedValue::Ref(text) = young.first.get(m) else {
                panic!("a reference")
            };
            assert_eq!(text.downcast::<Text>(m).unwrap().0, format!("t{round}"));
            assert!(text.downcast::<Pair>(m).is_none());
            let TaggedValue::Ref(other) = old.first.get(m) else {
                panic!("a reference")
            };
            let other = other.downcast::<Pair>(m).expect("a Pair");
            assert_eq!(other.first.get(m), TaggedValue::Int(round));
            assert_eq!(old.second.get(m), young.first.get(m), "the same object");
        }
        m.verify().unwrap();
    });
}

/// A type never allocated in this heap matches no object.
#[test]
fn a_downcast_to_a_type_never_allocated_fails() {
    #[derive(Trace)]
    struct Never(u8);
    let mut heap = Heap::new(config()).unwrap();
    heap.enter(|m| {
        let text = m.alloc(Text("x".into()));
        let any = GcAny::from(text.get(m));
        assert!(any.downcast::<Never>(m).is_none());
        assert!(any.is::<Text>(m));
    });
}

/// An old object moved, while a cycle runs, from a `Tagged` the marker has
/// not reached to one it has traced, then overwritten by an integer where
/// it was: the store logs the reference it overwrites, so the object is
/// marked. Immediates overwritten mid-cycle are not logged.
#[test]
fn a_reference_overwritten_behind_the_marker_mid_cycle_survives() {
    let mut heap = Heap::new(config()).unwrap();
    heap.enter(|m| {
        let from = m.alloc_tenured(Chain {
            value: Tagged::nil(),
            next: Member::null(),
        });
        let from = from.unwrap();
        let to = m.alloc_tenured(pair()).unwrap();
        let mut last = m.root(from.get(m));
        for i in 0..scaled(20_000) as i64 {
            let next = m
                .alloc_tenured(Chain {
                    value: Tagged::int(i),
                    next: Member::null(),
                })
                .unwrap();
            last.get(m).next.set(m, Some(next.get(m)));
            last = next;
        }
        let moved = m.alloc_tenured(Text("moved".into())).unwrap();
        last.get(m)
            .value
            .set(m, TaggedValue::Ref(moved.get(m).into()));
        drop((moved, last));
        m.collect(Collection::StartCycle);
        for _ in 0..scaled(1_000) {
            m.alloc(Text(String::new())); // garbage: allocation runs marking steps
        }
        assert!(m.is_marking(), "the chain outlasts the steps so far");
        let mut last = from.get(m);
        while let Some(next) = last.next.get(m) {
            // Immediates overwritten mid-cycle: nothing to log.
            if let TaggedValue::Int(i) = next.value.get(m) {
                next.value.set(m, TaggedValue::Int(-i));
            }
            last = next;
        }
        let TaggedValue::Ref(target) = last.value.get(m) else {
            panic!("the last link holds the object")
        };
        to.get(m).first.set(m, TaggedValue::Ref(target));
        last.value.set(m, TaggedValue::Int(0));
        m.collect(Collection::FinishCycle);
        m.verify().unwrap();
        let TaggedValue::Ref(kept) = to.get(m).first.get(m) else {
            panic!("still linked")
        };
        assert_eq!(kept.downcast::<Text>(m).unwrap().0, "moved");
    });
}

#[test]
fn a_reference_cannot_be_stored_outside_the_heap() {
    let mut heap = Heap::new(config()).unwrap();
    heap.enter(|m| {
        let text = m.alloc(Text("x".into()));
        let local = Tagged::nil();
        let stored = catch_unwind(AssertUnwindSafe(|| {
            local.set(m, TaggedValue::Ref(text.get(m).into()))
        }));
        assert!(stored.is_err());
        assert_eq!(local.get(m), TaggedValue::Nil);
    });
}

/// Dynamic values held across allocations: immediates as they are,
/// references rooted through every kind of collection; dropping the last
/// handle releases the root.
#[test]
fn tagged_roots_hold_values_across_collections() {
    #[derive(Trace)]
    struct Boxed(i64);
    let mut heap = morph_gengc::Heap::new(crate::small_config()).unwrap();
    heap.enter(|m| {
        let roots_before = m.root_count();
        let b = m.alloc(Boxed(41));
        let s = m.alloc_str("text");
        let held = vec![
            m.root_tagged(TaggedValue::Nil),
            m.root_tagged(TaggedValue::Float(2.5)),
            m.root_tagged(TaggedValue::Ref(b.get(m).into())),
            m.root_tagged(TaggedValue::Ref(s.get(m).into())),
        ];
        let copy = held[2].clone();
        drop((b, s));
        for kind in [
            morph_gengc::Collection::Minor,
            morph_gengc::Collection::Minor,
            morph_gengc::Collection::Minor,
            morph_gengc::Collection::Major,
        ] {
            for _ in 0..crate::scaled(2_000) {
                m.alloc(Boxed(0));
            }
            m.collect(kind);
            assert_eq!(held[0].get(m), TaggedValue::Nil);
            assert_eq!(held[1].get(m), TaggedValue::Float(2.5));
            let TaggedValue::Ref(b) = held[2].get(m) else {
                panic!("a reference")
            };
            assert_eq!(b.downcast::<Boxed>(m).map(|b| b.0), Some(41));
            assert_eq!(copy.get(m), held[2].get(m));
            let TaggedValue::Ref(s) = held[3].get(m) else {
                panic!("a reference")
            };
            assert_eq!(s.as_str(m), Some("text"));
        }
        m.verify().unwrap();
        drop((held, copy));
        assert_eq!(m.root_count(), roots_before);
    });
}

#[test]
#[should_panic(expected = "another heap")]
fn a_tagged_root_of_another_heaps_object_is_refused() {
    let mut a = morph_gengc::Heap::new(crate::small_config()).unwrap();
    let mut b = morph_gengc::Heap::new(crate::small_config()).unwrap();
    a.enter(|ma| {
        let s = ma.alloc_str("a");
        let s = s.get(ma);
        b.enter(|mb| {
            mb.root_tagged(TaggedValue::Ref(s.into()));
        });
    });
}

/// A typed root turned into a dynamic one keeps its slot: no root is
/// added or lost, and the object stays alive.
#[test]
fn a_typed_root_becomes_a_tagged_root_in_place() {
    let mut heap = morph_gengc::Heap::new(crate::small_config()).unwrap();
    heap.enter(|m| {
        let s = m.alloc_str("moved");
        let before = m.root_count();
        let held: morph_gengc::TaggedRoot<'_> = s.into();
        assert_eq!(m.root_count(), before);
        m.collect(morph_gengc::Collection::Minor);
        let TaggedValue::Ref(any) = held.get(m) else {
            panic!("a reference")
        };
        assert_eq!(any.as_str(m), Some("moved"));
        drop(held);
        assert_eq!(m.root_count(), before - 1);
    });
}
