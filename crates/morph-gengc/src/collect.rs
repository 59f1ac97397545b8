//! The two collection algorithms, as visitors over reference slots.
//!
//! * [`Evacuator`] — minor collection: Cheney-style copying of live young
//!   objects into the survivor space, or into the old generation once they
//!   are old enough (or the survivor space is full). The to-space itself is
//!   the breadth-first queue; promoted objects wait on a small stack.
//! * [`Marker`] — major collection: marks everything reachable with an
//!   explicit stack (no recursion, so deep lists cannot overflow the
//!   native stack) and moves nothing.
//!
//! Invariants both rely on: every slot they are shown holds null or the
//! payload address of a live object of the heap; every object's type id has
//! an entry in the type cache.

use std::ptr::NonNull;

use morph_header::{Generation, HeaderFlags, ObjectHeader, SlotVisitor, TypeId};

use crate::object::{self, ObjectRef};
use crate::space::large::LargeSpace;
use crate::space::nursery::{Bounds, Nursery, ToSpace};
use crate::space::old::OldSpace;
use crate::types::{CachedType, SpecializedTrace, TypeCache};

/// Calls `obj`'s trace function with `visitor`: the type's instantiation
/// for this collector (`pick` chooses it) if it has them, else the
/// registered one through `dyn SlotVisitor`.
///
/// # Safety
/// `obj` is a live, initialised, non-forwarded object whose type is cached.
#[inline(always)]
unsafe fn trace_object<V: SlotVisitor>(
    types: &TypeCache,
    obj: ObjectRef,
    visitor: &mut V,
    pick: impl FnOnce(SpecializedTrace) -> unsafe fn(NonNull<u8>, &mut V),
) {
    // SAFETY: caller contract.
    let type_id = unsafe { obj.header() }.type_id();
    let entry = types.get(type_id);
    debug_assert!(entry.is_some(), "object of uncached type {type_id}");
    match entry {
        Some(CachedType {
            specialized: Some(specialized),
            ..
        }) => {
            // SAFETY: `obj` is a live object of the type the functions were
            // made for (allocation invariant), which is their contract.
            unsafe { pick(specialized)(obj.as_ptr(), visitor) }
        }
        Some(CachedType {
            trace: Some(trace), ..
        }) => {
            // SAFETY: as above, for the registered function.
            unsafe { trace(obj.as_ptr(), visitor) }
        }
        _ => {}
    }
}

/// How far on either side of an object being copied [`prefetch_neighbours`]
/// asks for the from-space: 32 cache lines.
const NEIGHBOUR_PREFETCH: usize = 2048;

/// Starts loading the from-space [`NEIGHBOUR_PREFETCH`] bytes below and
/// above `obj`, which is about to be copied.
///
/// What survives a minor collection together was mostly allocated
/// together, so the next objects a copy reads lie close to the one it is
/// copying, in the direction the program allocated them: ascending for a
/// structure built parent first, descending for one built children first
/// (a depth-first copy of a bottom-up tree meets its nodes in reverse
/// allocation order). Whichever way the copy is going, one of the two
/// lines is ahead of it. When eden is still in the cache this costs two
/// instructions an object; when it has left the cache (the mutator's own
/// data pushed it out, or another program's did), the copy would otherwise
/// wait for memory at nearly every object. A 3 MiB tree promoted whole
/// (`cargo run --release -p morph-benches --example full_survival`,
/// medians of 8 interleaved runs): with every cache flushed first, built
/// top down 2.98 → 1.09 ms and bottom up 1.40 → 0.90 ms; with eden warm,
/// 0.86 → 0.77 ms and 0.74 → 0.76 ms.
#[inline(always)]
fn prefetch_neighbours(obj: ObjectRef) {
    let at = obj.start().as_ptr().cast_const();
    object::prefetch(at.wrapping_sub(NEIGHBOUR_PREFETCH));
    object::prefetch(at.wrapping_add(NEIGHBOUR_PREFETCH));
}

/// The block size of the object whose header is `header`: `known`, when
/// the caller knows it (a safe-API type's, a constant where its trace is
/// inlined), else read from the header. Debug builds check the two agree.
#[inline(always)]
fn block_size(header: ObjectHeader, known: Option<usize>) -> usize {
    let from_header = || object::object_size(header.payload_size());
    debug_assert!(known.is_none_or(|size| size == from_header()));
    known.unwrap_or_else(from_header)
}

