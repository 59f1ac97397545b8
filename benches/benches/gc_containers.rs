//! The managed containers against std's, on the same elements, measured in
//! the same run: `GcVec` push then get against `Vec` (the target:
//! within 2× of `Vec`).
//!
//! Group `gc_vec_push_get`: 100,000 pushes then 100,000 indexed reads,
//! summed. `vec` is a `Vec<u64>`; `gcvec-cell` a `GcVec<Cell<u64>>` and
//! `gcvec-tagged` a `GcVec<Tagged>` (integers), each a field of a managed
//! object, in a heap made once (each iteration's vector is garbage by the
//! next one).

use std::cell::Cell;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use morph_gengc::{GcVec, Heap, Tagged, TaggedValue, Trace};

const N: u64 = 100_000;

#[derive(Trace)]
struct Cells {
    items: GcVec<Cell<u64>>,
}

#[derive(Trace)]
struct Values {
    items: GcVec<Tagged>,
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
    let mut group = c.benchmark_group("gc_vec_push_get");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(N));
    group.bench_function("vec", |b| b.iter(|| black_box(vec_push_get())));
    group.bench_function("gcvec-cell", |b| {
        b.iter(|| black_box(gcvec_cell_push_get(&mut heap)))
    });
    group.bench_function("gcvec-tagged", |b| {
        b.iter(|| black_box(gcvec_tagged_push_get(&mut heap)))
    });
    group.finish();
}

criterion_group!(benches, gc_vec_push_get);
criterion_main!(benches);
