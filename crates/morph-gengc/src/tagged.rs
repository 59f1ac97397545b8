//! Dynamic values: [`GcAny`], a reference to a managed object of any type
//! with a checked downcast, and [`Tagged`], a one-word field holding nil, a
//! boolean, an integer, a float or such a reference.
//!
//! A dynamic language's values need not go through one enum as large as
//! its largest variant: a `Tagged` field is eight bytes, and its object
//! variant points at any managed type.
//!
//! # The encoding
//!
//! The word is a NaN-boxed value laid out so that a reference is the raw
//! payload address, which the collector reads and rewrites like any
//! member's (JavaScriptCore's 64-bit value layout is the model):
//!
//! | word | value |
//! |---|---|
//! | `0` | nil |
//! | `0x06` / `0x07` | false / true |
//! | below 2^49, 8-aligned, not 0 | a reference (a payload address) |
//! | 2^49 ..= `0xFFF2_…` | a float: its bits plus 2^49 (NaNs canonical) |
//! | `0xFFFF_…` | an integer: 48 bits, sign-extended |
//!
//! Adding 2^49 moves every float's bits (NaNs made canonical first) into
//! `[2^49, 0xFFF2_0000_0000_0000]`, above every address a 48-bit or 49-bit
//! virtual address space hands out and below the integer tag.

use std::cell::Cell;
use std::fmt;
use std::ptr::NonNull;

use morph_header::SlotVisitor;

use crate::object::ObjectRef;
use crate::safe::{Gc, Mutator, Root};
use crate::string::Str;
use crate::trace::{Trace, Tracer};

const FALSE: u64 = 0x06;
const TRUE: u64 = 0x07;
const DOUBLE_OFFSET: u64 = 1 << 49;
const INT_TAG: u64 = 0xFFFF << 48;
const INT_BITS: u32 = 48;
const CANONICAL_NAN: u64 = 0x7FF8_0000_0000_0000;

/// A reference to a managed object of any type, borrowed from the mutator
/// like a [`Gc`]: it cannot be held across an allocation.
///
/// ```
/// use morph_gengc::{GcAny, Heap, Trace};
///
/// #[derive(Trace)]
/// struct Point(i64, i64);
/// #[derive(Trace)]
/// struct Name(String);
///
/// let mut heap = Heap::new(Default::default())?;
/// heap.enter(|m| {
///     let p = m.alloc(Point(1, 2));
///     let any = GcAny::from(p.get(m));
///     assert!(any.is::<Point>(m));
///     assert_eq!(any.downcast::<Point>(m).map(|p| p.1), Some(2));
///     assert!(any.downcast::<Name>(m).is_none());
/// });
/// # Ok::<(), morph_gengc::GcError>(())
/// ```
#[derive(Clone, Copy)]
pub struct GcAny<'a> {
    object: ObjectRef,
    _marker: std::marker::PhantomData<&'a ()>,
}

impl<'a> GcAny<'a> {
    /// The object as `Gc<T>`, if it is a `T`.
    pub fn downcast<T: Trace>(self, mutator: &Mutator<'_>) -> Option<Gc<'a, T>> {
        // SAFETY: the object is live for 'a (the mutator is borrowed that
        // long) and a `T` (its header's type is `T`'s id in this heap).
        self.is::<T>(mutator)
            .then(|| unsafe { Gc::from_object(self.object) })
    }

    /// Whether the object is a `T`.
    pub fn is<T: Trace>(self, mutator: &Mutator<'_>) -> bool {
        // SAFETY: a live object (above): its header is readable.
        let id = unsafe { self.object.header() }.type_id();
        mutator.allocated_type_id::<T>() == Some(id)
    }

    /// The string, if the object is a [`Str`].
    #[inline]
    pub fn as_str(self, _mutator: &Mutator<'_>) -> Option<&'a str> {
        // SAFETY: a live object (the mutator is borrowed for 'a): its
        // header is readable.
        let id = unsafe { self.object.header() }.type_id();
        // SAFETY: a live `Str` (its header names the type, see
        // `is_str_type`) that no collection moves during 'a.
        crate::string::is_str_type(id)
            .then(|| unsafe { Gc::<'a, Str>::from_object(self.object) }.as_str())
    }

    /// The reference as the raw API sees it.
    pub fn object(self) -> ObjectRef {
        self.object
    }

    /// Whether two references are to the same object.
    pub fn ptr_eq(a: GcAny<'_>, b: GcAny<'_>) -> bool {
        a.object == b.object
    }

    /// The object's identity hash (see [`Gc::identity_hash`]).
    ///
    /// # Panics
    /// If the object belongs to another heap than `mutator`'s.
    pub fn identity_hash(self, mutator: &Mutator<'_>) -> u64 {
        mutator.identity_hash_of(self.object)
    }
}

impl GcAny<'_> {
    /// A `GcAny` of a live object, for as long as the mutator is borrowed.
    ///
    /// # Safety
    /// `object` is a live object, and no collection runs during `'a`.
    pub(crate) unsafe fn from_object<'a>(object: ObjectRef) -> GcAny<'a> {
        GcAny {
            object,
            _marker: std::marker::PhantomData,
        }
    }
}

impl<'a, T> From<Gc<'a, T>> for GcAny<'a> {
    fn from(gc: Gc<'a, T>) -> Self {
        GcAny {
            object: gc.object(),
            _marker: std::marker::PhantomData,
        }
    }
}

impl fmt::Debug for GcAny<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GcAny({:p})", self.object.as_ptr())
    }
}

