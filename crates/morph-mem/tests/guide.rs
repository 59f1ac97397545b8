//! The runtime core of docs/GUIDE.md, as a test, so the guide stays true:
//! a dynamic language's values (integers, floats, strings, lists, records)
//! on the safe API through the facade.

#![cfg(feature = "runtime")]

use morph_mem::gc::{GcMap, GcVec, Heap, Member, Mutator, Root, Str, Tagged, TaggedValue, Trace};

/// A list: a growable vector of values.
#[derive(Trace)]
struct List {
    items: GcVec<Tagged>,
}

/// A record: a class name and named fields. `#[trace(init)]` gives it an
/// initializer, `RecordInit`, to allocate it with its class filled in.
#[derive(Trace)]
#[trace(init)]
struct Record {
    class: Member<Str>,
    fields: GcMap<Tagged, Tagged>,
}

/// Renders a value, the way a REPL prints it.
fn show(value: TaggedValue<'_>, m: &Mutator<'_>) -> String {
    match value {
        TaggedValue::Nil => "nil".into(),
        TaggedValue::Bool(b) => b.to_string(),
        TaggedValue::Int(i) => i.to_string(),
        TaggedValue::Float(f) => format!("{f:?}"),
        TaggedValue::Ref(object) => {
            if let Some(s) = object.as_str(m) {
                format!("{s:?}")
            } else if let Some(list) = object.downcast::<List>(m) {
                let items: Vec<String> = list.items.iter(m).map(|v| show(v, m)).collect();
                format!("[{}]", items.join(", "))
            } else if let Some(record) = object.downcast::<Record>(m) {
                let class = record.class.get(m).map_or("?", |c| c.as_str());
                let mut fields: Vec<String> = record
                    .fields
                    .iter(m)
                    .map(|(k, v)| format!("{}: {}", show(k, m), show(v, m)))
                    .collect();
                fields.sort();
                format!("{class} {{{}}}", fields.join(", "))
            } else {
                "<object>".into()
            }
        }
    }
}

/// Makes a list `[0, 0.5, "s0", 1, 1.5, "s1", …]` of `n` triples.
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
        let s = m.alloc_str(&format!("s{i}"));
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
        let class = m.alloc_str("Point");
        let point = m.alloc_init(RecordInit {
            class: Some(&class),
            fields: GcMap::new(),
        });
        // Fields by name: the key is allocated only when it is new.
        GcMap::insert_str(&point, |r| &r.fields, m, "x", |_| TaggedValue::Int(3));
        GcMap::insert_str(&point, |r| &r.fields, m, "y", |_| TaggedValue::Float(4.5));
        GcMap::insert_str(&point, |r| &r.fields, m, "items", |m| {
            TaggedValue::Ref(list.get(m).into())
        });
        // Temporaries in a handle scope: Copy handles, released together.
        let tagged = m.scope(|s| {
            let tags = s.alloc_local(List {
                items: GcVec::new(),
            });
            for tag in ["a", "b"] {
                let t = s.alloc_str(tag);
                GcVec::push(&tags, |l| &l.items, s, |m| TaggedValue::Ref(t.get(m).into()));
            }
            GcMap::insert_str(&point, |r| &r.fields, s, "tags", |m| {
                TaggedValue::Ref(tags.get(m).into())
            });
            tags.get(s).items.len()
        });
        assert_eq!(tagged, 2);
        for _ in 0..100_000 {
            m.alloc_str(""); // garbage: collections move everything
        }
        let shown = show(TaggedValue::Ref(point.get(m).into()), m);
        assert_eq!(
            shown,
            r#"Point {"items": [0, 0.5, "s0", 1, 1.5, "s1", 2, 2.5, "s2"], "tags": ["a", "b"], "x": 3, "y": 4.5}"#
        );
        let fields = &point.get(m).fields;
        assert_eq!(fields.get_str(m, "x"), Some(TaggedValue::Int(3)));
        assert_eq!(fields.get_str(m, "z"), None);
    });
}
