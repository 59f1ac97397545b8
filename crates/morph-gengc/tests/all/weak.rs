//! Weak references inside objects (`WeakMember`) and ephemeron tables
//! (`GcWeakMap`): cleared when their referents die, followed when they
//! move, at minor and major collections and at the end of incremental
//! cycles; a value reachable only through its own key's entry dies with
//! it. Every test checks the heap with the verifier, which reports a
//! weak field left pointing at a freed object.

use std::cell::Cell;

use morph_gengc::{
    Collection, Gc, GcConfig, GcVec, GcWeakMap, Heap, Member, Mutator, Root, Trace, WeakMember,
};

use crate::{Rng, manual_cycles_config, scaled, small_config};

#[derive(Trace)]
struct Target {
    id: u64,
    back: Member<Target>,
}

fn target(id: u64) -> Target {
    Target {
        id,
        back: Member::null(),
    }
}

#[derive(Trace)]
struct Holder {
    weak: WeakMember<Target>,
    strong: Member<Target>,
}

fn holder() -> Holder {
    Holder {
        weak: WeakMember::null(),
        strong: Member::null(),
    }
}

fn weak_id<'gc>(m: &Mutator<'gc>, holder: &Root<'gc, Holder>) -> Option<u64> {
    holder.get(m).weak.get(m).map(|t| t.id)
}

#[test]
fn a_minor_collection_follows_a_moved_referent_and_clears_a_dead_one() {
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let h = m.alloc(holder());
        let t = m.alloc(target(1));
        h.get(m).weak.set(m, Some(t.get(m)));
        m.collect(Collection::Minor);
        assert_eq!(weak_id(m, &h), Some(1), "moved with its referent");
        assert!(Gc::ptr_eq(t.get(m), h.get(m).weak.get(m).unwrap()));
        drop(t);
        m.collect(Collection::Minor);
        assert_eq!(weak_id(m, &h), None, "its young referent died");
        m.verify().unwrap();
    });
}

#[test]
fn an_old_holder_of_a_young_referent_is_fixed_by_minor_collections() {
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let h = m.alloc_tenured(holder()).unwrap();
        let kept = m.alloc(target(1));
        let lost = m.alloc(target(2));
        let h2 = m.alloc_tenured(holder()).unwrap();
        h.get(m).weak.set(m, Some(kept.get(m)));
        h2.get(m).weak.set(m, Some(lost.get(m)));
        m.verify().unwrap();
        drop(lost);
        m.collect(Collection::Minor);
        m.verify().unwrap();
        assert_eq!(weak_id(m, &h), Some(1));
        assert_eq!(weak_id(m, &h2), None);
        // Through the survivor space and into the old generation.
        for _ in 0..4 {
            m.collect(Collection::Minor);
            m.verify().unwrap();
        }
        assert_eq!(weak_id(m, &h), Some(1));
        assert!(!m.is_young(h.get(m).weak.get(m).unwrap()));
        drop(kept);
        m.collect(Collection::Major);
        assert_eq!(weak_id(m, &h), None, "an old referent dies at a major");
        m.verify().unwrap();
    });
}

#[test]
fn a_weak_field_does_not_keep_its_referent_and_a_strong_one_does() {
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let h = m.alloc(holder());
        let t = m.alloc(target(7));
        h.get(m).weak.set(m, Some(t.get(m)));
        h.get(m).strong.set(m, Some(t.get(m)));
        drop(t);
        m.collect(Collection::Major);
        assert_eq!(weak_id(m, &h), Some(7), "strongly held elsewhere");
        h.get(m).strong.set(m, None);
        m.collect(Collection::Major);
        assert_eq!(weak_id(m, &h), None);
        m.verify().unwrap();
    });
}

