//! What recording costs on an allocation fast path.
//!
//! The same bump-allocation loop runs with metrics off ([`NoMetrics`], the
//! reference) and on ([`Metrics`]); the ratio is the price of metrics per
//! allocation.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use morph_header::TypeId;
use morph_metrics::{Metrics, NoMetrics, Recorder};

const OBJECTS: usize = 10_000;
const SIZE: usize = 32;

/// Bump-allocates `OBJECTS` objects of `SIZE` bytes into `buffer`, recording
/// each, and returns a checksum so nothing is optimised away.
#[inline(never)]
fn bump_loop<R: Recorder>(buffer: &mut [u8], recorder: &mut R, types: &[TypeId; 4]) -> usize {
    let mut offset = 0;
    let mut checksum = 0usize;
    for i in 0..OBJECTS {
        let object = &mut buffer[offset..offset + SIZE];
        object[0] = i as u8;
        checksum = checksum.wrapping_add(object.as_ptr() as usize);
        recorder.record_alloc(types[i & 3], SIZE);
        offset += SIZE;
    }
    checksum
}

fn record_alloc(c: &mut Criterion) {
    let types = [0, 1, 2, 3].map(|i| TypeId::new(i).unwrap());
    let mut buffer = vec![0u8; OBJECTS * SIZE];
    let mut group = c.benchmark_group("metrics_record_alloc");
    group
        .throughput(Throughput::Elements(OBJECTS as u64))
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(30);
    group.bench_function("morph-metrics-off", |b| {
        b.iter(|| bump_loop(black_box(&mut buffer), &mut NoMetrics, &types))
    });
    let mut metrics = Metrics::new();
    group.bench_function("metrics-on", |b| {
        b.iter(|| bump_loop(black_box(&mut buffer), &mut metrics, &types))
    });
    group.finish();
    black_box(metrics.live_bytes());
}

criterion_group!(benches, record_alloc);
criterion_main!(benches);