/// A type's trace function instantiated for the evacuator (see
/// [`SpecializedTrace`](crate::types::SpecializedTrace)).
///
/// # Safety
/// As [`morph_header::TraceFn`].
pub(crate) type MinorTraceFn = unsafe fn(NonNull<u8>, &mut Evacuator<'_>);

/// As [`MinorTraceFn`], for the marker.
pub(crate) type MajorTraceFn = unsafe fn(NonNull<u8>, &mut Marker<'_>);

/// A type's instantiation of [`Evacuator::scan_run`]: scans the objects
/// waiting to be scanned for as long as they are of the given type (whose
/// id it is passed), with that type's trace inlined. See
/// [`SpecializedTrace`](crate::types::SpecializedTrace).
///
/// # Safety
/// The type id is the one the function was made for.
pub(crate) type MinorRunFn = unsafe fn(&mut Evacuator<'_>, TypeId);

/// What a minor collection produced.
pub(crate) struct EvacuationOutcome {
    /// Bytes copied per type index (empty unless counted).
    pub(crate) copied_by_type: Vec<u64>,
    pub(crate) remembered: Vec<ObjectRef>,
    pub(crate) promoted_objects: usize,
    pub(crate) promoted_bytes: usize,
    pub(crate) survivor_objects: usize,
    /// Bytes of objects that were already survivors (age at least 1) and
    /// survived again: the tenuring policy's measurement.
    pub(crate) survivor_bytes_kept: usize,
}

pub(crate) struct Evacuator<'h> {
    nursery: &'h mut Nursery,
    /// The nursery's ranges, which a minor collection does not change.
    bounds: Bounds,
    /// Where young copies go (the nursery's, until `finish`).
    to: ToSpace,
    old: &'h mut OldSpace,
    types: &'h TypeCache,
    promotion_age: u8,
    /// Whether to prefetch the from-space around each object copied
    /// ([`prefetch_neighbours`]).
    prefetch: bool,
    /// Whether promoted copies are marked as they are made: while an
    /// incremental cycle runs, what is promoted is allocated black.
    mark_promoted: bool,
    /// Bytes copied (kept young or promoted) per type index, when the
    /// heap pretenures; empty otherwise.
    copied_by_type: Vec<u64>,
    /// Promoted objects not yet scanned.
    promoted: Vec<ObjectRef>,
    /// The new remembered set.
    remembered: Vec<ObjectRef>,
    /// Bytes of the to-space already scanned.
    scanned: usize,
    /// Whether the object being scanned was left pointing at a young object.
    saw_young: bool,
    promoted_objects: usize,
    promoted_bytes: usize,
    survivor_objects: usize,
    survivor_bytes_kept: usize,
}

impl<'h> Evacuator<'h> {
    pub(crate) fn new(
        nursery: &'h mut Nursery,
        old: &'h mut OldSpace,
        types: &'h TypeCache,
        promotion_age: u8,
        prefetch: bool,
        mark_promoted: bool,
        copied_by_type: Vec<u64>,
    ) -> Self {
        Evacuator {
            prefetch,
            mark_promoted,
            copied_by_type,
            bounds: nursery.bounds(),
            to: nursery.to_space(),
            nursery,
            old,
            types,
            promotion_age,
            promoted: Vec::new(),
            remembered: Vec::new(),
            scanned: 0,
            saw_young: false,
            promoted_objects: 0,
            promoted_bytes: 0,
            survivor_objects: 0,
            survivor_bytes_kept: 0,
        }
    }

    /// Copies a from-space object (once) and returns its new location, and
    /// whether that is in the nursery (a young copy, not a promoted one).
    /// `known_size` is the object's block size when the caller knows it
    /// (then constant where a typed member's trace is inlined).
    ///
    /// # Safety
    /// `obj` is a live object in eden or the current survivor space, and a
    /// block of `known_size` bytes if that is given.
    #[inline(always)]
    unsafe fn evacuate(&mut self, obj: ObjectRef, known_size: Option<usize>) -> (ObjectRef, bool) {
        // SAFETY: caller contract: a live from-space block, forwarded or not.
        if let Some(moved) = unsafe { obj.forwarded() } {
            return (moved, self.bounds.contains(moved.addr()));
        }
        // SAFETY: as above, and not forwarded.
        let header = unsafe { obj.header() };
        if self.prefetch {
            prefetch_neighbours(obj);
        }
        let size = block_size(header, known_size);
        // Survivors by type, for pretenuring (an empty table: not counted).
        if !self.copied_by_type.is_empty() {
            self.count_copied(header.type_id().index(), size);
        }
        // From-space objects are young, so the generation byte is the age.
        debug_assert!(header.generation().is_young());
        let age = header.generation().to_byte();
        if age > 0 {
            self.survivor_bytes_kept += size;
        }
        // `promotion_age` is at most `MAX_YOUNG_AGE` (validated), so a copy
        // kept young has a young age.
        if age + 1 < self.promotion_age
            && let Some(start) = self.to.alloc(size)
        {
            self.survivor_objects += 1;
            // SAFETY: `start` is a fresh to-space block of `size` bytes.
            let copy =
                unsafe { Self::copy(obj, header, start, size, Generation::from_byte(age + 1)) };
            return (copy, true);
        }
        // A system allocation failure in the middle of a collection leaves
        // no consistent heap to return to.
        let start = self.old.alloc_promoted(size).unwrap_or_else(|e| {
            panic!("out of memory while promoting during a minor collection: {e}")
        });
        self.promoted_objects += 1;
        self.promoted_bytes += size;
        // SAFETY: `start` is a fresh old-generation block of `size` bytes.
        let copy = unsafe { Self::copy(obj, header, start, size, Generation::OLD) };
        if self.mark_promoted {
            // SAFETY: `copy` is a live object of the old space, its header written.
            unsafe { self.old.mark(copy) };
        }
        self.promoted.push(copy);
        (copy, false)
    }

    /// Copies `obj` (whose header is `header`, its block `size` bytes) to
    /// `start` as an object of `generation`, and forwards it there. Each
    /// destination has its own call, so the generation is a constant on
    /// the promotion path.
    ///
    /// # Safety
    /// `obj` is a live, unforwarded from-space object of `size` bytes with
    /// this header; `start` a fresh block of `size` bytes outside the
    /// from-space.
    #[inline(always)]
    unsafe fn copy(
        obj: ObjectRef,
        header: ObjectHeader,
        start: NonNull<u8>,
        size: usize,
        generation: Generation,
    ) -> ObjectRef {
        // SAFETY: `start` is a fresh block of at least `size` bytes in another
        // space than `obj`, so the two do not overlap.
        unsafe { object::copy_block(obj.start(), start, size) };
        // SAFETY: `start` now holds a copy of the object, at least 16 bytes.
        let copy = unsafe { ObjectRef::from_start(start) };
        // SAFETY: `copy` is a live block holding the object.
        unsafe { copy.set_header(header.moved(generation, HeaderFlags::REMEMBERED)) };
        // SAFETY: `obj` is abandoned from here on; `copy` is its replacement.
        unsafe { obj.forward_to(copy) };
        copy
    }

    /// Scans one object that is (or was just made) old: its young referents
    /// are evacuated, and it is remembered if it still points into the
    /// nursery afterwards.
    ///
    /// # Safety
    /// `owner` is a live old or large object.
    unsafe fn scan_tenured(&mut self, owner: ObjectRef) {
        self.saw_young = false;
        // SAFETY: forwarded caller contract.
        unsafe { self.trace(owner) };
        if self.saw_young {
            // SAFETY: as above.
            unsafe { self.remember(owner) };
        }
    }

    /// Adds an old object left pointing into the nursery to the new
    /// remembered set (once).
    ///
    /// # Safety
    /// `owner` is a live old or large object.
    #[inline]
    unsafe fn remember(&mut self, owner: ObjectRef) {
        // SAFETY: caller contract.
        let mut header = unsafe { owner.header() };
        if !header.flags().contains(HeaderFlags::REMEMBERED) {
            header.insert_flags(HeaderFlags::REMEMBERED);
            // SAFETY: as above.
            unsafe { owner.set_header(header) };
            self.remembered.push(owner);
        }
    }

    /// Scans a remembered object from before the collection.
    ///
    /// # Safety
    /// `owner` is a live old or large object.
    pub(crate) unsafe fn rescan_remembered(&mut self, owner: ObjectRef) {
        // SAFETY: caller contract.
        let mut header = unsafe { owner.header() };
        header.remove_flags(HeaderFlags::REMEMBERED);
        // SAFETY: caller contract.
        unsafe { owner.set_header(header) };
        // SAFETY: caller contract.
        unsafe { self.scan_tenured(owner) };
    }

    /// Updates one recorded slot of an old or large object (evacuating its
    /// young target); returns whether it still points into the nursery, so
    /// must stay recorded. Idempotent: a slot already updated points into
    /// the to-space and is simply kept.
    ///
    /// # Safety
    /// `slot` is a reference field of a live old or large object.
    pub(crate) unsafe fn update_remembered_slot(&mut self, slot: NonNull<*mut u8>) -> bool {
        self.saw_young = false;
        self.visit_slot(slot);
        self.saw_young
    }

    /// Scans until every reachable young object has been copied.
    /// Visits `roots` as root slots, copying each root's subgraph before the
    /// next root's (depth-first promotion keeps a structure's objects
    /// together in the old generation).
    pub(crate) fn visit_roots_eagerly(&mut self, roots: &mut dyn crate::RootSet) {
        roots.visit_roots(&mut Eager(self));
    }

    /// Scans until every reachable young object has been copied.
    ///
    /// Objects wait in two places: promoted copies on a stack, scanned
    /// first (depth-first, so the stack stays about as deep as the graph:
    /// breadth-first through the to-space, it once held every object
    /// promoted while the survivor space was being scanned, hundreds of
    /// KiB grown in the pause; and a promoted structure's nodes are copied
    /// next to each other), and young copies in the to-space, scanned in
    /// order (Cheney). Each run of objects of one type is scanned by that
    /// type's [`MinorRunFn`] when it has one, which saves the lookup and
    /// the call of a trace function per object; other types' runs go
    /// through the same loop with their registered trace function.
    ///
    /// Called after every root, remembered owner and recorded slot, most of
    /// which copy nothing (a root of an old object, a slot already
    /// updated), so the test for waiting objects is inlined at each call
    /// and only the loop is out of line.
    #[inline(always)]
    pub(crate) fn drain(&mut self) {
        if self.next_unscanned().is_some() {
            self.drain_waiting();
        }
    }

    /// [`drain`](Self::drain)'s loop.
    #[inline(never)]
    fn drain_waiting(&mut self) {
        while let Some((obj, _)) = self.next_unscanned() {
            // SAFETY: a live, fully copied object.
            let type_id = unsafe { obj.header() }.type_id();
            match self.types.get(type_id) {
                Some(CachedType {
                    specialized: Some(specialized),
                    ..
                }) => {
                    // SAFETY: the run function of the type `type_id` names.
                    unsafe { (specialized.minor_run)(self, type_id) };
                }
                Some(CachedType {
                    trace: None,
                    specialized: None,
                    ..
                }) => {
                    // No references: stepping over the run is all there is
                    // to do, without looking the type up for each object.
                    // SAFETY: the type has no trace function, so tracing
                    // its objects is nothing; no size is promised.
                    unsafe { self.scan_run(type_id, None, |_, _| {}) };
                }
                _ => {
                    let trace = |ev: &mut Self, obj: ObjectRef| {
                        // SAFETY: `scan_run` hands over live, fully copied
                        // objects, whose types are cached.
                        unsafe { ev.trace(obj) }
                    };
                    // SAFETY: `trace` calls each object's own trace
                    // function; no size is promised.
                    unsafe { self.scan_run(type_id, None, trace) };
                }
            }
        }
    }

    /// The next object to scan (promoted copies first), and whether it
    /// was promoted; it stays waiting until
    /// [`take_unscanned`](Self::take_unscanned).
    #[inline(always)]
    fn next_unscanned(&self) -> Option<(ObjectRef, bool)> {
        if let Some(&obj) = self.promoted.last() {
            return Some((obj, true));
        }
        if self.scanned < self.to.used() {
            // SAFETY: the to-space holds copies back to back from its
            // base; `scanned` is the start of the next unscanned one.
            return Some((unsafe { self.to.object_at(self.scanned) }, false));
        }
        None
    }

    /// Removes `obj`, the object [`next_unscanned`](Self::next_unscanned)
    /// returned, from the waiting ones.
    /// `size` is the object's block size when the caller knows it
    /// (every object of a safe-API type has the same).
    #[inline(always)]
    fn take_unscanned(&mut self, obj: ObjectRef, promoted: bool, size: Option<usize>) {
        if promoted {
            self.promoted.pop();
        } else {
            // SAFETY: a live, fully copied object.
            self.scanned += block_size(unsafe { obj.header() }, size);
        }
    }

    /// Scans waiting objects for as long as the next one is of type
    /// `type_id`, with `trace` (that type's trace) inlined; returns at the
    /// first object of another type, or when none waits. Instantiated per
    /// type by the safe API ([`MinorRunFn`]).
    ///
    /// # Safety
    /// `trace` traces objects of type `type_id`, and every object of that
    /// type is a block of `size` bytes if `size` is given.
    #[inline(always)]
    pub(crate) unsafe fn scan_run(
        &mut self,
        type_id: TypeId,
        size: Option<usize>,
        trace: impl Fn(&mut Self, ObjectRef),
    ) {
        while let Some((obj, promoted)) = self.next_unscanned() {
            // SAFETY: a live, fully copied object.
            if !unsafe { obj.header() }.has_type_id(type_id) {
                return;
            }
            self.take_unscanned(obj, promoted, size);
            // One call of `trace` (so that it is inlined once): a promoted
            // copy is scanned as `scan_tenured` does, a young one plainly.
            self.saw_young = false;
            trace(self, obj);
            if promoted && self.saw_young {
                // SAFETY: a live promoted copy.
                unsafe { self.remember(obj) };
            }
        }
    }

    /// Calls `obj`'s trace function with this evacuator.
    ///
    /// # Safety
    /// As [`trace_object`].
    #[inline(always)]
    unsafe fn trace(&mut self, obj: ObjectRef) {
        let types = self.types;
        // SAFETY: caller contract.
        unsafe { trace_object(types, obj, self, |s| s.minor) }
    }

    /// Adds `size` copied bytes to type `index`'s count.
    #[inline(always)]
    fn count_copied(&mut self, index: usize, size: usize) {
        match self.copied_by_type.get_mut(index) {
            Some(count) => *count += size as u64,
            None => self.count_copied_new_type(index, size),
        }
    }

    #[cold]
    fn count_copied_new_type(&mut self, index: usize, size: usize) {
        self.copied_by_type.resize(index + 1, 0);
        self.copied_by_type[index] += size as u64;
    }

    pub(crate) fn finish(self) -> EvacuationOutcome {
        self.nursery.end_copying(self.to);
        EvacuationOutcome {
            copied_by_type: self.copied_by_type,
            remembered: self.remembered,
            promoted_objects: self.promoted_objects,
            promoted_bytes: self.promoted_bytes,
            survivor_objects: self.survivor_objects,
            survivor_bytes_kept: self.survivor_bytes_kept,
        }
    }
}

impl SlotVisitor for Evacuator<'_> {
    #[inline(always)]
    fn visit_slot(&mut self, slot: NonNull<*mut u8>) {
        // SAFETY: no size is promised.
        unsafe { self.visit(slot, None) }
    }

    #[inline(always)]
    unsafe fn visit_sized_slot(&mut self, slot: NonNull<*mut u8>, payload: usize) {
        // SAFETY: a non-null referent has a payload of `payload` bytes
        // (caller contract), so its block is `object_size(payload)`.
        unsafe { self.visit(slot, Some(object::object_size(payload))) }
    }
}

impl Evacuator<'_> {
    /// Visits one slot: evacuates a from-space referent and updates the
    /// slot, and notes whether the slot is left pointing into the nursery.
    ///
    /// # Safety
    /// A non-null referent of `slot` is a block of `size` bytes if `size`
    /// is given.
    #[inline(always)]
    unsafe fn visit(&mut self, slot: NonNull<*mut u8>, size: Option<usize>) {
        // SAFETY: slots handed to a visitor are valid, aligned reference
        // fields or root slots (trace and RootSet contracts).
        let target = unsafe { slot.read() };
        let Some(target) = NonNull::new(target) else {
            return;
        };
        let addr = target.addr().get();
        if self.bounds.in_from_space(addr) {
            // SAFETY: a non-null reference is a payload address (slot invariant).
            let obj = unsafe { ObjectRef::from_payload(target) };
            // SAFETY: a reference to a from-space address is to a live young
            // object (slot invariant), which evacuate requires; its size is
            // `size` if given (caller contract).
            let (moved, young) = unsafe { self.evacuate(obj, size) };
            // SAFETY: as above: the slot is writable.
            unsafe { slot.write(moved.as_ptr().as_ptr()) };
            self.saw_young |= young;
        } else if self.bounds.contains(addr) {
            // Already in the to-space.
            self.saw_young = true;
        }
    }
}

