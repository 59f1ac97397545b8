//! One-step construction: objects allocated from `#[trace(init)]`
//! initializers have their members filled in from handles, whatever the
//! allocation collected or moved, and old ones record their young referents.

use morph_gengc::{
    Collection, Gc, GcConfig, Heap, Member, Mutator, Root, Str, Tagged, TaggedRoot, TaggedValue,
    Trace,
};

use crate::{pretenuring_config, scaled, small_config};

#[derive(Trace)]
#[trace(init)]
struct Tree {
    value: u64,
    left: Member<Tree>,
    right: Member<Tree>,
}

/// A complete tree of `depth`, built bottom-up from initializers: both
/// children are only handles while their parent is allocated.
fn build<'gc>(m: &mut Mutator<'gc>, depth: u32, value: u64) -> Root<'gc, Tree> {
    if depth == 0 {
        return m.alloc_init(TreeInit {
            value,
            left: None,
            right: None,
        });
    }
    let left = build(m, depth - 1, 2 * value);
    let right = build(m, depth - 1, 2 * value + 1);
    m.alloc_init(TreeInit {
        value,
        left: Some(&left),
        right: Some(&right),
    })
}

/// Sums `value` over the tree and checks each child's value against its
/// parent's.
fn check(m: &Mutator<'_>, tree: Gc<'_, Tree>) -> u64 {
    let mut sum = tree.value;
    for (child, expected) in [
        (&tree.left, 2 * tree.value),
        (&tree.right, 2 * tree.value + 1),
    ] {
        if let Some(child) = child.get(m) {
            assert_eq!(child.value, expected);
            sum += check(m, child);
        }
    }
    sum
}

#[test]
fn initialized_members_find_objects_their_allocation_moved() {
    // A collection at every third allocation: most initializers are
    // allocated by one that moves their handles' objects.
    let config = GcConfig {
        stress_every: std::num::NonZeroU32::new(3),
        ..small_config()
    };
    let mut heap = Heap::new(config).unwrap();
    heap.enter(|m| {
        let depth = if cfg!(miri) { 4 } else { 10 };
        let tree = build(m, depth, 1);
        m.collect(Collection::Major);
        let nodes = (1u64 << (depth + 1)) - 1;
        assert_eq!(check(m, tree.get(m)), nodes * (nodes + 1) / 2);
    });
}

#[test]
fn scoped_initializers_link_a_list_through_locals() {
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let n = scaled(5_000) as u64;
        let head = m.scope(|s| {
            let mut list = s.alloc_local_init(TreeInit {
                value: 0,
                left: None,
                right: None,
            });
            for value in 1..n {
                list = s.alloc_local_init(TreeInit {
                    value,
                    left: Some(&list),
                    right: None,
                });
            }
            let head = list.get(s);
            s.root(head)
        });
        m.collect(Collection::Minor);
        let mut cursor = Some(head.get(m));
        let mut expected = n;
        while let Some(node) = cursor {
            expected -= 1;
            assert_eq!(node.value, expected);
            cursor = node.left.get(m);
        }
        assert_eq!(expected, 0);
    });
}

#[derive(Trace)]
#[trace(init)]
struct Pair<T: Trace> {
    first: Member<T>,
    second: Member<T>,
    tag: u8,
}

#[test]
fn a_generic_struct_has_an_initializer() {
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let a = m.alloc_str("a");
        let b = m.alloc_str("b");
        let pair = m.alloc_init(PairInit {
            first: Some(&a),
            second: Some(&b),
            tag: 7,
        });
        m.collect(Collection::Minor);
        let pair = pair.get(m);
        let text = |member: &Member<Str>| member.get(m).unwrap().as_str().to_owned();
        assert_eq!(
            (text(&pair.first), text(&pair.second), pair.tag),
            ("a".into(), "b".into(), 7)
        );
    });
}

#[derive(Trace)]
#[trace(init)]
struct Labelled {
    next: Member<Labelled>,
    label: Member<Str>,
}

