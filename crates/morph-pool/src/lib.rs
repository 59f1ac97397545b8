//! Fixed-size slot pools: the allocator for objects whose size is known up
//! front (AST nodes, tokens, the GC's old-generation objects).
//!
//! # The model
//!
//! A **pool** hands out **slots** of one size. It takes memory from the system
//! in **blocks** (64 KiB by default), each aligned to its own size, so the
//! block of any slot is found by masking the slot's address — no lookup.
//! The first slots of a block hold its **header**: a free bitmap with one bit
//! per slot (set = free), a summary word saying which bitmap words have a free
//! bit (the next-free hint), a free count and the links of the pool's list of
//! blocks that still have free slots.
//!
//! ```text
//! pool ──► list of blocks with free slots ──► block ──► block
//!                                              │
//!          ┌───────────────┬──────┬──────┬─────┴┬──────┐
//!          │ header        │ slot │ slot │ slot │ ...  │   64 KiB, 64 KiB-aligned
//!          │ bitmap, hint  │      │      │      │      │
//!          └───────────────┴──────┴──────┴──────┴──────┘
//! ```
//!
//! What that costs and gives:
//! - **Allocation is O(1):** take the first block of the list, two
//!   `trailing_zeros` find a free slot, clear its bit. A block that becomes
//!   full leaves the list.
//! - **Free is O(1):** mask the address to find the block, divide the offset
//!   to find the slot, set its bit. A full block that gets a free slot
//!   rejoins the list.
//! - **No external fragmentation:** every slot of a pool is interchangeable.
//!   Internal waste is the rounding of a request up to its slot size, plus
//!   the header (under 1% of a 64 KiB block).
//! - **Empty blocks** are kept for reuse up to the pool's recent peak of
//!   blocks in use (at least [`PoolConfig::retain_empty_blocks`], default 1),
//!   so a batch that is allocated and freed again and again reuses its
//!   blocks instead of going back to the system each time. The peak decays
//!   when the pool goes a while (counted in block acquisitions) without
//!   needing it, so a pool whose use shrank gives memory back. See
//!   [`PoolConfig`] for the exact policy.
//! - **Nothing is zeroed and no destructor runs** in the raw API; the typed
//!   [`Pool<T>`] runs `Drop` when a [`PoolBox`] is dropped.
//!
//! **Size classes** ([`SizeClassPool`]): several pools, 32/64/128/256 bytes by
//! default. A request goes to the smallest class that fits its size and
//! alignment; a larger one gets [`PoolError::TooLarge`], which means "use
//! your fallback allocator".
//!
//! # The API
//!
//! - [`Pool<T>`] and [`PoolBox<'p, T>`]: safe, typed, `Box`-like. The box
//!   borrows the pool, so it cannot outlive it.
//! - [`RawPool`]: raw slots for runtimes and the GC's old generation —
//!   checked [`free`](RawPool::free) (foreign pointers, pointers inside a
//!   slot and double frees are errors, never corruption), walking the
//!   allocated slots of each block ([`RawPool::blocks`], [`BlockView`]), a mark
//!   bitmap per block beside the free bitmap ([`RawPool::mark`]) and a
//!   [`sweep`](RawPool::sweep) that frees every unmarked slot 64 at a time
//!   with bitmap operations.
//! - [`SizeClassPool`]: routing by [`Layout`](core::alloc::Layout) over
//!   raw pools.
//! - [`SyncPool`] and [`LocalCache`]: a pool shared between threads; each
//!   thread allocates and frees through its own cache of free slots and takes
//!   the shared lock once per batch. See the [`SyncPool`] design notes below.
//! - [`SharedPool<T>`] and [`SharedBox<'p, T>`], [`SharedRawPool`],
//!   [`SharedSizeClassPool`]: pools for multi-threaded servers, with no lock
//!   on the common path and boxes that may be dropped on any thread. See
//!   the shared pools' design notes below.
//! - [`PoolStats`] for each pool; every pool type implements
//!   [`morph_metrics::StatsSource`].
//!
//! ```
//! use morph_pool::{Pool, PoolError, RawPool, SizeClassPool};
//! use core::alloc::Layout;
//!
//! // Typed: like Box, memory from the pool.
//! let tokens = Pool::new();
//! let token = tokens.alloc(("ident", 42u32));
//! assert_eq!(token.1, 42);
//!
//! // Raw, with GC-style marking and sweeping.
//! let mut old_space = RawPool::new(64, Default::default())?;
//! let live = old_space.alloc()?;
//! let dead = old_space.alloc()?;
//! old_space.mark(live)?;
//! assert_eq!(old_space.sweep().freed_slots, 1);
//! assert_eq!(old_space.free(dead), Err(PoolError::DoubleFree { addr: dead.addr().get() }));
//!
//! // Size classes, with a fallback for the rest.
//! let mut classes = SizeClassPool::new(Default::default())?;
//! let layout = Layout::new::<[u64; 100]>();
//! match classes.alloc(layout) {
//!     Err(PoolError::TooLarge { .. }) => { /* use the system allocator */ }
//!     other => panic!("800 bytes must not fit the default classes: {other:?}"),
//! }
//! # Ok::<(), PoolError>(())
//! ```
//!
//! # Concurrency: `SyncPool`
//!
//! One [`RawPool`] holds every block, behind a mutex wrapped in
//! `crossbeam_utils::CachePadded`. Each thread takes a [`LocalCache`]: a
//! small stack of free slots that it alone touches, so the common
//! allocation and free take no lock and no atomic operation. An empty cache
//! refills half its capacity under one lock; a full one flushes half back
//! under one lock; dropping it flushes the rest. Slots change threads only
//! through that mutex, so its release/acquire ordering is all the ordering
//! needed. Frees that reach the shared pool are checked, so a double free
//! through a cache is still caught (with a panic naming it). The structure is
//! model-checked with loom: build with `RUSTFLAGS="--cfg loom"` and run the
//! `loom` tests.
//!
//! # Concurrency: `SharedPool` and friends
//!
//! The shared pools are built for servers: many threads, objects allocated
//! on one thread and freed on another, no lock on the common path.
//!
//! - **Thread caches.** Each thread keeps, per pool, two *magazines* (stacks
//!   of [`DEFAULT_MAGAZINE_SLOTS`] free slots to start with, grown up to 4×
//!   for a thread whose batches overflow them). Allocation pops, free
//!   pushes: no lock, no atomic operation, no `RefCell` borrow (the loaded
//!   magazine is reached through a constant-initialised thread-local
//!   table). The cache goes back to the pool when the thread exits.
//! - **The depot.** Full magazines are exchanged whole with a sharded depot
//!   (one mutex per shard, a home shard per thread), so a thread takes a
//!   lock at most once per magazine, and two threads working on their own
//!   slots never share one. Slots freed on another thread reach the
//!   allocating thread through the depot.
//! - **Blocks** are carved a magazine at a time, under a lock taken only
//!   while the pool grows, and kept until the pool is dropped: a shared pool
//!   does not give memory back while it is shared.
//! - **Safe boxes.** A [`SharedBox`] borrows its pool (so it cannot outlive
//!   it) and is `Send` when `T` is; dropping it on any thread frees its slot
//!   into that thread's cache. It is one pointer, like `Box`: a
//!   process-wide page map finds its pool from the value's address.
//! - **Checked raw frees** ([`SharedRawPool::free`],
//!   [`SharedSizeClassPool::free`]) cost O(1) with no hash and no lock: a
//!   radix map of the pool's blocks rejects foreign pointers before anything
//!   is read at them, and one atomic bit per slot catches double frees, even
//!   two racing ones.
//!
//! Sizing the magazines is covered in `docs/TUNING.md`; the engine is
//! model-checked with loom (`cfg(loom)`) and its tests run under Miri.
//!
//! ```
//! use morph_pool::SharedPool;
//!
//! #[derive(Debug)]
//! struct Request { id: u64, body: [u8; 48] }
//!
//! let pool = SharedPool::new();
//! let (send, recv) = std::sync::mpsc::channel();
//! std::thread::scope(|s| {
//!     s.spawn(|| {
//!         for id in 0..100 {
//!             send.send(pool.alloc(Request { id, body: [0; 48] })).unwrap();
//!         }
//!         drop(send);
//!     });
//!     // Freed on this thread as each box is dropped.
//!     let ids: u64 = recv.iter().map(|request| request.id).sum();
//!     assert_eq!(ids, 4950);
//! });
//! ```
//!
//! # Safety
//!
//! The unsafe code sits in the private modules `block` (block memory, the
//! header, slot pointers), `raw` (lists and bitmaps through headers), `typed`
//! (values in slots), `concurrent` (only `Send` for slot pointers in
//! tests) and `shared` (block map nodes, shared block headers, boxes); each module's documentation states the invariants it keeps, and
//! every `unsafe` block names the one it relies on. Slot pointers are always derived from the
//! block's base pointer (strict provenance), and the test suite runs under
//! Miri with `-Zmiri-strict-provenance`.

#![deny(unsafe_op_in_unsafe_fn)]

mod block;
mod concurrent;
mod config;
mod error;
mod raw;
mod retention;
mod shared;
mod size_class;
mod source;
mod stats;
mod sync;
mod typed;

pub use concurrent::{DEFAULT_CACHE_CAPACITY, LocalCache, SyncPool};
pub use config::{
    DEFAULT_BLOCK_SIZE, DEFAULT_RETAIN_EMPTY_BLOCKS, DEFAULT_SIZE_CLASSES, PoolConfig,
    SLOT_GRANULE, SizeClassConfig,
};
pub use error::PoolError;
pub use raw::{BlockView, RawPool, Slots, SweepOutcome};
pub use shared::DEFAULT_MAGAZINE_SLOTS;
pub use shared::raw::SharedRawPool;
pub use shared::size_class::SharedSizeClassPool;
pub use shared::typed::{SharedBox, SharedPool};
pub use size_class::SizeClassPool;
pub use source::BlockSource;
pub use stats::PoolStats;
pub use typed::{Pool, PoolBox};
