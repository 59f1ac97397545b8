//! A bump-pointer arena for compiler mode.
//!
//! # The model
//!
//! A *bump arena* owns a few large blocks of memory (*chunks*, 2 MiB by
//! default) and hands out pieces of the current one by moving a pointer: an
//! allocation is a subtraction, a mask for alignment, and a bounds check.
//! Nothing is freed one object at a time. Instead the whole arena is
//! [`reset`](Arena::reset) at once, when the phase that needed the objects is
//! over (a compilation unit is parsed and lowered, a request is answered).
//!
//! That fits compilers well: an AST, its symbol tables and scratch buffers
//! are built incrementally, all die together, and are numerous and small.
//!
//! ## What it costs
//!
//! - **Allocation:** a handful of instructions, inlined at the call site. When
//!   the current chunk is full, a cold out-of-line path takes a chunk from the
//!   free list (or the system allocator) and continues there. The few bytes
//!   left at the end of the full chunk are lost until the next reset (they are
//!   reported as `wasted_bytes`). Requests larger than a quarter of a chunk
//!   get a chunk of their own, so they never waste a chunk's tail.
//! - **Reset:** O(1): destructors registered with
//!   [`alloc_with_drop`](Arena::alloc_with_drop) run, and the chunk lists are
//!   spliced onto the free list. The next fill reuses those chunks without
//!   calling the system allocator.
//! - **Memory:** whatever the peak phase needed, kept for reuse up to a
//!   *retention cap* ([`ArenaConfig::retained_bytes`], 16 MiB by default);
//!   beyond it, a reset returns chunks to the system, so one unusually large
//!   compilation does not pin its peak forever.
//!
//! ## What it will not do
//!
//! - **It does not run `Drop`** for values allocated with [`Arena::alloc`]
//!   and friends: reset and drop simply reuse or release the bytes. A
//!   `String` or `Vec` stored that way leaks its heap buffer. Use
//!   [`Arena::alloc_with_drop`] for values that own resources: it registers
//!   the destructor, which runs (newest first) on reset, on drop, or when the
//!   scope / checkpoint that allocated it ends.
//! - **It does not free single objects.** The one exception is the
//!   [`allocator_api2`] interface, which can give back (or grow in place) the
//!   most recent allocation.
//! - **It is not `Sync`:** one thread allocates from an arena at a time (it
//!   can be *sent* to another thread). Use one arena per thread.
//!
//! ## Safety, by construction
//!
//! Every reference the arena hands out borrows it. [`reset`](Arena::reset)
//! takes `&mut self`, so the borrow checker rejects using a reference after
//! a reset; scratch references from [`Arena::scope`] and [`Arena::checkpoint`]
//! cannot outlive their rollback either. The compile-fail tests in
//! `tests/ui/` pin these guarantees down.
//!
//! # The API
//!
//! - Create: [`Arena::new`] (defaults), or [`ArenaConfig`] → [`ArenaConfig::build`]
//!   (validated; errors are [`ArenaError`]).
//! - Allocate: [`alloc`](Arena::alloc), [`alloc_with`](Arena::alloc_with),
//!   [`alloc_slice_copy`](Arena::alloc_slice_copy),
//!   [`alloc_slice_clone`](Arena::alloc_slice_clone),
//!   [`alloc_slice_fill_iter`](Arena::alloc_slice_fill_iter),
//!   [`alloc_str`](Arena::alloc_str), [`alloc_layout`](Arena::alloc_layout),
//!   [`alloc_with_drop`](Arena::alloc_with_drop); fallible `try_*` versions
//!   return [`ArenaError`] instead of aborting.
//! - Free: [`reset`](Arena::reset); roll back scratch work with
//!   [`scope`](Arena::scope) (the arena stays usable) or
//!   [`checkpoint`](Arena::checkpoint) (in place, exclusive).
//! - Collections: `&Arena` implements [`allocator_api2::alloc::Allocator`].
//! - Observe: [`stats`](Arena::stats) ([`ArenaStats`]) and
//!   [`morph_metrics::StatsSource`].
//!
//! ```
//! use allocator_api2::vec::Vec;
//! use morph_arena::Arena;
//!
//! struct Ident<'a> {
//!     name: &'a str,
//!     line: u32,
//! }
//!
//! let mut arena = Arena::new();
//! for unit in ["fn main() {}", "fn helper() {}"] {
//!     let mut idents = Vec::new_in(&arena);
//!     for (line, word) in unit.split_whitespace().enumerate() {
//!         let name = arena.alloc_str(word);
//!         idents.push(&*arena.alloc(Ident { name, line: line as u32 }));
//!     }
//!     assert!(idents[1].name.ends_with("()")); // "main()", "helper()"
//!     assert_eq!(idents[1].line, 1);
//!     drop(idents);
//!     arena.reset(); // everything from this unit is gone; chunks are kept
//! }
//! assert_eq!(arena.stats().resets, 2);
//! ```
#![deny(unsafe_op_in_unsafe_fn)]

mod allocator;
mod arena;
mod chunk;
mod config;
mod scope;
mod stats;

pub use arena::Arena;
pub use config::{ArenaConfig, ArenaError};
pub use scope::Checkpoint;
pub use stats::ArenaStats;

/// Re-exported so users can name `Vec<T, &Arena>` without a direct dependency.
pub use allocator_api2;
