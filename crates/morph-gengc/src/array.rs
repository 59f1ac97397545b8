//! `Array<T>`: a managed array whose elements live inline in one object,
//! allocated with its length.
//!
//! Layout: the payload is the length (one word) followed by the elements,
//! so an array of `n` elements is one object of `8 + n × size_of::<T>()`
//! payload bytes — one allocation, one header, elements next to each other.
//! `Array<T>` itself is a zero-sized type that only names such objects:
//! it has no value of its own (nothing can build one), and every access
//! goes through a [`Gc`]'s pointer, which covers the whole object. A
//! zero-sized referent tells [`Member`](crate::Member)'s trace to take the
//! size from the header, so members can point at arrays.
//!
//! Elements are mutable in place the way fields are: `Member`s, `Tagged`s
//! and `Cell`s of plain data, each with its own barrier where it needs one.
//!
//! Invariants (the `unsafe` below relies on them):
//! * the length word is written last, after every element: a freshly
//!   allocated (zeroed) array reads as empty, so a collection or a panic
//!   in the element constructor never sees an uninitialised element;
//! * the length never changes after that, and elements are never moved
//!   out (only shared references to them are handed out).

use std::marker::PhantomData;
use std::ptr::NonNull;

use morph_header::{SlotVisitor, TypeDescriptor, TypeId};

use crate::GcError;
use crate::collect::{Evacuator, Marker};
use crate::object::{self, ObjectRef};
use crate::safe::{
    Gc, Mutator, Root, alloc_failed, needs_drop_fn, registered_id_with, short_type_name,
};
use crate::trace::{Trace, Tracer};
use crate::types::SpecializedTrace;

/// Bytes before the first element: the length.
const LEN_BYTES: usize = size_of::<usize>();

/// A managed array of `T`s of a length fixed at allocation
/// ([`Mutator::alloc_array`]); read through a `Gc<Array<T>>`.
///
/// ```
/// use morph_gengc::{Array, Heap, Member, Tagged, TaggedValue, Trace};
///
/// #[derive(Trace)]
/// struct Node {
///     children: Member<Array<Member<Node>>>,
///     weight: u64,
/// }
///
/// let mut heap = Heap::new(Default::default())?;
/// heap.enter(|m| {
///     let parent = m.alloc(Node { children: Member::null(), weight: 0 });
///     let children = m.alloc_array(3, |_| Member::<Node>::null());
///     parent.get(m).children.set(m, Some(children.get(m)));
///     for i in 0..3 {
///         let child = m.alloc(Node { children: Member::null(), weight: i });
///         let slots = parent.get(m).children.get(m).unwrap();
///         slots.as_slice()[i as usize].set(m, Some(child.get(m)));
///     }
///     let slots = parent.get(m).children.get(m).unwrap();
///     let weights: Vec<u64> = slots.iter().map(|c| c.get(m).unwrap().weight).collect();
///     assert_eq!(weights, [0, 1, 2]);
///
///     // Plain data and dynamic values too: one object each.
///     let numbers = m.alloc_array(4, |i| std::cell::Cell::new(i * i));
///     assert_eq!(numbers.get(m).as_slice()[3].get(), 9);
///     let values = m.alloc_array(2, |i| Tagged::int(i as i64));
///     assert_eq!(values.get(m).as_slice()[1].get(m), TaggedValue::Int(1));
/// });
/// # Ok::<(), morph_gengc::GcError>(())
/// ```
#[repr(C)]
pub struct Array<T> {
    _elements: [T; 0],
    _not_constructible: PhantomData<*const ()>,
}

impl<'a, T> Gc<'a, Array<T>> {
    /// The number of elements.
    pub fn len(self) -> usize {
        // SAFETY: the payload of a live array starts with its length.
        unsafe { self.object().as_ptr().cast::<usize>().read() }
    }

