//! `RawPool::free` with arbitrary addresses, against a model of the live
//! slots.
//!
//! The input picks a pool geometry, then a sequence of allocations and
//! frees of real slots, interior pointers, block headers, freed slots
//! (double frees), other pools' slots and arbitrary addresses. The model is
//! the set of live slot addresses, each filled with a pattern naming it.
//! Checked:
//! * a free succeeds exactly when the address is a live slot; a bad free
//!   returns the right error and changes nothing (live count, contents);
//! * `alloc` never returns a live slot (nor one overlapping a live slot),
//!   and returns aligned, in-block slots;
//! * after every refused free, sweep or release, every 8th step and at the
//!   end: `contains`, `slot_containing`, `live_slots`, marks and the
//!   per-block views agree with the model, and no slot's pattern was ever
//!   overwritten (the live count is checked after every step).

#![no_main]

use std::collections::BTreeSet;
use std::ptr::NonNull;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use morph_pool::{PoolConfig, PoolError, RawPool};

#[derive(Arbitrary, Debug)]
enum Target {
    /// The i-th live slot (in address order).
    Live(u16),
    /// `offset` bytes into the i-th live slot.
    Interior(u16, u16),
    /// A slot freed earlier (a double free, unless it was reused).
    Freed(u16),
    /// An address relative to the base of the i-th block (its header, its
    /// tail, the next block).
    BlockRelative(u8, u32),
    /// A slot of another pool.
    OtherPool(u16),
    /// Memory of the global allocator.
    Boxed,
    /// Any address at all.
    Addr(usize),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Alloc(u8),
    Free(Target),
    /// Frees every live slot of one block, so the release policy runs.
    EmptyBlock(u8),
    ReleaseEmpty,
    Mark(u16),
    Sweep,
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// Slot size in granules.
    slot_granules: u16,
    word_granular: bool,
    /// log2 of the block size (clamped to the supported range).
    block_shift: u8,
    retain: u8,
    ops: Vec<Op>,
}

/// The pattern word written at both ends of a live slot.
fn pattern(addr: usize) -> u64 {
    (addr as u64).rotate_left(17) ^ 0x5a5a_a5a5_0f0f_f0f0
}

struct Harness {
    pool: RawPool,
    other: RawPool,
    other_slots: Vec<NonNull<u8>>,
    /// Live slots: address → pointer (with the pool's provenance).
    live: std::collections::BTreeMap<usize, NonNull<u8>>,
    /// Slots freed at some point (they may have been reused since).
    freed: Vec<usize>,
    /// Marked live slots (cleared by free and sweep).
    marked: BTreeSet<usize>,
    size: usize,
    align: usize,
    block: usize,
}

impl Harness {
    fn write_pattern(&self, slot: NonNull<u8>) {
        let p = pattern(slot.addr().get());
        // SAFETY: `slot` is a live slot of `size >= 8` bytes, aligned to 8.
        unsafe {
            slot.cast::<u64>().write(p);
            slot.byte_add(self.size - 8).cast::<u64>().write(p);
        }
    }

    fn check_pattern(&self, slot: NonNull<u8>) {
        let p = pattern(slot.addr().get());
        // SAFETY: as in `write_pattern`; the slot is still live.
        let (head, tail) = unsafe {
            (
                slot.cast::<u64>().read(),
                slot.byte_add(self.size - 8).cast::<u64>().read(),
            )
        };
        assert_eq!(head, p, "slot {slot:p} was overwritten at its start");
        assert_eq!(tail, p, "slot {slot:p} was overwritten at its end");
    }

    fn alloc(&mut self) {
        let slot = self.pool.alloc().expect("a small pool allocates");
        let addr = slot.addr().get();
        assert_eq!(addr % self.align, 0, "slot {addr:#x} misaligned");
        assert!(
            !self.live.contains_key(&addr),
            "alloc returned the live slot {addr:#x} again"
        );
        // No live slot overlaps [addr, addr + size).
        if let Some((&below, _)) = self.live.range(..addr).next_back() {
            assert!(below + self.size <= addr, "{addr:#x} overlaps {below:#x}");
        }
        if let Some((&above, _)) = self.live.range(addr..).next() {
            assert!(addr + self.size <= above, "{addr:#x} overlaps {above:#x}");
        }
        // The slot lies inside its block, past the header.
        let base = addr & !(self.block - 1);
        assert!(addr > base && addr + self.size <= base + self.block);
        assert!(self.pool.contains(slot));
        self.write_pattern(slot);
        self.live.insert(addr, slot);
    }

