//! Arena workloads under criterion: morph-arena against bumpalo, typed-arena
//! and `Box` on the system allocator (glibc malloc), measured in the same run.
//!
//! The workloads live in `morph_benches::workloads::arena`, shared with the
//! per-process runner of `cargo xtask bench`; this file is the criterion
//! wiring. Groups (workloads) and functions (implementations):
//! `arena_small_objects` (10k × 24 B, all four), `arena_mixed_sizes` and
//! `arena_compile_cycle` (~4 MiB filled, reset, refilled; typed-arena sits
//! those out: one type, no reset). Checksums are asserted equal before timing.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use morph_benches::workloads::arena::{
    CYCLE_COUNT, MIXED_COUNT, SMALL_COUNT, boxed, bump, morph, typed,
};

// ---------------------------------------------------------------------------
// Criterion wiring.
// ---------------------------------------------------------------------------

fn configure<'c>(c: &'c mut Criterion, name: &str, elements: u64) -> BenchmarkGroup<'c, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(30)
        .throughput(Throughput::Elements(elements));
    group
}

fn arena_small_objects(c: &mut Criterion) {
    let mut arena = morph_arena::Arena::new();
    let mut bump = bumpalo::Bump::new();
    let mut boxes = Vec::with_capacity(SMALL_COUNT as usize);
    let expected = morph::small(&mut arena, SMALL_COUNT);
    assert_eq!(bump::small(&mut bump, SMALL_COUNT), expected);
    assert_eq!(typed::small(SMALL_COUNT), expected);
    assert_eq!(boxed::small(&mut boxes, SMALL_COUNT), expected);

    let mut group = configure(c, "arena_small_objects", SMALL_COUNT);
    group.bench_function("morph-arena", |b| {
        b.iter(|| morph::small(&mut arena, black_box(SMALL_COUNT)));
    });
    group.bench_function("bumpalo", |b| {
        b.iter(|| bump::small(&mut bump, black_box(SMALL_COUNT)));
    });
    group.bench_function("typed-arena", |b| {
        b.iter(|| typed::small(black_box(SMALL_COUNT)));
    });
    group.bench_function("box-glibc", |b| {
        b.iter(|| boxed::small(&mut boxes, black_box(SMALL_COUNT)));
    });
    group.finish();
}

fn mixed_group(c: &mut Criterion, name: &str, count: u64) {
    let mut arena = morph_arena::Arena::new();
    let mut bump = bumpalo::Bump::new();
    let mut keep = Vec::with_capacity(count as usize);
    let expected = morph::mixed(&mut arena, count);
    assert_eq!(bump::mixed(&mut bump, count), expected);
    assert_eq!(boxed::mixed(&mut keep, count), expected);

    let mut group = configure(c, name, count);
    group.bench_function("morph-arena", |b| {
        b.iter(|| morph::mixed(&mut arena, black_box(count)));
    });
    group.bench_function("bumpalo", |b| {
        b.iter(|| bump::mixed(&mut bump, black_box(count)));
    });
    group.bench_function("box-glibc", |b| {
        b.iter(|| boxed::mixed(&mut keep, black_box(count)));
    });
    group.finish();
}

fn arena_mixed_sizes(c: &mut Criterion) {
    mixed_group(c, "arena_mixed_sizes", MIXED_COUNT);
}

/// One iteration = one compilation unit of ~4 MiB filled and freed; the
/// arenas are reused across iterations (that reuse is the point).
fn arena_compile_cycle(c: &mut Criterion) {
    mixed_group(c, "arena_compile_cycle", CYCLE_COUNT);
}

criterion_group!(
    benches,
    arena_small_objects,
    arena_mixed_sizes,
    arena_compile_cycle
);
criterion_main!(benches);
