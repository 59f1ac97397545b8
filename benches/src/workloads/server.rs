//! Server churn: a fixed live set with steady replacement, the shape of a
//! long-running service holding sessions.
//!
//! A table of [`ServerShape::slots`] slots each holds a small object graph
//! (a complete binary tree of [`NODES_PER_SLOT`] nodes, 24-byte payloads).
//! After the table is filled, every step of the steady phase handles one
//! "request": it builds a chain of [`TEMPORARIES`] short-lived nodes (and
//! reads it), then replaces a pseudo-random slot with a freshly built graph,
//! reading the old graph first so the checksum proves it survived intact.
//! Finally every slot is read once more.
//!
//! Each step is timed (two clock reads, the same for every implementation),
//! giving a request-latency distribution in which every collector's pauses,
//! `Box`'s frees and `Rc`'s cascades show up alike. Memory (resident set,
//! and the managed heap where there is one) is sampled about 200 times. For
//! morph-gengc the collector's own pauses come from `Heap::stats()`; for
//! gc-arena, whose collection runs in explicit `collect_debt` calls, each
//! call is timed as a pause.

use std::hint::black_box;
use std::time::Instant;

use serde_json::json;

use super::{Outcome, Size, Xorshift, collector_details};
use crate::probe::{MemorySeries, StepTimer, distribution_json};

/// Nodes in one slot's graph: a complete binary tree of depth 2.
pub const NODES_PER_SLOT: u64 = 7;
/// Depth of a slot's tree.
const DEPTH: u32 = 2;
/// Short-lived nodes per request.
pub const TEMPORARIES: u64 = 8;
/// Slots per bucket where the table lives in the managed heap (morph-gengc).
const BUCKET: usize = 256;

/// How large a server run is.
#[derive(Clone, Copy, Debug)]
pub struct ServerShape {
    /// Slots in the table (each holds one graph).
    pub slots: usize,
    /// Requests in the steady phase.
    pub steps: u64,
}

impl ServerShape {
    /// The shape for a run size: 64 MiB of live graphs in `--full`
    /// (300,000 slots × 7 nodes × 32 bytes with header), a quarter of that
    /// (16 MiB) in quick runs.
    #[must_use]
    pub fn of(size: Size) -> Self {
        match size {
            Size::Quick => ServerShape {
                slots: 75_000,
                steps: 600_000,
            },
            Size::Full => ServerShape {
                slots: 300_000,
                steps: 4_000_000,
            },
        }
    }

    /// Bytes of live graphs at 32 bytes a node (24-byte payload plus an
    /// 8-byte header or malloc's per-chunk overhead).
    #[must_use]
    pub fn live_bytes(&self) -> u64 {
        self.slots as u64 * NODES_PER_SLOT * 32
    }

    /// Nodes allocated in a run.
    #[must_use]
    pub fn allocations(&self) -> u64 {
        self.slots as u64 * NODES_PER_SLOT + self.steps * (NODES_PER_SLOT + TEMPORARIES)
    }

    /// What the run does, for the report.
    #[must_use]
    pub fn describe(&self) -> String {
        format!(
            "{} slots × {NODES_PER_SLOT}-node graphs (~{} MiB live), {} requests \
             ({TEMPORARIES} temporaries + one slot replaced each)",
            self.slots,
            self.live_bytes() >> 20,
            self.steps
        )
    }
}

/// The first node value of the graph with version `version`: the graph's
/// nodes carry `8 * version + k` for `k` in `0..7`, numbered in build order.
const fn first_value(version: u64) -> u64 {
    version * 8
}

/// Runs the server workload with `implementation`, or `None` if unknown.
#[must_use]
pub fn run(implementation: &str, size: Size) -> Option<Outcome> {
    let shape = ServerShape::of(size);
    let outcome = match implementation {
        "morph-gengc" => morph::run(shape),
        "rc" => rc::run(shape),
        "gc-arena" => gc_arena_peer::run(shape),
        "gc" => rust_gc::run(shape),
        "dumpster" => dumpster_peer::run(shape),
        name if name.starts_with("box-") => boxed::run(shape),
        _ => return None,
    };
    Some(outcome)
}