    fn nth_live(&self, i: u16) -> Option<NonNull<u8>> {
        if self.live.is_empty() {
            return None;
        }
        self.live
            .values()
            .nth(i as usize % self.live.len())
            .copied()
    }

    fn block_bases(&self) -> Vec<usize> {
        self.pool.blocks().map(|b| b.base().addr().get()).collect()
    }

    /// Frees `addr`; the model says what must happen. Returns whether the
    /// free was refused (and so must have changed nothing).
    fn free(&mut self, addr: usize) -> bool {
        let Some(ptr) = NonNull::new(std::ptr::without_provenance_mut::<u8>(addr)) else {
            return false;
        };
        // Use the pool's own pointer for live slots (provenance), a bare
        // address otherwise: `free` must reject it before touching memory.
        let ptr = self.live.get(&addr).copied().unwrap_or(ptr);
        let live_before = self.pool.live_slots();
        let result = self.pool.free(ptr);
        if self.live.remove(&addr).is_some() {
            assert_eq!(result, Ok(()), "freeing the live slot {addr:#x}");
            assert_eq!(self.pool.live_slots(), live_before - 1);
            assert!(!self.pool.contains(ptr));
            self.marked.remove(&addr);
            self.freed.push(addr);
            return false;
        }
        let error = result.expect_err("a free of a non-live address succeeded");
        assert_eq!(
            self.pool.live_slots(),
            live_before,
            "a bad free changed the count"
        );
        let _ = error.to_string();
        // Inside a live slot: the error names that slot.
        let owner = self
            .live
            .range(..=addr)
            .next_back()
            .filter(|&(&start, _)| addr < start + self.size)
            .map(|(&start, _)| start);
        match error {
            PoolError::InteriorPointer {
                addr: a,
                slot_start,
            } => {
                assert_eq!(a, addr);
                assert_ne!(slot_start, addr);
                assert!(slot_start <= addr && addr < slot_start + self.size);
                if let Some(owner) = owner {
                    assert_eq!(slot_start, owner, "interior pointer's slot");
                }
            }
            PoolError::DoubleFree { addr: a } | PoolError::ForeignPointer { addr: a } => {
                assert_eq!(a, addr);
                assert_eq!(owner, None, "{addr:#x} is inside a live slot: {error:?}");
            }
            other => panic!("free({addr:#x}) returned {other:?}"),
        }
        true
    }

    fn check(&self) {
        assert_eq!(self.pool.live_slots(), self.live.len(), "live count");
        let mut seen = BTreeSet::new();
        let mut marked = BTreeSet::new();
        for block in self.pool.blocks() {
            assert_eq!(block.base().addr().get() % self.block, 0);
            for slot in block.allocated_slots() {
                assert!(seen.insert(slot.addr().get()));
            }
            for slot in block.marked_slots() {
                marked.insert(slot.addr().get());
            }
        }
        assert!(
            seen.iter().eq(self.live.keys()),
            "the pool's allocated slots differ from the model"
        );
        assert_eq!(marked, self.marked, "marked slots");
        for (&addr, &slot) in &self.live {
            self.check_pattern(slot);
            assert!(self.pool.contains(slot));
            assert_eq!(self.pool.slot_containing(addr + self.size - 1), Some(slot));
        }
        for &addr in self.freed.iter().rev().take(16) {
            if !self.live.contains_key(&addr) {
                let ptr = NonNull::new(std::ptr::without_provenance_mut::<u8>(addr)).unwrap();
                assert!(
                    !self.pool.contains(ptr),
                    "freed slot {addr:#x} reads as live"
                );
                assert_eq!(self.pool.slot_containing(addr), None);
            }
        }
    }
}

