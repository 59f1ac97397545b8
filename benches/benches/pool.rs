//! Pool alloc/free mixes: a batch of objects allocated, then freed in LIFO,
//! FIFO or random order, per size class; morph-pool against `Box` on glibc
//! malloc and `slab`. `pool_mimalloc.rs` adds `Box` on mimalloc to the same
//! groups.
//!
//! Every implementation does the same work: allocate `BATCH` objects of the
//! class size (writing their first word), then free them in the group's order,
//! summing the first word of each object freed; the sum is the checksum. The
//! workload itself is `morph_benches::pool`, shared with `pool_mimalloc.rs`.

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use morph_benches::pool::{
    BATCH, BoxedBatch, MEASUREMENT_TIME, Obj, Order, SAMPLE_SIZE, SlabBatch, WARM_UP_TIME,
    for_each_group, morph_pool_batch,
};

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .measurement_time(MEASUREMENT_TIME)
        .warm_up_time(WARM_UP_TIME)
        .sample_size(SAMPLE_SIZE);
}

fn morph_pool<const W: usize>(c: &mut Criterion, group_name: &str, order: &[usize]) {
    let pool = morph_pool::Pool::<Obj<W>>::new();
    let mut handles: Vec<Option<morph_pool::PoolBox<'_, Obj<W>>>> =
        (0..BATCH).map(|_| None).collect();
    let mut group = c.benchmark_group(group_name);
    configure(&mut group);
    group.bench_function("morph-pool", |b| {
        b.iter(|| black_box(morph_pool_batch(&pool, &mut handles, order)));
    });
    group.finish();
}

fn slab<const W: usize>(c: &mut Criterion, group_name: &str, order: &[usize]) {
    let mut batch = SlabBatch::<W>::new();
    let mut group = c.benchmark_group(group_name);
    configure(&mut group);
    group.bench_function("slab", |b| b.iter(|| black_box(batch.run(order))));
    group.finish();
}

/// `Box::new` / drop on glibc malloc (this binary keeps the system allocator).
fn boxed<const W: usize>(c: &mut Criterion, group_name: &str, order: &[usize]) {
    let mut batch = BoxedBatch::<W>::new();
    let mut group = c.benchmark_group(group_name);
    configure(&mut group);
    group.bench_function("box-glibc", |b| b.iter(|| black_box(batch.run(order))));
    group.finish();
}

fn run<const W: usize>(c: &mut Criterion, group_name: &str, order: &Order) {
    morph_pool::<W>(c, group_name, &order.indices);
    boxed::<W>(c, group_name, &order.indices);
    slab::<W>(c, group_name, &order.indices);
}

fn benches(c: &mut Criterion) {
    for_each_group(|size, group_name, order| match size {
        32 => run::<4>(c, group_name, order),
        64 => run::<8>(c, group_name, order),
        128 => run::<16>(c, group_name, order),
        256 => run::<32>(c, group_name, order),
        _ => unreachable!("size classes are 32..=256"),
    });
}

criterion_group!(pool, benches);
criterion_main!(pool);