/// A referent that dies while an incremental cycle runs, and one that
/// died before it: both weak fields clear at the end of the cycle (or of
/// the next one); a referent read through the weak field mid-cycle and
/// then held stays.
#[test]
fn incremental_cycles_clear_dead_referents_and_keep_read_ones() {
    let mut heap = Heap::new(manual_cycles_config()).unwrap();
    heap.enter(|m| {
        let holders: Vec<_> = (0..3).map(|_| m.alloc_tenured(holder()).unwrap()).collect();
        let targets: Vec<_> = (0..3)
            .map(|i| m.alloc_tenured(target(i)).unwrap())
            .collect();
        for (h, t) in holders.iter().zip(&targets) {
            h.get(m).weak.set(m, Some(t.get(m)));
        }
        let [t0, t1, t2] = <[_; 3]>::try_from(targets).ok().unwrap();
        drop(t0);
        m.collect(Collection::StartCycle);
        drop(t1);
        drop(t2);
        // Read mid-cycle and held: live from now on.
        let held = m.root(holders[2].get(m).weak.get(m).expect("not cleared yet"));
        m.collect(Collection::FinishCycle);
        m.verify().unwrap();
        let ids: Vec<_> = holders.iter().map(|h| weak_id(m, h)).collect();
        assert_eq!(ids[0], None, "dead before the cycle started");
        assert_eq!(ids[2], Some(2), "held since it was read");
        m.collect(Collection::StartCycle);
        m.collect(Collection::FinishCycle);
        assert_eq!(weak_id(m, &holders[1]), None, "dead at the next cycle");
        assert_eq!(held.get(m).id, 2);
        m.verify().unwrap();
    });
}

/// Weak elements of a managed vector: its buffer is the weak holder, and
/// a buffer copied into an old one while its referents are young is seen
/// by the next minor collection.
#[test]
fn a_vector_of_weak_members_clears_the_dead_and_keeps_the_rest() {
    #[derive(Trace)]
    struct Cache {
        items: GcVec<WeakMember<Target>>,
    }
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let cache = m
            .alloc_tenured(Cache {
                items: GcVec::new(),
            })
            .unwrap();
        let mut kept = Vec::new();
        let n = scaled(2_000) as u64;
        for i in 0..n {
            let t = m.alloc(target(i));
            GcVec::push(&cache, |c| &c.items, m, |m| Some(t.get(m)));
            if i % 3 == 0 {
                kept.push(t);
            }
        }
        m.verify().unwrap();
        m.collect(Collection::Minor);
        m.verify().unwrap();
        m.collect(Collection::Major);
        m.verify().unwrap();
        let items = &cache.get(m).items;
        for i in 0..n {
            let got = items.get(m, i as usize).flatten().map(|t| t.id);
            let expect = (i % 3 == 0).then_some(i);
            assert_eq!(got, expect, "element {i}");
        }
        drop(kept);
    });
}

#[derive(Trace)]
struct Registry {
    notes: GcWeakMap<Target, Member<Target>>,
}

/// A value that refers back to its key does not keep the entry alive, and
/// an entry whose value holds another entry's key keeps that one alive
/// (the ephemeron fixed point), at a major collection and at the end of
/// an incremental cycle.
#[test]
fn ephemeron_entries_live_exactly_as_long_as_their_keys() {
    for incremental in [false, true] {
        let mut heap = Heap::new(manual_cycles_config()).unwrap();
        heap.enter(|m| {
            let registry = m
                .alloc_tenured(Registry {
                    notes: GcWeakMap::new(),
                })
                .unwrap();
            // A chain: key0 (rooted) → value0 holds key1 → value1 holds
            // key2 …; and a loop: keyL's value refers back to keyL.
            let n = scaled(300) as u64;
            let head = m.alloc_tenured(target(0)).unwrap();
            let mut key = m.root(head.get(m));
            for i in 1..=n {
                let next = m.alloc_tenured(target(i)).unwrap();
                let k = m.root(key.get(m));
                GcWeakMap::insert(
                    &registry,
                    |r| &r.notes,
                    m,
                    |m| (k.get(m), Some(next.get(m))),
                );
                key = next;
            }
            drop(key);
            let looped = m.alloc_tenured(target(u64::MAX)).unwrap();
            let value = m.alloc_tenured(target(u64::MAX - 1)).unwrap();
            value.get(m).back.set(m, Some(looped.get(m)));
            GcWeakMap::insert(
                &registry,
                |r| &r.notes,
                m,
                |m| (looped.get(m), Some(value.get(m))),
            );
            let weak_loop = m.alloc_tenured(holder()).unwrap();
            weak_loop.get(m).weak.set(m, Some(looped.get(m)));
            drop((looped, value));
            // A young table keeps its values through a cycle (young objects
            // are all live to one): promote it first.
            for _ in 0..4 {
                m.collect(Collection::Minor);
            }
            if incremental {
                m.collect(Collection::StartCycle);
                m.collect(Collection::FinishCycle);
            } else {
                m.collect(Collection::Major);
            }
            m.verify().unwrap();
            assert_eq!(weak_id(m, &weak_loop), None, "the loop died with its key");
            // The whole chain is alive, reached entry by entry.
            let mut at = head.get(m);
            for i in 1..=n {
                let next = registry.get(m).notes.get(m, at).flatten();
                let next = next.unwrap_or_else(|| panic!("entry {i} kept"));
                assert_eq!(next.id, i);
                at = next;
            }
            // Cut the chain at its head: every entry goes.
            drop(head);
            m.collect(Collection::Major);
            m.verify().unwrap();
            assert!(registry.get(m).notes.is_cleared(m));
        });
    }
}