/// Visits root slots, draining after each: each root's subgraph is copied
/// before the next root's, so promoted objects land next to their parents
/// instead of breadth-first across all roots. A wrapper, so that the slot
/// visits of the scan loop test no mode.
struct Eager<'e, 'h>(&'e mut Evacuator<'h>);

impl SlotVisitor for Eager<'_, '_> {
    fn visit_slot(&mut self, slot: NonNull<*mut u8>) {
        self.0.visit_slot(slot);
        self.0.drain();
    }
}

pub(crate) struct Marker<'h> {
    nursery: &'h Nursery,
    old: &'h mut OldSpace,
    large: &'h mut LargeSpace,
    types: &'h TypeCache,
    /// Objects reached and not yet checked: edges, not nodes (the mark
    /// check waits until an object leaves the prefetch queue).
    stack: Vec<ObjectRef>,
    /// The prefetch queue between the stack and the mark check: each
    /// object's header is prefetched as it enters, and checked
    /// [`PREFETCH_QUEUE`] objects later, once the line has arrived (the
    /// FIFO of Cher, Hosking and Vijaykumar's prefetching marker, and of
    /// the Boehm collector). Checking each object as it was reached missed
    /// the cache on most headers of a large heap.
    queue: PrefetchQueue,
    /// Bytes of the old and large objects marked so far, headers included:
    /// the tenured part of the live census (the spaces count whole slots
    /// and mapped pages, which allocation does not).
    tenured_bytes: usize,
    /// Whether young objects are left alone: an incremental cycle marks
    /// the old generation and large objects only (see `incremental`), and
    /// treats every young object as live.
    tenured_only: bool,
    /// Ephemerons whose key was not marked when their entry was traced,
    /// as (key slot, value slot): their values wait until the key is
    /// marked, rechecked each time the grey set runs dry.
    ephemerons: Vec<Ephemeron>,
}

