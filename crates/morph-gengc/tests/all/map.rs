//! `GcMap`: random operations checked against a plain `HashMap` through the
//! collections their allocations run (also in stress mode), keys of every
//! kind (plain data, object identity, dynamic values with strings by
//! content) across moves, and the barriers of a tenured or marked table.

use std::cell::Cell;
use std::collections::HashMap;

use morph_gengc::{Collection, GcConfig, GcMap, Heap, Member, Tagged, TaggedValue, Trace};

use crate::{Rng, scaled, small_config};

#[derive(Trace)]
struct Boxed(i64);

#[derive(Trace)]
struct Holder {
    plain: GcMap<Cell<u32>, Cell<i64>>,
    boxed: GcMap<Cell<u32>, Member<Boxed>>,
    dynamic: GcMap<Tagged, Tagged>,
}

fn holder() -> Holder {
    Holder {
        plain: GcMap::new(),
        boxed: GcMap::new(),
        dynamic: GcMap::new(),
    }
}

fn check(
    h: &Holder,
    m: &morph_gengc::Mutator<'_>,
    plain: &HashMap<u32, i64>,
    boxed: &HashMap<u32, i64>,
    names: &HashMap<String, i64>,
) {
    assert_eq!(h.plain.len(), plain.len());
    let got: HashMap<u32, i64> = h.plain.iter(m).collect();
    assert_eq!(&got, plain);
    for (&k, &v) in plain {
        assert_eq!(h.plain.get(m, k), Some(v));
    }
    assert_eq!(h.boxed.len(), boxed.len());
    let got: HashMap<u32, i64> = h
        .boxed
        .iter(m)
        .map(|(k, v)| (k, v.expect("non-null").0))
        .collect();
    assert_eq!(&got, boxed);
    assert_eq!(h.dynamic.len(), names.len());
    for (name, &v) in names {
        assert_eq!(
            h.dynamic.get_str(m, name),
            Some(TaggedValue::Int(v)),
            "{name}"
        );
    }
    let got: HashMap<String, i64> = h
        .dynamic
        .iter(m)
        .map(|(k, v)| {
            let TaggedValue::Ref(k) = k else {
                panic!("a string key")
            };
            let TaggedValue::Int(v) = v else {
                panic!("an integer")
            };
            (k.as_str(m).expect("a Str").to_owned(), v)
        })
        .collect();
    assert_eq!(&got, names);
}

#[test]
fn random_operations_match_a_plain_hash_map_through_collections() {
    for (seed, config) in [
        (1, small_config()),
        (
            2,
            GcConfig {
                stress_every: std::num::NonZeroU32::new(7),
                ..small_config()
            },
        ),
    ] {
        let mut heap = Heap::new(config).unwrap();
        let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ seed);
        heap.enter(|m| {
            let h = m.alloc(holder());
            let (mut plain, mut boxed, mut names) =
                (HashMap::new(), HashMap::new(), HashMap::new());
            // Few distinct keys, so inserts replace and removes hit.
            let keys = scaled(3_000) as u32;
            for step in 0..scaled(12_000) as i64 {
                let key = rng.below(keys as usize) as u32;
                match rng.below(10) {
                    0..=3 => {
                        let replaced = GcMap::insert(&h, |h| &h.plain, m, |_| (key, step));
                        assert_eq!(replaced, plain.insert(key, step).is_some());
                        let b = m.alloc(Boxed(step));
                        GcMap::insert(&h, |h| &h.boxed, m, |m| (key, Some(b.get(m))));
                        boxed.insert(key, step);
                    }
                    4 => {
                        let name = format!("k{key}");
                        let replaced = if rng.below(2) == 0 {
                            // A fresh key object each time: equal by content.
                            let s = m.alloc_str(&name);
                            GcMap::insert(
                                &h,
                                |h| &h.dynamic,
                                m,
                                |m| (TaggedValue::Ref(s.get(m).into()), TaggedValue::Int(step)),
                            )
                        } else {
                            // The key allocated only when it is new.
                            GcMap::insert_str(
                                &h,
                                |h| &h.dynamic,
                                m,
                                &name,
                                |_| TaggedValue::Int(step),
                            )
                        };
                        assert_eq!(replaced, names.insert(name, step).is_some());
                    }
                    5 | 6 => {
                        let removed = h.get(m).plain.remove(m, key);
                        assert_eq!(removed, plain.remove(&key));
                        let removed = h.get(m).boxed.remove(m, key).map(|b| b.unwrap().0);
                        assert_eq!(removed, boxed.remove(&key));
                        let name = format!("k{key}");
                        let s = m.alloc_str(&name);
                        let removed = h
                            .get(m)
                            .dynamic
                            .remove(m, TaggedValue::Ref(s.get(m).into()));
                        assert_eq!(removed, names.remove(&name).map(TaggedValue::Int));
                    }
                    7 => {
                        let replaced = h.get(m).plain.set(m, key, -step);
                        assert_eq!(replaced, plain.get_mut(&key).map(|v| *v = -step).is_some());
                    }
                    8 if rng.below(50) == 0 => {
                        h.get(m).plain.clear(m);
                        plain.clear();
                    }
                    _ => {
                        for _ in 0..rng.below(40) {
                            m.alloc(Boxed(0)); // garbage
                        }
                    }
                }
                if step % 1_000 == 0 {
                    m.verify().unwrap();
                    check(&h.get(m), m, &plain, &boxed, &names);
                }
            }
            m.collect(Collection::Major);
            m.verify().unwrap();
            check(&h.get(m), m, &plain, &boxed, &names);
        });
    }
}

