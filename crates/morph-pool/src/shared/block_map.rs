//! `BlockMap`: is this address the base of one of our blocks? Answered in
//! O(1) with a few dependent loads — no hashing, no lock — so that a checked
//! free can reject a foreign pointer before it reads anything at the masked
//! address.
//!
//! # Shape
//!
//! The address space is cut into 64 GiB **regions**. The map keeps up to
//! [`REGIONS`] of them (a process's heap lies in one or two); each has a
//! **mid** table of leaf pointers, and each **leaf** is a bitmap with one bit
//! per block-sized, block-aligned address (4,096 blocks a leaf).
//!
//! ```text
//! addr ─► region (addr >> 36) ─► mid[(addr in region) >> (block_shift + 12)]
//!                                   ─► leaf bit (addr >> block_shift) % 4096
//! ```
//!
//! # Invariants
//! - **Writers are serialised** by the caller (the shared pool's block lock):
//!   [`BlockMap::insert`] never runs concurrently with itself, only with
//!   [`BlockMap::contains`]. (Blocks are never removed: shared pools keep
//!   their blocks until they are dropped.)
//! - **Publication order.** A region's mid pointer is stored before its tag
//!   (Release), a leaf pointer is stored (Release) before any of its bits is
//!   set, so a reader that sees the tag or pointer (Acquire) sees an
//!   initialised node.
//! - **Nodes are never freed** while the map lives: a reader never follows a
//!   dangling pointer. They go with the map.
//!
//! The atomics are loom's under `cfg(loom)`; `loom_map_publishes_nodes`
//! checks the publication order.

use core::ptr;

use crate::sync::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// Bits of address a region covers (64 GiB).
const REGION_SHIFT: u32 = 36;
/// Regions one map can hold.
pub(crate) const REGIONS: usize = 16;
/// Blocks per leaf, as a power of two.
const LEAF_BITS: u32 = 12;
const LEAF_WORDS: usize = (1 << LEAF_BITS) / 64;

struct Leaf {
    words: [AtomicU64; LEAF_WORDS],
}

struct Mid {
    leaves: Box<[AtomicPtr<Leaf>]>,
}

/// The set of block base addresses of one shared pool.
pub(crate) struct BlockMap {
    block_shift: u32,
    /// `region + 1` for each used region slot; 0 = unused. Used slots form a
    /// prefix.
    tags: [AtomicUsize; REGIONS],
    mids: [AtomicPtr<Mid>; REGIONS],
}

impl core::fmt::Debug for BlockMap {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BlockMap")
            .field("block_shift", &self.block_shift)
            .finish_non_exhaustive()
    }
}

impl BlockMap {
    /// An empty map for blocks of `1 << block_shift` bytes (12..=20).
    pub(crate) fn new(block_shift: u32) -> Self {
        debug_assert!((12..=20).contains(&block_shift));
        Self {
            block_shift,
            tags: core::array::from_fn(|_| AtomicUsize::new(0)),
            mids: core::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
        }
    }

    /// Region tag, leaf index and bit index of a block base.
    #[inline(always)]
    fn split(&self, base: usize) -> (usize, usize, usize) {
        let tag = (base >> REGION_SHIFT) + 1;
        let block = (base & ((1usize << REGION_SHIFT) - 1)) >> self.block_shift;
        (tag, block >> LEAF_BITS, block & ((1 << LEAF_BITS) - 1))
    }

    fn mid_len(&self) -> usize {
        1 << (REGION_SHIFT - self.block_shift - LEAF_BITS)
    }

    /// Whether `base` (any address: it is masked by nothing, compared
    /// exactly) was inserted and not removed.
    #[inline]
    pub(crate) fn contains(&self, base: usize) -> bool {
        let (tag, leaf_index, bit) = self.split(base);
        for (slot_tag, slot_mid) in self.tags.iter().zip(&self.mids) {
            let found = slot_tag.load(Ordering::Acquire);
            if found == 0 {
                return false;
            }
            if found != tag {
                continue;
            }
            let mid = slot_mid.load(Ordering::Acquire);
            // SAFETY: a non-zero tag is stored after its mid pointer
            // (publication invariant; the Acquire above pairs with that
            // Release), and mids are never freed while the map lives.
            let mid = unsafe { &*mid };
            let leaf = mid.leaves[leaf_index].load(Ordering::Acquire);
            if leaf.is_null() {
                return false;
            }
            // SAFETY: a non-null leaf pointer was published fully
            // initialised (Release/Acquire) and lives as long as the map.
            let leaf = unsafe { &*leaf };
            return leaf.words[bit / 64].load(Ordering::Acquire) >> (bit % 64) & 1 != 0;
        }
        false
    }