/// An ephemeron waiting for its key: the key's and the value's slots, in
/// a live old or large object (or any object, in a full collection: then
/// nothing moves until marking ends).
pub(crate) type Ephemeron = (NonNull<*mut u8>, NonNull<*mut u8>);

/// Objects in flight between prefetch and mark check (a power of two).
const PREFETCH_QUEUE: usize = 8;

/// A fixed ring of [`PREFETCH_QUEUE`] objects. A `VecDeque` spent ~19
/// instructions an object on its capacity and wrap-around bookkeeping;
/// this one masks an index.
struct PrefetchQueue {
    ring: [Option<ObjectRef>; PREFETCH_QUEUE],
    head: usize,
    len: usize,
}

impl PrefetchQueue {
    fn new() -> Self {
        PrefetchQueue {
            ring: [None; PREFETCH_QUEUE],
            head: 0,
            len: 0,
        }
    }

    #[inline]
    fn is_full(&self) -> bool {
        self.len == PREFETCH_QUEUE
    }

    /// Appends `obj`; the caller checks [`is_full`](Self::is_full) first.
    #[inline]
    fn push(&mut self, obj: ObjectRef) {
        debug_assert!(!self.is_full());
        self.ring[(self.head + self.len) % PREFETCH_QUEUE] = Some(obj);
        self.len += 1;
    }