/// What a [`Tagged`] holds, read out.
#[derive(Clone, Copy, Debug)]
pub enum TaggedValue<'a> {
    /// Nothing (the zero word).
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer in `Tagged::MIN_INT..=Tagged::MAX_INT` (48 bits).
    Int(i64),
    /// A float (every NaN reads back as the canonical one).
    Float(f64),
    /// A managed object of any type.
    Ref(GcAny<'a>),
}

impl PartialEq for TaggedValue<'_> {
    /// Immediates by value (floats bitwise after NaN canonicalisation, so
    /// NaN equals NaN), references by identity.
    fn eq(&self, other: &Self) -> bool {
        match (*self, *other) {
            (TaggedValue::Ref(a), TaggedValue::Ref(b)) => GcAny::ptr_eq(a, b),
            (a, b) => match (encode_immediate(a), encode_immediate(b)) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            },
        }
    }
}

/// A one-word field of a managed object holding nil, a boolean, a 48-bit
/// integer, a float, or a reference to a managed object of any type.
/// Stores go through the write barrier, as [`Member::set`](crate::Member::set)'s do.
///
/// ```
/// use morph_gengc::{Heap, Tagged, TaggedValue, Trace};
///
/// #[derive(Trace)]
/// struct Cons { car: Tagged, cdr: Tagged }
/// #[derive(Trace)]
/// struct Text(String);
///
/// let mut heap = Heap::new(Default::default())?;
/// heap.enter(|m| {
///     let cell = m.alloc(Cons { car: Tagged::int(42), cdr: Tagged::nil() });
///     let text = m.alloc(Text("tail".into()));
///     cell.get(m).cdr.set(m, TaggedValue::Ref(text.get(m).into()));
///     for _ in 0..10_000 {
///         m.alloc(Text(String::new())); // garbage: collections move `text`
///     }
///     let cell = cell.get(m);
///     assert_eq!(cell.car.get(m), TaggedValue::Int(42));
///     let TaggedValue::Ref(tail) = cell.cdr.get(m) else { panic!("a reference") };
///     assert_eq!(tail.downcast::<Text>(m).map(|t| t.0.clone()).as_deref(), Some("tail"));
///     assert_eq!(size_of::<Tagged>(), 8);
/// });
/// # Ok::<(), morph_gengc::GcError>(())
/// ```
pub struct Tagged {
    /// The encoded word, pointer-typed so a reference keeps its provenance
    /// and the collector can rewrite it like a member's slot.
    word: Cell<*mut u8>,
}

impl Tagged {
    /// The smallest integer a `Tagged` holds: -2^47.
    pub const MIN_INT: i64 = -(1 << (INT_BITS - 1));
    /// The largest integer a `Tagged` holds: 2^47 - 1.
    pub const MAX_INT: i64 = (1 << (INT_BITS - 1)) - 1;

    /// Nil.
    pub const fn nil() -> Self {
        Tagged {
            word: Cell::new(std::ptr::null_mut()),
        }
    }

    /// A boolean.
    pub const fn bool(value: bool) -> Self {
        Tagged::from_bits(if value { TRUE } else { FALSE })
    }

