//! Eden lent out: allocation by code outside the collector.
//!
//! A runtime whose allocation sites are not Rust (the C ABI's inline
//! `morph_alloc_v2`, a JIT's allocation stubs) cannot call
//! [`RawHeap::try_alloc`] per object without paying a call and its checks
//! each time. Instead the heap *lends* it the free part of eden, up to the
//! next point where the heap has work to do (the end of eden, or a pace
//! point): the borrower bump-allocates young objects there itself — write
//! the header, zero the payload — and *repays* the loan, with its final
//! cursor, before it calls the heap for anything else. This is a
//! thread-local allocation buffer handed across a language boundary, as
//! HotSpot's and V8's compiled code allocate inline from a buffer the
//! collector owns.
//!
//! Invariants (the `unsafe` below relies on them):
//! * while a loan is out, eden's own cursor stands at the loan's limit, so
//!   no allocation of the heap's overlaps it, and every heap operation that
//!   reads or moves eden (allocation's slow path, collection, verification)
//!   refuses to run;
//! * repaying sets eden's cursor to the borrower's cursor, which lies
//!   inside the loan; the borrower vouches (an `unsafe` contract) that the
//!   bytes up to it are young objects, each a header from
//!   [`EdenLoan::header_bits`] plus the payload size and a zeroed or valid
//!   payload, of types loaded into this heap.

use std::ptr::NonNull;

use morph_header::{ObjectHeader, TypeId};

use crate::GcError;
use crate::heap::RawHeap;
use crate::object;

/// The free part of eden lent out by [`RawHeap::lend_eden`]: the borrower
/// may place young objects in `[start, limit)`, in order from `start`.
///
/// An object of `payload` bytes (at most [`max_payload`](Self::max_payload))
/// takes [`object_size(payload)`](crate::object_size) bytes: its header
/// word, [`header_bits`](Self::header_bits) of its type with the payload
/// size or-ed in, then the payload, zeroed (null references) until the
/// borrower writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdenLoan {
    start: NonNull<u8>,
    limit: NonNull<u8>,
    max_payload: usize,
}

impl EdenLoan {
    /// Where the first object goes.
    pub fn start(&self) -> NonNull<u8> {
        self.start
    }

    /// The end of the loan: no object may reach past it.
    pub fn limit(&self) -> NonNull<u8> {
        self.limit
    }

    /// The largest payload an object placed in the loan may have (larger
    /// ones take [`RawHeap::try_alloc`], which puts them elsewhere).
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// The header word of a young object of `type_id` with an empty
    /// payload; or-ing in the payload size (in bytes, at most
    /// [`max_payload`](Self::max_payload)) gives the object's header. Only
    /// for types without a destructor or weak references: a finalizable
    /// young object, or a weak holder, must be registered, so it takes
    /// [`RawHeap::try_alloc`].
    ///
    /// ```
    /// use morph_gengc::EdenLoan;
    /// use morph_header::{ObjectHeader, TypeId};
    ///
    /// let ty = TypeId::new(5)?;
    /// let header = ObjectHeader::from_bits(EdenLoan::header_bits(ty) | 24);
    /// assert_eq!((header.type_id(), header.payload_size()), (ty, 24));
    /// # Ok::<(), morph_header::HeaderError>(())
    /// ```
    pub fn header_bits(type_id: TypeId) -> u64 {
        let mut header = ObjectHeader::from_bits(0);
        header.set_type_id(type_id);
        header.to_bits()
    }
}

