//! Scratch allocation that is rolled back: [`Arena::scope`] and
//! [`Arena::checkpoint`].
//!
//! Both are sound by construction, without runtime checks:
//!
//! - [`Arena::scope`] hands its closure a *child* arena `&'s Arena` whose
//!   lifetime `'s` is chosen by the callee (a higher-ranked lifetime), so no
//!   reference into scratch memory can reach the return value or any captured
//!   variable. The child borrows the parent's idle chunks and gives them all
//!   back when the closure returns (or unwinds). The parent stays usable
//!   through `&self` meanwhile, and its own allocations are untouched.
//! - [`Arena::checkpoint`] takes `&mut self` and returns a guard that rolls the
//!   arena back, in place, when dropped. Allocations made through the guard
//!   borrow the guard, so they cannot outlive the rollback; and because the
//!   guard holds the only borrow of the arena, nothing allocated before the
//!   checkpoint can be used (or reset) while it lives.
//!
//! # Invariants of the unsafe code in this module
//!
//! Chunks move to the free list only when no reference into them can be live:
//! the child arena's chunks when its `'s` borrow has ended, chunks used after
//! a checkpoint when its guard (the sole borrow of the arena) is dropped.

use std::ops::Deref;
use std::ptr::NonNull;

use crate::Arena;
use crate::arena::DropEntry;
use crate::chunk::{ChunkList, ChunkPtr};

impl Arena {
    /// Runs `f` with a scratch arena whose allocations are all freed when `f`
    /// returns; returns what `f` returns.
    ///
    /// The scratch arena starts on this arena's idle chunks (so, after
    /// warm-up, a scope allocates nothing from the system) and hands every
    /// chunk back at the end, subject to the retention cap. Destructors
    /// registered in the scratch arena run when the scope ends. Allocations
    /// made through `self` inside the closure are regular allocations of this
    /// arena and survive the scope. While a scope is active, this arena's
    /// [`stats`](Arena::stats) do not count the chunks lent to it.
    ///
    /// References into scratch memory cannot escape: this does not compile.
    ///
    /// ```compile_fail
    /// let arena = morph_arena::Arena::new();
    /// let leaked = arena.scope(|scratch| scratch.alloc(1_u32));
    /// ```
    ///
    /// ```
    /// use morph_arena::Arena;
    ///
    /// let arena = Arena::new();
    /// let tokens = arena.alloc_slice_copy(&[3_u32, 1, 2]);
    /// let max = arena.scope(|scratch| {
    ///     let sorted = scratch.alloc_slice_copy(tokens); // reads outer data
    ///     sorted.sort_unstable();
    ///     sorted[sorted.len() - 1]
    /// });
    /// assert_eq!(max, 3);
    /// assert_eq!(tokens, &[3, 1, 2]); // outer allocations untouched
    /// ```
    pub fn scope<R>(&self, f: impl for<'s> FnOnce(&'s Arena) -> R) -> R {
        let child = Arena::from_valid_config(self.config.clone());
        child.free.set(self.free.take());
        let guard = ScopeGuard {
            parent: self,
            child,
        };
        f(&guard.child)
    }
}

/// Returns a scratch arena's chunks to its parent, also during unwinding.
struct ScopeGuard<'p> {
    parent: &'p Arena,
    child: Arena,
}

impl Drop for ScopeGuard<'_> {
    fn drop(&mut self) {
        let child = &mut self.child;
        child.run_drops(None);
        child.retire_current();
        let mut lent_back = child.free.take();
        let mut used = child.retired.take();
        lent_back.splice_front(&mut used);
        let mut free = self.parent.free.take();
        free.splice_front(&mut lent_back);
        // SAFETY: the child's chunks are referenced by nothing: the closure's
        // `'s` borrow has ended. The parent's idle chunks are referenced by
        // nothing by invariant 2 of the arena module.
        unsafe { free.trim_to(self.parent.config.get_retained_bytes()) };
        self.parent.free.set(free);
        // `child` now owns no chunks; its own Drop has nothing left to do.
    }
}

/// Everything needed to put an arena back where it was.
#[derive(Clone, Copy)]
struct SavedState {
    current: Option<ChunkPtr>,
    cursor: *mut u8,
    limit: usize,
    retired: ChunkList,
    retired_used: usize,
    retired_wasted: usize,
    drops: Option<NonNull<DropEntry>>,
}

