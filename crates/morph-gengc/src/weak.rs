//! Weak references inside objects: [`WeakMember`], and what the collector
//! does with them (and with the ephemerons of a
//! [`GcWeakMap`](crate::GcWeakMap)).
//!
//! Objects whose type holds weak references ([`Trace::HAS_WEAK`], a
//! descriptor's [`with_weak`](morph_header::TypeDescriptor::with_weak))
//! are *weak holders*: the heap lists them when they are allocated, young
//! or old, as it lists finalizable objects. Tracing reports their weak
//! slots to [`SlotVisitor::visit_weak_slot`], which marking and evacuation
//! ignore; once a collection knows what lives, it traces each listed holder
//! again with a [`WeakFixer`], which updates the weak slots whose referent
//! moved and clears (writes null to) those whose referent died:
//!
//! * **minor collection**: every young holder that survived (and the
//!   dead ones leave the list), and the old holders the barrier recorded
//!   as possibly pointing at a young object (`weak_remembered`, the weak
//!   half of the remembered set);
//! * **major collection and the end of an incremental cycle**: every
//!   holder that is live; a referent is dead when it is unmarked (and, in
//!   a cycle, not young: young objects are all live to a cycle).
//!
//! The cost is proportional to the weak holders, not to the heap: a
//! program without weak references pays nothing. A weak map is one holder
//! (its table), however many entries it has.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;

use morph_header::SlotVisitor;

use crate::heap::RawHeap;
use crate::object::ObjectRef;
use crate::safe::{Gc, Mutator};
use crate::space::nursery::Nursery;
use crate::trace::{Trace, Tracer};
use crate::types::TypeCache;

/// A weak reference stored in a managed object: null, or another managed
/// object that this field does not keep alive.
///
/// When its referent becomes unreachable other than through weak
/// references, a collection clears the field to null; until then it reads
/// as the referent, wherever the collector moved it. Like a
/// [`Member`](crate::Member), it is built null and [`set`](Self::set) once
/// its object is in the heap.
///
/// ```
/// use morph_gengc::{Collection, Heap, Trace, WeakMember};
///
/// #[derive(Trace)]
/// struct Entry(u64);
///
/// #[derive(Trace)]
/// struct Cache {
///     last: WeakMember<Entry>,
/// }
///
/// let mut heap = Heap::new(Default::default())?;
/// heap.enter(|m| {
///     let cache = m.alloc(Cache { last: WeakMember::null() });
///     let entry = m.alloc(Entry(7));
///     cache.get(m).last.set(m, Some(entry.get(m)));
///     m.collect(Collection::Minor);
///     // Still rooted: the weak field follows the entry where it moved.
///     assert_eq!(cache.get(m).last.get(m).map(|e| e.0), Some(7));
///     drop(entry);
///     m.collect(Collection::Major);
///     assert!(cache.get(m).last.get(m).is_none(), "cleared once unreachable");
/// });
/// # Ok::<(), morph_gengc::GcError>(())
/// ```
#[repr(transparent)]
pub struct WeakMember<T> {
    ptr: Cell<*mut u8>,
    _marker: PhantomData<*const T>,
}

impl<T> WeakMember<T> {
    /// The null weak reference.
    pub const fn null() -> Self {
        WeakMember {
            ptr: Cell::new(std::ptr::null_mut()),
            _marker: PhantomData,
        }
    }

    /// Whether this field is null now (never set, set to null, or cleared
    /// by a collection).
    pub fn is_null(&self) -> bool {
        self.ptr.get().is_null()
    }

    pub(crate) fn slot(&self) -> NonNull<*mut u8> {
        NonNull::from(&self.ptr).cast()
    }

    /// The referent's address, if the field is not null.
    pub(crate) fn referent_addr(&self) -> Option<usize> {
        let addr = self.ptr.get().addr();
        (addr != 0).then_some(addr)
    }

    /// The referent, if it is still alive: valid while the mutator is
    /// borrowed. Holding it (in a root or a strong field) keeps it alive
    /// from then on.
    #[inline]
    pub fn get<'a>(&self, mutator: &'a Mutator<'_>) -> Option<Gc<'a, T>> {
        let ptr = NonNull::new(self.ptr.get())?;
        // SAFETY: a non-null weak member lies in a managed object (`set`
        // checks), whose type declares its weak fields, so every collection
        // updates or clears it: it holds a live object's payload.
        let obj = unsafe { ObjectRef::from_payload(ptr) };
        // An object reachable only weakly when a running incremental cycle
        // started would be freed at its end, though read now.
        mutator.raw().keep_alive(obj);
        // SAFETY: a live `T` (above: `set` stores only `Gc<T>`s), valid
        // for 'a since the mutator borrow keeps collections out.
        Some(unsafe { Gc::from_object(obj) })
    }

