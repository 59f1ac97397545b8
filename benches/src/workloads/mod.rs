//! The workload suite run by `cargo xtask bench`: every workload, the
//! implementations that run it, and what one run reports.
//!
//! One process runs one (workload, implementation, size) — see
//! [`crate::runner`] — so peak RSS and allocator state belong to that run
//! alone. Every implementation of a workload computes the same checksum from
//! the data it built; `xtask` refuses a run whose checksums differ.
//!
//! Implementation names: `morph-*` is ours (the baseline ratios are taken
//! against); `box-glibc` is `Box` on the system allocator in the
//! `morph-workload` binary, `box-mimalloc` the same code in the
//! `morph-workload-mimalloc` binary, whose global allocator is mimalloc.

use morph_gengc::Heap;
use serde_json::{Map, Value, json};

use crate::probe::distribution_json;

pub mod arena;
pub mod churn;
pub mod compiler;
pub mod objects;
pub mod server;
pub mod stalls;
pub mod trees;
pub mod vm;

/// How large a run is: quick (the default of `cargo xtask bench`) or full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// Sizes that let the whole suite finish in a few minutes on 2 cores.
    Quick,
    /// The sizes the targets are stated for (larger heaps, longer runs).
    Full,
}

impl Size {
    /// `quick` or `full`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Size::Quick => "quick",
            Size::Full => "full",
        }
    }
}

/// What one run of a workload reports besides its wall time and peak RSS.
#[derive(Debug)]
pub struct Outcome {
    /// Computed from the data the run built; equal for every implementation.
    pub checksum: u64,
    /// Objects (or operations) per run, for per-element times.
    pub elements: u64,
    /// Workload-specific measurements (collector statistics, latency
    /// distributions, memory over time), merged into the JSON line.
    pub details: Map<String, Value>,
    /// The measured time, when the workload times only part of its run
    /// (the compiler workload leaves out generating its sources); `None`:
    /// the runner times the whole call.
    pub timed: Option<std::time::Duration>,
}

impl Outcome {
    /// An outcome with no details yet.
    #[must_use]
    pub fn new(checksum: u64, elements: u64) -> Self {
        Outcome {
            checksum,
            elements,
            details: Map::new(),
            timed: None,
        }
    }

    /// Adds one detail under `key`.
    pub fn detail(&mut self, key: &str, value: Value) {
        self.details.insert(key.to_owned(), value);
    }
}

/// A deterministic pseudo-random sequence (xorshift64), the same in every
/// implementation and run.
#[derive(Clone, Debug)]
pub struct Xorshift(u64);

impl Xorshift {
    /// The sequence every workload uses.
    #[must_use]
    pub fn new() -> Self {
        Xorshift(0x2545_F491_4F6C_DD1D)
    }

    /// The next value in `0..bound`.
    #[inline]
    pub fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

impl Default for Xorshift {
    fn default() -> Self {
        Self::new()
    }
}

/// morph-gengc's own account of a run, from `Heap::stats()` and its pause
/// histogram: collections by kind, total GC time, pause percentiles (minor
/// and major together; `xtask` splits them by kind from the collector's
/// trace), promotion, and the heap's size at the end.
#[must_use]
pub fn collector_details(heap: &Heap) -> Value {
    let stats = heap.stats();
    let usage = heap.usage();
    json!({
        "source": "morph_gengc::Heap::stats()",
        "collections": stats.gc.gc_count,
        "minor_collections": stats.generational.young_gc_count,
        "major_collections": stats.generational.old_gc_count,
        "gc_time_us": stats.gc.gc_time_us,
        "promoted_bytes": stats.generational.promoted_bytes,
        "peak_live_bytes": stats.allocation.peak_live,
        "heap_reserved_at_end": usage.reserved(),
        "pauses": distribution_json(heap.raw().metrics().pauses()),
    })
}

/// The family a workload belongs to: decides which report table and which
/// targets it feeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// binary-trees, GCBench: throughput of a collector against peers.
    Collector,
    /// binary-trees at each depth of a curve: how time and peak RSS grow
    /// with the heap, against the same peers.
    Scaling,
    /// The server churn workload: pauses, GC share, memory over time.
    Server,
    /// The large-heap VM workload: minor/major pauses with a big live set.
    LargeHeap,
    /// Steady replacement: every operation's time, against live-heap size.
    Stalls,
    /// Compiler-like allocation into an arena.
    Arena,
    /// Fixed-size allocation and free.
    Pool,
    /// Tokenise + parse a generated program into an AST.
    Compiler,
    /// The mutation-heavy VM workload: many small maps and lists mutated
    /// at random; time, peak RSS and stalls against the collector peers.
    VmObjects,
}