/// The parts every implementation reports the same way.
fn finish(
    shape: ServerShape,
    checksum: u64,
    fill_ms: f64,
    steady_ms: f64,
    timer: &StepTimer,
    series: MemorySeries,
) -> Outcome {
    let mut outcome = Outcome::new(checksum, shape.allocations());
    outcome.detail("phases_ms", json!({ "fill": fill_ms, "steady": steady_ms }));
    outcome.detail("step_latency", distribution_json(timer.histogram()));
    outcome.detail("memory_series", series.into_json());
    outcome.detail("live_bytes_nominal", json!(shape.live_bytes()));
    outcome
}

fn ms_since(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1e3
}

/// One pointer-per-node implementation of the server workload: `Box`, `Rc`
/// and rust-gc's `Gc` run the same code, so the rows differ only in the
/// pointer. `node` adds attributes to the node type (rust-gc's derives);
/// `then` runs before the outcome is assembled (rust-gc's final collection).
macro_rules! owned_server {
    (
        $(#[$doc:meta])* $module:ident, $ptr:ident $(, $import:path)?
        $(; node $(#[$node_attr:meta])+)?
        $(; then $after:expr)?
    ) => {
        $(#[$doc])*
        mod $module {
            $(use $import;)?

            use super::*;

            $($(#[$node_attr])+)?
            struct Node {
                value: u64,
                left: Option<$ptr<Node>>,
                right: Option<$ptr<Node>>,
            }

            fn build(depth: u32, next: &mut u64) -> $ptr<Node> {
                let (left, right) = if depth == 0 {
                    (None, None)
                } else {
                    (Some(build(depth - 1, next)), Some(build(depth - 1, next)))
                };
                let value = *next;
                *next += 1;
                $ptr::new(Node { value, left, right })
            }

            fn sum(node: &Node) -> u64 {
                node.value
                    + node.left.as_deref().map_or(0, sum)
                    + node.right.as_deref().map_or(0, sum)
            }

            pub(super) fn run(shape: ServerShape) -> Outcome {
                let started = Instant::now();
                let mut table: Vec<Option<$ptr<Node>>> = (0..shape.slots)
                    .map(|i| Some(build(DEPTH, &mut first_value(i as u64))))
                    .collect();
                let fill_ms = ms_since(started);
                let steady = Instant::now();
                let mut timer = StepTimer::new();
                let mut series = MemorySeries::new(started, shape.steps);
                let mut rng = Xorshift::new();
                let mut checksum = 0u64;
                for step in 0..shape.steps {
                    checksum = checksum.wrapping_add(timer.time(|| {
                        let mut chain: Option<$ptr<Node>> = None;
                        for t in 0..TEMPORARIES {
                            chain = Some($ptr::new(Node {
                                value: step + t,
                                left: chain.take(),
                                right: None,
                            }));
                        }
                        let mut digest = sum(black_box(chain.as_deref().expect("built")));
                        let slot = rng.below(shape.slots as u64) as usize;
                        let version = shape.slots as u64 + step;
                        let fresh = build(DEPTH, &mut first_value(version));
                        let old = table[slot].replace(fresh).expect("every slot is filled");
                        digest += sum(black_box(&old));
                        digest
                    }));
                    if series.due(step) {
                        series.sample(None);
                    }
                }
                let steady_ms = ms_since(steady);
                checksum = table
                    .iter()
                    .flatten()
                    .fold(checksum, |c, g| c.wrapping_add(sum(g)));
                drop(table);
                $($after;)?
                finish(shape, checksum, fill_ms, steady_ms, &timer, series)
            }
        }
    };
}

owned_server!(
    /// Ownership: `Box` on the binary's global allocator. Replacing a slot
    /// drops the old graph at once.
    boxed,
    Box
);
owned_server!(
    /// Reference counting on the system allocator: like `Box`, plus counts.
    rc,
    Rc,
    std::rc::Rc
);

/// morph-gengc, safe API, default configuration (2 MiB nursery). The table
/// lives in the heap as buckets of `Member`s, the way an interpreter holds
/// its globals, so replacing a slot is an old-to-young store through the
/// write barrier.
mod morph {
    use morph_gengc::{Gc, Heap, Member, Mutator, Root, Trace};

    use super::*;

    #[derive(Trace)]
    struct Node {
        value: u64,
        left: Member<Node>,
        right: Member<Node>,
    }

    #[derive(Trace)]
    struct Bucket {
        entries: [Member<Node>; BUCKET],
    }

    fn node<'gc>(m: &mut Mutator<'gc>, value: u64) -> Root<'gc, Node> {
        m.alloc(Node {
            value,
            left: Member::null(),
            right: Member::null(),
        })
    }

    fn build<'gc>(m: &mut Mutator<'gc>, depth: u32, next: &mut u64) -> Root<'gc, Node> {
        if depth == 0 {
            let value = *next;
            *next += 1;
            return node(m, value);
        }
        let left = build(m, depth - 1, next);
        let right = build(m, depth - 1, next);
        let value = *next;
        *next += 1;
        let parent = node(m, value);
        let p = parent.get(m);
        p.left.set(m, Some(left.get(m)));
        p.right.set(m, Some(right.get(m)));
        parent
    }

    fn sum(node: Gc<'_, Node>, m: &Mutator<'_>) -> u64 {
        node.value
            + node.left.get(m).map_or(0, |n| sum(n, m))
            + node.right.get(m).map_or(0, |n| sum(n, m))
    }

    fn heap_bytes(m: &Mutator<'_>) -> (u64, u64) {
        let usage = m.usage();
        let used = usage.nursery_used + usage.old_used + usage.large_reserved;
        (usage.reserved() as u64, used as u64)
    }

    pub(super) fn run(shape: ServerShape) -> Outcome {
        let started = Instant::now();
        let mut heap = Heap::new(Default::default()).expect("the default configuration is valid");
        let mut timer = StepTimer::new();
        let mut series = MemorySeries::new(started, shape.steps);
        let mut phases = (0.0, 0.0, 0.0);
        let checksum = heap.enter(|m| {
            let buckets: Vec<Root<'_, Bucket>> = (0..shape.slots.div_ceil(BUCKET))
                .map(|_| {
                    m.alloc(Bucket {
                        entries: std::array::from_fn(|_| Member::null()),
                    })
                })
                .collect();
            for i in 0..shape.slots {
                let graph = build(m, DEPTH, &mut first_value(i as u64));
                buckets[i / BUCKET].get(m).entries[i % BUCKET].set(m, Some(graph.get(m)));
            }
            phases.0 = ms_since(started);
            let steady = Instant::now();
            let mut rng = Xorshift::new();
            let mut checksum = 0u64;
            for step in 0..shape.steps {
                checksum = checksum.wrapping_add(timer.time(|| {
                    let mut chain = node(m, step);
                    for t in 1..TEMPORARIES {
                        let next = node(m, step + t);
                        next.get(m).left.set(m, Some(chain.get(m)));
                        chain = next;
                    }
                    let mut digest = sum(black_box(chain.get(m)), m);
                    let slot = rng.below(shape.slots as u64) as usize;
                    let version = shape.slots as u64 + step;
                    let fresh = build(m, DEPTH, &mut first_value(version));
                    let entry = &buckets[slot / BUCKET].get(m).entries[slot % BUCKET];
                    let old = entry.get(m).expect("every slot is filled");
                    digest += sum(black_box(old), m);
                    entry.set(m, Some(fresh.get(m)));
                    digest
                }));
                if series.due(step) {
                    series.sample(Some(heap_bytes(m)));
                }
            }
            phases.1 = ms_since(steady);
            phases.2 = ms_since(started);
            buckets
                .iter()
                .flat_map(|b| b.get(m).get_ref().entries.iter().filter_map(|e| e.get(m)))
                .fold(checksum, |c, g| c.wrapping_add(sum(g, m)))
        });
        let mut outcome = finish(shape, checksum, phases.0, phases.1, &timer, series);
        outcome.detail("gc", collector_details(&heap));
        // The collector's trace timestamps count from heap creation; the
        // steady phase starts this long after it.
        outcome.detail("steady_from_heap_start_ms", json!(phases.0));
        drop(heap);
        outcome
    }
}

/// gc-arena 0.7: the table is the arena's root; each request is one
/// `mutate_root`, and the collector pays its debt between requests (each
/// `collect_debt` call timed as a pause).
mod gc_arena_peer {
    use gc_arena::{Arena, Collect, Gc, Mutation, Rootable};

    use super::*;
    use crate::workloads::trees::gc_arena_peer::DEBT_GRANULARITY;

    #[derive(Collect)]
    #[collect(no_drop)]
    struct Node<'gc> {
        value: u64,
        left: Option<Gc<'gc, Node<'gc>>>,
        right: Option<Gc<'gc, Node<'gc>>>,
    }

    fn build<'gc>(mc: &Mutation<'gc>, depth: u32, next: &mut u64) -> Gc<'gc, Node<'gc>> {
        let (left, right) = if depth == 0 {
            (None, None)
        } else {
            (
                Some(build(mc, depth - 1, next)),
                Some(build(mc, depth - 1, next)),
            )
        };
        let value = *next;
        *next += 1;
        Gc::new(mc, Node { value, left, right })
    }

    fn sum(node: &Node<'_>) -> u64 {
        node.value + node.left.as_deref().map_or(0, sum) + node.right.as_deref().map_or(0, sum)
    }

    type Table = Rootable![Vec<Option<Gc<'_, Node<'_>>>>];

    /// Pays the collector's debt once it is worth a step, timing the call.
    fn pay_debt(arena: &mut Arena<Table>, pauses: &mut StepTimer) {
        if arena.metrics().allocation_debt() > DEBT_GRANULARITY {
            pauses.time(|| arena.collect_debt());
        }
    }

    pub(super) fn run(shape: ServerShape) -> Outcome {
        let started = Instant::now();
        let mut arena = Arena::<Table>::new(|_| vec![None; shape.slots]);
        let mut pauses = StepTimer::new();
        for start in (0..shape.slots).step_by(1024) {
            arena.mutate_root(|mc, table| {
                for (i, slot) in table.iter_mut().enumerate().skip(start).take(1024) {
                    *slot = Some(build(mc, DEPTH, &mut first_value(i as u64)));
                }
            });
            pay_debt(&mut arena, &mut pauses);
        }
        let fill_ms = ms_since(started);
        let steady = Instant::now();
        let mut timer = StepTimer::new();
        let mut series = MemorySeries::new(started, shape.steps);
        let mut rng = Xorshift::new();
        let mut checksum = 0u64;
        for step in 0..shape.steps {
            checksum = checksum.wrapping_add(timer.time(|| {
                let digest = arena.mutate_root(|mc, table| {
                    let mut chain = None;
                    for t in 0..TEMPORARIES {
                        chain = Some(Gc::new(
                            mc,
                            Node {
                                value: step + t,
                                left: chain,
                                right: None,
                            },
                        ));
                    }
                    let mut digest = sum(black_box(&chain.expect("built")));
                    let slot = rng.below(shape.slots as u64) as usize;
                    let version = shape.slots as u64 + step;
                    let fresh = build(mc, DEPTH, &mut first_value(version));
                    let old = table[slot].replace(fresh).expect("every slot is filled");
                    digest += sum(black_box(&old));
                    digest
                });
                pay_debt(&mut arena, &mut pauses);
                digest
            }));
            if series.due(step) {
                series.sample(None);
            }
        }
        let steady_ms = ms_since(steady);
        checksum = arena.mutate(|_, table| {
            table
                .iter()
                .flatten()
                .fold(checksum, |c, g| c.wrapping_add(sum(g)))
        });
        let gc_time_us = pauses.histogram().total().as_secs_f64() * 1e6;
        drop(arena);
        let mut outcome = finish(shape, checksum, fill_ms, steady_ms, &timer, series);
        outcome.detail(
            "collector_pauses",
            json!({
                "source": "each Arena::collect_debt call, timed by the runner",
                "gc_time_us": gc_time_us,
                "pauses": distribution_json(pauses.histogram()),
            }),
        );
        outcome
    }
}

