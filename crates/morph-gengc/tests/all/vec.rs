//! `GcVec`: random operations checked against a plain `Vec`, through the
//! collections their allocations run (also in stress mode), and elements
//! moved behind the incremental marker.

use std::cell::Cell;

use morph_gengc::{Collection, GcConfig, GcVec, Heap, Member, Tagged, TaggedValue, Trace};

use crate::{Rng, scaled, small_config};

#[derive(Trace)]
struct Boxed(i64);

#[derive(Trace)]
struct Holder {
    values: GcVec<Tagged>,
    objects: GcVec<Member<Boxed>>,
    counts: GcVec<Cell<u32>>,
}

fn holder() -> Holder {
    Holder {
        values: GcVec::new(),
        objects: GcVec::new(),
        counts: GcVec::new(),
    }
}

/// What a value slot should hold: an integer, or a boxed integer.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Model {
    Int(i64),
    Boxed(i64),
}

fn read(value: TaggedValue<'_>, m: &morph_gengc::Mutator<'_>) -> Model {
    match value {
        TaggedValue::Int(i) => Model::Int(i),
        TaggedValue::Ref(r) => Model::Boxed(r.downcast::<Boxed>(m).expect("a Boxed").0),
        other => panic!("unexpected {other:?}"),
    }
}

fn check(
    holder: &Holder,
    m: &morph_gengc::Mutator<'_>,
    values: &[Model],
    objects: &[i64],
    counts: &[u32],
) {
    let got: Vec<Model> = holder.values.iter(m).map(|v| read(v, m)).collect();
    assert_eq!(got, values);
    let got: Vec<i64> = holder
        .objects
        .iter(m)
        .map(|o| o.expect("non-null").0)
        .collect();
    assert_eq!(got, objects);
    let got: Vec<u32> = holder.counts.iter(m).collect();
    assert_eq!(got, counts);
}

#[test]
fn random_operations_match_a_plain_vec_through_collections() {
    for (seed, config) in [
        (1, small_config()),
        (
            2,
            GcConfig {
                stress_every: std::num::NonZeroU32::new(5),
                ..small_config()
            },
        ),
    ] {
        let mut heap = Heap::new(config).unwrap();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed);
        heap.enter(|m| {
            let h = m.alloc(holder());
            let (mut values, mut objects, mut counts) = (Vec::new(), Vec::new(), Vec::new());
            for step in 0..scaled(4_000) as i64 {
                match rng.below(10) {
                    0..=3 => {
                        if rng.below(2) == 0 {
                            GcVec::push(&h, |h| &h.values, m, |_| TaggedValue::Int(step));
                            values.push(Model::Int(step));
                        } else {
                            let b = m.alloc(Boxed(step));
                            GcVec::push(
                                &h,
                                |h| &h.values,
                                m,
                                |m| TaggedValue::Ref(b.get(m).into()),
                            );
                            values.push(Model::Boxed(step));
                        }
                        let b = m.alloc(Boxed(-step));
                        GcVec::push(&h, |h| &h.objects, m, |m| Some(b.get(m)));
                        objects.push(-step);
                        GcVec::push(&h, |h| &h.counts, m, |_| step as u32);
                        counts.push(step as u32);
                    }
                    4 => {
                        let popped = h.get(m).values.pop(m).map(|v| read(v, m));
                        assert_eq!(popped, values.pop());
                        let popped = h.get(m).objects.pop(m).map(|o| o.unwrap().0);
                        assert_eq!(popped, objects.pop());
                    }
                    5 if !values.is_empty() => {
                        let i = rng.below(values.len());
                        let removed = read(h.get(m).values.remove(m, i), m);
                        assert_eq!(removed, values.remove(i));
                    }
                    6 => {
                        let i = rng.below(values.len() + 1);
                        let b = m.alloc(Boxed(step));
                        GcVec::insert(
                            &h,
                            |h| &h.values,
                            m,
                            i,
                            |m| TaggedValue::Ref(b.get(m).into()),
                        );
                        values.insert(i, Model::Boxed(step));
                    }
                    7 if !objects.is_empty() => {
                        let i = rng.below(objects.len());
                        let b = m.alloc(Boxed(step * 7));
                        h.get(m).objects.set(m, i, Some(b.get(m)));
                        objects[i] = step * 7;
                    }
                    8 if rng.below(20) == 0 => {
                        h.get(m).values.clear(m);
                        values.clear();
                    }
                    _ => {
                        for _ in 0..rng.below(40) {
                            m.alloc(Boxed(0)); // garbage
                        }
                    }
                }
                if step % 500 == 0 {
                    m.verify().unwrap();
                    check(&h.get(m), m, &values, &objects, &counts);
                }
            }
            m.collect(Collection::Major);
            m.verify().unwrap();
            check(&h.get(m), m, &values, &objects, &counts);
        });
    }
}

