//! `GcVec<T>`: a growable vector whose elements live in a managed
//! [`Array`], replaced by one twice as large when full.
//!
//! Elements are *slots* mutable in place through their own barrier
//! ([`Element`]: `Member`, `Tagged`, `Cell` of plain data), so every
//! element store — a set, a push, the copy into a larger buffer, the shift
//! of an insert or remove — goes through the write barrier.
//!
//! Growing allocates, and an allocation may move every young object: the
//! operations that may grow ([`GcVec::push`], [`GcVec::insert`],
//! [`GcVec::reserve`]) take the *root* of the object that holds the vector
//! and a projection to the vector's field, and the value to store as a
//! closure that runs after the allocation. Everything else takes a shared
//! mutator borrow like any field access.
//!
//! Invariants: elements at and past `len` hold their empty value (no
//! reference), so the buffer's spare capacity keeps nothing alive; `len`
//! never exceeds the buffer's length.

use std::cell::Cell;
use std::fmt;
use std::ptr::NonNull;

use morph_header::SlotVisitor;

use crate::array::Array;
use crate::safe::{Gc, Member, Mutator};
use crate::scope::Handle;
use crate::tagged::{Tagged, TaggedValue};
use crate::trace::{Leaf, Trace, Tracer};
use crate::weak::WeakMember;

mod sealed {
    pub trait Sealed {}
}

/// A slot a [`GcVec`] (or any container) can hold: mutable in place
/// through its own barrier, with an empty value that refers to nothing.
/// Implemented for [`Member<U>`], [`Tagged`] and `Cell<L>` of plain `Copy`
/// data.
pub trait Element: Trace + sealed::Sealed {
    /// What a slot holds, read out (a `Gc` borrows the mutator).
    type Value<'a>: Copy;

    /// Whether the empty slot is all zero bytes, so a zeroed buffer needs
    /// no filling.
    #[doc(hidden)]
    const EMPTY_IS_ZEROED: bool = false;

    /// A slot holding the empty value (null, nil, `L::default()`).
    fn empty() -> Self;

    /// Reads the slot.
    fn read<'a>(&self, mutator: &'a Mutator<'_>) -> Self::Value<'a>;

    /// Writes the slot, with the write barrier.
    fn write(&self, mutator: &Mutator<'_>, value: Self::Value<'_>);

    /// Writes the empty value, with the write barrier.
    fn clear(&self, mutator: &Mutator<'_>);

    /// The address the slot refers to, if it holds a reference (for the
    /// bulk barrier of a copy, [`crate::array::fill_grown`]).
    #[doc(hidden)]
    fn referent_addr(&self) -> Option<usize>;

    /// The slot's word, if it holds a strong reference now (the value of
    /// an ephemeron).
    #[doc(hidden)]
    fn strong_slot(&self) -> Option<NonNull<*mut u8>> {
        None
    }

    /// The slot's word, if it holds a weak reference now (the key of an
    /// ephemeron).
    #[doc(hidden)]
    fn weak_slot(&self) -> Option<NonNull<*mut u8>> {
        None
    }
}

impl<U: 'static> sealed::Sealed for Member<U> {}
impl<U: 'static> Element for Member<U> {
    type Value<'a> = Option<Gc<'a, U>>;
    // A null member is the zero word.
    const EMPTY_IS_ZEROED: bool = true;

    #[inline]
    fn empty() -> Self {
        Member::null()
    }

    #[inline]
    fn read<'a>(&self, mutator: &'a Mutator<'_>) -> Option<Gc<'a, U>> {
        self.get(mutator)
    }

    #[inline]
    fn write(&self, mutator: &Mutator<'_>, value: Option<Gc<'_, U>>) {
        self.set(mutator, value);
    }

    #[inline]
    fn clear(&self, mutator: &Mutator<'_>) {
        self.set(mutator, None);
    }

    #[inline]
    fn referent_addr(&self) -> Option<usize> {
        self.referent_addr()
    }