impl Family {
    /// The name used in the JSON catalogue.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Family::Collector => "collector",
            Family::Scaling => "scaling",
            Family::Server => "server",
            Family::LargeHeap => "large-heap",
            Family::Stalls => "stalls",
            Family::Arena => "arena",
            Family::Pool => "pool",
            Family::Compiler => "compiler",
            Family::VmObjects => "vm-objects",
        }
    }
}

/// Runs one implementation of a workload at a size; `None` if the workload
/// does not know the implementation.
pub type RunFn = Box<dyn Fn(&str, Size) -> Option<Outcome>>;

/// One workload of the suite.
pub struct Workload {
    /// Name on the command line and in the report (`binary-trees`, ...).
    pub name: String,
    /// Which table and targets it feeds.
    pub family: Family,
    /// Our implementation: the reference for ratios.
    pub baseline: &'static str,
    /// Every implementation run, baseline first.
    pub implementations: Vec<&'static str>,
    /// Peers left out, and why (shown in the report).
    pub left_out: Vec<(&'static str, &'static str)>,
    /// What a quick run does.
    pub quick: String,
    /// What a full run does.
    pub full: String,
    /// Run only by `--full` (or when named): the deep end of the scaling
    /// curve, minutes per run for the slower peers.
    pub full_only: bool,
    /// Runs it.
    pub run: RunFn,
}

impl std::fmt::Debug for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workload")
            .field("name", &self.name)
            .field("implementations", &self.implementations)
            .finish_non_exhaustive()
    }
}

impl Workload {
    /// The workload's entry in `morph-workload --list`.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let left_out: Vec<Value> = self
            .left_out
            .iter()
            .map(|(name, why)| json!({ "implementation": name, "why": why }))
            .collect();
        json!({
            "name": self.name,
            "family": self.family.name(),
            "baseline": self.baseline,
            "implementations": self.implementations,
            "left_out": left_out,
            "quick": self.quick,
            "full": self.full,
            "full_only": self.full_only,
        })
    }
}

/// The collector peers of binary-trees, GCBench and the server workload.
const COLLECTOR_IMPLS: [&str; 7] = [
    "morph-gengc",
    "box-glibc",
    "box-mimalloc",
    "rc",
    "gc-arena",
    "gc",
    "dumpster",
];

/// binary-trees depth per size: the benchmarks game publishes 21; 15 keeps
/// one `Box` run near 150 ms on 2 cores, 18 is eight times the work.
fn binary_trees_depth(size: Size) -> u32 {
    match size {
        Size::Quick => trees::workload::BINARY_TREES_MAX_DEPTH,
        Size::Full => 18,
    }
}

/// The scaling curve's workloads, `binary-trees@15` .. `binary-trees@21`.
fn scaling_workloads() -> impl Iterator<Item = Workload> {
    SCALING_DEPTHS.map(|depth| Workload {
        name: format!("binary-trees@{depth}"),
        family: Family::Scaling,
        baseline: "morph-gengc",
        implementations: COLLECTOR_IMPLS.to_vec(),
        left_out: Vec::new(),
        quick: if depth <= SCALING_QUICK_MAX {
            format!("max depth {depth}")
        } else {
            format!("max depth {depth} (--full only)")
        },
        full: format!("max depth {depth}"),
        full_only: depth > SCALING_QUICK_MAX,
        run: Box::new(move |implementation, _size| binary_trees_at(implementation, depth)),
    })
}

/// The implementations of the pause studies (large-heap, the stall curve):
/// ours with incremental marking and without, and `Box` on both allocators.
const PAUSE_STUDY_IMPLS: [&str; 4] = [
    "morph-gengc",
    "morph-gengc-stw",
    "box-glibc",
    "box-mimalloc",
];