owned_server!(
    /// rust-gc (the `gc` crate): the table is a `Vec` of rooted handles; the
    /// collector runs on its own threshold inside `Gc::new`, so its pauses show
    /// only in the request latency.
    // gc_derive 0.5 emits its impls inside an anonymous const, which rustc's
    // non_local_definitions lint flags; the impls are correct.
    #[allow(non_local_definitions)]
    rust_gc,
    Gc,
    gc::Gc;
    node #[derive(gc::Trace, gc::Finalize)];
    then gc::force_collect()
);

/// dumpster 2.1 (`unsync`): reference counting plus a cycle collector on
/// its own heuristic; its collections show only in the request latency.
mod dumpster_peer {
    use dumpster::Trace;
    use dumpster::unsync::{Gc, collect};

    use super::*;

    #[derive(Trace)]
    struct Node {
        value: u64,
        left: Option<Gc<Node>>,
        right: Option<Gc<Node>>,
    }

    fn build(depth: u32, next: &mut u64) -> Gc<Node> {
        let (left, right) = if depth == 0 {
            (None, None)
        } else {
            (Some(build(depth - 1, next)), Some(build(depth - 1, next)))
        };
        let value = *next;
        *next += 1;
        Gc::new(Node { value, left, right })
    }

    fn sum(node: &Node) -> u64 {
        node.value + node.left.as_deref().map_or(0, sum) + node.right.as_deref().map_or(0, sum)
    }