impl RawHeap {
    /// Lends the free part of eden up to the next point where the heap has
    /// work to do (see [`EdenLoan`]), or `None` when every allocation must
    /// go through [`try_alloc`](Self::try_alloc): in stress mode (which
    /// counts allocations), on a poisoned heap, while a loan is out, or
    /// when that part is empty. With `type_stats` on, repaying counts the
    /// objects per type.
    ///
    /// ```
    /// use morph_gengc::{EdenLoan, GcConfig, RawHeap};
    /// use morph_header::{TypeDescriptor, TypeRegistry};
    ///
    /// let bytes = TypeRegistry::global().register(TypeDescriptor::new("Pair", std::alloc::Layout::new::<[u64; 2]>()))?;
    /// let mut heap = RawHeap::new(GcConfig::default())?;
    /// heap.preload_type(bytes)?;
    /// let loan = heap.lend_eden().expect("eden is empty");
    /// let object = loan.start().cast::<u64>();
    /// // SAFETY: a loan of eden holds at least one 24-byte object; the
    /// // header is the type's with its payload size, the payload zeroed.
    /// unsafe {
    ///     object.write(EdenLoan::header_bits(bytes) | 16);
    ///     object.add(1).cast::<[u64; 2]>().write([0, 0]);
    ///     heap.repay_eden(loan, object.add(3).cast(), 1);
    /// }
    /// assert!(heap.verify(&mut ()).is_ok());
    /// assert_eq!(heap.usage().nursery_used, 24);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lend_eden(&mut self) -> Option<EdenLoan> {
        if self.poisoned || self.config.stress_every.is_some() || self.eden_loan.is_some() {
            return None;
        }
        let (start, limit) = self.nursery.lend()?;
        self.eden_loan = Some((start, limit));
        Some(EdenLoan {
            start,
            limit,
            max_payload: self.max_young_payload,
        })
    }

    /// Whether a loan of eden is out (allocation and collection refuse to
    /// run until it is repaid).
    pub fn eden_lent(&self) -> bool {
        self.eden_loan.is_some()
    }

    /// Takes back `loan`: the borrower placed `objects` objects from its
    /// start up to `cursor`.
    ///
    /// # Panics
    /// If `loan` is not the loan out, or `cursor` lies outside it or is not
    /// 8-aligned; nothing changes then (the heap does not trust the bytes).
    ///
    /// # Safety
    /// The bytes from `loan.start()` to `cursor` are exactly `objects`
    /// young objects laid out as [`EdenLoan`] says, each of a type loaded
    /// into this heap ([`preload_type`](Self::preload_type)) that has no
    /// destructor, and their payloads satisfy the type's trace function as
    /// [`try_alloc`](Self::try_alloc)'s contract requires (null or live
    /// references of this heap).
    pub unsafe fn repay_eden(&mut self, loan: EdenLoan, cursor: NonNull<u8>, objects: usize) {
        let Some((start, limit)) = self.eden_loan else {
            panic!("no loan of eden is out");
        };
        assert!(
            (start, limit) == (loan.start, loan.limit),
            "repaying a loan of eden that is not the one out"
        );
        assert!(
            start <= cursor && cursor <= limit && cursor.addr().get().is_multiple_of(8),
            "the borrower's cursor lies outside its loan of eden"
        );
        self.nursery.repay(start, limit, cursor);
        self.eden_loan = None;
        self.eden_objects += objects;
        if self.config.type_stats {
            // SAFETY: the loan's used part holds well-formed young
            // objects (caller contract).
            unsafe { self.tally_loan(start, cursor) };
        }
    }

    /// Counts the objects of a repaid loan per type (`type_stats`).
    ///
    /// # Safety
    /// `[start, end)` holds well-formed objects laid end to end.
    unsafe fn tally_loan(&mut self, start: NonNull<u8>, end: NonNull<u8>) {
        let mut at = start;
        while at < end {
            // SAFETY: an object's header starts at `at` (caller contract).
            let header = ObjectHeader::from_bits(unsafe { at.cast::<u64>().read() });
            let size = object::object_size(header.payload_size());
            self.tally_young(header.type_id(), size);
            // SAFETY: the object lies inside `[start, end)`.
            at = unsafe { at.add(size) };
        }
    }

    /// Loads `type_id`'s descriptor into the heap's type cache, as its
    /// first allocation through [`try_alloc`](Self::try_alloc) does; a
    /// borrower of eden must do this before it places objects of the type.
    ///
    /// # Errors
    /// [`GcError::UnknownType`] if the registry does not know the id.
    pub fn preload_type(&mut self, type_id: TypeId) -> Result<(), GcError> {
        self.types.load(type_id).map(|_| ())
    }

    /// Panics when a loan of eden is out: allocation's slow path,
    /// collection and verification call this first.
    #[inline]
    pub(crate) fn check_no_loan(&self) {
        assert!(
            self.eden_loan.is_none(),
            "a loan of eden is out: repay it before allocating, collecting or verifying"
        );
    }
}