/// Objects as keys: found again after minor collections moved them, after
/// promotion, and after a major collection; a different object with the
/// same contents is a different key.
#[derive(Trace)]
struct Index {
    by_object: GcMap<Member<Boxed>, Cell<i64>>,
    keys: morph_gengc::GcVec<Member<Boxed>>,
}

fn check_index<'gc>(index: &morph_gengc::Root<'gc, Index>, m: &morph_gengc::Mutator<'gc>) {
    let index = index.get(m);
    for (i, key) in index.keys.iter(m).enumerate() {
        assert_eq!(index.by_object.get(m, key), Some(i as i64 * 10));
    }
}

#[test]
fn object_keys_are_found_by_identity_after_moves() {
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let index = m.alloc(Index {
            by_object: GcMap::new(),
            keys: morph_gengc::GcVec::new(),
        });
        let n = scaled(2_000) as i64;
        for i in 0..n {
            let key = m.alloc(Boxed(i));
            morph_gengc::GcVec::push(&index, |x| &x.keys, m, |m| Some(key.get(m)));
            GcMap::insert(&index, |x| &x.by_object, m, |m| (Some(key.get(m)), i * 10));
        }
        check_index(&index, m);
        m.collect(Collection::Minor);
        check_index(&index, m);
        for _ in 0..4 {
            m.collect(Collection::Minor); // promoted by now
        }
        check_index(&index, m);
        m.collect(Collection::Major);
        check_index(&index, m);
        let twin = m.alloc(Boxed(0));
        assert_eq!(index.get(m).by_object.get(m, Some(twin.get(m))), None);
        assert_eq!(index.get(m).by_object.get(m, None), None);
        m.verify().unwrap();
    });
}

/// Dynamic keys: immediates by value, strings by content, other objects by
/// identity, each kind distinct from the others.
#[test]
fn tagged_keys_compare_by_kind() {
    #[derive(Trace)]
    struct Table(GcMap<Tagged, Tagged>);
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let t = m.alloc(Table(GcMap::new()));
        let obj = m.alloc(Boxed(5));
        let immediates = [
            TaggedValue::Nil,
            TaggedValue::Bool(false),
            TaggedValue::Bool(true),
            TaggedValue::Int(0),
            TaggedValue::Int(1),
            TaggedValue::Int(-1),
            TaggedValue::Float(0.0),
            TaggedValue::Float(-0.0),
            TaggedValue::Float(1.0),
            TaggedValue::Float(f64::NAN),
        ];
        for (i, key) in immediates.into_iter().enumerate() {
            GcMap::insert(&t, |t| &t.0, m, |_| (key, TaggedValue::Int(i as i64)));
        }
        let s = m.alloc_str("1");
        GcMap::insert(
            &t,
            |t| &t.0,
            m,
            |m| (TaggedValue::Ref(s.get(m).into()), TaggedValue::Int(100)),
        );
        GcMap::insert(
            &t,
            |t| &t.0,
            m,
            |m| (TaggedValue::Ref(obj.get(m).into()), TaggedValue::Int(200)),
        );
        m.collect(Collection::Minor);
        let table = &t.get(m).0;
        assert_eq!(table.len(), immediates.len() + 2);
        for (i, key) in immediates.into_iter().enumerate() {
            assert_eq!(
                table.get(m, key),
                Some(TaggedValue::Int(i as i64)),
                "{key:?}"
            );
        }
        assert_eq!(table.get_str(m, "1"), Some(TaggedValue::Int(100)));
        assert_eq!(table.get_str(m, "2"), None);
        assert_eq!(
            table.get(m, TaggedValue::Ref(obj.get(m).into())),
            Some(TaggedValue::Int(200))
        );
        let other = m.alloc(Boxed(5));
        let table = &t.get(m).0;
        assert_eq!(table.get(m, TaggedValue::Ref(other.get(m).into())), None);
        // A second string with the same contents is the same key.
        let twin = m.alloc_str("1");
        let table = &t.get(m).0;
        assert_eq!(
            table.get(m, TaggedValue::Ref(twin.get(m).into())),
            Some(TaggedValue::Int(100))
        );
    });
}