    #[inline]
    fn pop(&mut self) -> Option<ObjectRef> {
        if self.len == 0 {
            return None;
        }
        let obj = self.ring[self.head].take();
        self.head = (self.head + 1) % PREFETCH_QUEUE;
        self.len -= 1;
        obj
    }
}

impl<'h> Marker<'h> {
    pub(crate) fn new(
        nursery: &'h Nursery,
        old: &'h mut OldSpace,
        large: &'h mut LargeSpace,
        types: &'h TypeCache,
    ) -> Self {
        Marker {
            nursery,
            old,
            large,
            types,
            stack: Vec::new(),
            queue: PrefetchQueue::new(),
            tenured_bytes: 0,
            tenured_only: false,
            ephemerons: Vec::new(),
        }
    }

    /// A marker for one step of an incremental cycle: it resumes from
    /// `stack` (the cycle's grey objects), marks old and large objects only,
    /// and leaves young ones unmarked.
    pub(crate) fn tenured_only(
        nursery: &'h Nursery,
        old: &'h mut OldSpace,
        large: &'h mut LargeSpace,
        types: &'h TypeCache,
        stack: Vec<ObjectRef>,
        ephemerons: Vec<Ephemeron>,
    ) -> Self {
        Marker {
            stack,
            ephemerons,
            tenured_only: true,
            ..Marker::new(nursery, old, large, types)
        }
    }

