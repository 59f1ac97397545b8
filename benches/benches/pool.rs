//! Pool alloc/free mixes: a batch of objects allocated, then freed in LIFO,
//! FIFO or random order, per size class; morph-pool against `Box` on glibc
//! malloc and `slab`. `pool_mimalloc.rs` adds `Box` on mimalloc to the same
//! groups.
//!
//! Every implementation does the same work: allocate `BATCH` objects of the
//! class size (writing their first word), then free them in the group's order,
//! summing the first word of each object freed; the sum is the checksum.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

/// The workload, identical in `pool.rs` and `pool_mimalloc.rs` (each bench
/// binary is one file; keep the two copies in sync).
#[allow(dead_code)]
mod workload {
    use std::hint::black_box;
    use std::time::Duration;

    use criterion::measurement::WallTime;
    use criterion::{BenchmarkGroup, Criterion};

    /// Objects allocated, then freed, per iteration.
    pub const BATCH: usize = 1000;

    /// Sum of the first words of all objects of a batch (`0 + 1 + ... + 999`).
    pub const CHECKSUM: u64 = (BATCH as u64 - 1) * BATCH as u64 / 2;

    /// An object of `8 * W` bytes.
    #[derive(Clone, Copy)]
    pub struct Obj<const W: usize>(pub [u64; W]);

    impl<const W: usize> Obj<W> {
        #[inline(always)]
        pub fn new(value: u64) -> Self {
            let mut words = [0u64; W];
            words[0] = value;
            words[W - 1] ^= value;
            Self(words)
        }

        #[inline(always)]
        pub fn first(&self) -> u64 {
            self.0[0]
        }
    }

    /// The order in which a batch is freed.
    pub struct Order {
        pub indices: Vec<usize>,
    }

    impl Order {
        fn lifo() -> Self {
            Self {
                indices: (0..BATCH).rev().collect(),
            }
        }

        fn fifo() -> Self {
            Self {
                indices: (0..BATCH).collect(),
            }
        }

        /// A fixed pseudo-random permutation (xorshift, Fisher-Yates), the same
        /// in every binary and run.
        fn random() -> Self {
            let mut indices: Vec<usize> = (0..BATCH).collect();
            let mut state = 0x2545_F491_4F6C_DD1Du64;
            for i in (1..BATCH).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                indices.swap(i, (state % (i as u64 + 1)) as usize);
            }
            Self { indices }
        }
    }

    /// Short measurements so both binaries run in about two minutes.
    pub fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
        group
            .measurement_time(Duration::from_secs(1))
            .warm_up_time(Duration::from_millis(300))
            .sample_size(20);
    }

    /// Calls `f(size, group_name, order)` for every group: each of the LIFO,
    /// FIFO and random orders for each size class (32, 64, 128, 256 bytes).
    pub fn for_each_group(mut f: impl FnMut(usize, &str, &Order)) {
        let orders = [
            ("lifo", Order::lifo()),
            ("fifo", Order::fifo()),
            ("random", Order::random()),
        ];
        for (order_name, order) in &orders {
            for size in [32, 64, 128, 256] {
                f(size, &format!("pool_{order_name}_{size}"), order);
            }
        }
    }

    /// `Box::new` / drop on whichever global allocator the binary uses.
    pub fn boxed<const W: usize>(c: &mut Criterion, group_name: &str, order: &[usize], name: &str) {
        let mut handles: Vec<Option<Box<Obj<W>>>> = (0..BATCH).map(|_| None).collect();
        let mut group = c.benchmark_group(group_name);
        configure(&mut group);
        group.bench_function(name, |b| {
            b.iter(|| {
                for (i, handle) in handles.iter_mut().enumerate() {
                    *handle = Some(Box::new(Obj::new(i as u64)));
                }
                let mut checksum = 0u64;
                for &i in order {
                    let obj = handles[i].take().expect("allocated above");
                    checksum = checksum.wrapping_add(black_box(&*obj).first());
                }
                assert_eq!(checksum, CHECKSUM);
                black_box(checksum)
            });
        });
        group.finish();
    }
}

use workload::{BATCH, Obj, Order, configure, for_each_group};

fn morph_pool<const W: usize>(c: &mut Criterion, group_name: &str, order: &[usize]) {
    let pool = morph_pool::Pool::<Obj<W>>::new();
    let mut handles: Vec<Option<morph_pool::PoolBox<'_, Obj<W>>>> =
        (0..BATCH).map(|_| None).collect();
    let mut group = c.benchmark_group(group_name);
    configure(&mut group);
    group.bench_function("morph-pool", |b| {
        b.iter(|| {
            for (i, handle) in handles.iter_mut().enumerate() {
                *handle = Some(pool.alloc(Obj::new(i as u64)));
            }
            let mut checksum = 0u64;
            for &i in order {
                let obj = handles[i].take().expect("allocated above");
                checksum = checksum.wrapping_add(black_box(&*obj).first());
            }
            assert_eq!(checksum, workload::CHECKSUM);
            black_box(checksum)
        });
    });
    group.finish();
}

fn slab<const W: usize>(c: &mut Criterion, group_name: &str, order: &[usize]) {
    let mut slab = slab::Slab::<Obj<W>>::with_capacity(BATCH);
    let mut keys = vec![0usize; BATCH];
    let mut group = c.benchmark_group(group_name);
    configure(&mut group);
    group.bench_function("slab", |b| {
        b.iter(|| {
            for (i, key) in keys.iter_mut().enumerate() {
                *key = slab.insert(Obj::new(i as u64));
            }
            let mut checksum = 0u64;
            for &i in order {
                let obj = slab.remove(keys[i]);
                checksum = checksum.wrapping_add(black_box(&obj).first());
            }
            assert_eq!(checksum, workload::CHECKSUM);
            black_box(checksum)
        });
    });
    group.finish();
}

fn run<const W: usize>(c: &mut Criterion, group_name: &str, order: &Order) {
    morph_pool::<W>(c, group_name, &order.indices);
    workload::boxed::<W>(c, group_name, &order.indices, "box-glibc");
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
