//! Multi-threaded pool workloads, one process per run: morph-pool's shared
//! pools (safe API) against `Box`-style allocation on glibc and mimalloc,
//! the older `SyncPool` (raw slots, per-thread `LocalCache`) and
//! sharded-slab.
//!
//! ```text
//! cargo bench -p morph-benches --bench pool_threads            # the table
//! cargo bench -p morph-benches --bench pool_threads -- --runs 7
//! ```
//!
//! Workloads (ops = allocations + frees; every implementation writes the
//! whole object on allocation and reads its first word on free; the sum of
//! those words is the checksum, which must agree across implementations):
//! - `churn-1t`, `churn-2t`: each thread allocates a batch of 1,000
//!   64-byte objects and frees it LIFO, over and over.
//! - `prod-cons`: one thread allocates 64-byte objects and sends them, 256
//!   to a message, to a second thread that frees them.
//! - `random`: two threads each keep 100,000 live objects of mixed sizes
//!   (24, 48, 96 or 224 bytes, uniformly) and replace a random one at each
//!   step; peak RSS is reported for this workload.
//!
//! Peers: `box-glibc` and `box-mimalloc` call the `GlobalAlloc` of the
//! system allocator and of mimalloc directly (what `Box::new` does under
//! each as global allocator), so both run in the same binary; the global
//! allocator of this binary (glibc) serves only the harness. The orchestrator
//! runs each (workload, implementation) in its own process `--runs` times,
//! interleaved round by round, and reports the median.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::process::Command;
use std::ptr::NonNull;
use std::sync::{Barrier, mpsc};
use std::time::{Duration, Instant};

use mimalloc::MiMalloc;
use morph_pool::{
    DEFAULT_CACHE_CAPACITY, LocalCache, PoolConfig, SharedBox, SharedPool, SharedSizeClassPool,
    SizeClassConfig, SyncPool,
};

const BATCH: usize = 1_000;
const CHURN_ROUNDS: usize = 10_000;
const PC_OBJECTS: usize = 10_000_000;
const PC_MESSAGE: usize = 256;
const LIVE: usize = 100_000;
const RANDOM_STEPS: usize = 4_000_000;

/// Object kinds: words per object. Kind 0 is the 64-byte object of churn
/// and producer/consumer; kinds 1..=4 are the mixed sizes.
const WORDS: [usize; 5] = [8, 3, 6, 12, 28];

// ---------------------------------------------------------------------------
// Implementations

/// One allocator under test. `Local` is per-thread state (a cache), `H` a
/// handle to one live object that may move to another thread.
trait Impl: Sync + Sized {
    type Local<'p>
    where
        Self: 'p;
    type H<'p>: Send
    where
        Self: 'p;
    /// A handle to one 64-byte object: what a program using only that
    /// size would hold (churn, producer/consumer).
    type One<'p>: Send
    where
        Self: 'p;
    fn new() -> Self;
    fn local(&self) -> Self::Local<'_>;
    fn alloc<'p>(&'p self, local: &mut Self::Local<'p>, kind: usize, v: u64) -> Self::H<'p>;
    fn free<'p>(&'p self, local: &mut Self::Local<'p>, h: Self::H<'p>) -> u64;
    fn alloc_one<'p>(&'p self, local: &mut Self::Local<'p>, v: u64) -> Self::One<'p>;
    fn free_one<'p>(&'p self, local: &mut Self::Local<'p>, h: Self::One<'p>) -> u64;
}

/// A raw pointer to a 64-byte object, sendable like [`RawH`].
struct RawOne(NonNull<u8>);
// SAFETY: plain memory owned by whoever holds the handle.
unsafe impl Send for RawOne {}

/// Writes `[v; W]` at `ptr` for the kind's `W`.
///
/// # Safety
/// `ptr` is valid for `WORDS[kind] * 8` bytes and 8-aligned.
#[inline(always)]
unsafe fn fill(ptr: NonNull<u8>, kind: usize, v: u64) {
    // Each arm writes exactly the kind's size (forwarded contract).
    match kind {
        // SAFETY: 64 bytes, 8-aligned (caller contract).
        0 => unsafe { ptr.cast::<[u64; 8]>().write([v; 8]) },
        // SAFETY: 24 bytes, 8-aligned (caller contract).
        1 => unsafe { ptr.cast::<[u64; 3]>().write([v; 3]) },
        // SAFETY: 48 bytes, 8-aligned (caller contract).
        2 => unsafe { ptr.cast::<[u64; 6]>().write([v; 6]) },
        // SAFETY: 96 bytes, 8-aligned (caller contract).
        3 => unsafe { ptr.cast::<[u64; 12]>().write([v; 12]) },
        // SAFETY: 224 bytes, 8-aligned (caller contract).
        _ => unsafe { ptr.cast::<[u64; 28]>().write([v; 28]) },
    }
}

