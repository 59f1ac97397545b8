//! The pool alloc/free workload shared by `benches/pool.rs` (morph-pool,
//! `Box` on glibc malloc, `slab`) and `benches/pool_mimalloc.rs` (`Box` on
//! mimalloc), so every implementation does exactly the same work.
//!
//! One iteration allocates [`BATCH`] objects of the group's size (writing
//! their first word), then frees them in the group's [`Order`], summing the
//! first word of each object freed; the sum must equal [`CHECKSUM`].

use std::hint::black_box;
use std::time::Duration;

/// Objects allocated, then freed, per iteration.
pub const BATCH: usize = 1000;

/// Sum of the first words of all objects of a batch (`0 + 1 + ... + 999`).
pub const CHECKSUM: u64 = (BATCH as u64 - 1) * BATCH as u64 / 2;

/// Criterion measurement time per benchmark: short, so both binaries run in
/// about two minutes.
pub const MEASUREMENT_TIME: Duration = Duration::from_secs(1);
/// Criterion warm-up time per benchmark.
pub const WARM_UP_TIME: Duration = Duration::from_millis(300);
/// Criterion samples per benchmark.
pub const SAMPLE_SIZE: usize = 20;

/// An object of `8 * W` bytes.
#[derive(Clone, Copy, Debug)]
pub struct Obj<const W: usize>(pub [u64; W]);

impl<const W: usize> Obj<W> {
    /// An object whose first word is `value` (the last word is written too,
    /// so the whole object is touched).
    #[inline(always)]
    #[must_use]
    pub fn new(value: u64) -> Self {
        let mut words = [0u64; W];
        words[0] = value;
        words[W - 1] ^= value;
        Self(words)
    }

    /// The first word, summed into the checksum.
    #[inline(always)]
    #[must_use]
    pub fn first(&self) -> u64 {
        self.0[0]
    }
}

/// The order in which a batch is freed: `indices[k]` is the allocation index
/// of the `k`-th object freed.
#[derive(Clone, Debug)]
pub struct Order {
    /// A permutation of `0..BATCH`.
    pub indices: Vec<usize>,
}

impl Order {
    /// Newest first.
    #[must_use]
    pub fn lifo() -> Self {
        Self {
            indices: (0..BATCH).rev().collect(),
        }
    }

    /// Oldest first.
    #[must_use]
    pub fn fifo() -> Self {
        Self {
            indices: (0..BATCH).collect(),
        }
    }