    /// The objects reached and not yet marked, and the ephemerons still
    /// waiting for their keys, for the next step.
    pub(crate) fn into_work(self) -> (Vec<ObjectRef>, Vec<Ephemeron>) {
        debug_assert_eq!(
            self.queue.len, 0,
            "the prefetch queue is drained into the stack"
        );
        (self.stack, self.ephemerons)
    }

    /// Whether the key in the ephemeron key slot `key` counts as live now:
    /// no key (the entry was emptied), a young key in an incremental
    /// cycle, or a marked one.
    ///
    /// # Safety
    /// `key` is a weak reference field of an object the marker traced,
    /// still in place (see [`Ephemeron`]).
    unsafe fn key_is_live(&self, key: NonNull<*mut u8>) -> bool {
        // SAFETY: caller contract: a valid weak reference field.
        let Some(key) = NonNull::new(unsafe { key.read() }) else {
            return true;
        };
        // SAFETY: a non-null weak slot holds a live object's payload
        // (weak slots are cleared when their referent dies).
        let key = unsafe { ObjectRef::from_payload(key) };
        if self.tenured_only && self.nursery.contains(key.addr()) {
            // Young objects are all live to a cycle.
            return true;
        }
        // SAFETY: caller contract.
        unsafe { crate::heap::is_marked(self.nursery, self.old, self.large, key) }
    }

