//! Randomised sequences of allocations, resets, checkpoints and scopes,
//! checked against a plain model of what must be live.
//!
//! proptest prints the failing (shrunk) operation sequence; rerun with
//! `PROPTEST_CASES` / the printed seed to reproduce.

use std::alloc::Layout;
use std::collections::BTreeMap;

use morph_arena::{Arena, ArenaConfig, Checkpoint};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Alloc {
        size: usize,
        align_shift: u8,
        byte: u8,
    },
    Reset,
    EnterCheckpoint,
    EnterScope,
    Exit,
    Check,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (0_usize..200, 0_u8..7, any::<u8>())
            .prop_map(|(size, align_shift, byte)| Op::Alloc { size, align_shift, byte }),
        2 => (200_usize..3000, 0_u8..10, any::<u8>())
            .prop_map(|(size, align_shift, byte)| Op::Alloc { size, align_shift, byte }),
        1 => Just(Op::Reset),
        2 => Just(Op::EnterCheckpoint),
        2 => Just(Op::EnterScope),
        3 => Just(Op::Exit),
        2 => Just(Op::Check),
    ]
}

/// One live allocation as the model sees it.
struct Live {
    ptr: *mut u8,
    size: usize,
    byte: u8,
    depth: usize,
}

#[derive(Default)]
struct Model {
    /// Live allocations by address (zero-sized ones are not tracked).
    live: BTreeMap<usize, Live>,
}

impl Model {
    fn insert(&mut self, ptr: *mut u8, size: usize, byte: u8, depth: usize) {
        let addr = ptr.addr();
        if let Some((&prev, live)) = self.live.range(..=addr).next_back() {
            assert!(
                prev + live.size <= addr,
                "overlaps the allocation at {prev:#x}"
            );
        }
        if let Some((&next, _)) = self.live.range(addr..).next() {
            assert!(addr + size <= next, "overlaps the allocation at {next:#x}");
        }
        self.live.insert(
            addr,
            Live {
                ptr,
                size,
                byte,
                depth,
            },
        );
    }

    fn check_contents(&self) {
        for live in self.live.values() {
            // SAFETY: the model only holds allocations whose arena level is
            // still open, so their memory is live; nothing else writes it.
            let bytes = unsafe { std::slice::from_raw_parts(live.ptr, live.size) };
            assert!(bytes.iter().all(|&b| b == live.byte), "contents changed");
        }
    }

    fn forget_deeper_than(&mut self, depth: usize) {
        self.live.retain(|_, live| live.depth <= depth);
    }

    fn bytes_at(&self, depth: usize) -> usize {
        self.live
            .values()
            .filter(|l| l.depth == depth)
            .map(|l| l.size)
            .sum()
    }
}

enum Level<'a> {
    Root(&'a mut Arena),
    Checkpoint(Checkpoint<'a>),
    Scope(&'a Arena),
}

impl Level<'_> {
    fn arena(&self) -> &Arena {
        match self {
            Level::Root(arena) => arena,
            Level::Checkpoint(cp) => cp,
            Level::Scope(arena) => arena,
        }
    }
}

fn assert_stats_add_up(arena: &Arena) {
    let s = arena.stats();
    assert_eq!(
        s.reserved_bytes,
        s.used_bytes + s.wasted_bytes + s.available_bytes + s.free_bytes + s.overhead_bytes,
        "{s:?}"
    );
}

/// Runs ops from `*next` until an `Exit` (or the end) at this level.
fn run(level: &mut Level<'_>, ops: &[Op], next: &mut usize, model: &mut Model, depth: usize) {
    while let Some(op) = ops.get(*next) {
        *next += 1;
        match *op {
            Op::Alloc {
                size,
                align_shift,
                byte,
            } => {
                let layout = Layout::from_size_align(size, 1 << align_shift).unwrap();
                let ptr = level.arena().alloc_layout(layout).as_ptr();
                assert_eq!(ptr.addr() % layout.align(), 0, "misaligned");
                // SAFETY: fresh allocation of `size` bytes.
                unsafe { ptr.write_bytes(byte, size) };
                if size > 0 {
                    model.insert(ptr, size, byte, depth);
                }
            }
            Op::Reset => {
                if let Level::Root(arena) = level {
                    arena.reset();
                    model.live.clear();
                    assert_eq!(arena.stats().used_bytes, 0);
                }
            }
            Op::EnterCheckpoint | Op::EnterScope => {
                let used_before = level.arena().stats().used_bytes;
                match (op, &mut *level) {
                    (Op::EnterCheckpoint, Level::Root(arena)) => {
                        let mut inner = Level::Checkpoint(arena.checkpoint());
                        run(&mut inner, ops, next, model, depth + 1);
                    }
                    (Op::EnterCheckpoint, Level::Checkpoint(cp)) => {
                        let mut inner = Level::Checkpoint(cp.checkpoint());
                        run(&mut inner, ops, next, model, depth + 1);
                    }
                    _ => level.arena().scope(|scratch| {
                        run(&mut Level::Scope(scratch), ops, next, model, depth + 1);
                    }),
                }
                model.forget_deeper_than(depth);
                model.check_contents();
                assert_eq!(level.arena().stats().used_bytes, used_before, "rolled back");
            }
            Op::Exit => {
                if depth > 0 {
                    return;
                }
            }
            Op::Check => model.check_contents(),
        }
        let arena = level.arena();
        assert_stats_add_up(arena);
        assert!(arena.stats().used_bytes >= model.bytes_at(depth));
    }
}

fn cases() -> u32 {
    if cfg!(miri) { 6 } else { 256 }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_sequences_keep_allocations_disjoint_aligned_and_intact(
        chunk_size in 256_usize..4096,
        retained_chunks in 0_usize..4,
        ops in proptest::collection::vec(op(), 0..if cfg!(miri) { 40 } else { 300 }),
    ) {
        let mut arena = ArenaConfig::new()
            .chunk_size(chunk_size)
            .retained_bytes(retained_chunks * chunk_size)
            .build()
            .unwrap();
        let mut model = Model::default();
        let mut next = 0;
        while next < ops.len() {
            run(&mut Level::Root(&mut arena), &ops, &mut next, &mut model, 0);
        }
        model.check_contents();
        arena.reset();
        let stats = arena.stats();
        prop_assert!(stats.reserved_bytes <= retained_chunks * chunk_size);
        prop_assert_eq!(stats.used_bytes, 0);
    }
}