/// Removing leaves tombstones; inserting after many removals reuses them or
/// rehashes at the same size rather than growing without bound.
#[test]
fn churn_through_removals_keeps_the_table_small() {
    #[derive(Trace)]
    struct Table(GcMap<Cell<u64>, Cell<u64>>);
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let t = m.alloc(Table(GcMap::new()));
        for i in 0..scaled(50_000) as u64 {
            GcMap::insert(&t, |t| &t.0, m, |_| (i, i));
            if i >= 10 {
                assert_eq!(t.get(m).0.remove(m, i - 10), Some(i - 10));
            }
        }
        let table = &t.get(m).0;
        assert_eq!(table.len(), 10);
        assert!(table.capacity(m) <= 24, "capacity {}", table.capacity(m));
    });
}

/// Replacing the value of a key never grows the table, even when the next
/// new key would.
#[test]
fn replacing_at_the_load_limit_does_not_allocate() {
    #[derive(Trace)]
    struct Table(GcMap<Cell<u64>, Cell<u64>>);
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let t = m.alloc(Table(GcMap::new()));
        let mut i = 0;
        // Fill to the limit: the next new key would need a larger table.
        while i == 0 || t.get(m).0.len() < t.get(m).0.capacity(m) {
            GcMap::insert(&t, |t| &t.0, m, |_| (i, i));
            i += 1;
        }
        let capacity = t.get(m).0.capacity(m);
        let collections = m.collections();
        for _ in 0..3 {
            assert!(GcMap::insert(&t, |t| &t.0, m, |_| (0, 7)), "replaced");
        }
        assert_eq!(t.get(m).0.capacity(m), capacity);
        assert_eq!(m.collections(), collections);
        assert!(!GcMap::insert(&t, |t| &t.0, m, |_| (i, i)), "a new key");
        assert!(t.get(m).0.capacity(m) > capacity);
        assert_eq!(t.get(m).0.get(m, 0), Some(7));
    });
}

/// A table that is tenured (here: large) takes young keys and values and
/// is grown with young entries in it: the next minor collection must find
/// them through the barrier, not lose them.
#[test]
fn a_tenured_table_keeps_young_entries() {
    #[derive(Trace)]
    struct Table(GcMap<Tagged, Member<Boxed>>);
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let t = m.alloc(Table(GcMap::new()));
        let n = scaled(6_000) as i64;
        for i in 0..n {
            let key = m.alloc(Boxed(-i));
            let value = m.alloc(Boxed(i));
            GcMap::insert(
                &t,
                |t| &t.0,
                m,
                |m| (TaggedValue::Ref(key.get(m).into()), Some(value.get(m))),
            );
        }
        assert!(
            cfg!(miri) || m.usage().large_reserved > 0,
            "the test needs a tenured table"
        );
        m.collect(Collection::Minor);
        m.verify().unwrap();
        let table = &t.get(m).0;
        let mut seen: Vec<(i64, i64)> = table
            .iter(m)
            .map(|(k, v)| {
                let TaggedValue::Ref(k) = k else { panic!() };
                (k.downcast::<Boxed>(m).unwrap().0, v.unwrap().0)
            })
            .collect();
        seen.sort_unstable_by_key(|&(_, v)| v);
        assert_eq!(seen, (0..n).map(|i| (-i, i)).collect::<Vec<_>>());
    });
}