    /// An integer.
    ///
    /// # Panics
    /// Outside [`MIN_INT`](Self::MIN_INT)`..=`[`MAX_INT`](Self::MAX_INT).
    pub fn int(value: i64) -> Self {
        Tagged::from_bits(encode_int(value))
    }

    /// A float.
    pub fn float(value: f64) -> Self {
        Tagged::from_bits(encode_float(value))
    }

    const fn from_bits(bits: u64) -> Self {
        Tagged {
            word: Cell::new(std::ptr::without_provenance_mut(bits as usize)),
        }
    }

    /// Whether `value` fits an integer `Tagged` (a runtime boxes the rest).
    pub const fn int_fits(value: i64) -> bool {
        value >= Self::MIN_INT && value <= Self::MAX_INT
    }

    fn bits(&self) -> u64 {
        self.word.get().addr() as u64
    }

    /// The encoded word, as an integer (a reference's is its address).
    #[inline]
    pub(crate) fn word(&self) -> usize {
        self.word.get().addr()
    }

    /// Reads the value; a reference stays valid while the mutator is
    /// borrowed.
    #[inline]
    pub fn get<'a>(&self, _mutator: &'a Mutator<'_>) -> TaggedValue<'a> {
        let bits = self.bits();
        if bits >= INT_TAG {
            // Sign-extend the low 48 bits.
            TaggedValue::Int(((bits << 16) as i64) >> 16)
        } else if bits >= DOUBLE_OFFSET {
            TaggedValue::Float(f64::from_bits(bits - DOUBLE_OFFSET))
        } else if bits == 0 {
            TaggedValue::Nil
        } else if bits == FALSE || bits == TRUE {
            TaggedValue::Bool(bits == TRUE)
        } else {
            debug_assert!(bits.is_multiple_of(8), "a reference word is 8-aligned");
            let payload = NonNull::new(self.word.get()).unwrap_or_else(|| unreachable!());
            // SAFETY: a reference word holds the payload address of a live
            // object: references are stored only by `set`, only into fields
            // of managed objects (which the collector traces and updates),
            // and the mutator borrow keeps collections out for 'a.
            let object = unsafe { ObjectRef::from_payload(payload) };
            TaggedValue::Ref(GcAny {
                object,
                _marker: std::marker::PhantomData,
            })
        }
    }

    /// Stores `value`, with the write barrier.
    ///
    /// # Panics
    /// If this field is not in an object of `mutator`'s heap, a reference
    /// belongs to another heap, or an integer is out of range.
    #[inline]
    pub fn set(&self, mutator: &Mutator<'_>, value: TaggedValue<'_>) {
        let old_is_reference = self.is_reference();
        match value {
            TaggedValue::Ref(any) => self.set_reference(mutator, any, old_is_reference),
            immediate => {
                let bits = encode_immediate(immediate).unwrap_or(0);
                let word = std::ptr::without_provenance_mut(bits as usize);
                if old_is_reference {
                    mutator.store_word(&self.word, word, None, true);
                } else {
                    // An immediate over an immediate: nothing to log for a
                    // cycle and nothing to remember, wherever the word is
                    // (the barrier's own shortcut for this case, inlined).
                    self.word.set(word);
                }
            }
        }
    }

    /// [`set`](Self::set) of a reference, out of line.
    fn set_reference(&self, mutator: &Mutator<'_>, any: GcAny<'_>, old_is_reference: bool) {
        let ptr = any.object.as_ptr().as_ptr();
        assert!(
            (ptr.addr() as u64) < DOUBLE_OFFSET,
            "an object address above 2^49 cannot be tagged"
        );
        mutator.store_word(&self.word, ptr, Some(any.object), old_is_reference);
    }

    /// The referent's address when the word is a reference.
    pub(crate) fn referent_addr(&self) -> Option<usize> {
        self.is_reference().then(|| self.word.get().addr())
    }

    /// Whether the word is a reference.
    fn is_reference(&self) -> bool {
        word_is_reference(self.bits())
    }

    /// The word's slot, if it holds a reference now.
    pub(crate) fn reference_slot(&self) -> Option<NonNull<*mut u8>> {
        self.is_reference()
            .then(|| NonNull::from(&self.word).cast())
    }
}

