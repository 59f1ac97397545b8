//! A generational, moving garbage collector with precise roots.
//!
//! # The heap
//!
//! * **Nursery** — new objects are bump-allocated in a 2 MiB eden. When it
//!   fills, a *minor collection* copies the live ones (Cheney's algorithm)
//!   into a survivor space, ageing them, and promotes those that survived
//!   `promotion_age` collections into the old generation. Its cost is
//!   proportional to what survives, not to what was allocated.
//! * **Old generation** — size-class blocks from `morph-pool`; a *major
//!   collection* marks everything reachable (a mark bitmap in each block) and sweeps
//!   the rest a bitmap word at a time. Old objects never move.
//! * **Large-object space** — objects of at least `large_object_threshold`
//!   bytes get a memory mapping of their own, never move, and are unmapped
//!   when dead.
//! * **Write barrier** — storing a young object into a field of an old one
//!   records the field's slot ([`Member::set`]) or, through the raw API's
//!   [`RawHeap::write_barrier`], the old object (once, via a header flag);
//!   minor collections update recorded slots and rescan remembered objects
//!   as extra roots.
//! * **Finalization** — types that need dropping are dropped exactly once
//!   when found dead; finalizers cannot reach managed objects, so they cannot
//!   resurrect anything. **Weak roots** clear when their target dies.
//!   **Pinned** objects are allocated where nothing moves.
//! * **Heap bound** — with `heap_limit` set, allocation runs a full
//!   collection when the bound is near and returns
//!   [`GcError::HeapExhausted`] (from `try_alloc`) if that did not free
//!   enough; nothing reachable is lost.
//!
//! # Two APIs
//!
//! * The **safe API** — [`Heap`], [`Mutator`], [`Root`], [`Gc`], [`Member`],
//!   and `#[derive(Trace)]`. A collection may run at any allocation, even in
//!   the middle of a long interpreter loop; the borrow checker guarantees no
//!   unrooted pointer is held across one. See `docs/SAFETY.md`.
//! * The **raw API** — [`RawHeap`] for VMs that own their object model:
//!   allocate by (size, type id, flags), supply roots through [`RootSet`],
//!   call [`RawHeap::write_barrier`] after each reference store.
//!
//! ```
//! use morph_gengc::{Heap, Member, Trace};
//!
//! #[derive(Trace)]
//! struct Tree {
//!     left: Member<Tree>,
//!     right: Member<Tree>,
//! }
//!
//! fn count(tree: Option<morph_gengc::Gc<'_, Tree>>, m: &morph_gengc::Mutator<'_>) -> usize {
//!     tree.map_or(0, |t| 1 + count(t.left.get(m), m) + count(t.right.get(m), m))
//! }
//!
//! let mut heap = Heap::new(Default::default())?;
//! let nodes = heap.enter(|m| {
//!     let root = m.alloc(Tree { left: Member::null(), right: Member::null() });
//!     for _ in 0..10_000 {
//!         // Garbage: collections run while `root` stays valid.
//!         m.alloc(Tree { left: Member::null(), right: Member::null() });
//!     }
//!     let child = m.alloc(Tree { left: Member::null(), right: Member::null() });
//!     root.get(m).left.set(m, Some(child.get(m)));
//!     count(Some(root.get(m)), m)
//! });
//! assert_eq!(nodes, 2);
//! # Ok::<(), morph_gengc::GcError>(())
//! ```
//!
//! # Observability
//! Every collection reports into `morph-metrics` (kind, pause, bytes before
//! and after, promotion); `MORPH_GC_TRACE=1` prints one line per collection.
//! [`GcConfig::stress_every`] collects every N allocations and
//! [`RawHeap::verify`] checks the heap's invariants, for tests.
#![deny(unsafe_op_in_unsafe_fn)]

mod adaptive;
mod array;
mod collect;
mod config;
mod error;
mod finalize;
mod hash;
mod heap;
mod identity;
mod incremental;
mod init;
mod loan;
mod lock;
mod map;
mod object;
mod reentry;
mod safe;
mod scope;
mod space;
mod string;
mod tagged;
mod trace;
mod types;
mod vec;
pub mod verify;
mod weak;
mod weak_map;

pub use array::Array;
pub use config::{GcConfig, MIN_NURSERY_SIZE};
pub use error::GcError;
pub use heap::{AllocFlags, Collection, CollectionObserver, HeapUsage, RawHeap, RootSet};
pub use init::Init;
pub use loan::EdenLoan;
pub use lock::RefLock;
pub use map::{GcMap, MapKey};
pub use morph_header::SlotVisitor;
pub use object::{HEADER_SIZE, MIN_OBJECT_SIZE, ObjectRef, object_size};
pub use safe::{Gc, Heap, Member, Mutator, Root, WeakRoot};
pub use scope::{Handle, Local, Scope};
pub use string::Str;
pub use tagged::{GcAny, Tagged, TaggedInit, TaggedRoot, TaggedValue};
pub use trace::{Leaf, Trace, Tracer};
pub use vec::{Element, GcVec};
pub use verify::VerifyError;
pub use weak::WeakMember;
pub use weak_map::GcWeakMap;

/// `#[derive(Trace)]`: traces every field, and refuses a `Drop` impl on the
/// type (use `#[trace(finalize)]` and implement [`Finalize`] instead).
pub use morph_gengc_derive::Trace;

/// Clean-up code for a managed type, run once when it is found dead; enable
/// it with `#[trace(finalize)]` next to `#[derive(Trace)]`.
pub trait Finalize {
    /// Runs once before the value is dropped. It has no access to other
    /// managed objects.
    fn finalize(&self);
}
