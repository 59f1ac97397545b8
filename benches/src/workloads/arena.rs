//! The arena workloads: morph-arena against bumpalo, typed-arena and `Box`
//! on the binary's global allocator, shared by the per-process runner and the
//! criterion benchmark `benches/arena.rs`.
//!
//! - small objects: allocate 24-byte AST-like nodes, read each back, free
//!   everything (reset / drop). All implementations.
//! - mixed sizes: a compiler-like mix of nodes, identifiers (strings), 8-byte
//!   values, 64-byte records and short slices; free everything.
//! - compile cycle: fill ~4 MiB as one "compilation unit" does, free it
//!   (reset / drop), and do it again; chunk reuse after reset is what is
//!   measured. typed-arena holds a single type and cannot reset, so it sits
//!   out the mixed workloads.
//!
//! Every implementation does the same allocations in the same order and
//! returns the same checksum, and every allocated reference goes through
//! `black_box` so no allocation can be optimised away.

use std::hint::black_box;

/// Nodes per iteration of `arena_small_objects` (240 KB of nodes).
pub const SMALL_COUNT: u64 = 10_000;
/// Items per iteration of `arena_mixed_sizes`.
pub const MIXED_COUNT: u64 = 10_000;
/// Items per compilation unit in `arena_compile_cycle` (~4 MiB).
pub const CYCLE_COUNT: u64 = 160_000;

/// A 24-byte AST-node-like value.
#[derive(Clone, Copy, Debug)]
pub struct Node {
    kind: u32,
    line: u32,
    value: u64,
    parent: u64,
}

impl Node {
    /// The node of step `i`.
    #[inline(always)]
    #[must_use]
    pub fn new(i: u64) -> Self {
        Node {
            kind: (i % 7) as u32,
            line: (i / 16) as u32,
            value: i,
            parent: i / 2,
        }
    }

    /// What the checksum adds for this node.
    #[inline(always)]
    #[must_use]
    pub fn digest(&self) -> u64 {
        self.value ^ u64::from(self.kind) ^ u64::from(self.line) ^ self.parent
    }
}

const _: () = assert!(size_of::<Node>() == 24);

/// Identifiers of varying length for the string allocations.
const IDENTS: [&str; 8] = [
    "x",
    "main",
    "counter",
    "parse_expression",
    "i",
    "tmp",
    "BinaryOperatorKind",
    "visit_statement_list",
];

/// What one mixed-workload step allocates, by `i % 5`.
#[derive(Clone, Copy)]
enum Item {
    Node,
    Ident,
    Word,
    Record,
    Slice,
}

#[inline(always)]
fn item(i: u64) -> Item {
    match i % 5 {
        0 => Item::Node,
        1 => Item::Ident,
        2 => Item::Word,
        3 => Item::Record,
        _ => Item::Slice,
    }
}

/// Runs the mixed workload's steps `0..count` in order, the kind of step
/// `i` being `item(i)`: as one straight pass per five steps, not a `match`
/// per step. Compiled as a jump table, that `match` was an indirect jump
/// whose prediction depended on where a build happened to place the loop:
/// the same arena code measured 0.86–1.20× bumpalo's time from one build
/// of the runner to the next, with equal instruction counts. Every
/// implementation runs its steps through this function.
#[inline(always)]
fn for_each_item(count: u64, mut step: impl FnMut(Item, u64)) {
    let mut i = 0;
    while i + 5 <= count {
        step(Item::Node, i);
        step(Item::Ident, i + 1);
        step(Item::Word, i + 2);
        step(Item::Record, i + 3);
        step(Item::Slice, i + 4);
        i += 5;
    }
    while i < count {
        step(item(i), i);
        i += 1;
    }
}

const SLICE: [u32; 12] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

#[inline(always)]
fn slice_len(i: u64) -> usize {
    (i % 13) as usize
}

// ---------------------------------------------------------------------------
// The workloads, once per implementation.
// ---------------------------------------------------------------------------

