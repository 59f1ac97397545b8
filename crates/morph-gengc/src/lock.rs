//! `RefLock`: a field whose whole value may be replaced in place, members
//! and all, through the write barrier.
//!
//! A [`Member`](crate::Member) is mutable on its own ([`Member::set`]), but
//! a field that is an enum with member-holding variants (a dynamic
//! language's value: nil, an integer, a string object, a list object) has
//! to change variant, which `Cell` cannot do (it takes only `Leaf + Copy`
//! values) and `RefCell` must not do (a `&mut` could move a live member out
//! of the heap, where nothing traces it). gc-arena's `RefLock` is the model.
//!
//! The rules that keep it sound:
//! * only shared access to the value ([`RefLock::borrow`]): a member can be
//!   read or [`set`](crate::Member::set), never moved out;
//! * [`RefLock::set`] replaces the value and *drops* the old one in place:
//!   it is never handed back, so its members never leave the heap;
//! * a value built outside the heap holds only null members (members are
//!   made null and set only inside managed objects), so the new value
//!   refers to nothing and needs no generational barrier; the old value's
//!   members are logged while an incremental cycle runs (snapshot at the
//!   beginning), as `Member::set` logs the value it overwrites.
//!
//! [`Member::set`]: crate::Member::set

use std::cell::{Ref, RefCell};
use std::fmt;

use morph_header::SlotVisitor;

use crate::safe::Mutator;
use crate::trace::{Trace, Tracer};

/// A field of a managed object holding a `Trace` value that can be
/// replaced in place through the barrier: an enum with member variants, or
/// a struct of members, changed as a whole.
///
/// ```
/// use morph_gengc::{Heap, Member, RefLock, Trace};
///
/// #[derive(Trace)]
/// struct Str(String);
///
/// #[derive(Trace)]
/// enum Value {
///     Nil,
///     Int(i64),
///     Str(Member<Str>),
/// }
///
/// #[derive(Trace)]
/// struct Slot {
///     value: RefLock<Value>,
/// }
///
/// let mut heap = Heap::new(Default::default())?;
/// let text = heap.enter(|m| {
///     let slot = m.alloc(Slot { value: RefLock::new(Value::Int(7)) });
///     let text = m.alloc(Str("seven".into()));
///     // Change the variant (its member starts null), then set the member.
///     slot.get(m).value.set(m, Value::Str(Member::null()));
///     if let Value::Str(s) = &*slot.get(m).value.borrow() {
///         s.set(m, Some(text.get(m)));
///     }
///     m.alloc(Str("garbage".into())); // may collect: both stay reachable
///     let slot = slot.get(m);
///     let value = slot.value.borrow();
///     match &*value {
///         Value::Str(s) => s.get(m).map(|s| s.0.clone()),
///         _ => None,
///     }
/// });
/// assert_eq!(text.as_deref(), Some("seven"));
/// # Ok::<(), morph_gengc::GcError>(())
/// ```
pub struct RefLock<T> {
    value: RefCell<T>,
}

impl<T: Trace> RefLock<T> {
    /// A lock holding `value` (its members null, as every member is until
    /// its object is in the heap).
    pub fn new(value: T) -> Self {
        RefLock {
            value: RefCell::new(value),
        }
    }

    /// Reads the value: a shared borrow, through which members can be read
    /// and [`set`](crate::Member::set) but not moved out.
    ///
    /// # Panics
    /// Never while no [`set`](Self::set) runs; `set` is the only writer.
    pub fn borrow(&self) -> Ref<'_, T> {
        self.value.borrow()
    }

    /// Replaces the value with `value` (whose members are null: it was
    /// built outside the heap) and drops the old one in place, running the
    /// barrier first.
    ///
    /// # Panics
    /// If a [`borrow`](Self::borrow) of this lock is alive, or the lock is
    /// not a field of an object in `mutator`'s heap.
    pub fn set(&self, mutator: &Mutator<'_>, value: T) {
        let mut slot = self
            .value
            .try_borrow_mut()
            .unwrap_or_else(|_| borrowed_while_set());
        mutator.before_replace(std::ptr::from_ref(self).addr(), &*slot);
        *slot = value;
    }
}

#[cold]
#[inline(never)]
fn borrowed_while_set() -> ! {
    panic!("RefLock::set while the lock's value is borrowed: drop the borrow first")
}

// SAFETY: the value is inline and its members are its own; they are
// reported once each. Tracing reads the value without the `RefCell` flag:
// a collection runs only under `&mut Mutator`, while every `Ref` of a
// managed lock borrows a `Gc`, which borrows the mutator shared, so no
// borrow is alive then (even a leaked one cannot be used), and `set`'s
// mutable borrow never spans a collection.
unsafe impl<T: Trace> Trace for RefLock<T> {
    const HAS_REFERENCES: bool = T::HAS_REFERENCES;
    const HAS_WEAK: bool = T::HAS_WEAK;
    const NEEDS_FINALIZE: bool = T::NEEDS_FINALIZE;

    #[inline]
    fn trace<V: SlotVisitor + ?Sized>(&self, tracer: &mut Tracer<'_, V>) {
        // SAFETY: no mutable borrow is alive during a collection (above).
        unsafe { &*self.value.as_ptr() }.trace(tracer);
    }

    fn finalize(&self) {
        // SAFETY: finalizers run in a collection or at heap drop, when no
        // borrow is alive (above).
        unsafe { &*self.value.as_ptr() }.finalize();
    }
}

impl<T: fmt::Debug> fmt::Debug for RefLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value.try_borrow() {
            Ok(value) => f.debug_tuple("RefLock").field(&*value).finish(),
            Err(_) => f.write_str("RefLock(<being set>)"),
        }
    }
}
