//! `Trace`: how the collector finds the references inside a user type.

use std::cell::Cell;
use std::ptr::NonNull;

use morph_header::SlotVisitor;

use crate::Member;

/// Types that can live in the managed heap.
///
/// `trace` reports every [`Member`] stored *inline* in the value (in its
/// fields, in arrays, tuples and `Option`s of them) to the tracer. Use
/// `#[derive(Trace)]` rather than writing it by hand: the derive traces
/// every field and also refuses a `Drop` impl on the type (put clean-up code
/// in [`Trace::finalize`] instead, which cannot reach other managed objects).
///
/// References may only live inline: containers that put their elements
/// elsewhere (`Vec`, `Box`, `HashMap`, …) implement `Trace` only for
/// [`Leaf`] element types, so a `Vec<Member<T>>` does not compile.
///
/// # Safety
/// An implementation must report every `Member` (and `WeakMember`) reachable
/// inline from `self`, each exactly once, and nothing else; if it reports
/// any `WeakMember`, [`HAS_WEAK`](Self::HAS_WEAK) must be `true`;
/// `finalize` must not move a `Member` out of `self`. A missed member is a
/// dangling reference after the next collection, and so is a weak member
/// of a type that does not declare `HAS_WEAK`.
///
/// ```
/// use morph_gengc::{Member, SlotVisitor, Trace, Tracer};
///
/// struct Pair {
///     left: Member<Pair>,
///     right: Member<Pair>,
///     weight: u32,
/// }
///
/// // SAFETY: both members are reported; `weight` holds no reference.
/// unsafe impl Trace for Pair {
///     fn trace<V: SlotVisitor + ?Sized>(&self, tracer: &mut Tracer<'_, V>) {
///         self.left.trace(tracer);
///         self.right.trace(tracer);
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot live in the managed heap: it does not implement `Trace`",
    label = "not `Trace`",
    note = "add `#[derive(Trace)]` to the type's definition: it reports every `Member` field (each field's type must be `Trace` too)",
    note = "a type without references derives it too; `Member<T>`, `Option`, arrays and tuples of `Trace` types, and `Vec`/`Box` of `Leaf` types are `Trace`"
)]
pub unsafe trait Trace: 'static {
    /// Whether values of this type can hold references at all; `false` lets
    /// the collector skip tracing them.
    const HAS_REFERENCES: bool = true;

    /// Whether [`finalize`](Self::finalize) must run when a value dies.
    const NEEDS_FINALIZE: bool = false;

    /// Whether `trace` reports weak references ([`WeakMember`]s, or the
    /// entries of a [`GcWeakMap`](crate::GcWeakMap)'s table) inline in the
    /// value. The collector lists the objects of such types, to clear their
    /// weak references after marking. The derive and the crate's own
    /// types set it from their fields; a hand-written impl whose `trace`
    /// reaches a `WeakMember` must set it too (see the safety section).
    ///
    /// [`WeakMember`]: crate::WeakMember
    const HAS_WEAK: bool = false;

    /// Reports every inline `Member` to `tracer`.
    ///
    /// Generic over the collector's visitor (`V`), so each collector gets
    /// its own copy of the function with the visit inlined at every member
    /// instead of a dynamic call per reference.
    fn trace<V: SlotVisitor + ?Sized>(&self, tracer: &mut Tracer<'_, V>);

    /// Runs once, just before an unreachable value is dropped. It cannot
    /// reach other managed objects (that needs a mutator, which a collection
    /// does not lend), so it cannot resurrect anything.
    fn finalize(&self) {}
}

/// Receives the references of a value being traced: only the collector
/// makes one, and only [`Member`]s report to it.
pub struct Tracer<'t, V: ?Sized> {
    visitor: &'t mut V,
}

impl<V: ?Sized> std::fmt::Debug for Tracer<'_, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tracer")
    }
}

impl<'t, V: SlotVisitor + ?Sized> Tracer<'t, V> {
    pub(crate) fn new(visitor: &'t mut V) -> Self {
        Tracer { visitor }
    }

    /// Reports a slot whose referent's type (and so size) only its header
    /// tells: a [`Tagged`](crate::Tagged) word holding a reference.
    ///
    /// # Safety
    /// `slot` holds the payload address of a live object of this heap.
    #[inline(always)]
    pub(crate) unsafe fn visit_slot(&mut self, slot: NonNull<*mut u8>) {
        self.visitor.visit_slot(slot);
    }

    /// Reports a weak reference slot (see [`SlotVisitor::visit_weak_slot`]).
    ///
    /// # Safety
    /// `slot` is a reference field (null or a live object's payload
    /// address) of the value being traced.
    #[inline(always)]
    pub(crate) unsafe fn visit_weak_slot(&mut self, slot: NonNull<*mut u8>) {
        self.visitor.visit_weak_slot(slot);
    }