fn layout(kind: usize) -> Layout {
    Layout::from_size_align(WORDS[kind] * 8, 8).expect("small layout")
}

/// A raw object pointer with its kind, sendable (the workloads hand each
/// object to one thread at a time).
struct RawH(NonNull<u8>, usize);
// SAFETY: plain memory owned by whoever holds the handle.
unsafe impl Send for RawH {}

/// `GlobalAlloc` called directly: what `Box` does with that global allocator.
struct Direct<A: GlobalAlloc + Sync + Default>(A);

impl<A: GlobalAlloc + Sync + Default> Impl for Direct<A> {
    type Local<'p>
        = ()
    where
        Self: 'p;
    type H<'p>
        = RawH
    where
        Self: 'p;
    type One<'p>
        = RawOne
    where
        Self: 'p;
    fn new() -> Self {
        Self(A::default())
    }
    #[inline(always)]
    fn alloc_one(&self, _: &mut (), v: u64) -> RawOne {
        // SAFETY: non-zero size.
        let ptr = NonNull::new(unsafe { self.0.alloc(layout(0)) }).expect("out of memory");
        // SAFETY: just allocated, 64 bytes, 8-aligned.
        unsafe { ptr.cast::<[u64; 8]>().write([v; 8]) };
        RawOne(ptr)
    }
    #[inline(always)]
    fn free_one(&self, _: &mut (), h: RawOne) -> u64 {
        // SAFETY: initialised by `alloc_one`.
        let v = unsafe { h.0.cast::<u64>().read() };
        // SAFETY: allocated by this allocator with this layout.
        unsafe { self.0.dealloc(h.0.as_ptr(), layout(0)) };
        v
    }
    fn local(&self) {}
    #[inline(always)]
    fn alloc(&self, _: &mut (), kind: usize, v: u64) -> RawH {
        // SAFETY: non-zero size.
        let ptr = NonNull::new(unsafe { self.0.alloc(layout(kind)) }).expect("out of memory");
        // SAFETY: just allocated with the kind's layout.
        unsafe { fill(ptr, kind, v) };
        RawH(ptr, kind)
    }
    #[inline(always)]
    fn free(&self, _: &mut (), h: RawH) -> u64 {
        // SAFETY: initialised by `alloc`.
        let v = unsafe { h.0.cast::<u64>().read() };
        // SAFETY: allocated by this allocator with this layout.
        unsafe { self.0.dealloc(h.0.as_ptr(), layout(h.1)) };
        v
    }
}

#[derive(Default)]
struct Glibc;
// SAFETY: forwards to the system allocator.
unsafe impl GlobalAlloc for Glibc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[derive(Default)]
struct Mi;
// SAFETY: forwards to mimalloc.
unsafe impl GlobalAlloc for Mi {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe { MiMalloc.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }
}

/// The shared pools, through the safe API: `SharedPool<[u64; 8]>` for the
/// 64-byte kind, `SharedSizeClassPool::alloc_box` for the mixed kinds.
struct Shared {
    fixed: SharedPool<[u64; 8]>,
    classes: SharedSizeClassPool,
}

