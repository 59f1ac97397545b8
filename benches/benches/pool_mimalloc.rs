//! `Box` on mimalloc, in the same groups as `pool.rs` (same workload and
//! checksum), so `cargo xtask bench` joins the rows into one table. It lives
//! in its own binary because the global allocator is per binary.

use criterion::{Criterion, criterion_group, criterion_main};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

fn benches(c: &mut Criterion) {
    workload::for_each_group(|size, group_name, order| match size {
        32 => workload::boxed::<4>(c, group_name, &order.indices, "box-mimalloc"),
        64 => workload::boxed::<8>(c, group_name, &order.indices, "box-mimalloc"),
        128 => workload::boxed::<16>(c, group_name, &order.indices, "box-mimalloc"),
        256 => workload::boxed::<32>(c, group_name, &order.indices, "box-mimalloc"),
        _ => unreachable!("size classes are 32..=256"),
    });
}

criterion_group!(pool_mimalloc, benches);
criterion_main!(pool_mimalloc);
