//! Arena workloads: morph-arena against bumpalo, typed-arena and `Box` on the
//! system allocator (glibc malloc), measured in the same run.
//!
//! Groups (workloads) and functions (implementations), as `cargo xtask bench`
//! expects:
//!
//! - `arena_small_objects`: allocate `SMALL_COUNT` 24-byte AST-like nodes,
//!   read each back, free everything (reset / drop). All four implementations.
//! - `arena_mixed_sizes`: a compiler-like mix of nodes, identifiers (strings),
//!   8-byte values, 64-byte records and short slices; free everything.
//! - `arena_compile_cycle`: fill ~4 MiB as one "compilation unit" does, free
//!   it (reset / drop), and do it again; chunk reuse after reset is what is
//!   measured. typed-arena holds a single type and cannot reset, so it sits
//!   out the mixed workloads.
//!
//! Every implementation does the same allocations in the same order and
//! returns the same checksum (asserted before timing), and every allocated
//! reference goes through `black_box` so no allocation can be optimised away.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};

/// Nodes per iteration of `arena_small_objects` (240 KB of nodes).
const SMALL_COUNT: u64 = 10_000;
/// Items per iteration of `arena_mixed_sizes`.
const MIXED_COUNT: u64 = 10_000;
/// Items per compilation unit in `arena_compile_cycle` (~4 MiB).
const CYCLE_COUNT: u64 = 160_000;

/// A 24-byte AST-node-like value.
#[derive(Clone, Copy)]
struct Node {
    kind: u32,
    line: u32,
    value: u64,
    parent: u64,
}

impl Node {
    #[inline(always)]
    fn new(i: u64) -> Self {
        Node {
            kind: (i % 7) as u32,
            line: (i / 16) as u32,
            value: i,
            parent: i / 2,
        }
    }

    #[inline(always)]
    fn digest(&self) -> u64 {
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
        mod $module {
            use super::*;

            pub fn small(arena: &mut $arena, count: u64) -> u64 {
                let mut sum = 0_u64;
                for i in 0..count {
                    let node = black_box(arena.alloc(Node::new(i)));
                    sum = sum.wrapping_add(node.digest());
                }
                arena.reset();
                sum
            }

            pub fn mixed(arena: &mut $arena, count: u64) -> u64 {
                let mut sum = 0_u64;
                for i in 0..count {
                    sum = sum.wrapping_add(match item(i) {
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
                }
                arena.reset();
                sum
            }
        }
    };
}

bump_workloads!(morph, morph_arena::Arena);
bump_workloads!(bump, bumpalo::Bump);

mod typed {
    use super::*;

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

mod boxed {
    use super::*;

    /// What a `Box`-based compiler keeps alive until the unit is done.
    #[allow(dead_code)] // the fields are only dropped, never read back
    pub enum Owned {
        Node(Box<Node>),
        Ident(Box<str>),
        Word(Box<u64>),
        Record(Box<[u64; 8]>),
        Slice(Box<[u32]>),
    }

    #[allow(clippy::vec_box)] // one heap object per node is what is measured
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

    pub fn mixed(keep: &mut Vec<Owned>, count: u64) -> u64 {
        let mut sum = 0_u64;
        for i in 0..count {
            let (digest, owned) = match item(i) {
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
        }
        keep.clear();
        sum
    }
}

// ---------------------------------------------------------------------------
// Criterion wiring.
// ---------------------------------------------------------------------------

fn configure<'c>(c: &'c mut Criterion, name: &str, elements: u64) -> BenchmarkGroup<'c, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(30)
        .throughput(Throughput::Elements(elements));
    group
}

fn arena_small_objects(c: &mut Criterion) {
    let mut arena = morph_arena::Arena::new();
    let mut bump = bumpalo::Bump::new();
    let mut boxes = Vec::with_capacity(SMALL_COUNT as usize);
    let expected = morph::small(&mut arena, SMALL_COUNT);
    assert_eq!(bump::small(&mut bump, SMALL_COUNT), expected);
    assert_eq!(typed::small(SMALL_COUNT), expected);
    assert_eq!(boxed::small(&mut boxes, SMALL_COUNT), expected);

    let mut group = configure(c, "arena_small_objects", SMALL_COUNT);
    group.bench_function("morph-arena", |b| {
        b.iter(|| morph::small(&mut arena, black_box(SMALL_COUNT)));
    });
    group.bench_function("bumpalo", |b| {
        b.iter(|| bump::small(&mut bump, black_box(SMALL_COUNT)));
    });
    group.bench_function("typed-arena", |b| {
        b.iter(|| typed::small(black_box(SMALL_COUNT)));
    });
    group.bench_function("box-glibc", |b| {
        b.iter(|| boxed::small(&mut boxes, black_box(SMALL_COUNT)));
    });
    group.finish();
}

fn mixed_group(c: &mut Criterion, name: &str, count: u64) {
    let mut arena = morph_arena::Arena::new();
    let mut bump = bumpalo::Bump::new();
    let mut keep = Vec::with_capacity(count as usize);
    let expected = morph::mixed(&mut arena, count);
    assert_eq!(bump::mixed(&mut bump, count), expected);
    assert_eq!(boxed::mixed(&mut keep, count), expected);

    let mut group = configure(c, name, count);
    group.bench_function("morph-arena", |b| {
        b.iter(|| morph::mixed(&mut arena, black_box(count)));
    });
    group.bench_function("bumpalo", |b| {
        b.iter(|| bump::mixed(&mut bump, black_box(count)));
    });
    group.bench_function("box-glibc", |b| {
        b.iter(|| boxed::mixed(&mut keep, black_box(count)));
    });
    group.finish();
}

fn arena_mixed_sizes(c: &mut Criterion) {
    mixed_group(c, "arena_mixed_sizes", MIXED_COUNT);
}

/// One iteration = one compilation unit of ~4 MiB filled and freed; the
/// arenas are reused across iterations (that reuse is the point).
fn arena_compile_cycle(c: &mut Criterion) {
    mixed_group(c, "arena_compile_cycle", CYCLE_COUNT);
}

criterion_group!(
    benches,
    arena_small_objects,
    arena_mixed_sizes,
    arena_compile_cycle
);
criterion_main!(benches);