/// The same workload code for every bump arena with the same method names
/// (`alloc`, `alloc_str`, `alloc_slice_copy`, `reset`), so both do the
/// identical work by construction.
macro_rules! bump_workloads {
    ($module:ident, $arena:ty) => {
        #[doc = concat!("The workloads on `", stringify!($arena), "`.")]
        pub mod $module {
            use super::*;

            /// `count` nodes, read back, then `reset`; returns the checksum.
            pub fn small(arena: &mut $arena, count: u64) -> u64 {
                let mut sum = 0_u64;
                for i in 0..count {
                    let node = black_box(arena.alloc(Node::new(i)));
                    sum = sum.wrapping_add(node.digest());
                }
                arena.reset();
                sum
            }

            /// `count` mixed items, read back, then `reset`; returns the checksum.
            pub fn mixed(arena: &mut $arena, count: u64) -> u64 {
                let mut sum = 0_u64;
                for_each_item(count, |kind, i| {
                    sum = sum.wrapping_add(match kind {
                        Item::Node => black_box(arena.alloc(Node::new(i))).digest(),
                        Item::Ident => {
                            black_box(arena.alloc_str(IDENTS[(i % 8) as usize])).len() as u64
                        }
                        Item::Word => *black_box(arena.alloc(i)),
                        Item::Record => black_box(arena.alloc([i; 8]))[7],
                        Item::Slice => {
                            let s = black_box(arena.alloc_slice_copy(&SLICE[..slice_len(i)]));
                            s.len() as u64
                        }
                    });
                });
                arena.reset();
                sum
            }
        }
    };
}

bump_workloads!(morph, morph_arena::Arena);
bump_workloads!(bump, bumpalo::Bump);

/// typed-arena: one type per arena and no reset, so a fresh arena per run.
pub mod typed {
    use super::*;

    /// `count` nodes in a fresh arena, dropped at the end; returns the checksum.
    pub fn small(count: u64) -> u64 {
        let arena = typed_arena::Arena::new();
        let mut sum = 0_u64;
        for i in 0..count {
            let node = black_box(arena.alloc(Node::new(i)));
            sum = sum.wrapping_add(node.digest());
        }
        sum
    }
}

/// One `Box` per object on the binary's global allocator, kept in a `Vec`
/// until the unit is done.
pub mod boxed {
    use super::*;

    /// What a `Box`-based compiler keeps alive until the unit is done.
    #[allow(dead_code)] // the fields are only dropped, never read back
    #[derive(Debug)]
    pub enum Owned {
        /// A node.
        Node(Box<Node>),
        /// An identifier.
        Ident(Box<str>),
        /// A word.
        Word(Box<u64>),
        /// A 64-byte record.
        Record(Box<[u64; 8]>),
        /// A short slice.
        Slice(Box<[u32]>),
    }

    #[allow(clippy::vec_box)] // one heap object per node is what is measured
    /// `count` boxed nodes, then all dropped; returns the checksum.
    pub fn small(keep: &mut Vec<Box<Node>>, count: u64) -> u64 {
        let mut sum = 0_u64;
        for i in 0..count {
            let node = black_box(Box::new(Node::new(i)));
            sum = sum.wrapping_add(node.digest());
            keep.push(node);
        }
        keep.clear();
        sum
    }

    /// `count` mixed boxed items, then all dropped; returns the checksum.
    pub fn mixed(keep: &mut Vec<Owned>, count: u64) -> u64 {
        let mut sum = 0_u64;
        for_each_item(count, |kind, i| {
            let (digest, owned) = match kind {
                Item::Node => {
                    let b = black_box(Box::new(Node::new(i)));
                    (b.digest(), Owned::Node(b))
                }
                Item::Ident => {
                    let b: Box<str> = black_box(Box::from(IDENTS[(i % 8) as usize]));
                    (b.len() as u64, Owned::Ident(b))
                }
                Item::Word => {
                    let b = black_box(Box::new(i));
                    (*b, Owned::Word(b))
                }
                Item::Record => {
                    let b = black_box(Box::new([i; 8]));
                    (b[7], Owned::Record(b))
                }
                Item::Slice => {
                    let b: Box<[u32]> = black_box(Box::from(&SLICE[..slice_len(i)]));
                    (b.len() as u64, Owned::Slice(b))
                }
            };
            sum = sum.wrapping_add(digest);
            keep.push(owned);
        });
        keep.clear();
        sum
    }
}