    /// Reports an ephemeron (see [`SlotVisitor::visit_ephemeron`]).
    ///
    /// # Safety
    /// `key` is a weak reference field of the value being traced; `value`,
    /// if given, a word of it that refers to a live object now, and that
    /// only ever holds null, a reference or a [`Tagged`](crate::Tagged)
    /// immediate.
    #[inline(always)]
    pub(crate) unsafe fn visit_ephemeron(
        &mut self,
        key: NonNull<*mut u8>,
        value: Option<NonNull<*mut u8>>,
    ) {
        self.visitor.visit_ephemeron(key, value);
    }

    /// Reports one member's slot, and the payload size of the type it
    /// refers to.
    ///
    /// # Safety
    /// As [`SlotVisitor::visit_sized_slot`]: a non-null referent of `slot`
    /// has a payload of `payload` bytes.
    #[inline(always)]
    pub(crate) unsafe fn visit_sized_slot(&mut self, slot: NonNull<*mut u8>, payload: usize) {
        // SAFETY: caller contract.
        unsafe { self.visitor.visit_sized_slot(slot, payload) };
    }
}

/// Types that hold no managed references anywhere, so they may sit behind
/// indirections (`Vec`, `Box`, …) inside managed objects.
///
/// # Safety
/// The type must not contain a [`Member`], directly or indirectly.
#[diagnostic::on_unimplemented(
    message = "`{Self}` may hold a managed reference, so it cannot sit behind a `Vec`, `Box`, `Rc`, `Arc`, `Cell` or `RefCell` in a managed object",
    label = "not a `Leaf`: it is or may contain a `Member`",
    note = "the collector finds and updates a `Member` only inline in a managed object: keep it in a field, an `Option<Member<T>>` or a fixed array `[Member<T>; N]`",
    note = "for a sequence of references use the managed containers: `GcVec<Member<T>>` (growable) or `Member<Array<Member<T>>>` (fixed length, `Mutator::alloc_array`); `Tagged` elements hold values of any type"
)]
pub unsafe trait Leaf: 'static {}

macro_rules! leaf {
    ($($ty:ty),* $(,)?) => {$(
        // SAFETY: a primitive or std type that cannot contain a Member.
        unsafe impl Leaf for $ty {}
        // SAFETY: holds no Member, so there is nothing to report.
        unsafe impl Trace for $ty {
            const HAS_REFERENCES: bool = false;
            #[inline]
            fn trace<V: SlotVisitor + ?Sized>(&self, _tracer: &mut Tracer<'_, V>) {}
        }
    )*};
}

leaf!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    String,
    std::time::Duration,
    std::time::Instant,
);

// SAFETY: str holds no Member.
unsafe impl Leaf for str {}
// SAFETY: a slice of leaves holds no Member.
unsafe impl<T: Leaf> Leaf for [T] {}