enum SharedH<'p> {
    K0(SharedBox<'p, [u64; 8]>),
    K1(SharedBox<'p, [u64; 3]>),
    K2(SharedBox<'p, [u64; 6]>),
    K3(SharedBox<'p, [u64; 12]>),
    K4(SharedBox<'p, [u64; 28]>),
}

fn boxed<T>(result: Result<SharedBox<'_, T>, (T, morph_pool::PoolError)>) -> SharedBox<'_, T> {
    result.unwrap_or_else(|(_, err)| panic!("{err}"))
}

/// Slots per magazine: the default, or `POOL_THREADS_MAGAZINE` (for the
/// sizing table in docs/TUNING.md).
fn magazine_slots() -> usize {
    std::env::var("POOL_THREADS_MAGAZINE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(morph_pool::DEFAULT_MAGAZINE_SLOTS)
}

fn shared_with(classes: SizeClassConfig) -> Shared {
    let magazine = magazine_slots();
    Shared {
        fixed: SharedPool::with_config(PoolConfig::default(), magazine).expect("valid pool"),
        classes: SharedSizeClassPool::with_magazine_slots(classes, magazine)
            .expect("valid classes"),
    }
}

impl Impl for Shared {
    type Local<'p>
        = ()
    where
        Self: 'p;
    type H<'p>
        = SharedH<'p>
    where
        Self: 'p;
    type One<'p>
        = SharedBox<'p, [u64; 8]>
    where
        Self: 'p;
    fn new() -> Self {
        shared_with(SizeClassConfig::default())
    }
    #[inline(always)]
    fn alloc_one<'p>(&'p self, _: &mut (), v: u64) -> SharedBox<'p, [u64; 8]> {
        self.fixed.alloc([v; 8])
    }
    #[inline(always)]
    fn free_one<'p>(&'p self, _: &mut (), h: SharedBox<'p, [u64; 8]>) -> u64 {
        h[0]
    }
    fn local(&self) {}
    #[inline(always)]
    fn alloc<'p>(&'p self, _: &mut (), kind: usize, v: u64) -> SharedH<'p> {
        let c = &self.classes;
        match kind {
            0 => SharedH::K0(self.fixed.alloc([v; 8])),
            1 => SharedH::K1(boxed(c.alloc_box([v; 3]))),
            2 => SharedH::K2(boxed(c.alloc_box([v; 6]))),
            3 => SharedH::K3(boxed(c.alloc_box([v; 12]))),
            _ => SharedH::K4(boxed(c.alloc_box([v; 28]))),
        }
    }
    #[inline(always)]
    fn free<'p>(&'p self, _: &mut (), h: SharedH<'p>) -> u64 {
        match h {
            SharedH::K0(b) => b[0],
            SharedH::K1(b) => b[0],
            SharedH::K2(b) => b[0],
            SharedH::K3(b) => b[0],
            SharedH::K4(b) => b[0],
        }
    }
}

/// The same, with finer size classes (every mimalloc bin from 32 to 256).
struct SharedFine(Shared);

impl Impl for SharedFine {
    type Local<'p>
        = ()
    where
        Self: 'p;
    type H<'p>
        = SharedH<'p>
    where
        Self: 'p;
    type One<'p>
        = SharedBox<'p, [u64; 8]>
    where
        Self: 'p;
    #[inline(always)]
    fn alloc_one<'p>(&'p self, l: &mut (), v: u64) -> SharedBox<'p, [u64; 8]> {
        self.0.alloc_one(l, v)
    }
    #[inline(always)]
    fn free_one<'p>(&'p self, l: &mut (), h: SharedBox<'p, [u64; 8]>) -> u64 {
        self.0.free_one(l, h)
    }
    fn new() -> Self {
        let classes = vec![32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256];
        Self(shared_with(SizeClassConfig::with_classes(classes)))
    }
    fn local(&self) {}
    #[inline(always)]
    fn alloc<'p>(&'p self, l: &mut (), kind: usize, v: u64) -> SharedH<'p> {
        self.0.alloc(l, kind, v)
    }
    #[inline(always)]
    fn free<'p>(&'p self, l: &mut (), h: SharedH<'p>) -> u64 {
        self.0.free(l, h)
    }
}

/// `SyncPool` per kind with the default cache, through `LocalCache` (raw
/// slots, `unsafe` free).
struct Sync5([SyncPool; 5]);

