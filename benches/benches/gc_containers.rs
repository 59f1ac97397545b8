//! The managed containers against std's, on the same elements, measured in
//! the same run: `GcVec` push then get against `Vec` (the target:
//! within 2× of `Vec`).
//!
//! Group `gc_vec_push_get`: 100,000 pushes then 100,000 indexed reads,
//! summed. `vec` is a `Vec<u64>`; `gcvec-cell` a `GcVec<Cell<u64>>` and
//! `gcvec-tagged` a `GcVec<Tagged>` (integers), each a field of a managed
//! object, in a heap made once (each iteration's vector is garbage by the
//! next one); `gcvec-cell-extend` fills the `GcVec<Cell<u64>>` with one
//! `GcVec::extend` of the same values instead of a push each.
//!
//! Group `gc_map_insert_get`: 100,000 inserts of scattered integer keys
//! then 100,000 lookups, summed (the target: `GcMap` within 2× of
//! `HashMap`). `hashmap` is a `HashMap<u64, u64>` as a user writes it
//! (std's default hasher); `gcmap-cell` a `GcMap<Cell<u64>, Cell<u64>>`;
//! `gcmap-tagged` a `GcMap<Tagged, Tagged>` with integer keys and values.
//!
//! Group `gc_map_strings`: 20,000 distinct string keys inserted, then each
//! looked up by `&str`: `hashmap` a `HashMap<String, u64>`, `gcmap` a
//! `GcMap<Tagged, Tagged>` whose keys are `Str` objects (one allocation per
//! key, as a `String` is), read with `get_str`.
//!
//! Group `gc_handles`: an interpreter step's temporaries — three objects
//! allocated, each held across the next allocation, linked, then let go —
//! 100,000 steps. `roots` holds each in a `Root` (a table slot taken and
//! given back); `scope` opens a handle scope per step and holds `Local`s.

use std::cell::Cell;
use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use std::collections::HashMap;

use morph_gengc::{GcMap, GcVec, Heap, Member, Tagged, TaggedValue, Trace};

const N: u64 = 100_000;

#[derive(Trace)]
struct Cells {
    items: GcVec<Cell<u64>>,
}

#[derive(Trace)]
struct Values {
    items: GcVec<Tagged>,
}

/// A group of this file's shape: 20 samples over 3 s after 1 s of
/// warm-up, throughput in `elements` per iteration.
fn group<'c>(c: &'c mut Criterion, name: &str, elements: u64) -> BenchmarkGroup<'c, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(elements));
    group
}

fn vec_push_get() -> u64 {
    let mut v = Vec::new();
    for i in 0..N {
        v.push(black_box(i));
    }
    (0..N as usize).map(|i| v[black_box(i)]).sum()
}

fn gcvec_cell_push_get(heap: &mut Heap) -> u64 {
    heap.enter(|m| {
        let holder = m.alloc(Cells {
            items: GcVec::new(),
        });
        for i in 0..N {
            GcVec::push(&holder, |h| &h.items, m, |_| black_box(i));
        }
        let items = &holder.get(m).items;
        (0..N as usize)
            .map(|i| items.get(m, black_box(i)).unwrap_or(0))
            .sum()
    })
}

fn gcvec_cell_extend_get(heap: &mut Heap) -> u64 {
    heap.enter(|m| {
        let holder = m.alloc(Cells {
            items: GcVec::new(),
        });
        GcVec::extend(&holder, |h| &h.items, m, (0..N).map(black_box));
        let items = &holder.get(m).items;
        (0..N as usize)
            .map(|i| items.get(m, black_box(i)).unwrap_or(0))
            .sum()
    })
}

fn gcvec_tagged_push_get(heap: &mut Heap) -> u64 {
    heap.enter(|m| {
        let holder = m.alloc(Values {
            items: GcVec::new(),
        });
        for i in 0..N {
            GcVec::push(
                &holder,
                |h| &h.items,
                m,
                |_| TaggedValue::Int(black_box(i) as i64),
            );
        }
        let items = &holder.get(m).items;
        (0..N as usize)
            .map(|i| match items.get(m, black_box(i)) {
                Some(TaggedValue::Int(v)) => v as u64,
                _ => 0,
            })
            .sum()
    })
}