    /// Releases the values of waiting ephemerons whose keys are marked
    /// now (or were removed from their entries); returns whether any
    /// value was pushed.
    fn settle_ephemerons(&mut self) -> bool {
        let mut pushed = false;
        let mut i = 0;
        while i < self.ephemerons.len() {
            let (key, value) = self.ephemerons[i];
            // SAFETY: the slots of a waiting ephemeron lie in a traced
            // (so marked, so unswept) object that does not move while
            // marking runs (see `Ephemeron`).
            if !unsafe { self.key_is_live(key) } {
                i += 1;
                continue;
            }
            self.ephemerons.swap_remove(i);
            // SAFETY: as above; the value is a member's or a `Tagged`'s
            // word, which may have changed since (to another value, which
            // is live, or to an immediate, which is skipped).
            let word = unsafe { value.read() };
            if crate::tagged::word_is_reference(word.addr() as u64)
                && let Some(target) = NonNull::new(word)
            {
                // SAFETY: a reference word holds a live object's payload.
                self.stack.push(unsafe { ObjectRef::from_payload(target) });
                pushed = true;
            }
        }
        pushed
    }

    /// Traces `obj` without marking it: its referents are queued. For the
    /// young objects an incremental cycle takes as its snapshot's roots.
    ///
    /// # Safety
    /// `obj` is a live, initialised, non-forwarded object of the heap.
    pub(crate) unsafe fn trace_unmarked(&mut self, obj: ObjectRef) {
        // SAFETY: caller contract.
        unsafe { trace_object(self.types, obj, self, |s| s.major) };
    }