    /// Stores a weak reference (or null), with the barrier.
    ///
    /// # Panics
    /// If this field is not inside an object in `mutator`'s heap (for
    /// example a value not yet allocated), or `value` belongs to another
    /// heap.
    #[inline]
    pub fn set(&self, mutator: &Mutator<'_>, value: Option<Gc<'_, T>>) {
        mutator.store_weak(&self.ptr, value.map(Gc::object));
    }
}

impl<T> Default for WeakMember<T> {
    fn default() -> Self {
        Self::null()
    }
}

impl<T> fmt::Debug for WeakMember<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WeakMember({:p})", self.ptr.get())
    }
}

// SAFETY: the field is inline and reported once, as a weak slot (its
// referent is found from the header, so no size is promised); `HAS_WEAK`
// lists the objects holding it.
unsafe impl<T: 'static> Trace for WeakMember<T> {
    const HAS_WEAK: bool = true;

    #[inline]
    fn trace<V: SlotVisitor + ?Sized>(&self, tracer: &mut Tracer<'_, V>) {
        if !self.is_null() {
            // SAFETY: a non-null weak member holds a live object's payload
            // address (see `get`).
            unsafe { tracer.visit_weak_slot(self.slot()) };
        }
    }
}

impl Mutator<'_> {
    /// The barrier behind [`WeakMember::set`]: the ownership checks of
    /// [`Member::set`](crate::Member::set), then records an old or large
    /// holder that now weakly references a young object. Nothing is
    /// logged for a running cycle: the value overwritten was only weakly
    /// held.
    #[inline]
    pub(crate) fn store_weak(&self, slot: &Cell<*mut u8>, value: Option<ObjectRef>) {
        let raw = self.raw();
        if value.is_some_and(|v| !self.owns(v)) {
            crate::safe::foreign_value();
        }
        let bits = value.map_or(std::ptr::null_mut(), |v| v.as_ptr().as_ptr());
        let slot_addr = slot.as_ptr().addr();
        if value.is_none() || raw.is_young_addr(slot_addr) {
            // Null, or a field of a young object (every surviving young
            // holder is fixed at each minor collection).
            slot.set(bits);
            return;
        }
        let Some(owner) = raw.tenured_owner_of(slot_addr) else {
            crate::safe::outside_heap()
        };
        slot.set(bits);
        if value.is_some_and(|v| raw.is_young_addr(v.addr())) {
            raw.weak.remember(owner);
        }
    }
}

/// Retraces a weak holder, updating each weak slot (and ephemeron key) to
/// where its referent is now, or clearing it, with the entry's value, if
/// the referent died. Strong slots are left alone.
///
/// `fate` is what the collection knows of a referent: `Some` (where it is
/// now) if it lives, `None` if it died.
struct WeakFixer<'a, F> {
    fate: &'a F,
    /// To tell whether a slot is left pointing at a young object.
    nursery: &'a Nursery,
    points_young: bool,
}

impl<F: Fn(ObjectRef) -> Option<ObjectRef>> WeakFixer<'_, F> {
    /// Fixes one weak slot; returns whether it was cleared.
    fn fix(&mut self, slot: NonNull<*mut u8>) -> bool {
        // SAFETY: a weak slot of a live holder being traced (trace
        // contract): a valid, aligned reference field.
        let target = unsafe { slot.read() };
        let Some(target) = NonNull::new(target) else {
            return false;
        };
        // SAFETY: a non-null weak slot holds a payload address (every
        // earlier collection fixed it, and `store_weak` checks stores).
        let obj = unsafe { ObjectRef::from_payload(target) };
        match (self.fate)(obj) {
            Some(now) => {
                if now != obj {
                    // SAFETY: as above: a writable reference field.
                    unsafe { slot.write(now.as_ptr().as_ptr()) };
                }
                self.points_young |= self.nursery.contains(now.addr());
                false
            }
            None => {
                // SAFETY: as above.
                unsafe { slot.write(std::ptr::null_mut()) };
                true
            }
        }
    }
}

impl<F: Fn(ObjectRef) -> Option<ObjectRef>> SlotVisitor for WeakFixer<'_, F> {
    fn visit_slot(&mut self, _slot: NonNull<*mut u8>) {}

    fn visit_weak_slot(&mut self, slot: NonNull<*mut u8>) {
        self.fix(slot);
    }

    fn visit_ephemeron(&mut self, key: NonNull<*mut u8>, value: Option<NonNull<*mut u8>>) {
        if self.fix(key)
            && let Some(value) = value
        {
            // The key died: the entry goes, value and all (a null word is
            // an empty member and a nil `Tagged`).
            // SAFETY: the entry's value word, inside the live holder.
            unsafe { value.write(std::ptr::null_mut()) };
        }
    }
}