// SAFETY: leaf elements hold no Member.
unsafe impl<T: Leaf> Leaf for Vec<T> {}
// SAFETY: the elements are heap-allocated elsewhere and are leaves: no Member.
unsafe impl<T: Leaf> Trace for Vec<T> {
    const HAS_REFERENCES: bool = false;
    fn trace<V: SlotVisitor + ?Sized>(&self, _tracer: &mut Tracer<'_, V>) {}
}

// SAFETY: a leaf behind a box holds no Member.
unsafe impl<T: Leaf + ?Sized> Leaf for Box<T> {}
// SAFETY: as above.
unsafe impl<T: Leaf + ?Sized> Trace for Box<T> {
    const HAS_REFERENCES: bool = false;
    fn trace<V: SlotVisitor + ?Sized>(&self, _tracer: &mut Tracer<'_, V>) {}
}

// SAFETY: a shared leaf holds no Member.
unsafe impl<T: Leaf + ?Sized> Leaf for std::rc::Rc<T> {}
// SAFETY: as above: nothing to report.
unsafe impl<T: Leaf + ?Sized> Trace for std::rc::Rc<T> {
    const HAS_REFERENCES: bool = false;
    fn trace<V: SlotVisitor + ?Sized>(&self, _tracer: &mut Tracer<'_, V>) {}
}

// SAFETY: a shared leaf holds no Member.
unsafe impl<T: Leaf + ?Sized> Leaf for std::sync::Arc<T> {}
// SAFETY: as above: nothing to report.
unsafe impl<T: Leaf + ?Sized> Trace for std::sync::Arc<T> {
    const HAS_REFERENCES: bool = false;
    fn trace<V: SlotVisitor + ?Sized>(&self, _tracer: &mut Tracer<'_, V>) {}
}

// SAFETY: a Copy leaf in a cell holds no Member.
unsafe impl<T: Leaf + Copy> Leaf for Cell<T> {}
// SAFETY: as above; `Cell<T: Copy>` cannot hand out a Member (there is none).
unsafe impl<T: Leaf + Copy> Trace for Cell<T> {
    const HAS_REFERENCES: bool = false;
    fn trace<V: SlotVisitor + ?Sized>(&self, _tracer: &mut Tracer<'_, V>) {}
}

// SAFETY: a leaf in a RefCell holds no Member.
unsafe impl<T: Leaf> Leaf for std::cell::RefCell<T> {}
// SAFETY: as above. (Members are never put in a RefCell: they are mutable on
// their own through `Member::set`, and a RefCell could move one out.)
unsafe impl<T: Leaf> Trace for std::cell::RefCell<T> {
    const HAS_REFERENCES: bool = false;
    fn trace<V: SlotVisitor + ?Sized>(&self, _tracer: &mut Tracer<'_, V>) {}
}

// SAFETY: the member is inline; it is reported once. (No `T: Trace` bound:
// the referent is traced through its own type id, and recursive types would
// otherwise need `T: Trace` to prove `T: Trace`.)
unsafe impl<T: 'static> Trace for Member<T> {
    #[inline]
    fn trace<V: SlotVisitor + ?Sized>(&self, tracer: &mut Tracer<'_, V>) {
        if !self.is_null() {
            if size_of::<T>() == 0 {
                // A zero-sized `T` stands for a variable-size object (an
                // `Array`) or holds nothing: its header gives the size.
                // SAFETY: a non-null member holds a live object's payload.
                unsafe { tracer.visit_slot(self.slot()) };
            } else {
                // SAFETY: a member only ever holds a `Gc<T>` (`Member::set`),
                // and the safe API allocates a sized `T` as an object whose
                // payload is one `T`.
                unsafe { tracer.visit_sized_slot(self.slot(), size_of::<T>()) };
            }
        }
    }
}

// SAFETY: the value is inline; its members are its own.
unsafe impl<T: Trace> Trace for Option<T> {
    const HAS_REFERENCES: bool = T::HAS_REFERENCES;
    const HAS_WEAK: bool = T::HAS_WEAK;
    const NEEDS_FINALIZE: bool = T::NEEDS_FINALIZE;
    #[inline]
    fn trace<V: SlotVisitor + ?Sized>(&self, tracer: &mut Tracer<'_, V>) {
        if let Some(value) = self {
            value.trace(tracer);
        }
    }
    fn finalize(&self) {
        if let Some(value) = self {
            value.finalize();
        }
    }
}
// SAFETY: leaf inside, leaf outside.
unsafe impl<T: Leaf> Leaf for Option<T> {}

// SAFETY: array elements are inline; each is traced once.
unsafe impl<T: Trace, const N: usize> Trace for [T; N] {
    const HAS_REFERENCES: bool = T::HAS_REFERENCES;
    const HAS_WEAK: bool = T::HAS_WEAK;
    const NEEDS_FINALIZE: bool = T::NEEDS_FINALIZE;
    #[inline]
    fn trace<V: SlotVisitor + ?Sized>(&self, tracer: &mut Tracer<'_, V>) {
        for value in self {
            value.trace(tracer);
        }
    }
    fn finalize(&self) {
        for value in self {
            value.finalize();
        }
    }
}
// SAFETY: leaves inside.
unsafe impl<T: Leaf, const N: usize> Leaf for [T; N] {}

macro_rules! tuple {
    ($($name:ident),+) => {
        // SAFETY: tuple fields are inline; each is traced once.
        unsafe impl<$($name: Trace),+> Trace for ($($name,)+) {
            const HAS_REFERENCES: bool = $($name::HAS_REFERENCES)||+;
            const HAS_WEAK: bool = $($name::HAS_WEAK)||+;
            const NEEDS_FINALIZE: bool = $($name::NEEDS_FINALIZE)||+;
            #[allow(non_snake_case)]
            fn trace<V: SlotVisitor + ?Sized>(&self, tracer: &mut Tracer<'_, V>) {
                let ($($name,)+) = self;
                $($name.trace(tracer);)+
            }
            #[allow(non_snake_case)]
            fn finalize(&self) {
                let ($($name,)+) = self;
                $($name.finalize();)+
            }
        }
        // SAFETY: leaves inside.
        unsafe impl<$($name: Leaf),+> Leaf for ($($name,)+) {}
    };
}
tuple!(A);
tuple!(A, B);
tuple!(A, B, C);
tuple!(A, B, C, D);
tuple!(A, B, C, D, E);
tuple!(A, B, C, D, E, F);