    /// Whether the array has no element.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The elements, for as long as `'a`.
    pub fn as_slice(self) -> &'a [T] {
        let len = self.len();
        // SAFETY: the payload of a live array.
        let first = unsafe { elements::<T>(self.object().as_ptr()) };
        // SAFETY: `len` initialised elements follow the length word in the
        // object, which lives for 'a (the mutator is borrowed), and are only
        // ever shared (module invariants).
        unsafe { std::slice::from_raw_parts(first.as_ptr(), len) }
    }

    /// The element at `index`, if any.
    pub fn get(self, index: usize) -> Option<&'a T> {
        self.as_slice().get(index)
    }

    /// The elements in order.
    pub fn iter(self) -> std::slice::Iter<'a, T> {
        self.as_slice().iter()
    }
}

/// Fills `dst`, a fresh array from [`Mutator::alloc_array_room`] with
/// room for `capacity` elements and none written yet: `src` copied bit for
/// bit into the first elements, the empty value in the rest; then
/// publishes the length and does for the copies what the write barrier
/// does for a store. What a growing container does with its old buffer.
///
/// # Panics
/// If `dst` already has elements, has no room for `capacity`, or
/// `capacity` is less than `src.len()`.
pub(crate) fn fill_grown<T: crate::Element>(
    mutator: &Mutator<'_>,
    dst: Gc<'_, Array<T>>,
    capacity: usize,
    src: &[T],
) {
    assert!(dst.is_empty(), "a fresh array, no element written yet");
    assert!(src.len() <= capacity, "the destination holds the copy");
    let object = dst.object();
    // SAFETY: a live object of the mutator's heap.
    let room = unsafe { mutator.raw().payload_size(object) };
    assert!(
        capacity
            .checked_mul(size_of::<T>())
            .and_then(|bytes| bytes.checked_add(LEN_BYTES))
            .is_some_and(|bytes| bytes <= room),
        "the array has room for {capacity} elements"
    );
    // SAFETY: the payload of a live array.
    let first = unsafe { elements::<T>(object.as_ptr()) };
    // SAFETY: `dst`'s payload has room for `capacity >= src.len()`
    // elements (checked) and is another object than the one `src` lies in
    // (fresh); every `Element` (sealed: members, `Tagged`, `Cell` of
    // `Copy` data) is plain words in cells, so a bit copy of one is a
    // valid one; no reference to these elements exists (the length is 0).
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), first.as_ptr(), src.len()) };
    // SAFETY: element `src.len() <= capacity` lies inside the payload or
    // one past its end (checked).
    let tail = unsafe { first.add(src.len()) };
    if T::EMPTY_IS_ZEROED {
        // SAFETY: the `capacity - src.len()` elements from `tail` lie inside
        // the payload (checked) and are not values yet; zero bytes are the
        // empty value (vouched by the element type).
        unsafe { tail.write_bytes(0, capacity - src.len()) };
    } else {
        for i in 0..capacity - src.len() {
            // SAFETY: element `src.len() + i < capacity` lies inside the
            // payload (checked).
            let slot = unsafe { tail.add(i) };
            // SAFETY: as above; not yet a value, so nothing is dropped.
            unsafe { slot.write(T::empty()) };
        }
    }
    // SAFETY: the length word, written last (module invariants), after
    // every one of the `capacity` elements became a value.
    unsafe { object.as_ptr().cast::<usize>().write(capacity) };
    // The barrier, for the whole copy at once. Snapshot: the elements
    // overwritten were not values yet, nothing to log (and the copied
    // references stay reachable through `src` until its holder's member
    // is replaced, which logs it). Generational: a tenured array that now
    // holds a young reference is remembered whole.
    let raw = mutator.raw();
    if T::HAS_REFERENCES
        && !raw.is_young_addr(object.addr())
        && src.iter().any(|e| {
            e.referent_addr()
                .is_some_and(|addr| raw.is_young_addr(addr))
        })
    {
        if T::HAS_WEAK {
            // Weak elements to young objects: the minor collection's weak
            // pass must see this array.
            raw.weak.remember(object);
        }
        // SAFETY: `dst` is a live old or large object of this heap.
        unsafe { raw.remember(object) };
    }
}

