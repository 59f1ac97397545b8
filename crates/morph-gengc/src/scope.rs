//! Handle scopes: many short-lived roots released at once.
//!
//! A [`Root`](crate::Root) is a slot taken from the heap's root table and
//! given back when the handle is dropped: right for a value held for a
//! while, a cost (and a `clone` per copy) for the dozens of temporaries an
//! interpreter step holds across its allocations. A [`Scope`] keeps its
//! handles, [`Local`]s, on a stack of slots instead: making one is a push,
//! a `Local` is `Copy` and has no destructor, and the whole scope's slots
//! are released in one step when it ends — rusty_v8's `HandleScope` and
//! `Local` are the model.
//!
//! Soundness rests on three things:
//! * a `Local<'s, T>` cannot outlive its scope: `'s` is chosen by
//!   [`Mutator::scope`] for each call (the closure is generic over it), so
//!   nothing the closure returns or stores outside can name it, and the
//!   slots are cut back only after the closure has returned (or unwound);
//! * a scope nested inside another borrows the outer one mutably, so the
//!   outer scope cannot push while an inner one is open: the stack only
//!   ever shrinks back to where the inner scope began, past slots no live
//!   `Local` names;
//! * [`Local::get`] checks that the mutator it borrows is the one of the
//!   local's heap, so a borrow of another heap's mutator cannot stand in
//!   for the borrow that keeps this heap from collecting.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

use crate::heap::AllocFlags;
use crate::object::ObjectRef;
use crate::safe::{Gc, Mutator, RootTable, alloc_failed, foreign_value};
use crate::trace::Trace;

/// A handle scope: a [`Mutator`] (it dereferences to one) whose
/// [`local`](Self::local) and [`alloc_local`](Self::alloc_local) make
/// [`Local`] handles that live until the scope ends. Opened with
/// [`Mutator::scope`].
///
/// ```
/// use morph_gengc::{Heap, Local, Member, Trace};
///
/// #[derive(Trace)]
/// struct Pair {
///     left: Member<Pair>,
///     right: Member<Pair>,
///     value: i64,
/// }
///
/// let mut heap = Heap::new(Default::default())?;
/// let total = heap.enter(|m| {
///     m.scope(|s| {
///         let leaf = |value| Pair { left: Member::null(), right: Member::null(), value };
///         // Locals are `Copy`: no clone, no drop, released with the scope.
///         let a = s.alloc_local(leaf(1));
///         let b = s.alloc_local(leaf(2));
///         let pair = s.alloc_local(leaf(3)); // may collect: a and b stay valid
///         pair.get(s).left.set(s, Some(a.get(s)));
///         pair.get(s).right.set(s, Some(b.get(s)));
///         let p = pair.get(s);
///         p.value + p.left.get(s).unwrap().value + p.right.get(s).unwrap().value
///     })
/// });
/// assert_eq!(total, 6);
/// # Ok::<(), morph_gengc::GcError>(())
/// ```
pub struct Scope<'s, 'gc> {
    mutator: &'s mut Mutator<'gc>,
}

/// A handle to a managed object that lives as long as the [`Scope`] that
/// made it: `Copy`, no destructor, released with the scope. Read it like a
/// [`Root`](crate::Root): [`get`](Self::get) gives a [`Gc`] for as long as
/// the mutator is borrowed.
pub struct Local<'s, T> {
    table: &'s RootTable,
    index: u32,
    _marker: PhantomData<*const T>,
}

mod sealed {
    pub trait Sealed {}
}

/// A handle that finds its object after any collection: a
/// [`Root`](crate::Root) or a [`Local`]. What the container operations
/// that may allocate ([`GcVec::push`](crate::GcVec::push),
/// [`GcMap::insert`](crate::GcMap::insert), …) take for the object that
/// holds the container.
pub trait Handle<'gc, T>: sealed::Sealed {
    /// A pointer to the object, valid while the mutator is borrowed.
    fn get<'a>(&self, mutator: &'a Mutator<'gc>) -> Gc<'a, T>;
}

impl<T> sealed::Sealed for crate::Root<'_, T> {}
impl<'gc, T: Trace> Handle<'gc, T> for crate::Root<'gc, T> {
    #[inline]
    fn get<'a>(&self, mutator: &'a Mutator<'gc>) -> Gc<'a, T> {
        crate::Root::get(self, mutator)
    }
}

