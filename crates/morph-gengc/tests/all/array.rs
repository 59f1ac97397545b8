//! `Array<T>`: variable-length objects of members, dynamic values and plain
//! data, through minor and major collections, stress mode, promotion, the
//! large-object space, finalization and incremental cycles.

use std::cell::Cell;
use std::rc::Rc;

use morph_gengc::{Array, Collection, GcConfig, Heap, Member, Tagged, TaggedValue, Trace};

use crate::{scaled, small_config};

#[derive(Trace)]
struct Node {
    id: u64,
    children: Member<Array<Member<Node>>>,
}

fn node(id: u64) -> Node {
    Node {
        id,
        children: Member::null(),
    }
}

/// Counts drops of its elements.
struct Counted(Rc<Cell<usize>>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}
// SAFETY: holds no Member.
unsafe impl morph_gengc::Leaf for Counted {}
// SAFETY: holds no Member.
unsafe impl Trace for Counted {
    const HAS_REFERENCES: bool = false;
    fn trace<V: morph_header::SlotVisitor + ?Sized>(&self, _: &mut morph_gengc::Tracer<'_, V>) {}
}

/// A tree whose nodes keep their children in arrays of varying length,
/// built while garbage forces collections, checked after each kind.
#[test]
fn trees_of_arrays_survive_every_kind_of_collection() {
    for config in [
        small_config(),
        GcConfig {
            stress_every: std::num::NonZeroU32::new(7),
            ..small_config()
        },
    ] {
        let mut heap = Heap::new(config).unwrap();
        heap.enter(|m| {
            let root = m.alloc(node(0));
            let mut next_id = 1;
            let mut frontier = vec![m.root(root.get(m))];
            for depth in 0..3 {
                let mut next = Vec::new();
                for parent in &frontier {
                    let width = 1 + (next_id % 5) as usize + depth;
                    let children = m.alloc_array(width, |_| Member::<Node>::null());
                    parent.get(m).children.set(m, Some(children.get(m)));
                    for i in 0..width {
                        let child = m.alloc(node(next_id));
                        next_id += 1;
                        for _ in 0..scaled(20) {
                            m.alloc(node(u64::MAX)); // garbage
                        }
                        let slots = parent.get(m).children.get(m).unwrap();
                        slots.as_slice()[i].set(m, Some(child.get(m)));
                        next.push(child);
                    }
                }
                frontier = next;
            }
            for kind in [Collection::Minor, Collection::Major, Collection::Minor] {
                m.collect(kind);
                m.verify().unwrap();
                let mut seen = Vec::new();
                let mut stack = vec![root.get(m)];
                while let Some(n) = stack.pop() {
                    seen.push(n.id);
                    if let Some(children) = n.children.get(m) {
                        for child in children.iter() {
                            stack.push(child.get(m).expect("every slot was set"));
                        }
                    }
                }
                seen.sort_unstable();
                assert_eq!(seen, (0..next_id).collect::<Vec<_>>());
            }
        });
    }
}

/// An array of dynamic values in an old object, rewritten with young
/// references between minor collections (each store's barrier records it).
#[test]
fn an_old_array_of_tagged_values_keeps_its_young_referents() {
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let holder = m.alloc_tenured(node(0)).unwrap();
        let values = m.alloc_array(64, |i| Tagged::int(i as i64));
        m.collect(Collection::Major); // promote the array too
        let _ = holder;
        for round in 0..scaled(100) as u64 {
            let young = m.alloc(node(round));
            let slot = (round % 64) as usize;
            values.get(m).as_slice()[slot].set(m, TaggedValue::Ref(young.get(m).into()));
            drop(young);
            for _ in 0..scaled(50) {
                m.alloc(node(u64::MAX));
            }
            m.collect(Collection::Minor);
            let TaggedValue::Ref(r) = values.get(m).as_slice()[slot].get(m) else {
                panic!("a reference")
            };
            assert_eq!(r.downcast::<Node>(m).unwrap().id, round);
        }
        m.verify().unwrap();
    });
}