/// A guard that rolls its arena back, in place, when dropped; created by
/// [`Arena::checkpoint`].
///
/// It dereferences to the [`Arena`], so allocate through it as usual; those
/// allocations borrow the guard and end with it. Nest checkpoints with
/// [`Checkpoint::checkpoint`]. Forgetting the guard (`mem::forget`) keeps the
/// allocations until the next reset.
///
/// ```compile_fail
/// let mut arena = morph_arena::Arena::new();
/// let escaped;
/// {
///     let scratch = arena.checkpoint();
///     escaped = scratch.alloc(1_u32);
/// }
/// println!("{escaped}");
/// ```
pub struct Checkpoint<'a> {
    arena: &'a mut Arena,
    saved: SavedState,
}

impl Arena {
    /// Marks the current allocation position; dropping the returned guard
    /// frees everything allocated through it, runs the destructors registered
    /// since, and returns chunks used since to the free list. Unlike
    /// [`scope`](Arena::scope) it reuses the current chunk in place, but it
    /// needs `&mut self`: earlier allocations cannot be used while it lives.
    ///
    /// ```
    /// let mut arena = morph_arena::Arena::new();
    /// arena.alloc(1_u64);
    /// let before = arena.stats().used_bytes;
    /// {
    ///     let scratch = arena.checkpoint();
    ///     let buf = scratch.alloc_slice_copy(&[0_u8; 1000]);
    ///     assert_eq!(buf.len(), 1000);
    /// } // rolled back here
    /// assert_eq!(arena.stats().used_bytes, before);
    /// ```
    pub fn checkpoint(&mut self) -> Checkpoint<'_> {
        let saved = SavedState {
            current: self.current.get(),
            cursor: self.cursor.get(),
            limit: self.limit.get(),
            retired: self.retired.get(),
            retired_used: self.retired_used.get(),
            retired_wasted: self.retired_wasted.get(),
            drops: self.drops.get(),
        };
        Checkpoint { arena: self, saved }
    }

    fn rollback(&mut self, saved: &SavedState) {
        self.run_drops(saved.drops);
        let mut free = self.free.get();
        if let Some(chunk) = self.current.take()
            && Some(chunk) != saved.current
        {
            free.push_front(chunk);
        }
        // Chunks retired since the checkpoint sit in front of the saved head:
        // the list only grows at the front, and nothing else can shorten it
        // while the guard borrows the arena.
        let mut retired = self.retired.get();
        while retired.head() != saved.retired.head() {
            let chunk = retired
                .pop_front()
                .expect("a checkpoint's retired chunks outlive it");
            if Some(chunk) != saved.current {
                free.push_front(chunk);
            }
        }
        debug_assert_eq!(retired.count, saved.retired.count);
        // SAFETY: the chunks moved to the free list were only used after the
        // checkpoint; every reference into them borrowed the guard, which is
        // being dropped (module invariant).
        unsafe { free.trim_to(self.config.get_retained_bytes()) };
        self.free.set(free);
        self.retired.set(retired);
        self.current.set(saved.current);
        self.cursor.set(saved.cursor);
        self.limit.set(saved.limit);
        self.retired_used.set(saved.retired_used);
        self.retired_wasted.set(saved.retired_wasted);
    }
}

impl Checkpoint<'_> {
    /// Opens a nested checkpoint, rolled back before this one.
    ///
    /// ```
    /// let mut arena = morph_arena::Arena::new();
    /// let mut outer = arena.checkpoint();
    /// outer.alloc(1_u32);
    /// let used = outer.stats().used_bytes;
    /// {
    ///     let inner = outer.checkpoint();
    ///     inner.alloc([0_u8; 64]);
    /// }
    /// assert_eq!(outer.stats().used_bytes, used);
    /// ```
    pub fn checkpoint(&mut self) -> Checkpoint<'_> {
        self.arena.checkpoint()
    }
}

impl Deref for Checkpoint<'_> {
    type Target = Arena;

    fn deref(&self) -> &Arena {
        self.arena
    }
}

impl Drop for Checkpoint<'_> {
    fn drop(&mut self) {
        let saved = self.saved;
        self.arena.rollback(&saved);
    }
}

impl std::fmt::Debug for Checkpoint<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint")
            .field("arena", &self.arena)
            .finish_non_exhaustive()
    }
}
