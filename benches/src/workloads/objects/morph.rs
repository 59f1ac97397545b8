//! morph-gengc, safe API, default configuration, written from the guide:
//! records `GcMap<Tagged, Tagged>` keyed by `Str`s (allocated by
//! `insert_str` when a key is new; reads, removes and overwrites go by
//! `&str`), lists `GcVec<Tagged>`, the table a `GcVec<Tagged>` in a rooted
//! object, values being made held in `TaggedRoot`s.

use morph_gengc::{
    GcConfig, GcMap, GcVec, Heap, Mutator, Root, Tagged, TaggedRoot, TaggedValue, Trace,
};

use super::*;

#[derive(Trace, Default)]
struct Record {
    fields: GcMap<Tagged, Tagged>,
}

#[derive(Trace, Default)]
struct List {
    items: GcVec<Tagged>,
}

#[derive(Trace, Default)]
struct Globals {
    slots: GcVec<Tagged>,
}

/// A value made for a store, held (rooted if an object) until it is stored.
fn make<'gc>(m: &mut Mutator<'gc>, value: New) -> TaggedRoot<'gc> {
    match value {
        New::Int(i) => m.root_tagged(TaggedValue::Int(i)),
        New::Str(s) => m.alloc_str(s).into(),
        New::List { .. } => {
            let list = m.alloc(List::default());
            GcVec::extend(&list, |l| &l.items, m, value.ints().map(TaggedValue::Int));
            list.into()
        }
    }
}

/// Sets `key` of `record` to a fresh `value` (inserting or replacing).
fn insert<'gc>(m: &mut Mutator<'gc>, record: &Root<'gc, Record>, key: &str, value: New) {
    let value = make(m, value);
    GcMap::insert_str(record, |r| &r.fields, m, key, |m| value.get(m));
}

fn build<'gc>(m: &mut Mutator<'gc>, fresh: Fresh) -> TaggedRoot<'gc> {
    match fresh {
        Fresh::Record(r) => {
            let record = m.alloc(Record::default());
            GcMap::reserve(&record, |r| &r.fields, m, r.len());
            for (key, value) in r.fields() {
                insert(m, &record, key, value);
            }
            record.into()
        }
        Fresh::List(r) => {
            let list = m.alloc(List::default());
            GcVec::reserve(&list, |l| &l.items, m, r.len());
            for value in r.items() {
                let value = make(m, value);
                GcVec::push(&list, |l| &l.items, m, |m| value.get(m));
            }
            list.into()
        }
    }
}

fn key_str<'a>(m: &Mutator<'_>, key: TaggedValue<'a>) -> &'a str {
    match key {
        TaggedValue::Ref(any) => any.as_str(m).unwrap_or_default(),
        _ => "",
    }
}

/// What a read folds in (`deep`: the final walk's full digest); nil 0.
fn digest(m: &Mutator<'_>, value: Option<TaggedValue<'_>>, deep: bool) -> u64 {
    let any = match value {
        Some(TaggedValue::Int(i)) => return i as u64,
        Some(TaggedValue::Ref(any)) => any,
        _ => return 0,
    };
    if let Some(s) = any.as_str(m) {
        if deep { text_hash(s) } else { s.len() as u64 }
    } else if let Some(list) = any.downcast::<List>(m) {
        let items = &list.get_ref().items;
        let add = |acc, v| seq(acc, digest(m, Some(v), true));
        if deep {
            items.iter(m).fold(items.len() as u64, add)
        } else {
            items.len() as u64
        }
    } else {
        let record = any.downcast::<Record>(m).expect("a record");
        let fields = &record.get_ref().fields;
        let add =
            |acc: u64, (k, v)| acc.wrapping_add(entry(key_str(m, k), digest(m, Some(v), true)));
        fields.iter(m).fold(fields.len() as u64, add)
    }
}

struct Vm<'m, 'gc> {
    m: &'m mut Mutator<'gc>,
    globals: Root<'gc, Globals>,
}

impl Machine for Vm<'_, '_> {
    fn fill(&mut self, fresh: Fresh) {
        let made = build(self.m, fresh);
        GcVec::push(&self.globals, |g| &g.slots, self.m, |m| made.get(m));
    }

    fn replace(&mut self, slot: usize, fresh: Fresh) {
        let made = build(self.m, fresh);
        let m = &*self.m;
        self.globals.get(m).slots.set(m, slot, made.get(m));
    }

    fn apply(&mut self, op: &Op) -> u64 {
        let m = &mut *self.m;
        let Some(TaggedValue::Ref(any)) = self.globals.get(m).slots.get(m, op.slot) else {
            unreachable!("slots hold records and lists")
        };
        let shallow = |m: &Mutator<'_>, value| digest(m, value, false);
        if let Some(record) = any.downcast::<Record>(m) {
            let fields = &record.get_ref().fields;
            match op.kind {
                Kind::Write => {
                    let record = m.root(record);
                    insert(m, &record, op.key, op.value);
                    0
                }
                Kind::Read => shallow(m, fields.get_str(m, op.key)),
                Kind::Remove => shallow(m, fields.remove_str(m, op.key)),
                Kind::Overwrite => {
                    if fields.contains_str(m, op.key) {
                        let record = m.root(record);
                        let value = make(m, op.value);
                        record.get(m).fields.set_str(m, op.key, value.get(m));
                    }
                    0
                }
                Kind::Scan => fields.iter(m).fold(0, |acc: u64, (k, v)| {
                    acc.wrapping_add(entry(key_str(m, k), shallow(m, Some(v))))
                }),
            }
        } else {
            let list = any
                .downcast::<List>(m)
                .expect("slots hold records and lists");
            let items = &list.get_ref().items;
            let at = op.at(items.len());
            match op.kind {
                Kind::Write => {
                    if items.len() >= MAX_LIST {
                        items.pop(m);
                    }
                    let list = m.root(list);
                    let value = make(m, op.value);
                    GcVec::push(&list, |l| &l.items, m, |m| value.get(m));
                    0
                }
                Kind::Read => shallow(m, at.and_then(|i| items.get(m, i))),
                Kind::Remove => shallow(m, items.pop(m)),
                Kind::Overwrite => {
                    if let Some(i) = at {
                        let list = m.root(list);
                        let value = make(m, op.value);
                        list.get(m).items.set(m, i, value.get(m));
                    }
                    0
                }
                Kind::Scan => {
                    let add = |acc, v| seq(acc, shallow(m, Some(v)));
                    items.iter(m).fold(items.len() as u64, add)
                }
            }
        }
    }

    fn walk(&mut self) -> u64 {
        let m = &*self.m;
        let add = |acc: u64, (i, v)| acc.wrapping_add(slot_digest(i, digest(m, Some(v), true)));
        self.globals
            .get(m)
            .get_ref()
            .slots
            .iter(m)
            .enumerate()
            .fold(0, add)
    }
}

pub(super) fn run(shape: Shape) -> Outcome {
    let created = Instant::now();
    let mut heap = Heap::new(GcConfig::default()).expect("the default configuration is valid");
    let run = heap.enter(|m| {
        let globals = m.alloc(Globals::default());
        GcVec::reserve(&globals, |g| &g.slots, m, shape.slots);
        drive(shape, &mut Vm { m, globals })
    });
    let mut outcome = run.outcome(shape);
    outcome.detail("gc", collector_details(&heap));
    // The collector's trace timestamps count from heap creation.
    outcome.detail(
        "steady_from_heap_start_ms",
        json!(ms(created, run.steady_at)),
    );
    drop(heap);
    outcome
}