/// Young keys: a minor collection clears the entries of the dead ones and
/// follows the moved ones; the table grows (and drops cleared entries)
/// across collections.
#[test]
fn a_weak_map_with_young_keys_survives_minor_collections() {
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let registry = m.alloc(Registry {
            notes: GcWeakMap::new(),
        });
        let mut kept = Vec::new();
        let n = scaled(3_000) as u64;
        for i in 0..n {
            let k = m.alloc(target(i));
            let v = m.alloc(target(i + n));
            GcWeakMap::insert(&registry, |r| &r.notes, m, |m| (k.get(m), Some(v.get(m))));
            if i % 4 == 0 {
                kept.push(k);
            }
        }
        m.collect(Collection::Minor);
        m.verify().unwrap();
        for (j, k) in kept.iter().enumerate() {
            let i = j as u64 * 4;
            let v = registry.get(m).notes.get(m, k.get(m)).flatten();
            assert_eq!(v.map(|v| v.id), Some(i + n));
        }
        m.collect(Collection::Major);
        m.verify().unwrap();
        drop(kept);
        m.collect(Collection::Major);
        assert!(registry.get(m).notes.is_cleared(m));
        m.verify().unwrap();
    });
}

/// The model: random holders and targets, weak fields set, roots dropped
/// and collections of every kind (incremental cycles included, under
/// stress). A weak field reads its own referent or null, never another
/// object; it is non-null while its referent is rooted; after a full
/// collection it is null once the referent is not.
#[test]
fn weak_fields_agree_with_a_model_under_random_collections() {
    for seed in 1..=scaled(6) as u64 {
        let config = GcConfig {
            stress_every: std::num::NonZeroU32::new(5),
            ..small_config()
        };
        let mut heap = Heap::new(config).unwrap();
        heap.enter(|m| run_model(m, seed));
    }
}

fn run_model(m: &mut Mutator<'_>, seed: u64) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let holders: Vec<_> = (0..16)
        .map(|i| {
            if i % 2 == 0 {
                m.alloc(holder())
            } else {
                m.alloc_tenured(holder()).unwrap()
            }
        })
        .collect();
    let mut targets: Vec<Option<Root<'_, Target>>> = Vec::new();
    // Which target each holder's weak field was last set to.
    let expected: Vec<Cell<Option<u64>>> = (0..16).map(|_| Cell::new(None)).collect();
    for step in 0..scaled(4_000) {
        match rng.below(10) {
            0..=3 => {
                let id = targets.len() as u64;
                targets.push(Some(m.alloc(target(id))));
            }
            4..=6 if !targets.is_empty() => {
                let h = rng.below(holders.len());
                let t = rng.below(targets.len());
                if let Some(root) = &targets[t] {
                    holders[h].get(m).weak.set(m, Some(root.get(m)));
                    expected[h].set(Some(t as u64));
                }
            }
            7 | 8 if !targets.is_empty() => {
                let t = rng.below(targets.len());
                targets[t] = None;
            }
            _ => m.collect(if step % 7 == 0 {
                Collection::Major
            } else {
                Collection::Minor
            }),
        }
        if step % 97 == 0 {
            check(m, &holders, &targets, &expected, false);
        }
    }
    m.collect(Collection::Major);
    check(m, &holders, &targets, &expected, true);
}