/// Whether a word of a slot that holds a [`Member`](crate::Member) or a
/// [`Tagged`] (null, an address, or an immediate) is a reference: an
/// address is non-zero, 8-aligned and below every float's encoding.
pub(crate) fn word_is_reference(bits: u64) -> bool {
    bits != 0 && bits < DOUBLE_OFFSET && bits != FALSE && bits != TRUE
}

fn encode_int(value: i64) -> u64 {
    assert!(
        Tagged::int_fits(value),
        "{value} does not fit a Tagged integer (48 bits): box it"
    );
    INT_TAG | (value as u64 & ((1 << INT_BITS) - 1))
}

fn encode_float(value: f64) -> u64 {
    let bits = if value.is_nan() {
        CANONICAL_NAN
    } else {
        value.to_bits()
    };
    bits + DOUBLE_OFFSET
}

/// The word of an immediate; `None` for a reference.
pub(crate) fn encode_immediate(value: TaggedValue<'_>) -> Option<u64> {
    Some(match value {
        TaggedValue::Nil => 0,
        TaggedValue::Bool(b) => {
            if b {
                TRUE
            } else {
                FALSE
            }
        }
        TaggedValue::Int(i) => encode_int(i),
        TaggedValue::Float(f) => encode_float(f),
        TaggedValue::Ref(_) => return None,
    })
}

/// A dynamic value held across allocations: an immediate as it is, a
/// reference through a root. What a runtime keeps on the Rust stack while
/// it allocates (a value just made, an argument), instead of an enum of
/// roots per type.
///
/// ```
/// use morph_gengc::{Heap, TaggedRoot, TaggedValue};
///
/// let mut heap = Heap::new(Default::default())?;
/// heap.enter(|m| {
///     let s = m.alloc_str("kept");
///     let values: Vec<TaggedRoot<'_>> = vec![
///         m.root_tagged(TaggedValue::Int(7)),
///         s.into(), // the string's root, now a dynamic value's
///     ];
///     for _ in 0..10_000 {
///         m.alloc_str("garbage"); // collections move the string
///     }
///     assert_eq!(values[0].get(m), TaggedValue::Int(7));
///     let TaggedValue::Ref(any) = values[1].get(m) else { panic!() };
///     assert_eq!(any.as_str(m), Some("kept"));
/// });
/// # Ok::<(), morph_gengc::GcError>(())
/// ```
pub struct TaggedRoot<'gc> {
    value: RootedValue<'gc>,
}

enum RootedValue<'gc> {
    /// An immediate's word.
    Immediate(u64),
    /// A reference, rooted.
    Ref(Root<'gc, Opaque>),
}

/// What a [`TaggedRoot`]'s root names: any object (never read as a value).
struct Opaque;

impl<'gc> Mutator<'gc> {
    /// Holds `value` across allocations: roots it if it is a reference.
    ///
    /// # Panics
    /// If a reference is to an object of another heap.
    pub fn root_tagged(&self, value: TaggedValue<'_>) -> TaggedRoot<'gc> {
        let value = match value {
            TaggedValue::Ref(any) => {
                if !self.owns(any.object) {
                    crate::safe::foreign_value();
                }
                RootedValue::Ref(self.make_root(any.object))
            }
            immediate => RootedValue::Immediate(encode_immediate(immediate).unwrap_or(0)),
        };
        TaggedRoot { value }
    }
}

impl<'gc> TaggedRoot<'gc> {
    /// The value; a reference stays valid while the mutator is borrowed.
    pub fn get<'a>(&self, mutator: &'a Mutator<'gc>) -> TaggedValue<'a> {
        match &self.value {
            RootedValue::Immediate(bits) => Tagged::from_bits(*bits).get(mutator),
            RootedValue::Ref(root) => {
                // SAFETY: a root keeps its object alive and current; the
                // borrow of the mutator keeps collections out for 'a.
                TaggedValue::Ref(unsafe { GcAny::from_object(root.object()) })
            }
        }
    }
}

/// A [`Tagged`] field's value in an initializer (`#[trace(init)]`, see
/// [`Init`](crate::Init)): an immediate, or the value a [`TaggedRoot`]
/// holds across the allocation. Built with `From` from a `Tagged`, an
/// integer, a float, a boolean or a `&TaggedRoot`.
///
/// ```
/// use morph_gengc::{Heap, Tagged, TaggedRoot, TaggedValue, Trace};
///
/// #[derive(Trace)]
/// #[trace(init)]
/// struct Cons {
///     car: Tagged,
///     cdr: Tagged,
/// }
///
/// let mut heap = Heap::new(Default::default())?;
/// heap.enter(|m| {
///     let tail: TaggedRoot = m.alloc_str("tail").into();
///     let cell = m.alloc_init(ConsInit { car: 42.into(), cdr: (&tail).into() });
///     let cell = cell.get(m);
///     assert_eq!(cell.car.get(m), TaggedValue::Int(42));
///     let TaggedValue::Ref(cdr) = cell.cdr.get(m) else { panic!("a reference") };
///     assert_eq!(cdr.as_str(m), Some("tail"));
/// });
/// # Ok::<(), morph_gengc::GcError>(())
/// ```
pub enum TaggedInit<'r, 'gc> {
    /// Nil, a boolean, an integer or a float. (A `Tagged` outside the heap
    /// holds no reference: only a stored one can.)
    Immediate(Tagged),
    /// The value a root holds.
    Held(&'r TaggedRoot<'gc>),
}

impl<'gc> TaggedInit<'_, 'gc> {
    /// The value; a reference stays valid while the mutator is borrowed.
    pub fn get<'a>(&self, mutator: &'a Mutator<'gc>) -> TaggedValue<'a> {
        match self {
            TaggedInit::Immediate(tagged) => tagged.get(mutator),
            TaggedInit::Held(root) => root.get(mutator),
        }
    }
}