/// The first element's address in an array's payload.
///
/// # Safety
/// `payload` is the payload of an array object (at least the length word).
unsafe fn elements<T>(payload: NonNull<u8>) -> NonNull<T> {
    // SAFETY: the element area starts right after the length word, inside
    // the object or one past its end (an empty array); the payload is
    // 8-aligned and elements are at most 8-aligned.
    unsafe { payload.byte_add(LEN_BYTES).cast() }
}

/// Traces an array's elements with `visitor`.
///
/// # Safety
/// `object` is the payload of a live `Array<T>` object.
#[inline(always)]
unsafe fn trace_elements<T: Trace, V: SlotVisitor + ?Sized>(object: NonNull<u8>, visitor: &mut V) {
    // SAFETY: caller contract: the length word, then that many elements.
    let len = unsafe { object.cast::<usize>().read() };
    // SAFETY: as above.
    let first = unsafe { elements::<T>(object) };
    // SAFETY: `len` initialised elements (module invariants), only shared.
    let elements = unsafe { std::slice::from_raw_parts(first.as_ptr(), len) };
    let mut tracer = Tracer::new(visitor);
    for element in elements {
        element.trace(&mut tracer);
    }
}

/// # Safety
/// As `TraceFn`: `object` is a live `Array<T>`.
unsafe fn trace_erased<T: Trace>(object: NonNull<u8>, visitor: &mut dyn SlotVisitor) {
    // SAFETY: caller contract.
    unsafe { trace_elements::<T, _>(object, visitor) }
}

/// # Safety
/// As `TraceFn`: `object` is a live `Array<T>`.
unsafe fn trace_minor<T: Trace>(object: NonNull<u8>, evacuator: &mut Evacuator<'_>) {
    // SAFETY: caller contract.
    unsafe { trace_elements::<T, _>(object, evacuator) }
}

/// The evacuator's scan loop for a run of `Array<T>`s.
///
/// # Safety
/// `type_id` is `Array<T>`'s id in this heap.
unsafe fn scan_run<T: Trace>(evacuator: &mut Evacuator<'_>, type_id: TypeId) {
    let trace = |evacuator: &mut Evacuator<'_>, obj: ObjectRef| {
        // SAFETY: objects of `type_id` are `Array<T>`s (caller contract).
        unsafe { trace_elements::<T, _>(obj.as_ptr(), evacuator) }
    };
    // SAFETY: `trace` traces the objects of `type_id`; their sizes vary, so
    // the loop reads each from its header.
    unsafe { evacuator.scan_run(type_id, None, trace) }
}

/// # Safety
/// As `TraceFn`: `object` is a live `Array<T>`.
unsafe fn trace_major<T: Trace>(object: NonNull<u8>, marker: &mut Marker<'_>) {
    // SAFETY: caller contract.
    unsafe { trace_elements::<T, _>(object, marker) }
}

/// # Safety
/// As `DropFn`: `object` is a live, unreachable `Array<T>`, dropped once.
unsafe fn drop_erased<T: Trace>(object: NonNull<u8>) {
    // SAFETY: caller contract: the length word, then that many elements.
    let len = unsafe { object.cast::<usize>().read() };
    // SAFETY: as above.
    let first = unsafe { elements::<T>(object) };
    if T::NEEDS_FINALIZE {
        // SAFETY: `len` initialised elements, not yet dropped.
        let elements = unsafe { std::slice::from_raw_parts(first.as_ptr(), len) };
        for element in elements {
            element.finalize();
        }
    }
    // SAFETY: `len` initialised elements, dropped once, never used again.
    unsafe { std::ptr::slice_from_raw_parts_mut(first.as_ptr(), len).drop_in_place() };
}