/// Arrays past the large-object threshold live in their own mappings and
/// keep their elements; arrays of droppable elements drop each once.
#[test]
fn large_arrays_and_arrays_of_droppable_elements() {
    let drops = Rc::new(Cell::new(0));
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let big = m.alloc_array(scaled(200_000), |i| Cell::new(i as u32));
        assert!(!m.is_young(big.get(m)), "a large object");
        let kept = m.alloc_array(10, |_| Counted(drops.clone()));
        let dead = m.alloc_array(25, |_| Counted(drops.clone()));
        drop(dead);
        m.collect(Collection::Minor);
        m.collect(Collection::Major);
        assert_eq!(drops.get(), 25);
        let big = big.get(m);
        assert_eq!(big.len(), scaled(200_000));
        assert!(big.iter().enumerate().all(|(i, c)| c.get() == i as u32));
        assert_eq!(kept.get(m).len(), 10);
        m.verify().unwrap();
    });
    drop(heap);
    assert_eq!(
        drops.get(),
        35,
        "each element dropped once, the rest at heap drop"
    );
}

/// An empty array, a downcast to an array type, and an element
/// constructor that panics (the array stays empty; nothing is dropped
/// twice).
#[test]
fn empty_arrays_downcasts_and_a_panicking_constructor() {
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let empty = m.alloc_array(0, |_| Member::<Node>::null());
        assert!(empty.get(m).is_empty());
        let any = morph_gengc::GcAny::from(empty.get(m));
        assert!(any.is::<Array<Member<Node>>>(m));
        assert!(any.downcast::<Array<Tagged>>(m).is_none());
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            m.alloc_array(8, |i| {
                assert!(i < 4, "constructor fails at 4");
                Tagged::int(i as i64)
            })
        }));
        assert!(panicked.is_err());
        m.collect(Collection::Major);
        m.verify().unwrap();
    });
}

/// An array moved, while a cycle runs, from a member the marker has not
/// reached to one it has traced: `Member::set` logs it like any object.
#[test]
fn an_array_moved_behind_the_marker_mid_cycle_survives() {
    let mut heap = Heap::new(crate::manual_cycles_config()).unwrap();
    heap.enter(|m| {
        let from = m.alloc_tenured(node(1)).unwrap();
        let to = m.alloc_tenured(node(2)).unwrap();
        let mut last = m.root(from.get(m));
        for i in 0..scaled(20_000) as u64 {
            let next = m.alloc_tenured(node(100 + i)).unwrap();
            let link = m.alloc_array(1, |_| Member::<Node>::null());
            last.get(m).children.set(m, Some(link.get(m)));
            last.get(m).children.get(m).unwrap().as_slice()[0].set(m, Some(next.get(m)));
            last = next;
        }
        let moved = m.alloc_array(3, |i| Tagged::int(i as i64 + 10));
        let holder = m.alloc_array(1, |_| Member::<Array<Tagged>>::null());
        holder.get(m).as_slice()[0].set(m, Some(moved.get(m)));
        m.collect(Collection::Major); // everything old
        drop((moved,));
        m.collect(Collection::StartCycle);
        for _ in 0..scaled(1_000) {
            m.alloc(node(u64::MAX));
        }
        assert!(m.is_marking());
        let keep = m.alloc_tenured(node(3)).unwrap();
        let slot = m.alloc_array(1, |_| Member::<Array<Tagged>>::null());
        m.collect(Collection::Minor); // `slot` promoted, marked black
        let _ = keep;
        let target = holder.get(m).as_slice()[0].get(m);
        slot.get(m).as_slice()[0].set(m, target);
        holder.get(m).as_slice()[0].set(m, None);
        drop(holder);
        m.collect(Collection::FinishCycle);
        m.verify().unwrap();
        let kept = slot.get(m).as_slice()[0].get(m).unwrap();
        assert_eq!(kept.as_slice()[2].get(m), TaggedValue::Int(12));
        let _ = (to, last);
    });
}
