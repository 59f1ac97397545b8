//! Collector workloads under criterion: binary-trees, GCBench and alloc
//! churn on morph-gengc, `Box` (glibc malloc), `Rc`, gc-arena, rust-gc (the
//! `gc` crate) and dumpster, measured in the same run.
//!
//! The workloads themselves live in `morph_benches::workloads::trees`, shared
//! with the per-process runner of `cargo xtask bench`; this file is only the
//! criterion wiring. Groups (workloads) and functions (implementations), as
//! `cargo xtask bench --criterion` expects: `gc_binary_trees` (depth 15),
//! `gc_gcbench` (stretch 17, long-lived 16) and `gc_alloc_churn` (100k nodes,
//! steady live set of ~2000). Every implementation's checksum is asserted
//! equal once before timing (tree checksums also against a closed form).

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use morph_benches::workloads::trees::{
    BINARY_TREES_MAX_DEPTH, CHURN_ALLOCATIONS, GCBENCH, IMPLEMENTATIONS, Implementation, workload,
};

/// Short settings so the whole binary runs in a few minutes; flat sampling
/// because one iteration of the tree workloads takes a good fraction of a second.
fn configure<'c>(c: &'c mut Criterion, name: &str, elements: u64) -> BenchmarkGroup<'c, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1))
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(elements));
    group
}

/// Runs `workload` once per implementation, asserts one checksum for all,
/// then times each implementation.
fn run_group(
    c: &mut Criterion,
    name: &str,
    elements: u64,
    expected: Option<u64>,
    workload: impl Fn(&Implementation) -> u64,
) {
    let reference = expected.unwrap_or_else(|| workload(&IMPLEMENTATIONS[0]));
    for implementation in IMPLEMENTATIONS {
        assert_eq!(
            workload(implementation),
            reference,
            "{name}: {} computed a different checksum",
            implementation.name
        );
    }
    let mut group = configure(c, name, elements);
    for implementation in IMPLEMENTATIONS {
        group.bench_function(implementation.name, |b| {
            b.iter(|| black_box(workload(implementation)))
        });
    }
    group.finish();
}

fn gc_binary_trees(c: &mut Criterion) {
    let depth = black_box(BINARY_TREES_MAX_DEPTH);
    run_group(
        c,
        "gc_binary_trees",
        workload::binary_trees_allocations(BINARY_TREES_MAX_DEPTH),
        Some(workload::binary_trees_expected(BINARY_TREES_MAX_DEPTH)),
        |implementation| (implementation.binary_trees)(depth),
    );
}

fn gc_gcbench(c: &mut Criterion) {
    let shape = black_box(GCBENCH);
    run_group(
        c,
        "gc_gcbench",
        GCBENCH.allocations(),
        Some(GCBENCH.expected()),
        |implementation| (implementation.gcbench)(&shape),
    );
}

fn gc_alloc_churn(c: &mut Criterion) {
    let allocations = black_box(CHURN_ALLOCATIONS);
    run_group(
        c,
        "gc_alloc_churn",
        CHURN_ALLOCATIONS,
        None,
        |implementation| (implementation.alloc_churn)(allocations),
    );
}

criterion_group!(benches, gc_binary_trees, gc_gcbench, gc_alloc_churn);
criterion_main!(benches);