fn gc_vec_push_get(c: &mut Criterion) {
    let mut heap = Heap::new(Default::default()).expect("a heap");
    let expected = N * (N - 1) / 2;
    assert_eq!(vec_push_get(), expected);
    assert_eq!(gcvec_cell_push_get(&mut heap), expected);
    assert_eq!(gcvec_tagged_push_get(&mut heap), expected);
    assert_eq!(gcvec_cell_extend_get(&mut heap), expected);
    let mut group = group(c, "gc_vec_push_get", N);
    group.bench_function("vec", |b| b.iter(|| black_box(vec_push_get())));
    group.bench_function("gcvec-cell", |b| {
        b.iter(|| black_box(gcvec_cell_push_get(&mut heap)))
    });
    group.bench_function("gcvec-tagged", |b| {
        b.iter(|| black_box(gcvec_tagged_push_get(&mut heap)))
    });
    group.bench_function("gcvec-cell-extend", |b| {
        b.iter(|| black_box(gcvec_cell_extend_get(&mut heap)))
    });
    group.finish();
}

#[derive(Trace)]
struct CellMap {
    map: GcMap<Cell<u64>, Cell<u64>>,
}

#[derive(Trace)]
struct TaggedMap {
    map: GcMap<Tagged, Tagged>,
}

/// The `i`th key: scattered, as a program's keys are (ids, addresses).
fn key(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20
}

fn hashmap_insert_get() -> u64 {
    let mut map = HashMap::new();
    for i in 0..N {
        map.insert(key(black_box(i)), i);
    }
    (0..N)
        .map(|i| map.get(&key(black_box(i))).copied().unwrap_or(0))
        .sum()
}

fn gcmap_cell_insert_get(heap: &mut Heap) -> u64 {
    heap.enter(|m| {
        let holder = m.alloc(CellMap { map: GcMap::new() });
        for i in 0..N {
            GcMap::insert(&holder, |h| &h.map, m, |_| (key(black_box(i)), i));
        }
        let map = &holder.get(m).map;
        (0..N)
            .map(|i| map.get(m, key(black_box(i))).unwrap_or(0))
            .sum()
    })
}

fn gcmap_tagged_insert_get(heap: &mut Heap) -> u64 {
    heap.enter(|m| {
        let holder = m.alloc(TaggedMap { map: GcMap::new() });
        for i in 0..N {
            GcMap::insert(
                &holder,
                |h| &h.map,
                m,
                |_| {
                    (
                        TaggedValue::Int(key(black_box(i)) as i64),
                        TaggedValue::Int(i as i64),
                    )
                },
            );
        }
        let map = &holder.get(m).map;
        (0..N)
            .map(
                |i| match map.get(m, TaggedValue::Int(key(black_box(i)) as i64)) {
                    Some(TaggedValue::Int(v)) => v as u64,
                    _ => 0,
                },
            )
            .sum()
    })
}

fn gc_map_insert_get(c: &mut Criterion) {
    let mut heap = Heap::new(Default::default()).expect("a heap");
    let expected = N * (N - 1) / 2;
    assert_eq!(hashmap_insert_get(), expected);
    assert_eq!(gcmap_cell_insert_get(&mut heap), expected);
    assert_eq!(gcmap_tagged_insert_get(&mut heap), expected);
    let mut group = group(c, "gc_map_insert_get", N);
    group.bench_function("hashmap", |b| b.iter(|| black_box(hashmap_insert_get())));
    group.bench_function("gcmap-cell", |b| {
        b.iter(|| black_box(gcmap_cell_insert_get(&mut heap)))
    });
    group.bench_function("gcmap-tagged", |b| {
        b.iter(|| black_box(gcmap_tagged_insert_get(&mut heap)))
    });
    group.finish();
}

const STRINGS: usize = 20_000;

fn hashmap_strings(names: &[String]) -> u64 {
    let mut map = HashMap::new();
    for (i, name) in names.iter().enumerate() {
        map.insert(name.clone(), i as u64);
    }
    names
        .iter()
        .map(|n| map.get(n.as_str()).copied().unwrap_or(0))
        .sum()
}