/// `Array<T>`'s process-wide type id.
fn registered<T: Trace>() -> Result<TypeId, GcError> {
    registered_id_with::<Array<T>>(|| {
        let mut descriptor = TypeDescriptor::new(
            short_type_name::<Array<T>>(),
            std::alloc::Layout::new::<usize>(),
        );
        if T::HAS_REFERENCES || T::HAS_WEAK {
            descriptor = descriptor.with_trace(trace_erased::<T>);
        }
        if T::HAS_WEAK {
            descriptor = descriptor.with_weak();
        }
        if needs_drop_fn::<T>() {
            descriptor = descriptor.with_drop(drop_erased::<T>);
        }
        descriptor
    })
}

impl<'gc> Mutator<'gc> {
    /// Allocates an array of `len` elements, element `i` being `init(i)`.
    ///
    /// # Panics
    /// If the heap cannot hold it (see [`try_alloc_array`](Self::try_alloc_array)).
    pub fn alloc_array<T: Trace>(
        &mut self,
        len: usize,
        init: impl FnMut(usize) -> T,
    ) -> Root<'gc, Array<T>> {
        self.try_alloc_array(len, init)
            .unwrap_or_else(|error| alloc_failed(error))
    }

    /// [`alloc_array`](Self::alloc_array), or why not (nothing already in
    /// the heap is lost). If `init` panics, the elements it made so far are
    /// leaked, not dropped, and the array stays empty.
    ///
    /// # Errors
    /// As [`try_alloc`](Self::try_alloc); [`GcError::ObjectTooLarge`] when
    /// the payload would not fit a `usize`, and
    /// [`GcError::UnsupportedAlignment`] for elements aligned above 8.
    pub fn try_alloc_array<T: Trace>(
        &mut self,
        len: usize,
        mut init: impl FnMut(usize) -> T,
    ) -> Result<Root<'gc, Array<T>>, GcError> {
        self.alloc_array_with::<T>(len, |first, len| {
            for i in 0..len {
                let value = init(i);
                // SAFETY: element `i` lies inside the fresh payload.
                let slot = unsafe { first.add(i) };
                // SAFETY: nothing else can reach the object before its root
                // exists; the slot is not yet a value.
                unsafe { slot.write(value) };
            }
        })
    }

    /// Allocates a zeroed array object of `len` elements, lets `fill`
    /// initialise the elements (given the first one's address), then
    /// publishes the length.
    fn alloc_array_with<T: Trace>(
        &mut self,
        len: usize,
        fill: impl FnOnce(NonNull<T>, usize),
    ) -> Result<Root<'gc, Array<T>>, GcError> {
        // SAFETY: `registered::<T>` describes `Array<T>` as an array of `T`.
        let obj = unsafe { self.alloc_len_prefixed::<Array<T>, T>(len, registered::<T>, fill) }?;
        Ok(self.make_root(obj))
    }

    /// Allocates an object laid out as an array of `len` `T`s (the length
    /// word, then the elements), registered as `K`: lets `fill` initialise
    /// the elements, then publishes the length. The allocation behind
    /// [`Array`] and [`Str`](crate::Str).
    ///
    /// # Safety
    /// `register` registers `K` (or returns its id) with a descriptor whose
    /// trace and drop functions, if any, are those of an `Array<T>`;
    /// `fill` makes each of the `len` elements it is given a value (they
    /// start as whatever the memory held), or panics.
    pub(crate) unsafe fn alloc_len_prefixed<K: Trace, T: Trace>(
        &mut self,
        len: usize,
        register: impl FnOnce() -> Result<TypeId, GcError>,
        fill: impl FnOnce(NonNull<T>, usize),
    ) -> Result<ObjectRef, GcError> {
        // SAFETY: caller contract.
        let obj = unsafe { self.alloc_len_prefixed_empty::<K, T>(len, register) }?;
        // SAFETY: a fresh array payload with room for `len` elements.
        let first = unsafe { elements::<T>(obj.as_ptr()) };
        fill(first, len);
        // SAFETY: the first word of the payload; written last (module
        // invariants), after `fill` made every element a value.
        unsafe { obj.as_ptr().cast::<usize>().write(len) };
        Ok(obj)
    }

    /// Allocates an array object with room for `len` `T`s, registered as
    /// `K`, that reads as empty: its length word is 0, and the rest of the
    /// payload is left as the memory was (not zeroed: every element is
    /// written before the length says it exists).
    ///
    /// # Safety
    /// As [`alloc_len_prefixed`](Self::alloc_len_prefixed)'s `register`.
    unsafe fn alloc_len_prefixed_empty<K: Trace, T: Trace>(
        &mut self,
        len: usize,
        register: impl FnOnce() -> Result<TypeId, GcError>,
    ) -> Result<ObjectRef, GcError> {
        if align_of::<T>() > 8 {
            return Err(GcError::UnsupportedAlignment {
                align: align_of::<T>(),
            });
        }
        let payload = len
            .checked_mul(size_of::<T>())
            .and_then(|bytes| bytes.checked_add(LEN_BYTES))
            .filter(|&bytes| bytes <= isize::MAX as usize - object::HEADER_SIZE)
            .ok_or(GcError::ObjectTooLarge { size: usize::MAX })?;
        let specialized = SpecializedTrace {
            minor: trace_minor::<T>,
            minor_run: scan_run::<T>,
            major: trace_major::<T>,
        };
        // SAFETY: the array layout's functions read the length word and that
        // many elements: the length is made 0 below, before anything else
        // runs in the heap, and `payload` bytes hold `len` elements after
        // the word; the specialised traces are the registered one's
        // instantiations (caller contract).
        let obj = unsafe { self.alloc_variable::<K>(payload, register, specialized, false) }?;
        // SAFETY: the first word of the fresh payload: the array is empty
        // until its elements are written.
        unsafe { obj.as_ptr().cast::<usize>().write(0) };
        Ok(obj)
    }

    /// An array with room for `capacity` elements and none yet (its length
    /// is 0), for [`fill_grown`] to fill: a growing container's new buffer,
    /// whose memory is written once, by the copy and the empty tail.
    pub(crate) fn alloc_array_room<T: crate::Element>(
        &mut self,
        capacity: usize,
    ) -> Root<'gc, Array<T>> {
        // SAFETY: `registered::<T>` describes `Array<T>` as an array of `T`.
        let obj =
            unsafe { self.alloc_len_prefixed_empty::<Array<T>, T>(capacity, registered::<T>) }
                .unwrap_or_else(|error| alloc_failed(error));
        self.make_root(obj)
    }

    /// An array of `len` elements, every byte of each zero.
    ///
    /// # Safety
    /// All zero bytes are a valid `T`.
    pub(crate) unsafe fn alloc_array_of_zeroes<T: Trace>(
        &mut self,
        len: usize,
    ) -> Root<'gc, Array<T>> {
        self.alloc_array_with::<T>(len, |first, len| {
            // SAFETY: the fresh payload has room for `len` elements, and
            // zero bytes are a valid `T` (caller contract).
            unsafe { first.cast::<u8>().write_bytes(0, len * size_of::<T>()) };
        })
        .unwrap_or_else(|error| alloc_failed(error))
    }
}

// SAFETY: an `Array<T>` has no value of its own (nothing can build one, so
// it is never inline in another value); its objects are traced by the
// functions registered for them, which report every element's members.
unsafe impl<T: Trace> Trace for Array<T> {
    const HAS_REFERENCES: bool = T::HAS_REFERENCES;
    const HAS_WEAK: bool = T::HAS_WEAK;

    fn trace<V: SlotVisitor + ?Sized>(&self, _tracer: &mut Tracer<'_, V>) {}
}

impl<T> std::fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Array")
    }
}
