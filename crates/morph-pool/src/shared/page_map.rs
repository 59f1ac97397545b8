//! The page map: which shared-pool core owns the block around an address,
//! for the whole process. It is what lets a [`SharedBox`](crate::SharedBox)
//! be one pointer, like `Box`: dropping a box finds the box's pool from the
//! value's address (tcmalloc's pagemap and mimalloc's segment map are the
//! same idea).
//!
//! # Layout
//! Two levels over the 48-bit address space in 4 KiB pages: a static top
//! table of `2^18` leaf pointers (2 MiB of zeroed `.bss`; untouched pages
//! cost no memory), and leaves of `2^18` core pointers (each covers 1 GiB
//! of address space), allocated zeroed on first use, published with one
//! compare-and-swap and never freed. A lookup is two loads.
//!
//! An entry also carries the core's id in its low [`TAG_BITS`] bits
//! (saturated at [`TAG_MASK`]; a core is aligned past them), so a box's
//! free finds its thread-cache entry without loading the core.
//!
//! # Invariants
//! 1. An entry is the core whose block holds the page (with the provenance
//!    of that core's `Arc`, see [`CoreRef`](super::slot_core::CoreRef)),
//!    tagged with `min(id, TAG_MASK)`, or null. A core enters a block's pages before any slot of the block
//!    leaves it (under its blocks lock), and clears them when it is
//!    dropped, after every slot is back.
//! 2. Blocks do not overlap, so each page has at most one owner at a time.
//!
//! The atomics are std's, also under loom: the only concurrent step is the
//! one-time publication of a zeroed leaf (the pattern `block_map`'s loom
//! model checks), and entries are ordered by the pool's own hand-offs of
//! slots (a lookup is for a slot the caller holds, so it happens after the
//! entry was written).

use core::ptr::{self, NonNull};
use std::sync::atomic::{AtomicPtr, Ordering};

use super::slot_core::SlotCore;

const PAGE_SHIFT: u32 = 12;
const LEAF_BITS: u32 = 18;
const TOP_BITS: u32 = 48 - PAGE_SHIFT - LEAF_BITS;
const LEAF_LEN: usize = 1 << LEAF_BITS;
const TOP_LEN: usize = 1 << TOP_BITS;

/// The smallest block a shared pool may have: one page.
pub(crate) const PAGE_SIZE: usize = 1 << PAGE_SHIFT;

/// Low bits of an entry that hold the owner's id.
pub(crate) const TAG_BITS: u32 = 6;
/// The largest tag: ids from here up are all tagged `TAG_MASK`.
pub(crate) const TAG_MASK: usize = (1 << TAG_BITS) - 1;

/// An entry for `core` (tagged with its id, saturated).
pub(crate) fn tagged(core: *const SlotCore, id: usize) -> *const SlotCore {
    debug_assert_eq!(core.addr() & TAG_MASK, 0, "a core is aligned past the tag");
    core.map_addr(|addr| addr | id.min(TAG_MASK))
}

/// An entry's core pointer and tag.
#[inline(always)]
pub(crate) fn untag(entry: *const SlotCore) -> (*const SlotCore, usize) {
    (
        entry.map_addr(|addr| addr & !TAG_MASK),
        entry.addr() & TAG_MASK,
    )
}

struct Leaf([AtomicPtr<SlotCore>; LEAF_LEN]);

static TOP: [AtomicPtr<Leaf>; TOP_LEN] = [const { AtomicPtr::new(ptr::null_mut()) }; TOP_LEN];

/// Top and leaf index of an address's page, or `None` past 48 bits.
#[inline(always)]
fn split(addr: usize) -> Option<(usize, usize)> {
    let page = addr >> PAGE_SHIFT;
    let top = page >> LEAF_BITS;
    (top < TOP_LEN).then_some((top, page & (LEAF_LEN - 1)))
}