impl<T> sealed::Sealed for Local<'_, T> {}
impl<'gc, T: Trace> Handle<'gc, T> for Local<'_, T> {
    #[inline]
    fn get<'a>(&self, mutator: &'a Mutator<'gc>) -> Gc<'a, T> {
        Local::get(*self, mutator)
    }
}

impl<T> Clone for Local<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Local<'_, T> {}

impl<'gc> Mutator<'gc> {
    /// Runs `f` in a new handle scope and releases every [`Local`] it made
    /// when `f` returns (or unwinds). Scopes nest: a scope is a mutator, so
    /// `s.scope(…)` opens an inner one.
    pub fn scope<R>(&mut self, f: impl for<'s> FnOnce(&mut Scope<'s, 'gc>) -> R) -> R {
        /// Cuts the stack back even if `f` unwinds.
        struct Release<'t> {
            table: &'t RootTable,
            base: usize,
        }
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.table.truncate_scoped(self.base);
            }
        }
        let table = self.root_table();
        let _release = Release {
            table,
            base: table.scoped_len(),
        };
        f(&mut Scope { mutator: self })
    }
}

impl<'s, 'gc> Scope<'s, 'gc> {
    /// A local handle to `gc`, valid until the scope ends.
    ///
    /// # Panics
    /// If `gc` is an object of another heap.
    pub fn local<T: Trace>(&self, gc: Gc<'_, T>) -> Local<'s, T> {
        let obj = gc.object();
        if !self.mutator.owns(obj) {
            foreign_value();
        }
        self.make_local(obj.as_ptr().as_ptr())
    }

    /// Allocates `value` and returns a local handle to it. May collect.
    ///
    /// # Panics
    /// As [`Mutator::alloc`].
    #[inline(always)]
    pub fn alloc_local<T: Trace>(&mut self, value: T) -> Local<'s, T> {
        match self.mutator.alloc_object(value, AllocFlags::DEFAULT) {
            Ok(obj) => self.make_local(obj.as_ptr().as_ptr()),
            Err(error) => alloc_failed(error),
        }
    }

    /// Local handles held by this scope and the scopes around it.
    pub fn local_count(&self) -> usize {
        self.mutator.root_table().scoped_len()
    }

    #[inline(always)]
    fn make_local<T>(&self, target: *mut u8) -> Local<'s, T> {
        let table = self.mutator.root_table();
        Local {
            table,
            index: table.push_scoped(target),
            _marker: PhantomData,
        }
    }
}

impl<'gc> Deref for Scope<'_, 'gc> {
    type Target = Mutator<'gc>;

    fn deref(&self) -> &Mutator<'gc> {
        self.mutator
    }
}

impl<'gc> DerefMut for Scope<'_, 'gc> {
    fn deref_mut(&mut self) -> &mut Mutator<'gc> {
        self.mutator
    }
}

impl<T: Trace> Local<'_, T> {
    /// A pointer to the object, valid while the mutator is borrowed.
    ///
    /// # Panics
    /// If `mutator` is not the mutator of the heap this handle belongs to.
    #[inline]
    pub fn get<'a>(self, mutator: &'a Mutator<'_>) -> Gc<'a, T> {
        if !std::ptr::eq(self.table, mutator.root_table()) {
            another_heaps_mutator();
        }
        // A scoped slot named by a live `Local` holds the payload address
        // of a live `T`: pushed from an object of this heap, kept current
        // by every collection, and not released before the scope ends,
        // which outlives the `Local`.
        let target = NonNull::new(self.table.scoped(self.index)).unwrap_or_else(|| unreachable!());
        // SAFETY: the payload address of a live object (above).
        let obj = unsafe { ObjectRef::from_payload(target) };
        // SAFETY: a live `T` (above); the borrow of this heap's mutator
        // (checked) keeps collections out for 'a.
        unsafe { Gc::from_object(obj) }
    }
}

impl<T> fmt::Debug for Local<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Local(#{})", self.index)
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("locals", &self.local_count())
            .finish()
    }
}

#[cold]
#[inline(never)]
fn another_heaps_mutator() -> ! {
    panic!("a Local was read through the mutator of another heap than its own")
}
