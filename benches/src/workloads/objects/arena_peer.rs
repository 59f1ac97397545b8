//! gc-arena 0.7: records `Gc<RefLock<HashMap<Box<str>, Value>>>`, lists
//! `Gc<RefLock<Vec<Value>>>`, strings `Gc<Box<str>>` (a `Gc` holds a sized
//! value); the table is the arena's root. Each operation is one `mutate`,
//! and the debt is paid with `collect_debt` inside the timed batch once
//! worth a step (each call also timed as a pause).

use std::collections::HashMap;

use gc_arena::{Arena, Collect, Gc, Mutation, RefLock, Rootable};

use super::*;
use crate::workloads::trees::gc_arena_peer::DEBT_GRANULARITY;

#[derive(Collect, Clone, Copy)]
#[collect(no_drop)]
enum Value<'gc> {
    Int(i64),
    Str(Gc<'gc, Box<str>>),
    List(Gc<'gc, RefLock<Vec<Value<'gc>>>>),
    Record(Gc<'gc, RefLock<HashMap<Box<str>, Value<'gc>>>>),
}

fn make<'gc>(mc: &Mutation<'gc>, value: New) -> Value<'gc> {
    match value {
        New::Int(i) => Value::Int(i),
        New::Str(s) => Value::Str(Gc::new(mc, s.into())),
        New::List { .. } => Value::List(Gc::new(
            mc,
            RefLock::new(value.ints().map(Value::Int).collect()),
        )),
    }
}

fn build<'gc>(mc: &Mutation<'gc>, fresh: Fresh) -> Value<'gc> {
    match fresh {
        Fresh::Record(r) => {
            let fields = r.fields().map(|(k, v)| (k.into(), make(mc, v))).collect();
            Value::Record(Gc::new(mc, RefLock::new(fields)))
        }
        Fresh::List(r) => {
            let items = r.items().map(|v| make(mc, v)).collect();
            Value::List(Gc::new(mc, RefLock::new(items)))
        }
    }
}

/// What a read folds in (`deep`: the final walk's full digest).
fn digest(value: &Value<'_>, deep: bool) -> u64 {
    match value {
        Value::Int(i) => *i as u64,
        Value::Str(s) if deep => text_hash(s),
        Value::Str(s) => s.len() as u64,
        Value::List(l) if deep => {
            let items = l.borrow();
            items
                .iter()
                .fold(items.len() as u64, |acc, v| seq(acc, digest(v, true)))
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

fn shallow(value: &Value<'_>) -> u64 {
    digest(value, false)
}

fn apply<'gc>(mc: &Mutation<'gc>, table: &[Value<'gc>], op: &Op) -> u64 {
    match table[op.slot] {
        Value::Record(record) => match op.kind {
            Kind::Write => {
                record
                    .borrow_mut(mc)
                    .insert(op.key.into(), make(mc, op.value));
                0
            }
            Kind::Read => record.borrow().get(op.key).map_or(0, shallow),
            Kind::Remove => record
                .borrow_mut(mc)
                .remove(op.key)
                .map_or(0, |v| shallow(&v)),
            Kind::Overwrite => {
                if let Some(v) = record.borrow_mut(mc).get_mut(op.key) {
                    *v = make(mc, op.value);
                }
                0
            }
            Kind::Scan => record
                .borrow()
                .iter()
                .fold(0, |acc: u64, (k, v)| acc.wrapping_add(entry(k, shallow(v)))),
        },
        Value::List(list) => {
            let mut items = list.borrow_mut(mc);
            let at = op.at(items.len());
            match op.kind {
                Kind::Write => {
                    if items.len() >= MAX_LIST {
                        items.pop();
                    }
                    items.push(make(mc, op.value));
                    0
                }
                Kind::Read => at.map_or(0, |i| shallow(&items[i])),
                Kind::Remove => items.pop().map_or(0, |v| shallow(&v)),
                Kind::Overwrite => {
                    if let Some(i) = at {
                        items[i] = make(mc, op.value);
                    }
                    0
                }
                Kind::Scan => items
                    .iter()
                    .fold(items.len() as u64, |acc, v| seq(acc, shallow(v))),
            }
        }
        _ => unreachable!("slots hold records and lists"),
    }
}

type Table = Rootable![Vec<Value<'_>>];

struct Vm {
    arena: Arena<Table>,
    pauses: StepTimer,
}

impl Vm {
    /// Pays the collector's debt once it is worth a step, timing the call.
    fn pay_debt(&mut self) {
        if self.arena.metrics().allocation_debt() > DEBT_GRANULARITY {
            self.pauses.time(|| self.arena.collect_debt());
        }
    }
}

impl Machine for Vm {
    fn fill(&mut self, fresh: Fresh) {
        self.arena
            .mutate_root(|mc, table| table.push(build(mc, fresh)));
        self.pay_debt();
    }

    fn replace(&mut self, slot: usize, fresh: Fresh) {
        self.arena
            .mutate_root(|mc, table| table[slot] = build(mc, fresh));
        self.pay_debt();
    }

    fn apply(&mut self, op: &Op) -> u64 {
        let digest = self.arena.mutate(|mc, table| apply(mc, table, op));
        self.pay_debt();
        digest
    }

    fn walk(&mut self) -> u64 {
        self.arena.mutate(|_, table| {
            let add = |acc: u64, (i, v)| acc.wrapping_add(slot_digest(i, digest(v, true)));
            table.iter().enumerate().fold(0, add)
        })
    }
}

pub(super) fn run(shape: Shape) -> Outcome {
    let arena = Arena::<Table>::new(|_| Vec::with_capacity(shape.slots));
    let mut vm = Vm {
        arena,
        pauses: StepTimer::new(),
    };
    let run = drive(shape, &mut vm);
    let gc_time_us = vm.pauses.histogram().total().as_secs_f64() * 1e6;
    let pauses = distribution_json(vm.pauses.histogram());
    drop(vm);
    let mut outcome = run.outcome(shape);
    let source = "each Arena::collect_debt call, timed by the runner";
    let collector = json!({ "source": source, "gc_time_us": gc_time_us, "pauses": pauses });
    outcome.detail("collector_pauses", collector);
    outcome
}
