//! The runtime core of docs/GUIDE.md, as a test, so the guide stays true:
//! a dynamic language's values (integers, floats, strings, lists, records)
//! on the safe API through the facade.

#![cfg(feature = "runtime")]

use morph_mem::gc::{GcVec, Heap, Member, Mutator, Root, Tagged, TaggedValue, Trace};

/// A string object.
#[derive(Trace)]
struct Str(String);

/// A list: a growable vector of values.
#[derive(Trace)]
struct List {
    items: GcVec<Tagged>,
}

/// A record: a class name and field values.
#[derive(Trace)]
struct Record {
    class: Member<Str>,
    fields: GcVec<Tagged>,
}

/// Renders a value, the way a REPL prints it.
fn show(value: TaggedValue<'_>, m: &Mutator<'_>) -> String {
    match value {
        TaggedValue::Nil => "nil".into(),
        TaggedValue::Bool(b) => b.to_string(),
        TaggedValue::Int(i) => i.to_string(),
        TaggedValue::Float(f) => format!("{f:?}"),
        TaggedValue::Ref(object) => {
            if let Some(s) = object.downcast::<Str>(m) {
                format!("{:?}", s.0)
            } else if let Some(list) = object.downcast::<List>(m) {
                let items: Vec<String> = list.items.iter(m).map(|v| show(v, m)).collect();
                format!("[{}]", items.join(", "))
            } else if let Some(record) = object.downcast::<Record>(m) {
                let class = record.class.get(m).map_or("?", |c| c.get_ref().0.as_str());
                let fields: Vec<String> = record.fields.iter(m).map(|v| show(v, m)).collect();
                format!("{class}({})", fields.join(", "))
            } else {
                "<object>".into()
            }
        }
    }
}

/// Makes a list `[0, 1.5, "s0", 1, 2.5, "s1", …]` of `n` triples.
fn make_list<'gc>(m: &mut Mutator<'gc>, n: i64) -> Root<'gc, List> {
    let list = m.alloc(List {
        items: GcVec::new(),
    });
    for i in 0..n {
        GcVec::push(&list, |l| &l.items, m, |_| TaggedValue::Int(i));
        GcVec::push(
            &list,
            |l| &l.items,
            m,
            |_| TaggedValue::Float(i as f64 + 0.5),
        );
        // Allocating may move `list`: the root finds it again.
        let s = m.alloc(Str(format!("s{i}")));
        GcVec::push(
            &list,
            |l| &l.items,
            m,
            |m| TaggedValue::Ref(s.get(m).into()),
        );
    }
    list
}

#[test]
fn the_guides_runtime_core_runs_through_collections() {
    let mut heap = Heap::new(Default::default()).unwrap();
    heap.enter(|m| {
        let list = make_list(m, 3);
        let point = m.alloc(Record {
            class: Member::null(),
            fields: GcVec::new(),
        });
        let class = m.alloc(Str("Point".into()));
        point.get(m).class.set(m, Some(class.get(m)));
        GcVec::push(&point, |r| &r.fields, m, |_| TaggedValue::Int(3));
        GcVec::push(
            &point,
            |r| &r.fields,
            m,
            |m| TaggedValue::Ref(list.get(m).into()),
        );
        for _ in 0..100_000 {
            m.alloc(Str(String::new())); // garbage: collections move everything
        }
        let shown = show(TaggedValue::Ref(point.get(m).into()), m);
        assert_eq!(
            shown,
            r#"Point(3, [0, 0.5, "s0", 1, 1.5, "s1", 2, 2.5, "s2"])"#
        );
        let sum: i64 = list
            .get(m)
            .items
            .iter(m)
            .map(|v| match v {
                TaggedValue::Int(i) => i,
                _ => 0,
            })
            .sum();
        assert_eq!(sum, 3);
    });
}