    pub(super) fn run(shape: ServerShape) -> Outcome {
        let started = Instant::now();
        let mut table: Vec<Option<Gc<Node>>> = (0..shape.slots)
            .map(|i| Some(build(DEPTH, &mut first_value(i as u64))))
            .collect();
        let fill_ms = ms_since(started);
        let steady = Instant::now();
        let mut timer = StepTimer::new();
        let mut series = MemorySeries::new(started, shape.steps);
        let mut rng = Xorshift::new();
        let mut checksum = 0u64;
        for step in 0..shape.steps {
            checksum = checksum.wrapping_add(timer.time(|| {
                let mut chain: Option<Gc<Node>> = None;
                for t in 0..TEMPORARIES {
                    chain = Some(Gc::new(Node {
                        value: step + t,
                        left: chain.take(),
                        right: None,
                    }));
                }
                let mut digest = sum(black_box(chain.as_deref().expect("built")));
                let slot = rng.below(shape.slots as u64) as usize;
                let version = shape.slots as u64 + step;
                let fresh = build(DEPTH, &mut first_value(version));
                let old = table[slot].replace(fresh).expect("every slot is filled");
                digest += sum(black_box(&old));
                digest
            }));
            if series.due(step) {
                series.sample(None);
            }
        }
        let steady_ms = ms_since(steady);
        checksum = table
            .iter()
            .flatten()
            .fold(checksum, |c, g| c.wrapping_add(sum(g)));
        drop(table);
        collect();
        finish(shape, checksum, fill_ms, steady_ms, &timer, series)
    }
}