impl Default for TaggedInit<'_, '_> {
    /// Nil.
    fn default() -> Self {
        TaggedInit::Immediate(Tagged::nil())
    }
}

impl From<Tagged> for TaggedInit<'_, '_> {
    fn from(tagged: Tagged) -> Self {
        TaggedInit::Immediate(tagged)
    }
}

impl From<i64> for TaggedInit<'_, '_> {
    /// # Panics
    /// As [`Tagged::int`].
    fn from(value: i64) -> Self {
        TaggedInit::Immediate(Tagged::int(value))
    }
}

impl From<f64> for TaggedInit<'_, '_> {
    fn from(value: f64) -> Self {
        TaggedInit::Immediate(Tagged::float(value))
    }
}

impl From<bool> for TaggedInit<'_, '_> {
    fn from(value: bool) -> Self {
        TaggedInit::Immediate(Tagged::bool(value))
    }
}

impl<'r, 'gc> From<&'r TaggedRoot<'gc>> for TaggedInit<'r, 'gc> {
    fn from(root: &'r TaggedRoot<'gc>) -> Self {
        TaggedInit::Held(root)
    }
}

impl fmt::Debug for TaggedInit<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaggedInit::Immediate(tagged) => write!(f, "TaggedInit::Immediate({tagged:?})"),
            TaggedInit::Held(_) => f.write_str("TaggedInit::Held(..)"),
        }
    }
}

/// A typed root becomes a dynamic one without a second root slot.
impl<'gc, T> From<Root<'gc, T>> for TaggedRoot<'gc> {
    fn from(root: Root<'gc, T>) -> Self {
        TaggedRoot {
            value: RootedValue::Ref(root.cast()),
        }
    }
}

impl Clone for TaggedRoot<'_> {
    fn clone(&self) -> Self {
        let value = match &self.value {
            RootedValue::Immediate(bits) => RootedValue::Immediate(*bits),
            RootedValue::Ref(root) => RootedValue::Ref(root.clone()),
        };
        TaggedRoot { value }
    }
}

impl fmt::Debug for TaggedRoot<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            RootedValue::Immediate(bits) => write!(f, "TaggedRoot({bits:#x})"),
            RootedValue::Ref(root) => write!(f, "TaggedRoot({root:?})"),
        }
    }
}

impl Default for Tagged {
    fn default() -> Self {
        Self::nil()
    }
}

impl fmt::Debug for Tagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tagged({:#x})", self.bits())
    }
}

// SAFETY: the word is inline and reported once, only when it holds a
// reference: then it is the payload address of a live object of this heap
// (see `get`), the referent's size coming from its header.
unsafe impl Trace for Tagged {
    #[inline]
    fn trace<V: SlotVisitor + ?Sized>(&self, tracer: &mut Tracer<'_, V>) {
        if self.is_reference() {
            // SAFETY: as above; `Cell<*mut u8>` has the layout of the word.
            unsafe { tracer.visit_slot(NonNull::from(&self.word).cast()) };
        }
    }
}