impl Impl for Sync5 {
    type Local<'p>
        = Vec<LocalCache<'p>>
    where
        Self: 'p;
    type H<'p>
        = RawH
    where
        Self: 'p;
    type One<'p>
        = RawOne
    where
        Self: 'p;
    #[inline(always)]
    fn alloc_one<'p>(&'p self, local: &mut Vec<LocalCache<'p>>, v: u64) -> RawOne {
        let ptr = local[0].alloc().expect("out of memory");
        // SAFETY: a 64-byte slot, 16-aligned.
        unsafe { ptr.cast::<[u64; 8]>().write([v; 8]) };
        RawOne(ptr)
    }
    #[inline(always)]
    fn free_one<'p>(&'p self, local: &mut Vec<LocalCache<'p>>, h: RawOne) -> u64 {
        // SAFETY: initialised by `alloc_one`.
        let v = unsafe { h.0.cast::<u64>().read() };
        // SAFETY: allocated from the 64-byte pool, freed once.
        unsafe { local[0].free(h.0) };
        v
    }
    fn new() -> Self {
        let sizes = [64, 32, 48, 96, 224];
        Self(sizes.map(|size| {
            SyncPool::new(size, PoolConfig::default(), DEFAULT_CACHE_CAPACITY).expect("valid pool")
        }))
    }
    fn local(&self) -> Vec<LocalCache<'_>> {
        self.0.iter().map(SyncPool::cache).collect()
    }
    #[inline(always)]
    fn alloc<'p>(&'p self, local: &mut Vec<LocalCache<'p>>, kind: usize, v: u64) -> RawH {
        let ptr = local[kind].alloc().expect("out of memory");
        // SAFETY: a slot of at least the kind's size, 16-aligned.
        unsafe { fill(ptr, kind, v) };
        RawH(ptr, kind)
    }
    #[inline(always)]
    fn free<'p>(&'p self, local: &mut Vec<LocalCache<'p>>, h: RawH) -> u64 {
        // SAFETY: initialised by `alloc`.
        let v = unsafe { h.0.cast::<u64>().read() };
        // SAFETY: allocated from this kind's pool, freed once.
        unsafe { local[h.1].free(h.0) };
        v
    }
}

/// sharded-slab, one slab per kind; a handle is a key.
struct Slabs {
    k0: sharded_slab::Slab<[u64; 8]>,
    k1: sharded_slab::Slab<[u64; 3]>,
    k2: sharded_slab::Slab<[u64; 6]>,
    k3: sharded_slab::Slab<[u64; 12]>,
    k4: sharded_slab::Slab<[u64; 28]>,
}

impl Impl for Slabs {
    type Local<'p>
        = ()
    where
        Self: 'p;
    type H<'p>
        = (usize, usize)
    where
        Self: 'p;
    type One<'p>
        = usize
    where
        Self: 'p;
    #[inline(always)]
    fn alloc_one(&self, _: &mut (), v: u64) -> usize {
        self.k0.insert([v; 8]).expect("slab full")
    }
    #[inline(always)]
    fn free_one(&self, _: &mut (), key: usize) -> u64 {
        self.k0.take(key).expect("live key")[0]
    }
    fn new() -> Self {
        Self {
            k0: sharded_slab::Slab::new(),
            k1: sharded_slab::Slab::new(),
            k2: sharded_slab::Slab::new(),
            k3: sharded_slab::Slab::new(),
            k4: sharded_slab::Slab::new(),
        }
    }
    fn local(&self) {}
    #[inline(always)]
    fn alloc(&self, _: &mut (), kind: usize, v: u64) -> (usize, usize) {
        let key = match kind {
            0 => self.k0.insert([v; 8]),
            1 => self.k1.insert([v; 3]),
            2 => self.k2.insert([v; 6]),
            3 => self.k3.insert([v; 12]),
            _ => self.k4.insert([v; 28]),
        };
        (key.expect("slab full"), kind)
    }
    #[inline(always)]
    fn free(&self, _: &mut (), (key, kind): (usize, usize)) -> u64 {
        let first = match kind {
            0 => self.k0.take(key).map(|o| o[0]),
            1 => self.k1.take(key).map(|o| o[0]),
            2 => self.k2.take(key).map(|o| o[0]),
            3 => self.k3.take(key).map(|o| o[0]),
            _ => self.k4.take(key).map(|o| o[0]),
        };
        first.expect("live key")
    }
}

// ---------------------------------------------------------------------------
// Workloads: each returns (elapsed, process CPU time, ops, checksum).

