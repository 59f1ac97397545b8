//! Steady replacement: stalls as the program sees them, against the size of
//! the live heap.
//!
//! A complete binary tree of [`StallShape::depth`] levels (each node a value
//! and two links) is built once; then each operation walks a random path
//! from the root to a node three levels above the leaves, summing the values
//! it passes, and replaces one of that node's children with a fresh 7-node
//! subtree (the old one becomes garbage). Every operation is timed from the
//! program's side, whatever the implementation does inside it: a minor or
//! major collection, an incremental step, gc-arena's `collect_debt` (called
//! inside the timed operation, as its users would between steps), `free`.
//! The live set stays constant, so a collector has to finish cycles to keep
//! its memory bounded.

use std::hint::black_box;
use std::time::Instant;

use serde_json::json;

use super::{Outcome, Xorshift};
use crate::probe::{StepTimer, distribution_json};

/// How large a run is.
#[derive(Clone, Copy, Debug)]
pub struct StallShape {
    /// Levels of the tree below the root (2^(depth+1) - 1 nodes).
    pub depth: u32,
    /// Operations timed.
    pub ops: u64,
}

/// Bytes a node takes in morph-gengc: 8-byte header, a value, two links.
pub const NODE_BYTES: u64 = 32;

impl StallShape {
    /// The tree whose nodes take about `live_mib` MiB in morph-gengc.
    #[must_use]
    pub fn for_live_mib(live_mib: u64, ops: u64) -> Self {
        let nodes = (live_mib << 20) / NODE_BYTES;
        // 2^(depth+1) - 1 nodes ≈ nodes.
        let depth = (nodes + 1).ilog2().saturating_sub(1).max(4);
        StallShape { depth, ops }
    }

    /// Nodes in the tree.
    #[must_use]
    pub fn nodes(&self) -> u64 {
        (1u64 << (self.depth + 1)) - 1
    }

    /// What the run does, for the report.
    #[must_use]
    pub fn describe(&self) -> String {
        format!(
            "tree of depth {} ({} nodes, ~{} MiB live), then {} operations each replacing \
             a random 7-node subtree after reading its path, every operation timed",
            self.depth,
            self.nodes(),
            (self.nodes() * NODE_BYTES) >> 20,
            self.ops
        )
    }

    /// Objects allocated in a run.
    #[must_use]
    pub fn allocations(&self) -> u64 {
        self.nodes() + 7 * self.ops
    }
}

/// The value of node `index` (heap numbering: root 1, children 2i and 2i+1),
/// so every implementation builds the same tree.
fn value(index: u64) -> u64 {
    index.wrapping_mul(0x9e37_79b9) >> 7
}

/// Runs the workload with `implementation`, or `None` if unknown.
#[must_use]
pub fn run(implementation: &str, shape: StallShape) -> Option<Outcome> {
    let started = Instant::now();
    let (checksum, timer, details) = match implementation {
        "morph-gengc" => morph::run(shape, true),
        "morph-gengc-stw" => morph::run(shape, false),
        "gc-arena" => arena::run(shape),
        name if name.starts_with("box-") => boxed::run(shape),
        _ => return None,
    };
    let mut outcome = Outcome::new(checksum, shape.allocations());
    outcome.detail("stalls", distribution_json(timer.histogram()));
    outcome.detail("live_bytes_nominal", json!(shape.nodes() * NODE_BYTES));
    outcome.detail("run_ms", json!(started.elapsed().as_secs_f64() * 1e3));
    if let Some(gc) = details {
        outcome.detail("gc", gc);
    }
    Some(outcome)
}

/// The random choices of one operation: which path (one bit a level) and
/// which child of the node at its end.
fn choose(rng: &mut Xorshift) -> u64 {
    rng.below(u64::MAX)
}

/// Whether the path `bits` goes left below `level`.
fn goes_left(bits: u64, level: u32) -> bool {
    bits >> level & 1 == 0
}

/// Whether the operation `bits` replaces the left child at the path's end.
fn replaces_left(bits: u64) -> bool {
    bits >> 63 == 0
}

/// `Box` on the binary's global allocator.
mod boxed {
    use super::*;

    struct Node {
        value: u64,
        left: Option<Box<Node>>,
        right: Option<Box<Node>>,
    }

    fn build(index: u64, depth: u32) -> Box<Node> {
        let (left, right) = if depth == 0 {
            (None, None)
        } else {
            (
                Some(build(2 * index, depth - 1)),
                Some(build(2 * index + 1, depth - 1)),
            )
        };
        Box::new(Node {
            value: value(index),
            left,
            right,
        })
    }

    pub(super) fn run(shape: StallShape) -> (u64, StepTimer, Option<serde_json::Value>) {
        let mut root = build(1, shape.depth);
        let mut rng = Xorshift::new();
        let mut timer = StepTimer::new();
        let mut checksum = 0u64;
        for op in 0..shape.ops {
            let bits = choose(&mut rng);
            checksum = checksum.wrapping_add(timer.time(|| {
                let mut node = &mut root;
                let mut sum = 0u64;
                for level in 0..shape.depth - 3 {
                    sum = sum.wrapping_add(node.value);
                    let child = if goes_left(bits, level) {
                        &mut node.left
                    } else {
                        &mut node.right
                    };
                    node = child.as_mut().expect("inner nodes have children");
                }
                let fresh = build(op, 2);
                let slot = if replaces_left(bits) {
                    &mut node.left
                } else {
                    &mut node.right
                };
                drop(black_box(slot.replace(fresh)));
                sum
            }));
        }
        (checksum, timer, None)
    }
}