#[test]
fn an_old_object_from_an_initializer_records_its_young_referents() {
    // Pretenuring puts `Labelled` in the old generation once three minor
    // collections found every one alive (they form a list); an
    // initializer's object is then old from the start, and its young
    // referents must be remembered, or the next minor collection would
    // not see them.
    let mut heap = Heap::new(pretenuring_config()).unwrap();
    heap.enter(|m| {
        let mut list = m.alloc_init(LabelledInit {
            next: None,
            label: None,
        });
        let mut pretenured = false;
        for _ in 0..scaled(200_000) {
            list = m.alloc_init(LabelledInit {
                next: Some(&list),
                label: None,
            });
            if !m.is_young(list.get(m)) {
                pretenured = true;
                break;
            }
        }
        if cfg!(miri) {
            return; // too few allocations under Miri to fill three nurseries
        }
        assert!(pretenured, "Labelled was never pretenured");
        let label = m.alloc_str("kept");
        let parent = m.alloc_init(LabelledInit {
            next: Some(&list),
            label: Some(&label),
        });
        assert!(!m.is_young(parent.get(m)) && m.is_young(label.get(m)));
        drop(label);
        m.collect(Collection::Minor);
        m.collect(Collection::Minor);
        let label = parent.get(m).label.get(m).expect("filled in");
        assert_eq!(label.as_str(), "kept");
    });
}

/// An interpreter's object, one enum: each variant gets its initializer
/// variant, members as handles.
#[derive(Trace)]
#[trace(init)]
enum Obj {
    Nil,
    Pair(Member<Obj>, Member<Obj>),
    Closure { code: u32, env: Member<Obj> },
}

#[test]
fn an_enum_has_an_initializer_per_variant() {
    let config = GcConfig {
        stress_every: std::num::NonZeroU32::new(2),
        ..small_config()
    };
    let mut heap = Heap::new(config).unwrap();
    heap.enter(|m| {
        let nil = m.alloc_init(ObjInit::Nil);
        let mut list = m.alloc_init(ObjInit::Pair(Some(&nil), None));
        for _ in 0..scaled(500) {
            list = m.alloc_init(ObjInit::Pair(Some(&nil), Some(&list)));
        }
        let closure = m.alloc_init(ObjInit::Closure {
            code: 7,
            env: Some(&list),
        });
        m.collect(Collection::Major);
        let Obj::Closure { code, env } = closure.get(m).get_ref() else {
            panic!("a closure was allocated");
        };
        assert_eq!(*code, 7);
        let mut cursor = env.get(m);
        let mut length = 0;
        while let Some(pair) = cursor {
            let Obj::Pair(head, tail) = pair.get_ref() else {
                panic!("a list of pairs");
            };
            assert!(matches!(head.get(m).map(|h| h.get_ref()), Some(Obj::Nil)));
            length += 1;
            cursor = tail.get(m);
        }
        assert_eq!(length, scaled(500) + 1);
    });
}

/// A cons cell of dynamic values.
#[derive(Trace)]
#[trace(init)]
struct Cons {
    car: Tagged,
    cdr: Tagged,
}

#[test]
fn tagged_fields_take_immediates_and_held_values() {
    let config = GcConfig {
        stress_every: std::num::NonZeroU32::new(2),
        ..small_config()
    };
    let mut heap = Heap::new(config).unwrap();
    heap.enter(|m| {
        // (n-1 "s" n-2 "s" ... 0 "s" . nil), strings and cells made
        // between the cells' allocations.
        let n = scaled(300) as i64;
        let mut list = m.root_tagged(TaggedValue::Nil);
        for i in 0..n {
            let text: TaggedRoot<'_> = m.alloc_str("s").into();
            let inner = m.alloc_init(ConsInit {
                car: (&text).into(),
                cdr: (&list).into(),
            });
            let inner: TaggedRoot<'_> = inner.into();
            let outer = m.alloc_init(ConsInit {
                car: i.into(),
                cdr: (&inner).into(),
            });
            list = outer.into();
        }
        m.collect(Collection::Major);
        let mut cursor = list.get(m);
        let mut expected = n;
        while let TaggedValue::Ref(any) = cursor {
            let cell = any.downcast::<Cons>(m).expect("a cell");
            expected -= 1;
            assert_eq!(cell.car.get(m), TaggedValue::Int(expected));
            let TaggedValue::Ref(inner) = cell.cdr.get(m) else {
                panic!("a string cell follows");
            };
            let inner = inner.downcast::<Cons>(m).expect("a cell");
            let TaggedValue::Ref(text) = inner.car.get(m) else {
                panic!("a string");
            };
            assert_eq!(text.as_str(m), Some("s"));
            cursor = inner.cdr.get(m);
        }
        assert_eq!(expected, 0);
        assert_eq!(cursor, TaggedValue::Nil);
    });
}