    #[inline]
    fn strong_slot(&self) -> Option<NonNull<*mut u8>> {
        (!self.is_null()).then(|| self.slot())
    }
}

impl sealed::Sealed for Tagged {}
impl Element for Tagged {
    type Value<'a> = TaggedValue<'a>;
    // Nil is the zero word.
    const EMPTY_IS_ZEROED: bool = true;

    #[inline]
    fn empty() -> Self {
        Tagged::nil()
    }

    #[inline]
    fn read<'a>(&self, mutator: &'a Mutator<'_>) -> TaggedValue<'a> {
        self.get(mutator)
    }

    #[inline]
    fn write(&self, mutator: &Mutator<'_>, value: TaggedValue<'_>) {
        self.set(mutator, value);
    }

    #[inline]
    fn clear(&self, mutator: &Mutator<'_>) {
        self.set(mutator, TaggedValue::Nil);
    }

    #[inline]
    fn referent_addr(&self) -> Option<usize> {
        self.referent_addr()
    }

    #[inline]
    fn strong_slot(&self) -> Option<NonNull<*mut u8>> {
        self.reference_slot()
    }
}

impl<U: 'static> sealed::Sealed for WeakMember<U> {}
impl<U: 'static> Element for WeakMember<U> {
    type Value<'a> = Option<Gc<'a, U>>;
    // A null weak member is the zero word.
    const EMPTY_IS_ZEROED: bool = true;

    #[inline]
    fn empty() -> Self {
        WeakMember::null()
    }

    #[inline]
    fn read<'a>(&self, mutator: &'a Mutator<'_>) -> Option<Gc<'a, U>> {
        self.get(mutator)
    }

    #[inline]
    fn write(&self, mutator: &Mutator<'_>, value: Option<Gc<'_, U>>) {
        self.set(mutator, value);
    }

    #[inline]
    fn clear(&self, mutator: &Mutator<'_>) {
        self.set(mutator, None);
    }

    #[inline]
    fn referent_addr(&self) -> Option<usize> {
        self.referent_addr()
    }

    #[inline]
    fn weak_slot(&self) -> Option<NonNull<*mut u8>> {
        (!self.is_null()).then(|| self.slot())
    }
}

impl<L: Leaf + Copy + Default> sealed::Sealed for Cell<L> {}
impl<L: Leaf + Copy + Default> Element for Cell<L> {
    type Value<'a> = L;

    #[inline]
    fn empty() -> Self {
        Cell::new(L::default())
    }

    #[inline]
    fn read(&self, _mutator: &Mutator<'_>) -> L {
        self.get()
    }

    #[inline]
    fn write(&self, _mutator: &Mutator<'_>, value: L) {
        self.set(value);
    }

    #[inline]
    fn clear(&self, _mutator: &Mutator<'_>) {
        self.set(L::default());
    }

    #[inline]
    fn referent_addr(&self) -> Option<usize> {
        None
    }
}

/// A growable vector in the managed heap: a length and a managed buffer.
/// Use it as a field of a managed object (or as an object of its own).
///
/// ```
/// use morph_gengc::{GcVec, Heap, Tagged, TaggedValue, Trace};
///
/// #[derive(Trace)]
/// struct List {
///     items: GcVec<Tagged>,
/// }
/// #[derive(Trace)]
/// struct Text(String);
///
/// let mut heap = Heap::new(Default::default())?;
/// heap.enter(|m| {
///     let list = m.alloc(List { items: GcVec::new() });
///     for i in 0..1000 {
///         GcVec::push(&list, |l| &l.items, m, |_| TaggedValue::Int(i));
///     }
///     let text = m.alloc(Text("last".into()));
///     // The value is made after any growth, from a shared borrow.
///     GcVec::push(&list, |l| &l.items, m, |m| TaggedValue::Ref(text.get(m).into()));
///     let list = list.get(m);
///     assert_eq!(list.items.len(), 1001);
///     assert_eq!(list.items.get(m, 999), Some(TaggedValue::Int(999)));
///     let Some(TaggedValue::Ref(last)) = list.items.pop(m) else { panic!() };
///     assert_eq!(last.downcast::<Text>(m).unwrap().0, "last");
///     let sum: i64 = list.items.iter(m).map(|v| match v {
///         TaggedValue::Int(i) => i,
///         _ => 0,
///     }).sum();
///     assert_eq!(sum, 999 * 1000 / 2);
/// });
/// # Ok::<(), morph_gengc::GcError>(())
/// ```
pub struct GcVec<T: 'static> {
    len: Cell<usize>,
    buf: Member<Array<T>>,
}