/// morph-gengc, safe API, default configuration (`morph-gengc-stw`:
/// incremental marking off).
mod morph {
    use morph_gengc::{GcConfig, Heap, Member, Mutator, Root, Trace};

    use super::*;
    use crate::workloads::collector_details;

    #[derive(Trace)]
    struct Node {
        value: u64,
        left: Member<Node>,
        right: Member<Node>,
    }

    fn build<'gc>(m: &mut Mutator<'gc>, index: u64, depth: u32) -> Root<'gc, Node> {
        let node = m.alloc(Node {
            value: value(index),
            left: Member::null(),
            right: Member::null(),
        });
        if depth > 0 {
            let left = build(m, 2 * index, depth - 1);
            let right = build(m, 2 * index + 1, depth - 1);
            let n = node.get(m);
            n.left.set(m, Some(left.get(m)));
            n.right.set(m, Some(right.get(m)));
        }
        node
    }

    pub(super) fn run(
        shape: StallShape,
        incremental_marking: bool,
    ) -> (u64, StepTimer, Option<serde_json::Value>) {
        let mut heap = Heap::new(GcConfig {
            incremental_marking,
            ..GcConfig::default()
        })
        .expect("the default configuration is valid");
        let mut timer = StepTimer::new();
        let checksum = heap.enter(|m| {
            let root = build(m, 1, shape.depth);
            let mut rng = Xorshift::new();
            let mut checksum = 0u64;
            for op in 0..shape.ops {
                let bits = choose(&mut rng);
                checksum = checksum.wrapping_add(timer.time(|| {
                    let mut node = root.get(m);
                    let mut sum = 0u64;
                    for level in 0..shape.depth - 3 {
                        sum = sum.wrapping_add(node.value);
                        let child = if goes_left(bits, level) {
                            &node.left
                        } else {
                            &node.right
                        };
                        node = child.get(m).expect("inner nodes have children");
                    }
                    let parent = m.root(node);
                    let fresh = build(m, op, 2);
                    let parent = parent.get(m);
                    let slot = if replaces_left(bits) {
                        &parent.left
                    } else {
                        &parent.right
                    };
                    slot.set(m, Some(fresh.get(m)));
                    sum
                }));
            }
            checksum
        });
        let details = collector_details(&heap);
        (checksum, timer, Some(details))
    }
}

/// gc-arena 0.7: incremental mark-sweep; its allocation debt is paid with
/// `collect_debt` inside each timed operation, once worth a step.
mod arena {
    use gc_arena::barrier::unlock;
    use gc_arena::{Arena, Collect, Gc, Lock, Mutation, Rootable};

    use super::*;
    use crate::workloads::trees::gc_arena_peer::DEBT_GRANULARITY;

    #[derive(Collect)]
    #[collect(no_drop)]
    struct Node<'gc> {
        value: u64,
        left: Lock<Option<Gc<'gc, Node<'gc>>>>,
        right: Lock<Option<Gc<'gc, Node<'gc>>>>,
    }

    fn build<'gc>(mc: &Mutation<'gc>, index: u64, depth: u32) -> Gc<'gc, Node<'gc>> {
        let (left, right) = if depth == 0 {
            (None, None)
        } else {
            (
                Some(build(mc, 2 * index, depth - 1)),
                Some(build(mc, 2 * index + 1, depth - 1)),
            )
        };
        Gc::new(
            mc,
            Node {
                value: value(index),
                left: Lock::new(left),
                right: Lock::new(right),
            },
        )
    }

    type Root = Rootable![Option<Gc<'_, Node<'_>>>];

    pub(super) fn run(shape: StallShape) -> (u64, StepTimer, Option<serde_json::Value>) {
        let mut arena = Arena::<Root>::new(|_| None);
        arena.mutate_root(|mc, root| *root = Some(build(mc, 1, shape.depth)));
        let mut rng = Xorshift::new();
        let mut timer = StepTimer::new();
        let mut checksum = 0u64;
        for op in 0..shape.ops {
            let bits = choose(&mut rng);
            checksum = checksum.wrapping_add(timer.time(|| {
                let sum = arena.mutate(|mc, root| {
                    let mut node = root.expect("built");
                    let mut sum = 0u64;
                    for level in 0..shape.depth - 3 {
                        sum = sum.wrapping_add(node.value);
                        let child = if goes_left(bits, level) {
                            &node.left
                        } else {
                            &node.right
                        };
                        node = child.get().expect("inner nodes have children");
                    }
                    let fresh = build(mc, op, 2);
                    let node = Gc::write(mc, node);
                    if replaces_left(bits) {
                        unlock!(node, Node, left).set(Some(fresh));
                    } else {
                        unlock!(node, Node, right).set(Some(fresh));
                    }
                    sum
                });
                if arena.metrics().allocation_debt() > DEBT_GRANULARITY {
                    arena.collect_debt();
                }
                sum
            }));
        }
        (checksum, timer, None)
    }
}