/// CPU time of this process (all threads) so far.
fn process_cpu_time() -> Duration {
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` writes one `timespec` into a live, aligned one.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut time) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(time.tv_sec as u64, time.tv_nsec as u32)
}

/// Wall and CPU time from now until `f` returns.
fn timed<R>(f: impl FnOnce() -> R) -> (Duration, Duration, R) {
    let (wall, cpu) = (Instant::now(), process_cpu_time());
    let result = f();
    (wall.elapsed(), process_cpu_time() - cpu, result)
}

fn churn<I: Impl>(threads: usize) -> (Duration, Duration, u64, u64) {
    let imp = I::new();
    let start = Barrier::new(threads + 1);
    let (elapsed, cpu, sum) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (imp, start) = (&imp, &start);
                s.spawn(move || {
                    let mut local = imp.local();
                    let mut batch = Vec::with_capacity(BATCH);
                    let mut sum = 0u64;
                    start.wait();
                    for round in 0..CHURN_ROUNDS {
                        for i in 0..BATCH {
                            batch.push(imp.alloc_one(&mut local, (round + i) as u64));
                        }
                        while let Some(h) = batch.pop() {
                            sum = sum.wrapping_add(imp.free_one(&mut local, h));
                        }
                    }
                    sum
                })
            })
            .collect();
        start.wait();
        timed(|| {
            workers
                .into_iter()
                .map(|w| w.join().expect("worker"))
                .fold(0u64, u64::wrapping_add)
        })
    });
    let ops = (threads * CHURN_ROUNDS * BATCH * 2) as u64;
    (elapsed, cpu, ops, sum)
}

fn prod_cons<I: Impl>() -> (Duration, Duration, u64, u64) {
    let imp = I::new();
    let (to_consumer, from_producer) = mpsc::sync_channel::<Vec<I::One<'_>>>(8);
    let (to_producer, empties) = mpsc::channel::<Vec<I::One<'_>>>();
    let start = Barrier::new(3);
    let (elapsed, cpu, sum) = std::thread::scope(|s| {
        let (imp_p, start_p) = (&imp, &start);
        let producer = s.spawn(move || {
            let mut local = imp_p.local();
            start_p.wait();
            let mut made = 0;
            while made < PC_OBJECTS {
                let mut message = empties
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(PC_MESSAGE));
                for _ in 0..PC_MESSAGE.min(PC_OBJECTS - made) {
                    message.push(imp_p.alloc_one(&mut local, made as u64));
                    made += 1;
                }
                to_consumer.send(message).expect("consumer alive");
            }
        });
        let (imp_c, start_c) = (&imp, &start);
        let consumer = s.spawn(move || {
            let mut local = imp_c.local();
            let mut sum = 0u64;
            start_c.wait();
            for mut message in from_producer {
                for h in message.drain(..) {
                    sum = sum.wrapping_add(imp_c.free_one(&mut local, h));
                }
                let _ = to_producer.send(message);
            }
            sum
        });
        start.wait();
        timed(|| {
            producer.join().expect("producer");
            consumer.join().expect("consumer")
        })
    });
    (elapsed, cpu, (PC_OBJECTS * 2) as u64, sum)
}

/// xorshift64*: the same sequence for every implementation.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn random<I: Impl>() -> (Duration, Duration, u64, u64) {
    const THREADS: usize = 2;
    let imp = I::new();
    let start = Barrier::new(THREADS + 1);
    let (elapsed, cpu, sum) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (imp, start) = (&imp, &start);
                s.spawn(move || {
                    let mut local = imp.local();
                    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1));
                    let mut live: Vec<_> = (0..LIVE)
                        .map(|i| imp.alloc(&mut local, 1 + (rng.next() % 4) as usize, i as u64))
                        .collect();
                    let mut sum = 0u64;
                    start.wait();
                    for step in 0..RANDOM_STEPS {
                        let r = rng.next();
                        let index = (r >> 8) as usize % LIVE;
                        let kind = 1 + (r % 4) as usize;
                        let fresh = imp.alloc(&mut local, kind, step as u64);
                        let old = std::mem::replace(&mut live[index], fresh);
                        sum = sum.wrapping_add(imp.free(&mut local, old));
                    }
                    for h in live {
                        sum = sum.wrapping_add(imp.free(&mut local, h));
                    }
                    sum
                })
            })
            .collect();
        start.wait();
        timed(|| {
            workers
                .into_iter()
                .map(|w| w.join().expect("worker"))
                .fold(0u64, u64::wrapping_add)
        })
    });
    (elapsed, cpu, (THREADS * RANDOM_STEPS * 2) as u64, sum)
}

// ---------------------------------------------------------------------------
// Orchestration: one process per run.

const WORKLOADS: [&str; 4] = ["churn-1t", "churn-2t", "prod-cons", "random"];
const IMPLS: [&str; 6] = [
    "morph-shared",
    "morph-shared-fine",
    "morph-syncpool",
    "box-glibc",
    "box-mimalloc",
    "sharded-slab",
];

fn run_one<I: Impl>(workload: &str) -> (Duration, Duration, u64, u64) {
    match workload {
        "churn-1t" => churn::<I>(1),
        "churn-2t" => churn::<I>(2),
        "prod-cons" => prod_cons::<I>(),
        "random" => random::<I>(),
        other => panic!("unknown workload {other}"),
    }
}

fn child(workload: &str, implementation: &str) {
    let (elapsed, cpu, ops, sum) = match implementation {
        "morph-shared" => run_one::<Shared>(workload),
        "morph-shared-fine" => run_one::<SharedFine>(workload),
        "morph-syncpool" => run_one::<Sync5>(workload),
        "box-glibc" => run_one::<Direct<Glibc>>(workload),
        "box-mimalloc" => run_one::<Direct<Mi>>(workload),
        "sharded-slab" => run_one::<Slabs>(workload),
        other => panic!("unknown implementation {other}"),
    };
    let rss = morph_benches::probe::peak_rss_bytes();
    println!(
        "{} {} {} {} {}",
        ops as f64 / elapsed.as_secs_f64() / 1e6,
        rss,
        black_box(sum),
        ops as f64 / cpu.as_secs_f64() / 1e6,
        cpu.as_secs_f64() / elapsed.as_secs_f64(),
    );
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// One implementation's runs of one workload.
#[derive(Clone, Default)]
struct Samples {
    mops: Vec<f64>,
    cpu_mops: Vec<f64>,
    cpus: Vec<f64>,
    rss_mib: Vec<f64>,
    checksum: String,
}

impl Samples {
    fn run(&mut self, exe: &std::path::Path, workload: &str, implementation: &str) {
        let out = Command::new(exe)
            .args(["--child", workload, implementation])
            .output()
            .expect("run child");
        assert!(
            out.status.success(),
            "{workload}/{implementation} failed: {out:?}"
        );
        let line = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<&str> = line.split_whitespace().collect();
        self.mops.push(fields[0].parse().expect("mops"));
        self.rss_mib
            .push(fields[1].parse::<f64>().expect("rss") / (1024.0 * 1024.0));
        self.checksum = fields[2].to_string();
        self.cpu_mops.push(fields[3].parse().expect("cpu mops"));
        self.cpus.push(fields[4].parse().expect("cpus"));
    }

    /// Medians: (Mops/s, Mops/CPU-s, CPUs, peak RSS MiB).
    fn medians(&mut self) -> (f64, f64, f64, f64) {
        (
            median(&mut self.mops),
            median(&mut self.cpu_mops),
            median(&mut self.cpus),
            median(&mut self.rss_mib),
        )
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--child") {
        child(&args[at + 1], &args[at + 2]);
        return;
    }
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|at| args.get(at + 1)?.parse().ok())
        .unwrap_or(5usize);
    let only: Option<&String> = args
        .iter()
        .position(|a| a == "--workload")
        .and_then(|at| args.get(at + 1));
    let exe = std::env::current_exe().expect("own path");
    println!("pool_threads: medians of {runs} runs, one process each; ops = allocations + frees");
    println!(
        "Mops/s is wall time; Mops/CPU-s divides by the CPU time the process got (it shows the"
    );
    println!("cost per operation when other processes compete for the cores; CPUs = CPU / wall).");
    println!(
        "| workload | implementation | Mops/s | vs morph-shared | Mops/CPU-s | vs morph-shared | CPUs | peak RSS MiB | checksum |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---|");
    for workload in WORKLOADS {
        if only.is_some_and(|w| w != workload) {
            continue;
        }
        // The same pool as morph-shared for one size.
        let implementations: Vec<&str> = IMPLS
            .into_iter()
            .filter(|i| *i != "morph-shared-fine" || workload == "random")
            .collect();
        // Runs are interleaved (one of each implementation per round), so a
        // slow spell on a shared machine lands on every implementation
        // alike instead of on whichever ran during it.
        let mut samples = vec![Samples::default(); implementations.len()];
        for _ in 0..runs {
            for (implementation, samples) in implementations.iter().zip(&mut samples) {
                samples.run(&exe, workload, implementation);
            }
        }
        let ours = samples[0].medians();
        for (implementation, samples) in implementations.iter().zip(&mut samples) {
            let (m, c, u, r) = samples.medians();
            println!(
                "| {workload} | {implementation} | {m:.1} | {:.2}x | {c:.1} | {:.2}x | {u:.2} | {r:.1} | {} |",
                m / ours.0,
                c / ours.1,
                samples.checksum
            );
        }
    }
}