impl<T: Element> Default for GcVec<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Element> GcVec<T> {
    /// An empty vector (no buffer until the first push).
    pub fn new() -> Self {
        GcVec {
            len: Cell::new(0),
            buf: Member::null(),
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len.get()
    }

    /// Whether there is no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Elements the buffer holds before the next push allocates.
    pub fn capacity(&self, mutator: &Mutator<'_>) -> usize {
        self.buf.get(mutator).map_or(0, |buf| buf.len())
    }

    /// The element slots in use, for as long as the mutator is borrowed.
    pub fn as_slice<'a>(&self, mutator: &'a Mutator<'_>) -> &'a [T] {
        match self.buf.get(mutator) {
            Some(buf) => &buf.as_slice()[..self.len()],
            None => &[],
        }
    }

    /// The element at `index`, if any.
    pub fn get<'a>(&self, mutator: &'a Mutator<'_>, index: usize) -> Option<T::Value<'a>> {
        self.as_slice(mutator)
            .get(index)
            .map(|slot| slot.read(mutator))
    }

    /// Replaces the element at `index`, with the barrier.
    ///
    /// # Panics
    /// If `index` is out of bounds.
    pub fn set(&self, mutator: &Mutator<'_>, index: usize, value: T::Value<'_>) {
        let slots = self.as_slice(mutator);
        match slots.get(index) {
            Some(slot) => slot.write(mutator, value),
            None => out_of_bounds(index, slots.len()),
        }
    }

    /// The elements in order.
    pub fn iter<'a>(&self, mutator: &'a Mutator<'_>) -> impl Iterator<Item = T::Value<'a>> {
        self.as_slice(mutator)
            .iter()
            .map(move |slot| slot.read(mutator))
    }

    /// Removes and returns the last element.
    pub fn pop<'a>(&self, mutator: &'a Mutator<'_>) -> Option<T::Value<'a>> {
        let len = self.len();
        let slot = self.as_slice(mutator).last()?;
        let value = slot.read(mutator);
        // The value stays valid: no collection runs while 'a borrows the
        // mutator, though the slot no longer keeps it.
        slot.clear(mutator);
        self.len.set(len - 1);
        Some(value)
    }

    /// Removes and returns the element at `index`, shifting the rest down.
    ///
    /// # Panics
    /// If `index` is out of bounds.
    pub fn remove<'a>(&self, mutator: &'a Mutator<'_>, index: usize) -> T::Value<'a> {
        let slots = self.as_slice(mutator);
        let Some(slot) = slots.get(index) else {
            out_of_bounds(index, slots.len())
        };
        let value = slot.read(mutator);
        for i in index..slots.len() - 1 {
            slots[i].write(mutator, slots[i + 1].read(mutator));
        }
        slots[slots.len() - 1].clear(mutator);
        self.len.set(slots.len() - 1);
        value
    }

    /// Removes every element (the buffer is kept).
    pub fn clear(&self, mutator: &Mutator<'_>) {
        for slot in self.as_slice(mutator) {
            slot.clear(mutator);
        }
        self.len.set(0);
    }

    /// Appends `value` if the buffer has room, without allocating: for a
    /// value that borrows the mutator (a `Gc` read just now), after
    /// [`reserve`](Self::reserve). Gives the value back when full.
    ///
    /// # Errors
    /// `value` itself when the buffer is full.
    pub fn push_within_capacity<'a>(
        &self,
        mutator: &Mutator<'_>,
        value: T::Value<'a>,
    ) -> Result<(), T::Value<'a>> {
        match self.next_slot(mutator) {
            Some(slot) => {
                slot.write(mutator, value);
                self.len.set(self.len() + 1);
                Ok(())
            }
            None => Err(value),
        }
    }

    /// The buffer slot just past the last element, if the buffer has one.
    fn next_slot<'a>(&self, mutator: &'a Mutator<'_>) -> Option<&'a T> {
        self.buf.get(mutator)?.get(self.len())
    }

    /// Makes room for `additional` more elements in the vector that
    /// `field` projects out of `owner`, allocating a larger buffer (which
    /// may collect) if needed.
    pub fn reserve<'gc, O: Trace>(
        owner: &impl Handle<'gc, O>,
        field: impl for<'x> Fn(&'x O) -> &'x GcVec<T>,
        mutator: &mut Mutator<'gc>,
        additional: usize,
    ) {
        let (len, capacity) = {
            let vec = field(owner.get(mutator).get_ref());
            (vec.len(), vec.capacity(mutator))
        };
        let needed = len.checked_add(additional).expect("capacity overflow");
        if needed <= capacity {
            return;
        }
        let new_capacity = needed.max(capacity.saturating_mul(2)).max(4);
        // Written once: the copy, then the empty tail (not zeroed first).
        let new = mutator.alloc_array_room::<T>(new_capacity);
        let mutator = &*mutator;
        let vec = field(owner.get(mutator).get_ref());
        let new = new.get(mutator);
        let old = vec
            .buf
            .get(mutator)
            .map_or(&[][..], |old| &old.as_slice()[..len]);
        crate::array::fill_grown(mutator, new, new_capacity, old);
        // The old buffer's contents stay valid for a running cycle: the
        // member's barrier logs the old buffer, whose elements are traced.
        vec.buf.set(mutator, Some(new));
    }

    /// Appends every value of `values` to the vector that `field` projects
    /// out of `owner`: values that refer to no object (integers, floats,
    /// plain data, nulls), so the iterator can run across the buffer's
    /// growth. Room for the iterator's lower size bound is made at once;
    /// the length is written back once per buffer filled, not per element.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use morph_gengc::{GcVec, Heap, Tagged, TaggedValue, Trace};
    ///
    /// #[derive(Trace)]
    /// struct Row {
    ///     cells: GcVec<Cell<u32>>,
    ///     values: GcVec<Tagged>,
    /// }
    ///
    /// let mut heap = Heap::new(Default::default())?;
    /// heap.enter(|m| {
    ///     let row = m.alloc(Row { cells: GcVec::new(), values: GcVec::new() });
    ///     GcVec::extend(&row, |r| &r.cells, m, 0..1000);
    ///     GcVec::extend(&row, |r| &r.values, m, (0..3).map(TaggedValue::Int));
    ///     // An iterator that does not know its length grows the buffer as it goes.
    ///     GcVec::extend(&row, |r| &r.cells, m, (0..).take_while(|&i| i < 24));
    ///     let row = row.get(m);
    ///     assert_eq!(row.cells.len(), 1024);
    ///     assert_eq!(row.cells.get(m, 1001), Some(1));
    ///     assert_eq!(row.values.get(m, 2), Some(TaggedValue::Int(2)));
    /// });
    /// # Ok::<(), morph_gengc::GcError>(())
    /// ```
    pub fn extend<'gc, O: Trace>(
        owner: &impl Handle<'gc, O>,
        field: impl for<'x> Fn(&'x O) -> &'x GcVec<T>,
        mutator: &mut Mutator<'gc>,
        values: impl IntoIterator<Item = T::Value<'static>>,
    ) {
        let mut values = values.into_iter().peekable();
        while values.peek().is_some() {
            let (lower, _) = values.size_hint();
            Self::reserve(owner, &field, mutator, lower.max(1));
            // Room now; the values borrow nothing, so they are made here.
            let mutator = &*mutator;
            let vec = field(owner.get(mutator).get_ref());
            let slots = vec.buf.get(mutator).map_or(&[][..], |buf| buf.as_slice());
            // The length is written back when the buffer is full or the
            // values end, and if `next` panics: the slots past it keep
            // their empty values either way.
            let mut filled = Filled {
                len: vec.len(),
                vec,
            };
            while let Some(slot) = slots.get(filled.len) {
                let Some(value) = values.next() else { break };
                slot.write(mutator, value);
                filled.len += 1;
            }
        }
    }

    /// Appends the value `value` makes (from a shared borrow of the
    /// mutator, after any allocation) to the vector that `field` projects
    /// out of `owner`.
    pub fn push<'gc, O: Trace>(
        owner: &impl Handle<'gc, O>,
        field: impl for<'x> Fn(&'x O) -> &'x GcVec<T>,
        mutator: &mut Mutator<'gc>,
        value: impl for<'a> FnOnce(&'a Mutator<'gc>) -> T::Value<'a>,
    ) {
        {
            // Room already (the common case): one look at the holder.
            let mutator = &*mutator;
            let vec = field(owner.get(mutator).get_ref());
            if let Some(slot) = vec.next_slot(mutator) {
                slot.write(mutator, value(mutator));
                vec.len.set(vec.len() + 1);
                return;
            }
        }
        Self::reserve(owner, &field, mutator, 1);
        // Room now: no allocation, so the value may be made here.
        let mutator = &*mutator;
        let vec = field(owner.get(mutator).get_ref());
        if vec.push_within_capacity(mutator, value(mutator)).is_err() {
            unreachable!("room was reserved");
        }
    }

    /// Inserts the value `value` makes at `index`, shifting the rest up.
    ///
    /// # Panics
    /// If `index > len`.
    pub fn insert<'gc, O: Trace>(
        owner: &impl Handle<'gc, O>,
        field: impl for<'x> Fn(&'x O) -> &'x GcVec<T>,
        mutator: &mut Mutator<'gc>,
        index: usize,
        value: impl for<'a> FnOnce(&'a Mutator<'gc>) -> T::Value<'a>,
    ) {
        let len = field(owner.get(mutator).get_ref()).len();
        if index > len {
            out_of_bounds(index, len);
        }
        Self::reserve(owner, &field, mutator, 1);
        let mutator = &*mutator;
        let vec = field(owner.get(mutator).get_ref());
        let buf = vec.buf.get(mutator).expect("reserved");
        let slots = buf.as_slice();
        for i in (index..len).rev() {
            slots[i + 1].write(mutator, slots[i].read(mutator));
        }
        slots[index].write(mutator, value(mutator));
        vec.len.set(len + 1);
    }
}

/// Writes a vector's length back when dropped (see [`GcVec::extend`]).
struct Filled<'v, T: 'static> {
    vec: &'v GcVec<T>,
    len: usize,
}

impl<T> Drop for Filled<'_, T> {
    fn drop(&mut self) {
        self.vec.len.set(self.len);
    }
}

#[cold]
#[inline(never)]
fn out_of_bounds(index: usize, len: usize) -> ! {
    panic!("GcVec index {index} out of bounds (length {len})")
}

// SAFETY: the buffer member is inline and reported; the length holds no
// reference.
unsafe impl<T: Element> Trace for GcVec<T> {
    const HAS_REFERENCES: bool = true;

    #[inline]
    fn trace<V: SlotVisitor + ?Sized>(&self, tracer: &mut Tracer<'_, V>) {
        self.buf.trace(tracer);
    }
}

impl<T> fmt::Debug for GcVec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcVec")
            .field("len", &self.len.get())
            .finish_non_exhaustive()
    }
}