fn check<'gc>(
    m: &mut Mutator<'gc>,
    holders: &[Root<'gc, Holder>],
    targets: &[Option<Root<'gc, Target>>],
    expected: &[Cell<Option<u64>>],
    after_full: bool,
) {
    m.verify().unwrap();
    for (h, want) in holders.iter().zip(expected) {
        let got = weak_id(m, h);
        let Some(want) = want.get() else {
            assert_eq!(got, None);
            continue;
        };
        let rooted = targets[want as usize].is_some();
        match got {
            Some(id) => {
                assert_eq!(id, want, "a weak field reads its own referent");
                assert!(!after_full || rooted, "cleared by a full collection");
            }
            None => assert!(!rooted, "cleared while rooted"),
        }
    }
}

/// A weak field outside the heap cannot be set: no collection would ever
/// clear it.
#[test]
#[should_panic(expected = "not inside a managed object")]
fn setting_a_weak_field_of_an_unallocated_value_panics() {
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let t = m.alloc_tenured(target(1)).unwrap();
        let loose = holder();
        loose.weak.set(m, Some(t.get(m)));
    });
}

#[test]
#[should_panic(expected = "another heap")]
fn a_weak_field_given_another_heaps_object_panics() {
    let mut one = Heap::new(small_config()).unwrap();
    let mut two = Heap::new(small_config()).unwrap();
    one.enter(|m1| {
        let h = m1.alloc(holder());
        two.enter(|m2| {
            let t = m2.alloc(target(2));
            h.get(m1).weak.set(m1, Some(t.get(m2)));
        });
    });
}

/// Weak fields in the other places a weak field can be: inside a
/// `RefLock`'s value (replaced in place), in a pinned object, and as the
/// elements of an array.
#[test]
fn weak_fields_in_locks_pinned_objects_and_arrays_are_cleared() {
    #[derive(Trace)]
    struct Locked {
        value: morph_gengc::RefLock<Option<WeakMember<Target>>>,
    }
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let locked = m.alloc(Locked {
            value: morph_gengc::RefLock::new(Some(WeakMember::null())),
        });
        let pinned = m.alloc_pinned(holder()).unwrap();
        let array = m.alloc_array(4, |_| WeakMember::<Target>::null());
        let kept = m.alloc(target(1));
        let lost = m.alloc(target(2));
        {
            let value = locked.get(m).get_ref().value.borrow();
            value.as_ref().unwrap().set(m, Some(lost.get(m)));
        }
        pinned.get(m).weak.set(m, Some(lost.get(m)));
        for (i, slot) in array.get(m).as_slice().iter().enumerate() {
            let t = if i % 2 == 0 { &kept } else { &lost };
            slot.set(m, Some(t.get(m)));
        }
        m.verify().unwrap();
        drop(lost);
        m.collect(Collection::Minor);
        m.verify().unwrap();
        let value = locked.get(m).get_ref().value.borrow();
        assert!(
            value.as_ref().unwrap().get(m).is_none(),
            "cleared in the lock"
        );
        drop(value);
        assert_eq!(weak_id(m, &pinned), None, "cleared in the pinned object");
        let ids: Vec<_> = array
            .get(m)
            .iter()
            .map(|w| w.get(m).map(|t| t.id))
            .collect();
        assert_eq!(ids, [Some(1), None, Some(1), None]);
        // Replacing the lock's value drops the old weak field in place.
        locked.get(m).value.set(m, None);
        m.collect(Collection::Major);
        m.verify().unwrap();
        assert_eq!(kept.get(m).id, 1);
    });
}
