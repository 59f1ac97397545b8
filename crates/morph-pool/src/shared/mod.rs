//! The shared pools: [`SharedPool<T>`](crate::SharedPool),
//! [`SharedRawPool`](crate::SharedRawPool) and
//! [`SharedSizeClassPool`](crate::SharedSizeClassPool) — pools that many
//! threads allocate from and free into with no lock on the common path.
//!
//! # Design
//!
//! Three layers, each in its own module:
//!
//! ```text
//! thread A cache ─┐  (loaded + spare magazines, per pool, thread-local)
//! thread B cache ─┼─► depot (sharded stacks of full magazines) ─► blocks (carving)
//! thread C cache ─┘
//! ```
//!
//! - [`local`]: each thread keeps two **magazines** (stacks of free slots)
//!   per pool. Allocation and free touch only them: a `Vec` pop or push.
//! - [`depot`]: full magazines wait in **shards**, one mutex each; a thread
//!   leaves and takes magazines at its home shard and looks at the others
//!   only when its own is empty. One lock per magazine, never per slot, and
//!   two threads churning their own slots never share a lock.
//! - [`core`]: the blocks. Fresh slots are carved a magazine at a time
//!   under a lock taken only while the pool grows. A slot never goes back
//!   to its block: blocks are kept until the pool is dropped, so a pointer
//!   into one stays readable for as long as anyone can hold it.
//!
//! A [`SharedBox`](crate::SharedBox) is one pointer: its free finds the
//! pool through [`page_map`], a process-wide map from pages to the core
//! whose block holds them.
//!
//! A slot freed on another thread than the one that allocated it goes
//! into the freeing thread's cache, and from there to the depot, where any
//! thread can take it: cross-thread frees cost what local frees cost.
//!
//! **Checked frees** (the raw API) are O(1) with no hash and no lock:
//! [`block_map`] says in a few loads whether the masked address is one of
//! the pool's blocks, then the slot's bit in its block's state words is
//! cleared with one atomic read-modify-write, which is also what makes two
//! racing frees of one slot fail exactly once. The typed API cannot free
//! twice, so it skips the check.
//!
//! # What it will not do
//! - Give memory back while shared: `blocks_released` stays 0 until the
//!   pool is dropped. Memory is bounded by the peak of live slots plus what
//!   caches and the depot hold.
//! - Run destructors of leaked values, or of raw slots.
//!
//! # Soundness argument (invariants are stated in each module)
//! - A box or a cache can never outlive its blocks: boxes borrow the pool
//!   handle, whose core lives in an `Arc`; thread caches hold an `Arc` too.
//! - A slot is in one place at a time (user, one cache, the depot), moved
//!   only by its owner or under a shard mutex, which orders the memory.
//! - User code (a value's `Drop`) never runs while a thread cache is
//!   borrowed.

pub(crate) mod block_map;
pub(crate) mod depot;
pub(crate) mod local;
pub(crate) mod page_map;
pub(crate) mod raw;
pub(crate) mod size_class;
pub(crate) mod slot_core;
pub(crate) mod typed;

#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(all(test, not(loom)))]
mod tests;

use crate::config::SLOT_GRANULE;

/// Default slots per magazine: each thread caches up to two magazines per
/// pool (512 slots: 32 KiB of 64-byte slots), and meets the depot once per
/// 256 operations at most. A thread whose batches overflow its magazines
/// doubles them, up to 4 × this. See `docs/TUNING.md`.
pub const DEFAULT_MAGAZINE_SLOTS: usize = 256;

/// Slot size for `T`: its size rounded up to its alignment and to 16
/// (at least 16), as in [`Pool<T>`](crate::Pool).
pub(crate) const fn typed_slot_size<T>() -> usize {
    let size = if size_of::<T>() > SLOT_GRANULE {
        size_of::<T>()
    } else {
        SLOT_GRANULE
    };
    let align = if align_of::<T>() > SLOT_GRANULE {
        align_of::<T>()
    } else {
        SLOT_GRANULE
    };
    size.div_ceil(align) * align
}