    /// Bytes of the old and large objects marked, headers included.
    pub(crate) fn tenured_bytes(&self) -> usize {
        self.tenured_bytes
    }

    /// Marks `obj`; returns whether this was the first visit.
    ///
    /// # Safety
    /// `obj` is a live object of the heap.
    unsafe fn mark(&mut self, obj: ObjectRef) -> bool {
        if self.nursery.contains(obj.addr()) {
            if self.tenured_only {
                // Not dereferenced: an incremental cycle's grey set may
                // hold young addresses from before a minor collection moved
                // their objects.
                return false;
            }
            // SAFETY: caller contract.
            let mut header = unsafe { obj.header() };
            if header.is_marked() {
                return false;
            }
            header.set_marked(true);
            // SAFETY: caller contract.
            unsafe { obj.set_header(header) };
            return true;
        }
        // SAFETY: caller contract.
        let header = unsafe { obj.header() };
        if header.generation().is_large() {
            let first = self.large.mark(obj);
            if first {
                let payload = self
                    .large
                    .payload_size(obj)
                    .unwrap_or(header.payload_size());
                self.tenured_bytes += object::object_size(payload);
            }
            first
        } else {
            // SAFETY: a live object outside the nursery that is not large is old.
            let first = unsafe { self.old.mark(obj) };
            if first {
                self.tenured_bytes += object::object_size(header.payload_size());
            }
            first
        }
    }

    pub(crate) fn drain(&mut self) {
        self.drain_for(usize::MAX);
    }

    /// Marks until the stack is empty or `budget` more bytes of objects
    /// have been marked; returns whether the stack is empty. Objects still
    /// in the prefetch queue go back on the stack.
    pub(crate) fn drain_for(&mut self, budget: usize) -> bool {
        let stop_at = self.tenured_bytes.saturating_add(budget);
        loop {
            while !self.queue.is_full() {
                let Some(obj) = self.stack.pop() else { break };
                object::prefetch(obj.header_ptr().as_ptr().cast_const().cast());
                self.queue.push(obj);
            }
            let Some(obj) = self.queue.pop() else {
                if !self.ephemerons.is_empty() && self.settle_ephemerons() {
                    continue;
                }
                return true;
            };
            // SAFETY: only live objects are pushed (slot invariant; an
            // incremental cycle's young addresses are never dereferenced).
            if unsafe { self.mark(obj) } {
                // SAFETY: as above.
                unsafe { trace_object(self.types, obj, self, |s| s.major) };
                if self.tenured_bytes >= stop_at {
                    while let Some(obj) = self.queue.pop() {
                        self.stack.push(obj);
                    }
                    return self.stack.is_empty();
                }
            }
        }
    }
}

impl SlotVisitor for Marker<'_> {
    #[inline(always)]
    fn visit_slot(&mut self, slot: NonNull<*mut u8>) {
        // SAFETY: as in the evacuator: a valid reference slot.
        let target = unsafe { slot.read() };
        let Some(target) = NonNull::new(target) else {
            return;
        };
        // SAFETY: a non-null reference is to a live object (slot invariant);
        // `drain` marks it.
        self.stack.push(unsafe { ObjectRef::from_payload(target) });
    }

    fn visit_ephemeron(&mut self, key: NonNull<*mut u8>, value: Option<NonNull<*mut u8>>) {
        let Some(value) = value else {
            // Nothing the entry could keep alive.
            return;
        };
        // An incremental cycle's young objects are traced at its start and
        // their slots move at the next minor collection: no entry of
        // theirs can wait, so their values are kept (a young key is live
        // to the cycle anyway; an old one may leave its value as garbage
        // until the next cycle).
        let in_young_holder = self.tenured_only && self.nursery.contains(key.addr().get());
        // SAFETY: a weak reference field of the object being traced (trace
        // contract).
        if in_young_holder || unsafe { self.key_is_live(key) } {
            self.visit_slot(value);
        } else {
            self.ephemerons.push((key, value));
        }
    }
}