/// A large-heap VM workload: its implementations and the peers left out
/// are the same at every size.
fn large_heap_workload(
    name: &str,
    quick: String,
    full: String,
    full_only: bool,
    run: RunFn,
) -> Workload {
    Workload {
        name: name.into(),
        family: Family::LargeHeap,
        baseline: "morph-gengc",
        implementations: PAUSE_STUDY_IMPLS.to_vec(),
        left_out: vec![
            (
                "rc",
                "same frees as Box plus counts; adds nothing to a pause study",
            ),
            (
                "gc-arena, gc, dumpster",
                "not run here: this workload studies our minor/major pauses with a large \
                 live set; their collectors do not report pauses by kind (see server for \
                 their latency, and the stall curve for gc-arena's stalls)",
            ),
        ],
        quick,
        full,
        full_only,
        run,
    }
}

/// Live-heap sizes of the stall curve, in MiB, and whether a quick run
/// measures them.
pub const STALL_SIZES_MIB: [(u64, bool); 4] =
    [(64, true), (512, false), (1024, false), (2048, false)];

/// The stall curve's workloads, `stalls@64MiB` .. `stalls@2048MiB`.
fn stall_workloads() -> impl Iterator<Item = Workload> {
    STALL_SIZES_MIB.into_iter().map(|(mib, quick)| {
        let shape = move |size| stalls::StallShape::for_live_mib(mib, stall_ops(size));
        Workload {
            name: format!("stalls@{mib}MiB"),
            family: Family::Stalls,
            baseline: "morph-gengc",
            implementations: [PAUSE_STUDY_IMPLS.as_slice(), &["gc-arena"]].concat(),
            left_out: vec![(
                "rc, gc, dumpster",
                "reference counting frees each replaced subtree inside the operation, as Box                  does; gc's and dumpster's collectors report nothing a stall study needs                  beyond gc-arena's incremental one",
            )],
            quick: if quick {
                shape(Size::Quick).describe()
            } else {
                format!("{} (--full only)", shape(Size::Full).describe())
            },
            full: shape(Size::Full).describe(),
            full_only: !quick,
            run: Box::new(move |implementation, size| {
                stalls::run(implementation, shape(size))
            }),
        }
    })
}

/// Operations of a stall run: enough for several collection cycles.
fn stall_ops(size: Size) -> u64 {
    match size {
        Size::Quick => 300_000,
        Size::Full => 2_000_000,
    }
}

/// GCBench per size: quick halves the short-lived work (stretch depth 17),
/// full is Boehm's original (stretch 18, long-lived 16, 500,000 doubles).
fn gcbench_shape(size: Size) -> trees::GcBenchShape {
    match size {
        Size::Quick => trees::workload::GCBENCH,
        Size::Full => trees::GcBenchShape {
            stretch_depth: 18,
            ..trees::workload::GCBENCH
        },
    }
}

fn binary_trees(implementation: &str, size: Size) -> Option<Outcome> {
    binary_trees_at(implementation, binary_trees_depth(size))
}

/// The depths of the scaling curve: 15 (the quick default) up to the
/// benchmarks game's 21. A quick run stops at [`SCALING_QUICK_MAX`].
pub const SCALING_DEPTHS: std::ops::RangeInclusive<u32> = 15..=21;

/// The deepest point of the curve a quick run measures.
pub const SCALING_QUICK_MAX: u32 = 18;

/// binary-trees at `depth` whatever the size: one point of the curve.
fn binary_trees_at(implementation: &str, depth: u32) -> Option<Outcome> {
    let depth = std::hint::black_box(depth);
    let elements = trees::workload::binary_trees_allocations(depth);
    if implementation == "morph-gengc" {
        let mut heap = trees::morph_gengc_impl::heap();
        let checksum = trees::morph_gengc_impl::binary_trees_in(&mut heap, depth);
        let mut outcome = Outcome::new(checksum, elements);
        outcome.detail("gc", collector_details(&heap));
        return Some(outcome);
    }
    let run = collector_peer(implementation)?.binary_trees;
    Some(Outcome::new(run(depth), elements))
}

