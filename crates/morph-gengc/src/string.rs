//! `Str`: an immutable UTF-8 string stored inline in one managed object.
//!
//! The object is laid out as an [`Array`](crate::Array) of bytes (a length
//! word, then the bytes) but registered as a type of its own, so a
//! [`GcAny`](crate::GcAny) or [`Tagged`](crate::Tagged) reference can be
//! downcast to it and read as `&str` without a check: only
//! [`Mutator::alloc_str`] makes one, from a `&str`.

use std::marker::PhantomData;
use std::sync::OnceLock;

use morph_header::{SlotVisitor, TypeDescriptor, TypeId};

use crate::GcError;
use crate::array::Array;
use crate::safe::{Gc, Mutator, Root, alloc_failed, registered_id_with};
use crate::trace::{Trace, Tracer};

/// An immutable string in the managed heap: one object holding its length
/// and its UTF-8 bytes ([`Mutator::alloc_str`]); read through a `Gc<Str>`.
///
/// ```
/// use morph_gengc::{Heap, Member, Str, Trace};
///
/// #[derive(Trace)]
/// struct Symbol {
///     name: Member<Str>,
/// }
///
/// let mut heap = Heap::new(Default::default())?;
/// heap.enter(|m| {
///     let name = m.alloc_str("lambda");
///     let symbol = m.alloc(Symbol { name: Member::null() });
///     symbol.get(m).name.set(m, Some(name.get(m)));
///     for _ in 0..10_000 {
///         m.alloc_str("garbage"); // collections move both objects
///     }
///     let name = symbol.get(m).name.get(m).unwrap();
///     assert_eq!(name.as_str(), "lambda");
///     assert_eq!(name.len(), 6);
/// });
/// # Ok::<(), morph_gengc::GcError>(())
/// ```
#[repr(C)]
pub struct Str {
    _bytes: [u8; 0],
    _not_constructible: PhantomData<*const ()>,
}

impl<'a> Gc<'a, Str> {
    /// The string, for as long as `'a`.
    pub fn as_str(self) -> &'a str {
        // SAFETY: a `Str` is laid out as an `Array<u8>` (allocated by
        // `alloc_len_prefixed` with `u8` elements), live for 'a.
        let bytes = unsafe { Gc::<'a, Array<u8>>::from_object(self.object()) }.as_slice();
        // SAFETY: the bytes were copied from a `&str` (only `alloc_str`
        // makes a `Str`) and are never written again, so they are UTF-8.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// The length in bytes.
    pub fn len(self) -> usize {
        self.as_str().len()
    }

    /// Whether the string is empty.
    pub fn is_empty(self) -> bool {
        self.as_str().is_empty()
    }
}

/// `Str`'s process-wide type id once registered.
static STR_TYPE: OnceLock<TypeId> = OnceLock::new();

/// `Str`'s process-wide type id: an array of bytes, with nothing to trace
/// or drop.
fn registered() -> Result<TypeId, GcError> {
    let id = registered_id_with::<Str>(|| {
        TypeDescriptor::new("Str".to_owned(), std::alloc::Layout::new::<usize>())
    })?;
    STR_TYPE.get_or_init(|| id);
    Ok(id)
}

/// Whether an object of type `id` is a `Str`: one load and a compare, for
/// every string key a map compares. Every safe heap takes its types from
/// the process-wide registry, where this id names `Str` and nothing else;
/// before any `Str` was allocated, no object is one.
#[inline]
pub(crate) fn is_str_type(id: TypeId) -> bool {
    STR_TYPE.get() == Some(&id)
}

impl<'gc> Mutator<'gc> {
    /// Allocates a managed copy of `s`.
    ///
    /// # Panics
    /// If the heap cannot hold it (see [`try_alloc_str`](Self::try_alloc_str)).
    pub fn alloc_str(&mut self, s: &str) -> Root<'gc, Str> {
        self.try_alloc_str(s)
            .unwrap_or_else(|error| alloc_failed(error))
    }

    /// [`alloc_str`](Self::alloc_str), or why not (nothing already in the
    /// heap is lost).
    ///
    /// # Errors
    /// As [`try_alloc`](Self::try_alloc).
    pub fn try_alloc_str(&mut self, s: &str) -> Result<Root<'gc, Str>, GcError> {
        let fill = |first: std::ptr::NonNull<u8>, len: usize| {
            // SAFETY: the fresh payload has room for `len` = `s.len()` bytes
            // after the length word, and is another object than `s`.
            unsafe { std::ptr::copy_nonoverlapping(s.as_ptr(), first.as_ptr(), len) };
        };
        // SAFETY: `registered` describes `Str` with no trace and no drop
        // function, as an array of bytes has none.
        let obj = unsafe { self.alloc_len_prefixed::<Str, u8>(s.len(), registered, fill) }?;
        Ok(self.make_root(obj))
    }
}

// SAFETY: a `Str` has no value of its own (nothing can build one, so it is
// never inline in another value), and its bytes hold no reference.
unsafe impl Trace for Str {
    const HAS_REFERENCES: bool = false;

    fn trace<V: SlotVisitor + ?Sized>(&self, _tracer: &mut Tracer<'_, V>) {}
}

impl std::fmt::Debug for Str {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Str")
    }
}
