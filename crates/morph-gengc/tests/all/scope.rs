//! Handle scopes: locals survive the collections their allocations run,
//! nest, and are released together when their scope ends or unwinds.

use morph_gengc::{Collection, GcConfig, Heap, Member, Trace};

use crate::{scaled, small_config};

#[derive(Trace)]
struct Node {
    value: u64,
    next: Member<Node>,
}

fn node(value: u64) -> Node {
    Node {
        value,
        next: Member::null(),
    }
}

#[test]
fn locals_survive_collections_and_go_with_their_scope() {
    let config = GcConfig {
        stress_every: std::num::NonZeroU32::new(3),
        ..small_config()
    };
    let mut heap = Heap::new(config).unwrap();
    heap.enter(|m| {
        let n = scaled(3_000) as u64;
        let weak = m.scope(|s| {
            let locals: Vec<_> = (0..n).map(|i| s.alloc_local(node(i))).collect();
            // Link them: every allocation above may have moved every one.
            for pair in locals.windows(2) {
                pair[0].get(s).next.set(s, Some(pair[1].get(s)));
            }
            for _ in 0..scaled(2_000) {
                s.alloc_local(node(0)); // garbage once the scope ends
            }
            s.collect(Collection::Major);
            let mut cursor = Some(locals[0].get(s));
            let mut seen = 0;
            while let Some(node) = cursor {
                assert_eq!(node.value, seen);
                seen += 1;
                cursor = node.next.get(s);
            }
            assert_eq!(seen, n);
            assert_eq!(s.local_count(), n as usize + scaled(2_000));
            let root = s.root(locals[0].get(s));
            s.downgrade(&root)
        });
        m.scope(|s| assert_eq!(s.local_count(), 0));
        m.collect(Collection::Major);
        assert!(
            weak.upgrade(m).is_none(),
            "the scope's objects died with it"
        );
        m.verify().unwrap();
    });
}

#[test]
fn inner_scopes_release_only_their_own_locals() {
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        m.scope(|outer| {
            let a = outer.alloc_local(node(1));
            let kept = outer.scope(|inner| {
                let b = inner.alloc_local(node(2));
                a.get(inner).next.set(inner, Some(b.get(inner)));
                for _ in 0..scaled(5_000) {
                    inner.alloc_local(node(0));
                }
                assert_eq!(inner.local_count(), 2 + scaled(5_000));
                a.get(inner).value + b.get(inner).value
            });
            assert_eq!(kept, 3);
            assert_eq!(outer.local_count(), 1);
            outer.collect(Collection::Minor);
            let a = a.get(outer);
            assert_eq!(a.next.get(outer).map(|b| b.value), Some(2));
        });
    });
}

#[test]
fn a_panicking_scope_releases_its_locals() {
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            m.scope(|s| {
                for i in 0..10 {
                    s.alloc_local(node(i));
                }
                panic!("in the scope");
            })
        }));
        assert!(unwound.is_err());
        m.scope(|s| assert_eq!(s.local_count(), 0));
        m.collect(Collection::Minor);
        m.verify().unwrap();
    });
}

#[test]
#[should_panic(expected = "another heap")]
fn a_local_read_through_another_heaps_mutator_is_refused() {
    let mut a = Heap::new(small_config()).unwrap();
    let mut b = Heap::new(small_config()).unwrap();
    a.enter(|ma| {
        ma.scope(|sa| {
            let local = sa.alloc_local(node(1));
            b.enter(|mb| {
                local.get(mb);
            });
        });
    });
}

#[test]
#[should_panic(expected = "another heap")]
fn a_local_of_another_heaps_object_is_refused() {
    let mut a = Heap::new(small_config()).unwrap();
    let mut b = Heap::new(small_config()).unwrap();
    a.enter(|ma| {
        let foreign = ma.alloc(node(1));
        let foreign = foreign.get(ma);
        b.enter(|mb| {
            mb.scope(|sb| {
                sb.local(foreign);
            });
        });
    });
}