    /// A fixed pseudo-random permutation (xorshift, Fisher-Yates), the same
    /// in every binary and run.
    #[must_use]
    pub fn random() -> Self {
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

/// Calls `f(size, group_name, order)` for every group: each of the LIFO,
/// FIFO and random orders for each size class (32, 64, 128, 256 bytes).
/// Group names are `pool_{order}_{size}`.
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

/// The `Box` implementation of the workload, on whichever global allocator
/// the bench binary uses (the allocator is chosen per binary).
#[derive(Debug)]
pub struct BoxedBatch<const W: usize> {
    handles: Vec<Option<Box<Obj<W>>>>,
}

impl<const W: usize> BoxedBatch<W> {
    /// Room for a batch; the objects themselves are allocated per iteration.
    #[must_use]
    pub fn new() -> Self {
        Self {
            handles: (0..BATCH).map(|_| None).collect(),
        }
    }

    /// One iteration: `Box::new` a batch, drop it in `order`; returns the
    /// checksum (asserted to be [`CHECKSUM`]).
    #[inline]
    pub fn run(&mut self, order: &[usize]) -> u64 {
        for (i, handle) in self.handles.iter_mut().enumerate() {
            *handle = Some(Box::new(Obj::new(i as u64)));
        }
        let mut checksum = 0u64;
        for &i in order {
            let obj = self.handles[i].take().expect("allocated above");
            checksum = checksum.wrapping_add(black_box(&*obj).first());
        }
        assert_eq!(checksum, CHECKSUM);
        checksum
    }
}

impl<const W: usize> Default for BoxedBatch<W> {
    fn default() -> Self {
        Self::new()
    }
}

/// The morph-pool implementation of one iteration: `pool.alloc` a batch into
/// `handles`, drop it in `order`; returns the checksum (asserted to be
/// [`CHECKSUM`]). The pool and the handle table live with the caller, so a
/// benchmark reuses them across iterations as a long-running program would.
#[inline]
pub fn morph_pool_batch<'p, const W: usize>(
    pool: &'p morph_pool::Pool<Obj<W>>,
    handles: &mut [Option<morph_pool::PoolBox<'p, Obj<W>>>],
    order: &[usize],
) -> u64 {
    for (i, handle) in handles.iter_mut().enumerate() {
        *handle = Some(pool.alloc(Obj::new(i as u64)));
    }
    let mut checksum = 0u64;
    for &i in order {
        let obj = handles[i].take().expect("allocated above");
        checksum = checksum.wrapping_add(black_box(&*obj).first());
    }
    assert_eq!(checksum, CHECKSUM);
    checksum
}

/// The `slab` implementation of the workload.
#[derive(Debug)]
pub struct SlabBatch<const W: usize> {
    slab: slab::Slab<Obj<W>>,
    keys: Vec<usize>,
}

impl<const W: usize> SlabBatch<W> {
    /// A slab with room for a batch.
    #[must_use]
    pub fn new() -> Self {
        Self {
            slab: slab::Slab::with_capacity(BATCH),
            keys: vec![0; BATCH],
        }
    }

    /// One iteration: insert a batch, remove it in `order`; returns the
    /// checksum (asserted to be [`CHECKSUM`]).
    #[inline]
    pub fn run(&mut self, order: &[usize]) -> u64 {
        for (i, key) in self.keys.iter_mut().enumerate() {
            *key = self.slab.insert(Obj::new(i as u64));
        }
        let mut checksum = 0u64;
        for &i in order {
            let obj = self.slab.remove(self.keys[i]);
            checksum = checksum.wrapping_add(black_box(&obj).first());
        }
        assert_eq!(checksum, CHECKSUM);
        checksum
    }
}

impl<const W: usize> Default for SlabBatch<W> {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `iterations` batches of `size`-byte objects freed in `order` with
/// implementation `implementation` (`morph-pool`, `slab`, or a `box-*` on
/// the binary's allocator) in this process; returns the summed checksum, or
/// `None` for an unknown implementation or size.
#[must_use]
pub fn run_batches(
    implementation: &str,
    size: usize,
    order: &Order,
    iterations: u64,
) -> Option<u64> {
    match size {
        32 => run_sized::<4>(implementation, order, iterations),
        64 => run_sized::<8>(implementation, order, iterations),
        128 => run_sized::<16>(implementation, order, iterations),
        256 => run_sized::<32>(implementation, order, iterations),
        _ => None,
    }
}

fn run_sized<const W: usize>(implementation: &str, order: &Order, iterations: u64) -> Option<u64> {
    let order = &order.indices[..];
    let mut checksum = 0u64;
    match implementation {
        "morph-pool" => {
            let pool = morph_pool::Pool::<Obj<W>>::new();
            let mut handles: Vec<Option<morph_pool::PoolBox<'_, Obj<W>>>> =
                (0..BATCH).map(|_| None).collect();
            for _ in 0..iterations {
                checksum = checksum.wrapping_add(morph_pool_batch(&pool, &mut handles, order));
            }
        }
        "slab" => {
            let mut batch = SlabBatch::<W>::new();
            for _ in 0..iterations {
                checksum = checksum.wrapping_add(batch.run(order));
            }
        }
        name if name.starts_with("box-") => {
            let mut batch = BoxedBatch::<W>::new();
            for _ in 0..iterations {
                checksum = checksum.wrapping_add(batch.run(order));
            }
        }
        _ => return None,
    }
    Some(checksum)
}