fn gcbench(implementation: &str, size: Size) -> Option<Outcome> {
    let shape = std::hint::black_box(gcbench_shape(size));
    let elements = shape.allocations();
    if implementation == "morph-gengc" {
        let mut heap = trees::morph_gengc_impl::heap();
        let checksum = trees::morph_gengc_impl::gcbench_in(&mut heap, &shape);
        let mut outcome = Outcome::new(checksum, elements);
        outcome.detail("gc", collector_details(&heap));
        return Some(outcome);
    }
    let run = collector_peer(implementation)?.gcbench;
    Some(Outcome::new(run(&shape), elements))
}

/// A peer's entry in the tree workloads' table; the `box-*` names all run
/// the `Box` code on the binary's allocator.
fn collector_peer(implementation: &str) -> Option<&'static trees::Implementation> {
    let name = if implementation.starts_with("box-") {
        "box-glibc"
    } else {
        implementation
    };
    trees::IMPLEMENTATIONS.iter().find(|i| i.name == name)
}

/// Arena workloads: repetitions per process of one criterion iteration.
fn arena_repetitions(count: u64, size: Size) -> u64 {
    // About 20 M objects per quick run, five times that in full.
    let quick = (20_000_000 / count).max(1);
    match size {
        Size::Quick => quick,
        Size::Full => quick * 5,
    }
}

fn arena_workload(kind: &'static str) -> impl Fn(&str, Size) -> Option<Outcome> {
    move |implementation, size| {
        let count = match kind {
            "small" => arena::SMALL_COUNT,
            "mixed" => arena::MIXED_COUNT,
            _ => arena::CYCLE_COUNT,
        };
        let repetitions = arena_repetitions(count, size);
        let count = std::hint::black_box(count);
        let mixed = kind != "small";
        let mut checksum = 0u64;
        match implementation {
            "morph-arena" => {
                let mut a = morph_arena::Arena::new();
                for _ in 0..repetitions {
                    let sum = if mixed {
                        arena::morph::mixed(&mut a, count)
                    } else {
                        arena::morph::small(&mut a, count)
                    };
                    checksum = checksum.wrapping_add(sum);
                }
            }
            "bumpalo" => {
                let mut a = bumpalo::Bump::new();
                for _ in 0..repetitions {
                    let sum = if mixed {
                        arena::bump::mixed(&mut a, count)
                    } else {
                        arena::bump::small(&mut a, count)
                    };
                    checksum = checksum.wrapping_add(sum);
                }
            }
            "typed-arena" if !mixed => {
                for _ in 0..repetitions {
                    checksum = checksum.wrapping_add(arena::typed::small(count));
                }
            }
            name if name.starts_with("box-") => {
                if mixed {
                    let mut keep = Vec::with_capacity(count as usize);
                    for _ in 0..repetitions {
                        checksum = checksum.wrapping_add(arena::boxed::mixed(&mut keep, count));
                    }
                } else {
                    let mut keep = Vec::with_capacity(count as usize);
                    for _ in 0..repetitions {
                        checksum = checksum.wrapping_add(arena::boxed::small(&mut keep, count));
                    }
                }
            }
            _ => return None,
        }
        Some(Outcome::new(checksum, repetitions * count))
    }
}

/// Pool batches per process (1000 objects each).
fn pool_batches(size: Size) -> u64 {
    match size {
        Size::Quick => 4_000,
        Size::Full => 20_000,
    }
}

fn describe_churn(size: Size) -> String {
    format!(
        "{} loop steps of {} short-lived objects over a table of {} long-lived entries; \
         one step in 16 replaces an entry with one that keeps its step's objects",
        churn::steps(size),
        churn::TEMPORARIES + 1,
        churn::BUCKETS * churn::PER_BUCKET
    )
}