    /// Adds a block base. Returns `false` (and changes nothing) when the
    /// block lies in a 17th region: the caller must not use that block.
    ///
    /// Callers serialise `insert` calls (writer invariant).
    pub(crate) fn insert(&self, base: usize) -> bool {
        let (tag, leaf_index, bit) = self.split(base);
        let mut mid = ptr::null_mut();
        for (slot_tag, slot_mid) in self.tags.iter().zip(&self.mids) {
            match slot_tag.load(Ordering::Acquire) {
                0 => {
                    let leaves = (0..self.mid_len())
                        .map(|_| AtomicPtr::new(ptr::null_mut()))
                        .collect();
                    mid = Box::into_raw(Box::new(Mid { leaves }));
                    slot_mid.store(mid, Ordering::Relaxed);
                    slot_tag.store(tag, Ordering::Release);
                    break;
                }
                found if found == tag => {
                    mid = slot_mid.load(Ordering::Acquire);
                    break;
                }
                _ => {}
            }
        }
        if mid.is_null() {
            return false;
        }
        // SAFETY: `mid` was published by this map (or just created) and
        // lives as long as the map.
        let mid = unsafe { &*mid };
        let mut leaf = mid.leaves[leaf_index].load(Ordering::Acquire);
        if leaf.is_null() {
            leaf = Box::into_raw(Box::new(Leaf {
                words: core::array::from_fn(|_| AtomicU64::new(0)),
            }));
            mid.leaves[leaf_index].store(leaf, Ordering::Release);
        }
        // SAFETY: as for `mid`: published or just created, never freed early.
        let leaf = unsafe { &*leaf };
        leaf.words[bit / 64].fetch_or(1 << (bit % 64), Ordering::Release);
        true
    }
}

impl Drop for BlockMap {
    fn drop(&mut self) {
        for slot_mid in &self.mids {
            let mid = slot_mid.load(Ordering::Acquire);
            if mid.is_null() {
                continue;
            }
            // SAFETY: `&mut self`: no reader is left; every mid and leaf was
            // made by `Box::into_raw` in `insert` and is freed once, here.
            let mid = unsafe { Box::from_raw(mid) };
            for leaf in &mid.leaves {
                let leaf = leaf.load(Ordering::Acquire);
                if !leaf.is_null() {
                    // SAFETY: as above: a leaf of this map, freed once.
                    drop(unsafe { Box::from_raw(leaf) });
                }
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn inserted_bases_are_found_and_nothing_else() {
        let map = BlockMap::new(16);
        let base = 0x7f12_3456_0000usize;
        assert!(!map.contains(base));
        assert!(map.insert(base));
        assert!(map.contains(base));
        assert!(!map.contains(base + 0x1_0000));
        assert!(!map.contains(base - 0x1_0000));
        // Same leaf position in another region.
        assert!(!map.contains(base + (1 << REGION_SHIFT)));
        assert!(map.insert(base + (1 << REGION_SHIFT)));
        assert!(map.contains(base + (1 << REGION_SHIFT)));
    }

    #[test]
    fn a_seventeenth_region_is_refused() {
        let map = BlockMap::new(16);
        for region in 0..REGIONS {
            assert!(map.insert(region << REGION_SHIFT));
        }
        assert!(!map.insert(REGIONS << REGION_SHIFT));
        assert!(!map.contains(REGIONS << REGION_SHIFT));
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sync::Arc;

    /// A reader racing the insert of a block in a fresh region sees either
    /// nothing or the whole path: never a half-built node.
    #[test]
    fn loom_map_publishes_nodes() {
        loom::model(|| {
            // 1 MiB blocks keep the mid table at 16 entries for the model.
            let map = Arc::new(BlockMap::new(20));
            let base = 0x7f00_0010_0000usize;
            let writer = {
                let map = Arc::clone(&map);
                loom::thread::spawn(move || assert!(map.insert(base)))
            };
            // Either answer is right while the insert runs; reading a
            // half-published node would crash the model.
            map.contains(base);
            writer.join().unwrap();
            assert!(map.contains(base), "an inserted block must be found");
            assert!(!map.contains(base + (1 << 20)));
        });
    }
}