/// A table in an old holder the marker has not reached gives up its only
/// reference to an object (a removal) that is then stored where the marker
/// has been: the slot's barrier logs it.
#[test]
fn values_removed_behind_the_marker_mid_cycle_survive() {
    #[derive(Trace)]
    struct Link {
        next: Member<Link>,
        map: GcMap<Cell<u32>, Member<Boxed>>,
    }
    let link = || Link {
        next: Member::null(),
        map: GcMap::new(),
    };
    let mut heap = Heap::new(crate::manual_cycles_config()).unwrap();
    heap.enter(|m| {
        let from = m.alloc_tenured(link()).unwrap();
        let to = m.alloc_tenured(link()).unwrap();
        let mut last = m.root(from.get(m));
        for _ in 0..scaled(20_000) {
            let next = m.alloc_tenured(link()).unwrap();
            last.get(m).next.set(m, Some(next.get(m)));
            last = next;
        }
        let b = m.alloc_tenured(Boxed(42)).unwrap();
        GcMap::insert(&last, |l| &l.map, m, |m| (7, Some(b.get(m))));
        drop((last, b));
        m.collect(Collection::Major); // tables old too
        GcMap::reserve(&to, |l| &l.map, m, 1);
        m.collect(Collection::StartCycle);
        for _ in 0..scaled(1_000) {
            m.alloc(Boxed(0)); // garbage: allocation runs marking steps
        }
        assert!(m.is_marking(), "the chain outlasts the steps so far");
        let mut last = from.get(m);
        while let Some(next) = last.next.get(m) {
            last = next;
        }
        let removed = last.map.remove(m, 7).unwrap();
        to.get(m).map.insert_within_capacity(m, 1, removed).unwrap();
        m.collect(Collection::FinishCycle);
        m.verify().unwrap();
        assert_eq!(to.get(m).map.get(m, 1).flatten().map(|b| b.0), Some(42));
    });
}

/// Keys whose safe `Hash` and `Eq` lie, or panic: the map may answer
/// wrongly, but every operation stays inside the table, the map stays
/// usable, and the heap stays consistent.
#[test]
fn keys_with_lying_or_panicking_hash_and_eq_stay_memory_safe() {
    use std::hash::{Hash, Hasher};

    thread_local! {
        static CALLS: Cell<u64> = const { Cell::new(0) };
    }

    #[derive(Clone, Copy, Default)]
    struct Liar(u32);
    // SAFETY: plain data, no references.
    unsafe impl morph_gengc::Leaf for Liar {}
    impl PartialEq for Liar {
        fn eq(&self, _: &Self) -> bool {
            // Equal to everything on odd calls, to nothing on even ones.
            CALLS.with(|c| {
                c.set(c.get() + 1);
                c.get() % 2 == 1
            })
        }
    }
    impl Eq for Liar {}
    impl Hash for Liar {
        fn hash<H: Hasher>(&self, state: &mut H) {
            let n = CALLS.with(|c| {
                c.set(
                    c.get()
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1),
                );
                c.get()
            });
            if self.0 == u32::MAX {
                panic!("a key that cannot be hashed");
            }
            n.hash(state); // a different hash every time
        }
    }

    #[derive(Trace)]
    struct Table(GcMap<Cell<Liar>, Member<Boxed>>);
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let t = m.alloc(Table(GcMap::new()));
        for i in 0..scaled(3_000) as u32 {
            let b = m.alloc(Boxed(i64::from(i)));
            GcMap::insert(&t, |t| &t.0, m, |m| (Liar(i), Some(b.get(m))));
            let table = &t.get(m).0;
            let _ = table.get(m, Liar(i / 2));
            let _ = table.remove(m, Liar(i / 3));
            let _ = table.contains_key(m, Liar(i));
            assert!(table.len() <= table.capacity(m));
            if i % 500 == 0 {
                // A panicking hash changes nothing and leaves the map usable.
                let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    t.get(m).0.get(m, Liar(u32::MAX));
                }));
                assert!(panicked.is_err());
            }
        }
        let table = &t.get(m).0;
        let values: Vec<i64> = table.values(m).map(|b| b.expect("non-null").0).collect();
        assert_eq!(values.len(), table.len());
        m.collect(Collection::Major);
        m.verify().unwrap();
    });
}