/// Fixes the weak slots of `holder` (see [`WeakFixer`]); returns whether
/// any is left pointing at a young object.
///
/// # Safety
/// `holder` is a live, initialised, non-forwarded object of a type in
/// `types`, and `fate` says truly where each referent is.
unsafe fn fix_holder<F: Fn(ObjectRef) -> Option<ObjectRef>>(
    types: &TypeCache,
    holder: ObjectRef,
    fate: &F,
    nursery: &Nursery,
) -> bool {
    // SAFETY: caller contract.
    let header = unsafe { holder.header() };
    let Some(trace) = types.get(header.type_id()).and_then(|t| t.trace) else {
        return false;
    };
    let mut fixer = WeakFixer {
        fate,
        nursery,
        points_young: false,
    };
    // SAFETY: caller contract: a live object of the type `trace` traces.
    unsafe { trace(holder.as_ptr(), &mut fixer) };
    fixer.points_young
}

/// The weak holders of a heap.
#[derive(Debug, Default)]
pub(crate) struct WeakHolders {
    /// Young objects whose type holds weak references.
    pub(crate) young: Vec<ObjectRef>,
    /// Old and large objects whose type holds weak references.
    pub(crate) old: Vec<ObjectRef>,
    /// Old and large holders that may weakly reference a young object:
    /// the weak half of the remembered set. `RefCell` so the safe API's
    /// weak barrier can record through `&RawHeap`.
    pub(crate) remembered: RefCell<Vec<ObjectRef>>,
}

impl WeakHolders {
    /// Records that the old or large holder `owner` may now weakly
    /// reference a young object (the weak barrier).
    // Out of line, as the strong barrier's recording half.
    #[inline(never)]
    pub(crate) fn remember(&self, owner: ObjectRef) {
        let mut list = self.remembered.borrow_mut();
        if list.last() != Some(&owner) {
            list.push(owner);
        }
    }

    /// After a minor collection's evacuation, before the flip: follows
    /// the weak references of surviving young holders and of the
    /// remembered old ones, clears those to young objects that died, and
    /// moves surviving holders to the lists they now belong to.
    pub(crate) fn fix_after_minor(&mut self, types: &TypeCache, nursery: &Nursery) {
        if self.young.is_empty() && self.remembered.get_mut().is_empty() {
            return;
        }
        let fate = |obj: ObjectRef| {
            if nursery.in_from_space(obj.addr()) {
                // SAFETY: from-space objects are intact until the flip.
                unsafe { obj.forwarded() }
            } else {
                Some(obj)
            }
        };
        let mut remembered = Vec::new();
        for holder in std::mem::take(&mut self.young) {
            // SAFETY: listed young holders are from-space objects, intact
            // until the flip.
            let Some(moved) = (unsafe { holder.forwarded() }) else {
                continue;
            };
            // SAFETY: the holder's live copy; `fate` follows forwarding.
            let points_young = unsafe { fix_holder(types, moved, &fate, nursery) };
            if nursery.contains(moved.addr()) {
                self.young.push(moved);
            } else {
                self.old.push(moved);
                if points_young {
                    remembered.push(moved);
                }
            }
        }
        for holder in std::mem::take(self.remembered.get_mut()) {
            // SAFETY: remembered holders are old or large objects, intact
            // until a major collection drops them from the list before its
            // sweep; `fate` follows forwarding.
            if unsafe { fix_holder(types, holder, &fate, nursery) } {
                remembered.push(holder);
            }
        }
        remembered.sort_unstable_by_key(|o| o.addr());
        remembered.dedup();
        *self.remembered.get_mut() = remembered;
    }

    /// After marking (a major collection, or the end of a cycle), before
    /// anything is freed: clears the weak references of live holders to
    /// objects `is_live` rejects, and forgets dead holders.
    pub(crate) fn clear_dead(
        &mut self,
        types: &TypeCache,
        nursery: &Nursery,
        is_live: &dyn Fn(ObjectRef) -> bool,
    ) {
        let fate = |obj: ObjectRef| is_live(obj).then_some(obj);
        let mut fix_live = |holder: &ObjectRef| {
            if !is_live(*holder) {
                return false;
            }
            // SAFETY: a live listed holder, outside a minor collection;
            // `fate` is the collection's verdict.
            unsafe { fix_holder(types, *holder, &fate, nursery) };
            true
        };
        self.young.retain(&mut fix_live);
        self.old.retain(&mut fix_live);
        self.remembered.get_mut().retain(|&o| is_live(o));
    }
}

impl RawHeap {
    /// The raw API's weak barrier: call after storing `value` into a weak
    /// slot (one the type's trace reports to
    /// [`SlotVisitor::visit_weak_slot`], or as an ephemeron's key) of
    /// `owner`. Cheap when there is nothing to record.
    ///
    /// # Safety
    /// `owner` is a live object of this heap whose type is registered
    /// [`with_weak`](morph_header::TypeDescriptor::with_weak).
    #[inline]
    pub unsafe fn weak_write_barrier(&mut self, owner: ObjectRef, value: ObjectRef) {
        if !self.is_young(owner) && self.is_young(value) {
            self.weak.remember(owner);
        }
    }
}