/// The leaf at `top`, made on first use.
fn leaf_or_make(top: usize) -> Option<&'static Leaf> {
    let slot = &TOP[top];
    let mut leaf = slot.load(Ordering::Acquire);
    if leaf.is_null() {
        let layout = core::alloc::Layout::new::<Leaf>();
        // SAFETY: `Leaf` has a non-zero size; all-zero bytes are a valid
        // array of null `AtomicPtr`s.
        let bytes = unsafe { std::alloc::alloc_zeroed(layout) };
        #[allow(clippy::cast_ptr_alignment)] // allocated with `Leaf`'s layout
        let fresh = bytes.cast::<Leaf>();
        if fresh.is_null() {
            return None;
        }
        leaf = match slot.compare_exchange(
            ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => fresh,
            Err(theirs) => {
                // SAFETY: ours lost the race and was never published.
                unsafe { std::alloc::dealloc(fresh.cast(), layout) };
                theirs
            }
        };
    }
    // SAFETY: a published leaf is never freed (module docs) and was fully
    // initialised before its release-publication, which the acquire saw.
    Some(unsafe { &*leaf })
}

/// Enters the pages of the block `[base, base + len)` with `entry` (a
/// [`tagged`] core). Returns
/// `false` (entering nothing) if the block lies past the map's 48 bits or
/// a leaf cannot be allocated.
///
/// `base` and `len` are multiples of [`PAGE_SIZE`]; the block is `core`'s
/// (invariant 1; the caller holds `core`'s blocks lock).
pub(crate) fn insert(base: NonNull<u8>, len: usize, entry: *const SlotCore) -> bool {
    let first = base.addr().get();
    debug_assert!(first.is_multiple_of(PAGE_SIZE) && len.is_multiple_of(PAGE_SIZE) && len > 0);
    let Some(last) = first.checked_add(len - 1) else {
        return false;
    };
    if split(last).is_none() {
        return false;
    }
    for page in (first..=last).step_by(PAGE_SIZE) {
        let (top, index) = split(page).expect("below the last page");
        let Some(leaf) = leaf_or_make(top) else {
            remove(base, page - first);
            return false;
        };
        leaf.0[index].store(entry.cast_mut(), Ordering::Release);
    }
    true
}

/// Clears the pages of a block entered with [`insert`] (or its first `len`
/// bytes), when its core is dropped.
pub(crate) fn remove(base: NonNull<u8>, len: usize) {
    let first = base.addr().get();
    for page in (first..first + len).step_by(PAGE_SIZE) {
        let Some((top, index)) = split(page) else {
            return;
        };
        let leaf = TOP[top].load(Ordering::Acquire);
        if leaf.is_null() {
            continue;
        }
        // SAFETY: published leaves are never freed.
        let leaf = unsafe { &*leaf };
        leaf.0[index].store(ptr::null_mut(), Ordering::Release);
    }
}

/// The (tagged) entry of the page of `addr`: the core whose block holds
/// it, or null.
#[inline(always)]
pub(crate) fn entry_of(addr: usize) -> *const SlotCore {
    let Some((top, index)) = split(addr) else {
        return ptr::null();
    };
    let leaf = TOP[top].load(Ordering::Acquire);
    if leaf.is_null() {
        return ptr::null();
    }
    // SAFETY: published leaves are never freed and were initialised before
    // publication (acquire above).
    unsafe { (*leaf).0[index].load(Ordering::Acquire) }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn pages_map_to_their_core_and_clear() {
        let layout = core::alloc::Layout::from_size_align(4 * PAGE_SIZE, PAGE_SIZE).unwrap();
        // SAFETY: non-zero size.
        let base = NonNull::new(unsafe { std::alloc::alloc(layout) }).unwrap();
        let core = ptr::without_provenance::<SlotCore>(1 << 20);
        let owner = tagged(core, 70);
        assert_eq!(untag(owner), (core, TAG_MASK));
        assert_eq!(untag(tagged(core, 5)), (core, 5));
        assert!(entry_of(base.addr().get()).is_null());
        assert!(insert(base, 4 * PAGE_SIZE, owner));
        for offset in [0, 1, PAGE_SIZE, 4 * PAGE_SIZE - 1] {
            assert_eq!(entry_of(base.addr().get() + offset), owner);
        }
        assert_ne!(entry_of(base.addr().get() + 4 * PAGE_SIZE), owner);
        remove(base, 4 * PAGE_SIZE);
        assert!(entry_of(base.addr().get()).is_null());
        // SAFETY: allocated above with this layout.
        unsafe { std::alloc::dealloc(base.as_ptr(), layout) };
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn addresses_past_48_bits_are_refused() {
        assert!(entry_of(usize::MAX).is_null());
        let far = NonNull::new(ptr::without_provenance_mut::<u8>(1 << 48)).unwrap();
        assert!(!insert(far, PAGE_SIZE, ptr::null()));
    }
}