fn gcmap_strings(heap: &mut Heap, names: &[String]) -> u64 {
    heap.enter(|m| {
        let holder = m.alloc(TaggedMap { map: GcMap::new() });
        for (i, name) in names.iter().enumerate() {
            let s = m.alloc_str(name);
            GcMap::insert(
                &holder,
                |h| &h.map,
                m,
                |m| {
                    (
                        TaggedValue::Ref(s.get(m).into()),
                        TaggedValue::Int(i as i64),
                    )
                },
            );
        }
        let map = &holder.get(m).map;
        names
            .iter()
            .map(|n| match map.get_str(m, n) {
                Some(TaggedValue::Int(v)) => v as u64,
                _ => 0,
            })
            .sum()
    })
}

fn gc_map_strings(c: &mut Criterion) {
    let names: Vec<String> = (0..STRINGS)
        .map(|i| format!("identifier_{}", key(i as u64)))
        .collect();
    let mut heap = Heap::new(Default::default()).expect("a heap");
    let expected = (STRINGS * (STRINGS - 1) / 2) as u64;
    assert_eq!(hashmap_strings(&names), expected);
    assert_eq!(gcmap_strings(&mut heap, &names), expected);
    let mut group = group(c, "gc_map_strings", STRINGS as u64);
    group.bench_function("hashmap", |b| b.iter(|| black_box(hashmap_strings(&names))));
    group.bench_function("gcmap", |b| {
        b.iter(|| black_box(gcmap_strings(&mut heap, &names)))
    });
    group.finish();
}

#[derive(Trace)]
struct Cons {
    car: Member<Cons>,
    cdr: Member<Cons>,
    value: u64,
}

fn cons(value: u64) -> Cons {
    Cons {
        car: Member::null(),
        cdr: Member::null(),
        value,
    }
}

const STEPS: u64 = 100_000;

fn steps_with_roots(heap: &mut Heap) -> u64 {
    heap.enter(|m| {
        let mut sum = 0;
        for i in 0..STEPS {
            let a = m.alloc(cons(black_box(i)));
            let b = m.alloc(cons(1));
            let c = m.alloc(cons(2));
            c.get(m).car.set(m, Some(a.get(m)));
            c.get(m).cdr.set(m, Some(b.get(m)));
            let c = c.get(m);
            sum +=
                c.value + c.car.get(m).map_or(0, |x| x.value) + c.cdr.get(m).map_or(0, |x| x.value);
        }
        sum
    })
}

fn steps_with_scopes(heap: &mut Heap) -> u64 {
    heap.enter(|m| {
        let mut sum = 0;
        for i in 0..STEPS {
            sum += m.scope(|s| {
                let a = s.alloc_local(cons(black_box(i)));
                let b = s.alloc_local(cons(1));
                let c = s.alloc_local(cons(2));
                c.get(s).car.set(s, Some(a.get(s)));
                c.get(s).cdr.set(s, Some(b.get(s)));
                let c = c.get(s);
                c.value + c.car.get(s).map_or(0, |x| x.value) + c.cdr.get(s).map_or(0, |x| x.value)
            });
        }
        sum
    })
}

fn gc_handles(c: &mut Criterion) {
    let mut heap = Heap::new(Default::default()).expect("a heap");
    let expected = STEPS * (STEPS - 1) / 2 + 3 * STEPS;
    assert_eq!(steps_with_roots(&mut heap), expected);
    assert_eq!(steps_with_scopes(&mut heap), expected);
    let mut group = group(c, "gc_handles", STEPS);
    group.bench_function("roots", |b| {
        b.iter(|| black_box(steps_with_roots(&mut heap)))
    });
    group.bench_function("scope", |b| {
        b.iter(|| black_box(steps_with_scopes(&mut heap)))
    });
    group.finish();
}

criterion_group!(
    benches,
    gc_vec_push_get,
    gc_map_insert_get,
    gc_map_strings,
    gc_handles
);
criterion_main!(benches);