/// Every workload of the suite, in report order.
#[must_use]
pub fn catalogue() -> Vec<Workload> {
    let mut all = vec![
        Workload {
            name: "binary-trees".into(),
            family: Family::Collector,
            baseline: "morph-gengc",
            implementations: COLLECTOR_IMPLS.to_vec(),
            left_out: Vec::new(),
            quick: format!("max depth {}", binary_trees_depth(Size::Quick)),
            full: format!("max depth {}", binary_trees_depth(Size::Full)),
            full_only: false,
            run: Box::new(binary_trees),
        },
        Workload {
            name: "gcbench".into(),
            family: Family::Collector,
            baseline: "morph-gengc",
            implementations: COLLECTOR_IMPLS.to_vec(),
            left_out: Vec::new(),
            quick: describe_gcbench(Size::Quick),
            full: describe_gcbench(Size::Full),
            full_only: false,
            run: Box::new(gcbench),
        },
        Workload {
            name: "table-churn".into(),
            family: Family::Collector,
            baseline: "morph-gengc",
            implementations: vec!["morph-gengc"],
            left_out: vec![(
                "Box, Rc, gc-arena, gc, dumpster",
                "not run here: this workload reports morph-gengc's minor-pause \
                 percentiles at a realistic survival rate (~7 %); the tree and server \
                 workloads compare throughput with the peers",
            )],
            quick: describe_churn(Size::Quick),
            full: describe_churn(Size::Full),
            full_only: false,
            run: Box::new(churn::run),
        },
        Workload {
            name: "server".into(),
            family: Family::Server,
            baseline: "morph-gengc",
            implementations: COLLECTOR_IMPLS.to_vec(),
            left_out: Vec::new(),
            quick: server::ServerShape::of(Size::Quick).describe(),
            full: server::ServerShape::of(Size::Full).describe(),
            full_only: false,
            run: Box::new(server::run),
        },
        objects::workload(),
        large_heap_workload(
            "large-heap",
            vm::VmShape::of(Size::Quick).describe(),
            vm::VmShape::of(Size::Full).describe(),
            false,
            Box::new(vm::run),
        ),
        large_heap_workload(
            "large-heap@2GiB",
            format!("{} (--full only)", vm::VmShape::double_full().describe()),
            vm::VmShape::double_full().describe(),
            true,
            Box::new(|implementation, _size| {
                vm::run_shape(implementation, vm::VmShape::double_full())
            }),
        ),
    ];
    all.extend(scaling_workloads());
    all.extend(stall_workloads());
    for (name, kind, count) in [
        ("arena-small-objects", "small", arena::SMALL_COUNT),
        ("arena-mixed-sizes", "mixed", arena::MIXED_COUNT),
        ("arena-compile-cycle", "cycle", arena::CYCLE_COUNT),
    ] {
        let mut implementations = vec!["morph-arena", "bumpalo"];
        let mut left_out = Vec::new();
        if kind == "small" {
            implementations.push("typed-arena");
        } else {
            left_out.push((
                "typed-arena",
                "holds one type per arena and cannot reset: no mixed sizes",
            ));
        }
        implementations.extend(["box-glibc", "box-mimalloc"]);
        let describe = |size| {
            let reps = arena_repetitions(count, size);
            format!("{reps} units × {count} allocations, freed (reset) after each unit")
        };
        all.push(Workload {
            name: name.into(),
            family: Family::Arena,
            baseline: "morph-arena",
            implementations,
            left_out,
            quick: describe(Size::Quick),
            full: describe(Size::Full),
            full_only: false,
            run: Box::new(arena_workload(kind)),
        });
    }
    crate::pool::for_each_group(|size, group, order| {
        let order = order.clone();
        let name = group.replace('_', "-");
        let describe = |s| {
            format!(
                "{} batches of {} × {size}-byte objects, freed in {} order",
                pool_batches(s),
                crate::pool::BATCH,
                name.split('-').nth(1).unwrap_or("?")
            )
        };
        all.push(Workload {
            quick: describe(Size::Quick),
            full: describe(Size::Full),
            name,
            family: Family::Pool,
            baseline: "morph-pool",
            implementations: vec!["morph-pool", "box-glibc", "box-mimalloc", "slab"],
            left_out: Vec::new(),
            full_only: false,
            run: Box::new(move |implementation, s| {
                let batches = pool_batches(s);
                let checksum = crate::pool::run_batches(implementation, size, &order, batches)?;
                Some(Outcome::new(checksum, batches * crate::pool::BATCH as u64))
            }),
        });
    });
    all.push(compiler::workload());
    all
}

fn describe_gcbench(size: Size) -> String {
    let shape = gcbench_shape(size);
    format!(
        "stretch depth {}, long-lived depth {}, {} doubles, trees of depth {}..={}",
        shape.stretch_depth,
        shape.long_lived_depth,
        shape.array_len,
        shape.min_depth,
        shape.max_depth
    )
}