fuzz_target!(|input: Input| {
    let block_shift = 12 + (input.block_shift % 5) as u32; // 4 KiB ..= 64 KiB
    let block = 1usize << block_shift;
    let granule = if input.word_granular { 8 } else { 16 };
    let size = granule * (1 + input.slot_granules as usize % 64);
    let config = PoolConfig {
        block_size: block,
        retain_empty_blocks: (input.retain % 3) as usize,
    };
    let make = |size| {
        if input.word_granular {
            RawPool::new_word_granular(size, config)
        } else {
            RawPool::new(size, config)
        }
    };
    let pool = match make(size) {
        Ok(pool) => pool,
        Err(
            PoolError::SlotTooLarge { .. }
            | PoolError::TooManySlots { .. }
            | PoolError::MisalignedSlotSize { .. },
        ) => return,
        Err(other) => panic!("RawPool::new({size}, {config:?}): {other:?}"),
    };
    let Ok(mut other) = make(size) else { return };
    let other_slots = (0..4).map(|_| other.alloc().unwrap()).collect();
    let mut h = Harness {
        align: pool.slot_align(),
        pool,
        other,
        other_slots,
        live: Default::default(),
        freed: Vec::new(),
        marked: BTreeSet::new(),
        size,
        block,
    };
    assert_eq!(h.pool.slot_size(), size);
    assert!(h.align >= granule && size.is_multiple_of(h.align));
    for _ in 0..4 {
        h.alloc();
    }
    let boxed = Box::new([0u64; 8]);

    for (step, op) in input.ops.into_iter().take(512).enumerate() {
        // The full scan (every slot's pattern, every block's bitmaps) runs
        // after each refused free, after sweeps and releases, and every 8th
        // step; other steps check the live count. Damage a step did stays
        // visible until the next scan (a wrongly freed slot would also be
        // handed out again, which `alloc` catches at once).
        let mut scan = step % 8 == 7;
        match op {
            Op::Alloc(n) => {
                for _ in 0..=(n % 64) {
                    h.alloc();
                }
            }
            Op::Free(target) => {
                let addr = match target {
                    Target::Live(i) => match h.nth_live(i) {
                        Some(slot) => slot.addr().get(),
                        None => continue,
                    },
                    Target::Interior(i, offset) => match h.nth_live(i) {
                        Some(slot) => slot.addr().get() + 1 + offset as usize % (size - 1),
                        None => continue,
                    },
                    Target::Freed(i) => match h.freed.len() {
                        0 => continue,
                        n => h.freed[i as usize % n],
                    },
                    Target::BlockRelative(i, offset) => {
                        let bases = h.block_bases();
                        if bases.is_empty() {
                            continue;
                        }
                        let base = bases[i as usize % bases.len()];
                        base.wrapping_add(offset as usize % (2 * block))
                    }
                    Target::OtherPool(i) => {
                        h.other_slots[i as usize % h.other_slots.len()].addr().get()
                    }
                    Target::Boxed => boxed.as_ptr().addr(),
                    Target::Addr(addr) => addr,
                };
                scan |= h.free(addr);
            }
            Op::EmptyBlock(i) => {
                let bases = h.block_bases();
                if bases.is_empty() {
                    continue;
                }
                let base = bases[i as usize % bases.len()];
                let victims: Vec<usize> = h
                    .live
                    .range(base..base + block)
                    .map(|(&addr, _)| addr)
                    .collect();
                for addr in victims {
                    h.free(addr);
                }
                scan = true;
            }
            Op::ReleaseEmpty => {
                h.pool.release_empty_blocks();
                scan = true;
            }
            Op::Mark(i) => {
                if let Some(slot) = h.nth_live(i) {
                    let first = h.marked.insert(slot.addr().get());
                    assert_eq!(h.pool.mark(slot), Ok(first), "mark's first visit");
                    assert_eq!(h.pool.is_marked(slot), Ok(true));
                }
            }
            Op::Sweep => {
                let outcome = h.pool.sweep();
                let dead: Vec<usize> = h
                    .live
                    .keys()
                    .copied()
                    .filter(|a| !h.marked.contains(a))
                    .collect();
                assert_eq!(outcome.freed_slots, dead.len(), "sweep freed");
                assert_eq!(outcome.live_slots, h.marked.len(), "sweep kept");
                for addr in dead {
                    h.live.remove(&addr);
                    h.freed.push(addr);
                }
                h.marked.clear();
                scan = true;
            }
        }
        if h.freed.len() > 4096 {
            h.freed.drain(..2048);
        }
        if scan {
            h.check();
        } else {
            assert_eq!(h.pool.live_slots(), h.live.len(), "live count");
        }
    }

    // Everything still live frees cleanly, once.
    let rest: Vec<usize> = h.live.keys().copied().collect();
    for addr in rest {
        assert!(!h.free(addr), "a live slot was refused");
        assert!(h.free(addr), "a double free was accepted");
    }
    h.check();
    assert_eq!(h.pool.live_slots(), 0);
    for slot in std::mem::take(&mut h.other_slots) {
        assert_eq!(h.other.free(slot), Ok(()));
    }
    drop(boxed);
});
