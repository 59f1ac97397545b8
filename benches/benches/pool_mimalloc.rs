//! `Box` on mimalloc, in the same groups as `pool.rs` (same workload and
//! checksum), so `cargo xtask bench` joins the rows into one table. It lives
//! in its own binary because the global allocator is per binary.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use morph_benches::pool::{
    BoxedBatch, MEASUREMENT_TIME, SAMPLE_SIZE, WARM_UP_TIME, for_each_group,
};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `Box::new` / drop on mimalloc.
fn boxed<const W: usize>(c: &mut Criterion, group_name: &str, order: &[usize]) {
    let mut batch = BoxedBatch::<W>::new();
    let mut group = c.benchmark_group(group_name);
    group
        .measurement_time(MEASUREMENT_TIME)
        .warm_up_time(WARM_UP_TIME)
        .sample_size(SAMPLE_SIZE);
    group.bench_function("box-mimalloc", |b| b.iter(|| black_box(batch.run(order))));
    group.finish();
}

fn benches(c: &mut Criterion) {
    for_each_group(|size, group_name, order| match size {
        32 => boxed::<4>(c, group_name, &order.indices),
        64 => boxed::<8>(c, group_name, &order.indices),
        128 => boxed::<16>(c, group_name, &order.indices),
        256 => boxed::<32>(c, group_name, &order.indices),
        _ => unreachable!("size classes are 32..=256"),
    });
}

criterion_group!(pool_mimalloc, benches);
criterion_main!(pool_mimalloc);
