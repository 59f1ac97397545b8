//! The implementations that own their objects through one pointer each
//! (`Box`, `Rc`, dumpster's `Gc`), written once as a macro.

use super::*;

/// One pointer-per-object implementation: `Box`, `Rc` and dumpster's `Gc`
/// run the same code (records `HashMap`s, lists `Vec`s, each in a
/// `RefCell` behind the pointer; strings `$ptr<str>`), so the rows differ
/// only in the pointer. `derive` adds attributes to the value type; `then`
/// runs after the table is dropped (dumpster's final collection).
macro_rules! owned_vm {
    (
        $(#[$doc:meta])* $module:ident, $ptr:ident $(, $import:path)?; key $key:ty
        $(; derive $(#[$attr:meta])+)? $(; then $after:expr)?
    ) => {
        $(#[$doc])*
        pub(super) mod $module {
            use std::cell::RefCell;
            use std::collections::HashMap;
            #[allow(unused_imports)]
            use std::rc::Rc;
            $(use $import;)?

            use super::*;

            $($(#[$attr])+)?
            enum Value {
                Int(i64),
                Str($ptr<str>),
                List($ptr<RefCell<Vec<Value>>>),
                Record($ptr<RefCell<HashMap<$key, Value>>>),
            }

            fn make(value: New) -> Value {
                match value {
                    New::Int(i) => Value::Int(i),
                    New::Str(s) => Value::Str(s.into()),
                    New::List { .. } => {
                        let items = value.ints().map(Value::Int).collect();
                        Value::List($ptr::new(RefCell::new(items)))
                    }
                }
            }

            fn build(fresh: Fresh) -> Value {
                match fresh {
                    Fresh::Record(r) => {
                        let fields = r.fields().map(|(k, v)| (<$key>::from(k), make(v))).collect();
                        Value::Record($ptr::new(RefCell::new(fields)))
                    }
                    Fresh::List(r) => {
                        Value::List($ptr::new(RefCell::new(r.items().map(make).collect())))
                    }
                }
            }

            /// What a read folds in (`deep`: the final walk's full digest).
            fn digest(value: &Value, deep: bool) -> u64 {
                match value {
                    Value::Int(i) => *i as u64,
                    Value::Str(s) if deep => text_hash(s),
                    Value::Str(s) => s.len() as u64,
                    Value::List(l) if deep => {
                        let items = l.borrow();
                        items.iter().fold(items.len() as u64, |acc, v| seq(acc, digest(v, true)))
                    }
                    Value::List(l) => l.borrow().len() as u64,
                    Value::Record(r) => {
                        let fields = r.borrow();
                        fields.iter().fold(fields.len() as u64, |acc, (k, v)| {
                            acc.wrapping_add(entry(k, digest(v, true)))
                        })
                    }
                }
            }

            fn shallow(value: &Value) -> u64 {
                digest(value, false)
            }

            struct Vm {
                table: Vec<Value>,
            }

            impl Machine for Vm {
                fn fill(&mut self, fresh: Fresh) {
                    self.table.push(build(fresh));
                }

                fn replace(&mut self, slot: usize, fresh: Fresh) {
                    self.table[slot] = build(fresh);
                }

                fn apply(&mut self, op: &Op) -> u64 {
                    match &self.table[op.slot] {
                        Value::Record(record) => match op.kind {
                            Kind::Write => {
                                record.borrow_mut().insert(op.key.into(), make(op.value));
                                0
                            }
                            Kind::Read => record.borrow().get(op.key).map_or(0, shallow),
                            Kind::Remove => {
                                record.borrow_mut().remove(op.key).map_or(0, |v| shallow(&v))
                            }
                            Kind::Overwrite => {
                                if let Some(v) = record.borrow_mut().get_mut(op.key) {
                                    *v = make(op.value);
                                }
                                0
                            }
                            Kind::Scan => record.borrow().iter().fold(0, |acc: u64, (k, v)| {
                                acc.wrapping_add(entry(k, shallow(v)))
                            }),
                        },
                        Value::List(list) => {
                            let mut items = list.borrow_mut();
                            let at = op.at(items.len());
                            match op.kind {
                                Kind::Write => {
                                    if items.len() >= MAX_LIST {
                                        items.pop();
                                    }
                                    items.push(make(op.value));
                                    0
                                }
                                Kind::Read => at.map_or(0, |i| shallow(&items[i])),
                                Kind::Remove => items.pop().map_or(0, |v| shallow(&v)),
                                Kind::Overwrite => {
                                    if let Some(i) = at {
                                        items[i] = make(op.value);
                                    }
                                    0
                                }
                                Kind::Scan => {
                                    let add = |acc, v| seq(acc, shallow(v));
                                    items.iter().fold(items.len() as u64, add)
                                }
                            }
                        }
                        _ => unreachable!("slots hold records and lists"),
                    }
                }

                fn walk(&mut self) -> u64 {
                    let add = |acc: u64, (i, v)| acc.wrapping_add(slot_digest(i, digest(v, true)));
                    self.table.iter().enumerate().fold(0, add)
                }
            }

            pub(in crate::workloads::objects) fn run(shape: Shape) -> Outcome {
                let mut vm = Vm { table: Vec::with_capacity(shape.slots) };
                let run = drive(shape, &mut vm);
                drop(vm);
                $($after;)?
                run.outcome(shape)
            }
        }
    };
}

owned_vm!(
    /// Ownership: `Box` on the binary's global allocator, `Box<str>` keys;
    /// the floor: every overwrite frees the old value at once.
    boxed, Box; key Box<str>
);
owned_vm!(
    /// Reference counting: `Rc<RefCell<HashMap<Rc<str>, Value>>>`,
    /// `Rc<RefCell<Vec<Value>>>`, `Rc<str>` strings.
    rc, Rc; key Rc<str>
);
owned_vm!(
    /// dumpster 2.1 (`unsync`): the `Rc` shape with `Gc<RefCell<..>>` and
    /// `Gc<str>` strings; its cycle collector runs on its own heuristic
    /// inside drops, so it shows only in the stalls.
    dumpster_peer, Gc, dumpster::unsync::Gc; key Rc<str>;
    derive #[derive(dumpster::Trace)];
    then dumpster::unsync::collect()
);