/// A vector in an old holder the marker has not reached gives up its only
/// reference to an object (a pop, a remove's shift) that is then stored in
/// an object the marker has traced: the slots' barriers log it.
#[test]
fn elements_moved_behind_the_marker_mid_cycle_survive() {
    let mut heap = Heap::new(crate::manual_cycles_config()).unwrap();
    heap.enter(|m| {
        #[derive(Trace)]
        struct Link {
            next: Member<Link>,
            vec: GcVec<Tagged>,
        }
        let link = || Link {
            next: Member::null(),
            vec: GcVec::new(),
        };
        let from = m.alloc_tenured(link()).unwrap();
        let to = m.alloc_tenured(link()).unwrap();
        let mut last = m.root(from.get(m));
        for _ in 0..scaled(20_000) {
            let next = m.alloc_tenured(link()).unwrap();
            last.get(m).next.set(m, Some(next.get(m)));
            last = next;
        }
        for i in 0..3 {
            let b = m.alloc_tenured(Boxed(i)).unwrap();
            GcVec::push(&last, |l| &l.vec, m, |m| TaggedValue::Ref(b.get(m).into()));
        }
        drop(last);
        m.collect(Collection::Major); // buffers old too
        m.collect(Collection::StartCycle);
        for _ in 0..scaled(1_000) {
            m.alloc(Boxed(0)); // garbage: allocation runs marking steps
        }
        assert!(m.is_marking(), "the chain outlasts the steps so far");
        // Room first: growing `to`'s vector allocates.
        GcVec::reserve(&to, |l| &l.vec, m, 2);
        let mut last = from.get(m);
        while let Some(next) = last.next.get(m) {
            last = next;
        }
        let popped = last.vec.pop(m).unwrap();
        let removed = last.vec.remove(m, 0);
        // Room was reserved: these stores allocate nothing.
        to.get(m).vec.push_within_capacity(m, popped).unwrap();
        to.get(m).vec.push_within_capacity(m, removed).unwrap();
        m.collect(Collection::FinishCycle);
        m.verify().unwrap();
        let kept: Vec<i64> = to
            .get(m)
            .vec
            .iter(m)
            .map(|v| match v {
                TaggedValue::Ref(r) => r.downcast::<Boxed>(m).unwrap().0,
                _ => -1,
            })
            .collect();
        assert_eq!(kept, [2, 0]);
    });
}

/// Growth copies the old buffer in one go: a buffer big enough to start
/// tenured then holds young references without a store per element, and
/// must still be remembered for the next minor collection.
#[test]
fn a_tenured_buffer_grown_over_young_elements_keeps_them() {
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let h = m.alloc(holder());
        let n = scaled(20_000) as i64;
        for i in 0..n {
            // Each element is allocated young just before it is pushed; the
            // buffers from some size on are allocated tenured.
            let b = m.alloc(Boxed(i));
            GcVec::push(&h, |h| &h.objects, m, |m| Some(b.get(m)));
        }
        // Under Miri the nursery is so small that the buffer is an old
        // object, not a large one; natively it is large.
        assert!(
            cfg!(miri) || m.usage().large_reserved > 0,
            "the test needs a tenured buffer"
        );
        m.collect(Collection::Minor);
        m.verify().unwrap();
        let objects = &h.get(m).objects;
        for i in 0..n {
            assert_eq!(objects.get(m, i as usize).flatten().map(|b| b.0), Some(i));
        }
    });
}

/// `extend` appends what `Vec::extend` would, from iterators that know
/// their length and from ones that do not, into young and old vectors
/// whose buffers grow (in stress mode, a collection every few
/// allocations), next to pushes of objects.
#[test]
fn extend_appends_what_a_vec_would_through_collections() {
    let config = GcConfig {
        stress_every: std::num::NonZeroU32::new(3),
        ..small_config()
    };
    let mut heap = Heap::new(config).unwrap();
    heap.enter(|m| {
        let owners = [m.alloc(holder()), m.alloc_tenured(holder()).unwrap()];
        let mut counts: [Vec<u32>; 2] = Default::default();
        let mut values: [Vec<Model>; 2] = Default::default();
        let mut rng = Rng(0x5eed_e87e);
        for round in 0..scaled(200) {
            let which = rng.below(2);
            let owner = &owners[which];
            let seq: Vec<u32> = (0..rng.below(300) as u32).map(|i| i * 7 + 1).collect();
            if rng.below(2) == 0 {
                GcVec::extend(owner, |h| &h.counts, m, seq.iter().copied());
            } else {
                // No useful size hint: the buffer grows as the values come.
                let unsized_ = seq.iter().copied().filter(|_| true);
                GcVec::extend(owner, |h| &h.counts, m, unsized_);
            }
            counts[which].extend(&seq);
            let ints = (0..3).map(|i| TaggedValue::Int(round as i64 + i));
            GcVec::extend(owner, |h| &h.values, m, ints);
            values[which].extend((0..3).map(|i| Model::Int(round as i64 + i)));
            let boxed = m.alloc(Boxed(round as i64));
            GcVec::push(
                owner,
                |h| &h.values,
                m,
                |m| TaggedValue::Ref(boxed.get(m).into()),
            );
            values[which].push(Model::Boxed(round as i64));
        }
        m.verify().unwrap();
        for (owner, (counts, values)) in owners.iter().zip(counts.iter().zip(&values)) {
            let h = owner.get(m);
            let got: Vec<u32> = h.counts.iter(m).collect();
            assert_eq!(&got, counts);
            let got: Vec<Model> = h.values.iter(m).map(|v| read(v, m)).collect();
            assert_eq!(&got, values);
        }
    });
}

/// An iterator that panics part way through leaves the values it gave
/// appended, and the vector whole.
#[test]
fn extend_keeps_what_a_panicking_iterator_gave() {
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let owner = m.alloc(holder());
        let values = (0..100u32).map(|i| if i == 60 { panic!("the 60th value") } else { i });
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            GcVec::extend(&owner, |h| &h.counts, m, values);
        }));
        assert!(unwound.is_err());
        let got: Vec<u32> = owner.get(m).counts.iter(m).collect();
        assert_eq!(got, (0..60).collect::<Vec<_>>());
        GcVec::push(&owner, |h| &h.counts, m, |_| 7);
        assert_eq!(owner.get(m).counts.get(m, 60), Some(7));
        m.verify().unwrap();
    });
}
