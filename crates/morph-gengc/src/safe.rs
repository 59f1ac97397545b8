//! The safe API: [`Heap`], [`Mutator`], [`Root`], [`Gc`], [`Member`], [`WeakRoot`].
//!
//! The model (written out in `docs/SAFETY.md`):
//!
//! * **A collection can happen at any allocation.** [`Mutator::alloc`] takes
//!   `&mut self`, everything that points into the heap *without* being a
//!   root borrows the mutator shared, so the borrow checker rules out holding
//!   such a pointer across an allocation.
//! * **Roots are handles.** A [`Root`] is an index into the heap's root
//!   table; the collector updates the table when it moves objects, so a root
//!   stays valid across any number of collections. Roots are branded with the
//!   lifetime `'gc` of one [`Heap::enter`] call (invariant, chosen by the
//!   callee), so they cannot leave it or be used with another heap.
//! * **[`Gc<'a, T>`] is a short-lived pointer**, valid while the mutator is
//!   borrowed for `'a`: dereference it freely, but re-root what you need
//!   after the next allocation.
//! * **[`Member<T>`] is a reference stored inside a managed object.** It is
//!   read through a borrow of the mutator, written with a write barrier, and
//!   only ever non-null inside the managed heap: `set` checks that the field
//!   lies in a managed object, and `Trace` only accepts members stored inline
//!   in an object, so the collector finds and updates every non-null member.

use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::NonNull;

use morph_header::{SlotVisitor, TypeDescriptor, TypeId};
use morph_metrics::MorphMemStats;

use crate::collect::{Evacuator, Marker};
use crate::heap::{AllocFlags, Collection, HeapUsage, RawHeap, RootSet, YoungTemplate};
use crate::object::{self, ObjectRef};
use crate::reentry;
use crate::trace::{Trace, Tracer};
use crate::types::SpecializedTrace;
use crate::verify::VerifyError;
use crate::{GcConfig, GcError};

/// Invariant lifetime marker.
type Brand<'gc> = PhantomData<fn(&'gc ()) -> &'gc ()>;

/// Slots with an intrusive free list: the storage of roots and weak roots.
///
/// A slot holds either a payload address (8-aligned, or null for a weak
/// root whose target died) or, while free, the index of the next free slot
/// shifted left by one with the low bit set. Collectors skip tagged slots.
/// Keeping the free list inside the slots makes taking and releasing a root
/// a load and two stores: roots are made and dropped at every allocation of
/// the safe API.
#[derive(Debug)]
struct Slots {
    slots: Vec<*mut u8>,
    /// First free slot, or [`Slots::NONE`].
    free_head: u32,
}

impl Default for Slots {
    fn default() -> Self {
        Slots {
            slots: Vec::new(),
            free_head: Slots::NONE,
        }
    }
}

impl Slots {
    const NONE: u32 = u32::MAX;

    /// Whether a slot's word is a free-list link rather than a target.
    #[inline]
    fn is_free(word: *mut u8) -> bool {
        word.addr() & 1 == 1
    }

    #[inline]
    fn insert(&mut self, target: *mut u8) -> u32 {
        debug_assert!(!Self::is_free(target));
        let index = self.free_head;
        match self.slots.get_mut(index as usize) {
            Some(slot) => {
                self.free_head = (slot.addr() >> 1) as u32;
                *slot = target;
                index
            }
            None => self.push(target),
        }
    }

    #[cold]
    fn push(&mut self, target: *mut u8) -> u32 {
        let index = u32::try_from(self.slots.len())
            .ok()
            .filter(|&i| i != Self::NONE)
            .unwrap_or_else(|| panic!("more than {} roots held at once", u32::MAX - 1));
        self.slots.push(target);
        index
    }

    #[inline]
    fn release(&mut self, index: u32) {
        self.slots[index as usize] =
            std::ptr::without_provenance_mut(((self.free_head as usize) << 1) | 1);
        self.free_head = index;
    }

    /// Slots in use, counted (a diagnostic: a counter kept up to date
    /// would cost every root made and dropped).
    fn live(&mut self) -> usize {
        self.slots
            .iter()
            .filter(|&&word| !Self::is_free(word))
            .count()
    }

    #[inline]
    fn get(&self, index: u32) -> *mut u8 {
        self.slots[index as usize]
    }
}

/// The roots and weak roots of a [`Heap`], shared by the handles.
///
/// Interior mutability without a borrow flag: every access goes through
/// [`with`](Self::with) (or the collector's walk in [`TableRoots`]), none
/// of which calls out to code that could reach the table again. The
/// handles live in the mutator's frames and managed types are `'static`,
/// so neither a trace function nor a finalizer can hold a `Root` (whose
/// brand `'gc` is not `'static`). `UnsafeCell` also makes the table
/// `!Sync`, so handles stay on their thread.
#[derive(Debug, Default)]
pub(crate) struct RootTable {
    strong: UnsafeCell<Slots>,
    weak: UnsafeCell<Slots>,
    /// The handle scopes' slots, a stack: each [`Scope`](crate::Scope)
    /// pushes its locals and cuts the stack back to where it began when
    /// it ends. Every entry holds a live object's payload address.
    scoped: UnsafeCell<Vec<*mut u8>>,
}

impl RootTable {
    /// Pushes a scoped slot holding `target`; returns its index.
    #[inline]
    pub(crate) fn push_scoped(&self, target: *mut u8) -> u32 {
        RootTable::with(&self.scoped, |scoped| {
            let index = scoped.len();
            if index == scoped.capacity() {
                grow_scoped(scoped);
            }
            scoped.push(target);
            index as u32
        })
    }

    /// What scoped slot `index` holds now (the collector keeps it current).
    ///
    /// # Panics
    /// If there is no such slot.
    #[inline]
    pub(crate) fn scoped(&self, index: u32) -> *mut u8 {
        RootTable::with(&self.scoped, |scoped| scoped[index as usize])
    }

    /// How many scoped slots are in use.
    #[inline]
    pub(crate) fn scoped_len(&self) -> usize {
        RootTable::with(&self.scoped, |scoped| scoped.len())
    }

    /// Releases every scoped slot from `len` on.
    #[inline]
    pub(crate) fn truncate_scoped(&self, len: usize) {
        RootTable::with(&self.scoped, |scoped| scoped.truncate(len));
    }

    /// Runs `f` on one of the tables. `f` must not touch the root table.
    #[inline]
    fn with<S, R>(cell: &UnsafeCell<S>, f: impl FnOnce(&mut S) -> R) -> R {
        // SAFETY: no other reference into the cell exists while `f` runs:
        // every access is a call of this function or a walk of
        // `TableRoots`, each done before the next starts, and neither lets
        // `f` or a visitor reach the table (type doc).
        f(unsafe { &mut *cell.get() })
    }
}

/// Makes room for more scoped slots, out of the handle's fast path.
#[cold]
#[inline(never)]
fn grow_scoped(scoped: &mut Vec<*mut u8>) {
    assert!(
        scoped.len() < u32::MAX as usize,
        "more than {} scoped handles held at once",
        u32::MAX
    );
    scoped.reserve(scoped.len().max(64));
}

/// Hands the root table to the collector.
struct TableRoots<'r>(&'r RootTable);

// SAFETY: live slots of the table hold payloads of live objects of the
// table's heap (roots are made from objects of the heap, `Mutator::root`
// checks, and every collection updates them); free slots are tagged and
// skipped; weak slots hold null or objects live after the last
// collection. Nothing here panics.
unsafe impl RootSet for TableRoots<'_> {
    fn visit_roots(&mut self, visitor: &mut dyn SlotVisitor) {
        // Walked through raw pointers, not a `&mut Slots` held across the
        // visitor's calls: the visitor gets each slot's address to update.
        let (base, len) = RootTable::with(&self.0.strong, |strong| {
            (strong.slots.as_mut_ptr(), strong.slots.len())
        });
        for i in 0..len {
            // SAFETY: `i < len`: an element of the vector, which does not
            // grow or move during the walk (the collector adds no roots).
            let slot = unsafe { base.add(i) };
            // SAFETY: as above; a valid, aligned slot.
            let word = unsafe { slot.read() };
            if !word.is_null() && !Slots::is_free(word) {
                // SAFETY: `slot` comes from the vector's pointer: non-null.
                visitor.visit_slot(unsafe { NonNull::new_unchecked(slot) });
            }
        }
        // The scoped slots: every one holds a live object.
        // As for the strong slots: the pointer and length are read once,
        // and the vector does not grow or move during the walk.
        let (base, len) =
            RootTable::with(&self.0.scoped, |scoped| (scoped.as_mut_ptr(), scoped.len()));
        for i in 0..len {
            // SAFETY: `i < len`: an element of the vector.
            let slot = unsafe { base.add(i) };
            // SAFETY: `slot` comes from the vector's pointer: non-null.
            visitor.visit_slot(unsafe { NonNull::new_unchecked(slot) });
        }
    }

    fn visit_weak(&mut self, update: &mut dyn FnMut(ObjectRef) -> Option<ObjectRef>) {
        RootTable::with(&self.0.weak, |weak| {
            for slot in &mut weak.slots {
                if Slots::is_free(*slot) {
                    continue;
                }
                if let Some(target) = NonNull::new(*slot) {
                    // SAFETY: non-null, untagged weak slots hold payload
                    // addresses of objects that were live before this
                    // collection.
                    let target = unsafe { ObjectRef::from_payload(target) };
                    *slot = update(target).map_or(std::ptr::null_mut(), |o| o.as_ptr().as_ptr());
                }
            }
        })
    }
}

/// The root table followed by a caller's roots: how raw allocations through
/// a [`Heap`] keep both the safe API's roots and the caller's alive.
struct ChainedRoots<'r>(TableRoots<'r>, &'r mut dyn RootSet);

// SAFETY: both parts keep the contract (the second by its own `unsafe
// impl`), and they report disjoint slots.
unsafe impl RootSet for ChainedRoots<'_> {
    fn visit_roots(&mut self, visitor: &mut dyn SlotVisitor) {
        self.0.visit_roots(visitor);
        self.1.visit_roots(visitor);
    }

    fn visit_weak(&mut self, update: &mut dyn FnMut(ObjectRef) -> Option<ObjectRef>) {
        self.0.visit_weak(update);
        self.1.visit_weak(update);
    }
}

/// A garbage-collected heap with a safe API.
///
/// All work with managed objects happens inside [`enter`](Self::enter),
/// which lends a [`Mutator`].
///
/// ```
/// use morph_gengc::{Heap, Member, Trace};
///
/// #[derive(Trace)]
/// struct Node {
///     value: u64,
///     next: Member<Node>,
/// }
///
/// let mut heap = Heap::new(Default::default())?;
/// let sum = heap.enter(|m| {
///     // Build a list 0..1000 from the back; collections may run meanwhile.
///     let mut head = m.alloc(Node { value: 0, next: Member::null() });
///     for value in 1..1000 {
///         let node = m.alloc(Node { value, next: Member::null() });
///         node.get(m).next.set(m, Some(head.get(m)));
///         head = node;
///     }
///     let mut sum = 0;
///     let mut cursor = Some(head.get(m));
///     while let Some(node) = cursor {
///         sum += node.value;
///         cursor = node.next.get(m);
///     }
///     sum
/// });
/// assert_eq!(sum, (0..1000u64).sum::<u64>());
/// # Ok::<(), morph_gengc::GcError>(())
/// ```
pub struct Heap {
    raw: RawHeap,
    roots: RootTable,
    types: TypeMap,
}

impl fmt::Debug for Heap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Heap")
            .field("raw", &self.raw)
            .finish_non_exhaustive()
    }
}

impl Heap {
    /// A heap with the given configuration.
    pub fn new(config: GcConfig) -> Result<Self, GcError> {
        Ok(Heap {
            raw: RawHeap::new(config)?,
            roots: RootTable::default(),
            types: TypeMap::default(),
        })
    }

    /// Runs `f` with the heap's mutator. Roots made inside cannot leave:
    /// return plain data.
    ///
    /// # Panics
    /// If another heap is entered on this thread (one mutator per thread at
    /// a time), or when called from a finalizer: see `docs/SAFETY.md`.
    ///
    /// ```should_panic
    /// use morph_gengc::Heap;
    ///
    /// let mut a = Heap::new(Default::default())?;
    /// let mut b = Heap::new(Default::default())?;
    /// a.enter(|_| b.enter(|_| ())); // panics: `a` is entered
    /// # Ok::<(), morph_gengc::GcError>(())
    /// ```
    pub fn enter<R>(&mut self, f: impl for<'gc> FnOnce(&mut Mutator<'gc>) -> R) -> R {
        let _entered = reentry::enter();
        let mut mutator = Mutator {
            raw: &mut self.raw,
            roots: &self.roots,
            types: &mut self.types,
            _brand: PhantomData,
        };
        f(&mut mutator)
    }

    /// Sizes of the heap's spaces.
    pub fn usage(&self) -> HeapUsage {
        self.raw.usage()
    }

    /// A statistics snapshot (allocations, collections, pauses, spaces).
    pub fn stats(&self) -> MorphMemStats {
        self.raw.stats()
    }

    /// The raw heap underneath (read-only).
    pub fn raw(&self) -> &RawHeap {
        &self.raw
    }

    /// See [`RawHeap::set_collection_observer`].
    pub fn set_collection_observer(&mut self, observer: Option<crate::CollectionObserver>) {
        self.raw.set_collection_observer(observer);
    }

    /// Raw allocation in this heap, for VM code that manages some objects
    /// itself next to the safe API: as [`RawHeap::try_alloc`], with the
    /// collector seeing both the safe API's roots and `roots`. The result is
    /// an [`ObjectRef`]; reading or writing it is the caller's (unsafe)
    /// business, and it stays alive only while `roots` reports it at every
    /// later collection.
    ///
    /// ```
    /// use morph_gengc::{AllocFlags, GcConfig, Heap};
    /// use morph_header::{TypeDescriptor, TypeRegistry};
    ///
    /// let bytes = TypeRegistry::global().register(TypeDescriptor::new("Bytes", std::alloc::Layout::new::<[u8; 32]>()))?;
    /// let mut heap = Heap::new(GcConfig::default())?;
    /// // SAFETY: `Bytes` has no trace or drop function; 32 bytes is its size.
    /// let obj = unsafe { heap.try_alloc_raw(32, bytes, AllocFlags::DEFAULT, &mut ()) }?;
    /// assert!(heap.raw().is_young(obj));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Safety
    /// As [`RawHeap::try_alloc`]. In particular, `type_id` must not be a
    /// safe-API type's id: its functions expect a valid Rust value, and a
    /// zeroed payload is not one for most types.
    pub unsafe fn try_alloc_raw(
        &mut self,
        payload: usize,
        type_id: TypeId,
        flags: AllocFlags,
        roots: &mut dyn RootSet,
    ) -> Result<ObjectRef, GcError> {
        let mut chained = ChainedRoots(TableRoots(&self.roots), roots);
        // SAFETY: forwarded caller contract.
        unsafe { self.raw.try_alloc(payload, type_id, flags, &mut chained) }
    }

    /// [`RawHeap::lend_eden`]: the free part of eden, for a borrower that
    /// allocates raw-API objects in it itself.
    pub fn lend_eden(&mut self) -> Option<crate::EdenLoan> {
        self.raw.lend_eden()
    }

    /// [`RawHeap::repay_eden`].
    ///
    /// # Safety
    /// As [`RawHeap::repay_eden`]; the objects are raw-API objects (see
    /// [`try_alloc_raw`](Self::try_alloc_raw): never of a safe-API type).
    pub unsafe fn repay_eden(
        &mut self,
        loan: crate::EdenLoan,
        cursor: NonNull<u8>,
        objects: usize,
    ) {
        // SAFETY: forwarded caller contract.
        unsafe { self.raw.repay_eden(loan, cursor, objects) }
    }

    /// [`RawHeap::preload_type`].
    ///
    /// # Errors
    /// [`GcError::UnknownType`] if the registry does not know the id.
    pub fn preload_type(&mut self, type_id: TypeId) -> Result<(), GcError> {
        self.raw.preload_type(type_id)
    }

    /// Runs a collection with the safe API's roots and `roots`.
    pub fn collect_raw(&mut self, kind: Collection, roots: &mut dyn RootSet) {
        let mut chained = ChainedRoots(TableRoots(&self.roots), roots);
        self.raw.collect(kind, &mut chained);
    }

    /// [`RawHeap::write_barrier`] for objects allocated with
    /// [`try_alloc_raw`](Self::try_alloc_raw).
    ///
    /// # Safety
    /// `owner` is a live object of this heap.
    #[inline]
    pub unsafe fn write_barrier(&mut self, owner: ObjectRef, value: ObjectRef) {
        // SAFETY: forwarded caller contract.
        unsafe { self.raw.write_barrier(owner, value) }
    }

    /// [`RawHeap::pre_write_barrier`] for objects allocated with
    /// [`try_alloc_raw`](Self::try_alloc_raw): call before overwriting one
    /// of their reference fields while incremental marking is on.
    ///
    /// # Safety
    /// As [`RawHeap::pre_write_barrier`].
    #[inline]
    pub unsafe fn pre_write_barrier(&self, owner: ObjectRef, old: *mut u8) {
        // SAFETY: forwarded caller contract.
        unsafe { self.raw.pre_write_barrier(owner, old) }
    }
}

/// What the allocation paths know of one Rust type in this heap.
#[derive(Clone, Copy, Debug)]
struct TypeEntry {
    id: TypeId,
    /// How to allocate it young with default flags, if the fast path may.
    young: Option<YoungTemplate>,
    /// The same, whether or not the heap pretenures the type now.
    template: Option<YoungTemplate>,
}

/// Slots of [`TypeMap`]'s cache of recently allocated types.
const RECENT_TYPES: usize = 16;

/// Maps Rust types to registered type ids, with a direct-mapped cache in
/// front: each type has a fixed slot, picked by its `TypeId`'s hash (a
/// constant where the type is known), so the allocation fast path checks
/// one slot, and a program that allocates several types in turn (records
/// and their fields, an interpreter's value kinds) hits it on every
/// allocation. Two types that share a slot take it from each other, and
/// go through the map when they do.
#[derive(Debug, Default)]
struct TypeMap {
    /// The heap's pretenuring epoch the entries' `young` follow.
    epoch: u64,
    recent: [Option<(std::any::TypeId, TypeEntry)>; RECENT_TYPES],
    map: std::collections::HashMap<
        std::any::TypeId,
        TypeEntry,
        std::hash::BuildHasherDefault<TypeIdHasher>,
    >,
}

/// Hashes `std::any::TypeId`s, which are already random hashes of their
/// types: the word a `TypeId` feeds the hasher is the hash. (SipHash in
/// the map once cost ~4% of a VM workload's profile.)
#[derive(Debug, Default)]
struct TypeIdHasher(u64);

impl std::hash::Hasher for TypeIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write_u64(&mut self, word: u64) {
        self.0 ^= word;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not how `TypeId` hashes itself today; correct for any input.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
}

impl TypeMap {
    /// `T`'s slot in the cache.
    #[inline(always)]
    fn slot<T: 'static>() -> usize {
        use std::hash::{Hash, Hasher};
        let mut hasher = TypeIdHasher::default();
        std::any::TypeId::of::<T>().hash(&mut hasher);
        hasher.finish() as usize % RECENT_TYPES
    }

    /// `T`'s entry if its cache slot holds it (no map, no call).
    #[inline(always)]
    fn recent_entry<T: Trace>(&self) -> Option<TypeEntry> {
        match self.recent[Self::slot::<T>()] {
            Some((id, entry)) if id == std::any::TypeId::of::<T>() => Some(entry),
            _ => None,
        }
    }

    /// Follows the heap's pretenuring: a type it now allocates old loses
    /// its young template (so the fast path, which only reads the cache,
    /// sends it to the heap), and one it no longer does gets it back.
    #[cold]
    fn follow_pretenuring(&mut self, raw: &RawHeap) {
        self.epoch = raw.pretenure_epoch();
        self.recent = Default::default();
        for entry in self.map.values_mut() {
            entry.young = entry.template.filter(|_| !raw.is_pretenured(entry.id));
        }
    }

    /// `T`'s entry, registering and loading the type on first use.
    #[inline]
    fn entry_of<T: Trace>(&mut self, raw: &mut RawHeap) -> Result<TypeEntry, GcError> {
        if let Some(entry) = self.recent_entry::<T>() {
            return Ok(entry);
        }
        let key = std::any::TypeId::of::<T>();
        let entry = match self.map.get(&key) {
            Some(&entry) => entry,
            None => {
                let id = registered_id::<T>()?;
                let specialized = SpecializedTrace {
                    minor: trace_minor::<T>,
                    minor_run: scan_run::<T>,
                    major: trace_major::<T>,
                };
                // SAFETY: all three trace `T`s as the registered
                // `trace_erased::<T>` does (the same `T::trace`).
                unsafe { raw.load_type(id, specialized) }?;
                let template = (align_of::<T>() <= 8)
                    .then(|| raw.young_template(size_of::<T>(), id, needs_drop_fn::<T>()))
                    .flatten();
                let young = template.filter(|_| !raw.is_pretenured(id));
                let entry = TypeEntry {
                    id,
                    young,
                    template,
                };
                self.map.insert(key, entry);
                entry
            }
        };
        self.recent[Self::slot::<T>()] = Some((key, entry));
        Ok(entry)
    }
}

/// Whether `T`'s objects need their drop function (`drop_erased`) run when
/// they die: the registry gets one, and young `T`s are allocated
/// `FINALIZABLE`, exactly when this holds.
pub(crate) const fn needs_drop_fn<T: Trace>() -> bool {
    std::mem::needs_drop::<T>() || T::NEEDS_FINALIZE
}

/// The process-wide id of `T`, registering it on first use.
fn registered_id<T: Trace>() -> Result<TypeId, GcError> {
    registered_id_with::<T>(|| {
        let mut descriptor =
            TypeDescriptor::new(short_type_name::<T>(), std::alloc::Layout::new::<T>());
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

/// The process-wide id of the managed type `K` stands for, registering
/// `describe()` on first use.
pub(crate) fn registered_id_with<K: 'static>(
    describe: impl FnOnce() -> TypeDescriptor,
) -> Result<TypeId, GcError> {
    use std::sync::{Mutex, OnceLock};
    static IDS: OnceLock<Mutex<std::collections::HashMap<std::any::TypeId, TypeId>>> =
        OnceLock::new();
    let mut ids = IDS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let key = std::any::TypeId::of::<K>();
    if let Some(&id) = ids.get(&key) {
        return Ok(id);
    }
    let descriptor = describe();
    let id = morph_header::TypeRegistry::global()
        .register(descriptor)
        .map_err(|e| GcError::InvalidConfig {
            reason: format!("registering a managed type: {e}"),
        })?;
    ids.insert(key, id);
    Ok(id)
}

/// `a::b::Node<c::D>` → `Node<D>`: what reports show.
pub(crate) fn short_type_name<T>() -> String {
    let full = std::any::type_name::<T>();
    let mut out = String::with_capacity(full.len());
    let mut segment_start = 0;
    for (i, c) in full.char_indices() {
        if matches!(c, '<' | '>' | ',' | ' ' | '(' | ')' | '[' | ']' | ';' | '&') {
            out.push_str(last_path_segment(&full[segment_start..i]));
            out.push(c);
            segment_start = i + c.len_utf8();
        }
    }
    out.push_str(last_path_segment(&full[segment_start..]));
    out
}

fn last_path_segment(path: &str) -> &str {
    path.rsplit("::").next().unwrap_or(path)
}

/// # Safety
/// As `TraceFn`: `object` is a live, initialised `T`.
unsafe fn trace_erased<T: Trace>(object: NonNull<u8>, visitor: &mut dyn SlotVisitor) {
    // SAFETY: caller contract.
    unsafe { trace_with::<T, _>(object, visitor) }
}

/// `trace_erased` for one collector: `T::trace` with `V`'s visit inlined
/// at each member.
///
/// # Safety
/// As `TraceFn`: `object` is a live, initialised `T`.
#[inline(always)]
unsafe fn trace_with<T: Trace, V: SlotVisitor + ?Sized>(object: NonNull<u8>, visitor: &mut V) {
    // SAFETY: caller contract; the collector never holds a `&mut T` to it.
    let value = unsafe { object.cast::<T>().as_ref() };
    value.trace(&mut Tracer::new(visitor));
}

/// [`trace_with`] for minor collections.
///
/// # Safety
/// As `TraceFn`: `object` is a live, initialised `T`.
unsafe fn trace_minor<T: Trace>(object: NonNull<u8>, evacuator: &mut Evacuator<'_>) {
    // SAFETY: caller contract.
    unsafe { trace_with::<T, _>(object, evacuator) }
}

/// The evacuator's scan loop for a run of `T`s (a `MinorRunFn`).
///
/// # Safety
/// `type_id` is `T`'s id in this heap, whose objects hold one `T` each.
unsafe fn scan_run<T: Trace>(evacuator: &mut Evacuator<'_>, type_id: TypeId) {
    let trace = |evacuator: &mut Evacuator<'_>, obj: ObjectRef| {
        // SAFETY: `scan_run` hands over live, initialised objects of
        // `type_id`, which are `T`s (caller contract): `trace_with`'s
        // contract.
        unsafe { trace_with::<T, _>(obj.as_ptr(), evacuator) }
    };
    // SAFETY: `trace` traces `T`s, the objects of `type_id`, and each is a
    // block of a header and one `T` (caller contract).
    unsafe { evacuator.scan_run(type_id, Some(object::object_size(size_of::<T>())), trace) }
}

/// [`trace_with`] for major collections.
///
/// # Safety
/// As `TraceFn`: `object` is a live, initialised `T`.
unsafe fn trace_major<T: Trace>(object: NonNull<u8>, marker: &mut Marker<'_>) {
    // SAFETY: caller contract.
    unsafe { trace_with::<T, _>(object, marker) }
}

/// # Safety
/// As `DropFn`: `object` is a live, initialised, unreachable `T`.
unsafe fn drop_erased<T: Trace>(object: NonNull<u8>) {
    /// Drops the value when dropped: also when `finalize` panics, so its
    /// fields are freed either way.
    struct DropValue<T>(NonNull<T>);
    impl<T> Drop for DropValue<T> {
        fn drop(&mut self) {
            // SAFETY: `drop_erased`'s contract: dropped once, never used again.
            unsafe { self.0.drop_in_place() }
        }
    }
    let value = DropValue(object.cast::<T>());
    if T::NEEDS_FINALIZE {
        // SAFETY: caller contract: a live, initialised `T`, not yet dropped.
        unsafe { value.0.as_ref() }.finalize();
    }
}

/// Access to a [`Heap`] during [`Heap::enter`]: allocation, roots,
/// collection. `'gc` brands everything made through it.
pub struct Mutator<'gc> {
    raw: &'gc mut RawHeap,
    roots: &'gc RootTable,
    types: &'gc mut TypeMap,
    _brand: Brand<'gc>,
}

impl fmt::Debug for Mutator<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutator")
            .field("usage", &self.raw.usage())
            .finish()
    }
}

impl<'gc> Mutator<'gc> {
    /// Allocates `value` in the heap and returns a root to it. May collect.
    ///
    /// # Panics
    /// If the heap bound is reached even after a full collection, or `T` is
    /// aligned to more than 8 bytes. Use [`try_alloc`](Self::try_alloc) to
    /// handle those as errors.
    #[inline]
    pub fn alloc<T: Trace>(&mut self, value: T) -> Root<'gc, T> {
        match self.alloc_with_flags(value, AllocFlags::DEFAULT) {
            Ok(root) => root,
            Err(error) => alloc_failed(error),
        }
    }

    /// Allocates `value`, or returns why not (the value is dropped; nothing
    /// already in the heap is lost).
    pub fn try_alloc<T: Trace>(&mut self, value: T) -> Result<Root<'gc, T>, GcError> {
        self.alloc_with_flags(value, AllocFlags::DEFAULT)
    }

    /// Allocates `value` where it will never move, so its address may be
    /// handed out ([`Gc::as_ptr`]) for as long as it is rooted.
    pub fn alloc_pinned<T: Trace>(&mut self, value: T) -> Result<Root<'gc, T>, GcError> {
        self.alloc_with_flags(value, AllocFlags::PINNED)
    }

    /// Allocates `value` straight into the old generation (pretenuring):
    /// for data the program knows will live long (a symbol table, a
    /// program's constants, the long-lived half of a cache), which would
    /// otherwise be copied out of the nursery before it is promoted.
    ///
    /// ```
    /// use morph_gengc::{Heap, Member, Trace};
    ///
    /// #[derive(Trace)]
    /// struct Symbol {
    ///     id: u32,
    ///     next: Member<Symbol>,
    /// }
    ///
    /// let mut heap = Heap::new(Default::default())?;
    /// heap.enter(|m| {
    ///     let table = m.alloc_tenured(Symbol { id: 1, next: Member::null() })?;
    ///     assert!(!m.is_young(table.get(m)));
    ///     Ok::<(), morph_gengc::GcError>(())
    /// })?;
    /// # Ok::<(), morph_gengc::GcError>(())
    /// ```
    pub fn alloc_tenured<T: Trace>(&mut self, value: T) -> Result<Root<'gc, T>, GcError> {
        self.alloc_with_flags(value, AllocFlags::TENURED)
    }

    /// Whether `gc` is in the nursery (young, so it may still move).
    pub fn is_young<T>(&self, gc: Gc<'_, T>) -> bool {
        self.raw.is_young_addr(gc.object().addr())
    }

    /// Allocation's fast path, inlined into every caller: the type's cache
    /// slot, a bump in eden, the header, the root. Everything else (a new
    /// type, a full eden, flags, errors) is in [`alloc_slow`](Self::alloc_slow),
    /// out of line. As one function the register saves alone were ~20
    /// instructions an allocation.
    #[inline(always)]
    fn alloc_with_flags<T: Trace>(
        &mut self,
        value: T,
        flags: AllocFlags,
    ) -> Result<Root<'gc, T>, GcError> {
        let obj = self.alloc_object(value, flags)?;
        Ok(self.make_root(obj))
    }

    /// Allocates `value` and returns the object, not yet rooted: the
    /// caller roots it before the next allocation.
    #[inline(always)]
    pub(crate) fn alloc_object<T: Trace>(
        &mut self,
        value: T,
        flags: AllocFlags,
    ) -> Result<ObjectRef, GcError> {
        let fast = match self.types.recent_entry::<T>() {
            Some(TypeEntry {
                young: Some(template),
                ..
            }) if flags == AllocFlags::DEFAULT => self.raw.alloc_young_fast(&template),
            _ => None,
        };
        let obj = match fast {
            Some(obj) => obj,
            None => self.alloc_slow::<T>(flags)?,
        };
        // SAFETY: the payload is size_of::<T>() bytes, 8-aligned (checked
        // by both paths), freshly allocated and not yet visible to anyone.
        unsafe { obj.as_ptr().cast::<T>().write(value) };
        Ok(obj)
    }

    /// Everything [`alloc_with_flags`](Self::alloc_with_flags) leaves out.
    #[cold]
    #[inline(never)]
    fn alloc_slow<T: Trace>(&mut self, flags: AllocFlags) -> Result<ObjectRef, GcError> {
        if align_of::<T>() > 8 {
            return Err(GcError::UnsupportedAlignment {
                align: align_of::<T>(),
            });
        }
        if self.types.epoch != self.raw.pretenure_epoch() {
            self.types.follow_pretenuring(self.raw);
        }
        let entry = self.types.entry_of::<T>(self.raw)?;
        if let Some(template) = entry.young.filter(|_| flags == AllocFlags::DEFAULT)
            && let Some(obj) = self.raw.alloc_young_fast(&template)
        {
            return Ok(obj);
        }
        // SAFETY: `entry.id` is `T`'s id, whose functions trace and drop a
        // `T` of `size_of::<T>()` bytes (`registered_id`); the caller writes
        // the `T` into the payload before anything else can happen in the
        // heap (`alloc_with_flags`), so they never see the zeroed payload.
        unsafe {
            self.raw
                .try_alloc(size_of::<T>(), entry.id, flags, &mut TableRoots(self.roots))
        }
    }

    /// Allocates an object of `payload` bytes of a variable-size type (an
    /// [`Array`](crate::Array)), which `K` stands for in the type map:
    /// registered by `register`, its tracing specialised by `specialized`;
    /// the payload zeroed if `zero`.
    ///
    /// # Safety
    /// As [`RawHeap::alloc_payload`] for the registered type, and
    /// `specialized` traces its objects as its registered trace function
    /// does.
    pub(crate) unsafe fn alloc_variable<K: Trace>(
        &mut self,
        payload: usize,
        register: impl FnOnce() -> Result<TypeId, GcError>,
        specialized: SpecializedTrace,
        zero: bool,
    ) -> Result<ObjectRef, GcError> {
        let key = std::any::TypeId::of::<K>();
        let id = match self.types.map.get(&key) {
            Some(entry) => entry.id,
            None => {
                let id = register()?;
                // SAFETY: caller contract.
                unsafe { self.raw.load_type(id, specialized) }?;
                let entry = TypeEntry {
                    id,
                    young: None,
                    template: None,
                };
                self.types.map.insert(key, entry);
                id
            }
        };
        // In the recent-type cache, so a downcast to `K` (a `Str`'s, on
        // every string key a map compares) finds its id without the map.
        // Nothing allocates a `K` through the fixed-size fast path (it has
        // no young template), which is the cache's other reader.
        self.types.recent[TypeMap::slot::<K>()] = Some((
            key,
            TypeEntry {
                id,
                young: None,
                template: None,
            },
        ));
        // SAFETY: caller contract.
        unsafe {
            self.raw.alloc_payload(
                payload,
                id,
                AllocFlags::DEFAULT,
                &mut TableRoots(self.roots),
                zero,
            )
        }
    }

    #[inline]
    pub(crate) fn make_root<T>(&self, obj: ObjectRef) -> Root<'gc, T> {
        Root::new(self.roots, obj.as_ptr().as_ptr())
    }

    /// Roots a pointer so it survives allocations.
    ///
    /// # Panics
    /// If `gc` is an object of another heap.
    pub fn root<T: Trace>(&self, gc: Gc<'_, T>) -> Root<'gc, T> {
        let obj = gc.object();
        if !self.owns(obj) {
            foreign_value();
        }
        self.make_root(obj)
    }

    /// `obj`'s identity hash (see [`Gc::identity_hash`]).
    ///
    /// # Panics
    /// If `obj` is not an object of this heap.
    pub(crate) fn identity_hash_of(&self, obj: ObjectRef) -> u64 {
        assert!(
            self.owns(obj),
            "the identity hash of an object of another heap was asked of this heap"
        );
        // SAFETY: an object of this heap (checked), live: the caller holds
        // it through a borrow of a mutator, so no collection ran since it
        // was read.
        unsafe { self.raw.identity_hash(obj) }
    }

    /// The heap's root table (for handle scopes).
    pub(crate) fn root_table(&self) -> &'gc RootTable {
        self.roots
    }

    /// Whether `obj` is an object of this heap.
    #[inline]
    pub(crate) fn owns(&self, obj: ObjectRef) -> bool {
        self.raw.is_young_addr(obj.addr()) || self.raw.tenured_owner_of(obj.addr()) == Some(obj)
    }

    /// A weak reference to a rooted object: it does not keep the object
    /// alive and reads `None` once the object has been collected.
    pub fn downgrade<T: Trace>(&self, root: &Root<'gc, T>) -> WeakRoot<'gc, T> {
        let target = root.target();
        let index = RootTable::with(&self.roots.weak, |weak| weak.insert(target));
        WeakRoot {
            table: self.roots,
            index,
            _marker: PhantomData,
            _brand: PhantomData,
        }
    }

    /// Runs a collection now.
    pub fn collect(&mut self, kind: Collection) {
        self.raw.collect(kind, &mut TableRoots(self.roots));
    }

    /// Whether an incremental major cycle is running
    /// ([`GcConfig::incremental_marking`](crate::GcConfig::incremental_marking)).
    ///
    /// ```
    /// use morph_gengc::{Collection, Heap};
    ///
    /// let mut heap = Heap::new(Default::default())?;
    /// heap.enter(|m| {
    ///     m.collect(Collection::StartCycle);
    ///     assert!(m.is_marking());
    ///     m.collect(Collection::FinishCycle);
    ///     assert!(!m.is_marking());
    /// });
    /// # Ok::<(), morph_gengc::GcError>(())
    /// ```
    pub fn is_marking(&self) -> bool {
        self.raw.is_marking()
    }

    /// Checks the heap's invariants (see [`RawHeap::verify`]).
    pub fn verify(&mut self) -> Result<(), Vec<VerifyError>> {
        self.raw.verify(&mut TableRoots(self.roots))
    }

    /// Roots currently held.
    pub fn root_count(&self) -> usize {
        RootTable::with(&self.roots.strong, Slots::live)
    }

    /// Sizes of the heap's spaces.
    pub fn usage(&self) -> HeapUsage {
        self.raw.usage()
    }

    /// Collections run so far.
    pub fn collections(&self) -> u64 {
        self.raw.collections()
    }

    /// Live objects that have an [identity hash](Gc::identity_hash) (the
    /// size of the table that keeps them; dead objects leave it at the
    /// collection that finds them dead).
    pub fn identity_hashed(&self) -> usize {
        self.raw.identity_hashed()
    }

    /// The write barrier behind [`Member::set`]: checks that `slot` is a
    /// field of a managed object of this heap and that `value` belongs to
    /// this heap, then records old-to-young stores.
    #[inline]
    fn store(&self, slot: &Cell<*mut u8>, value: Option<ObjectRef>) {
        let bits = value.map_or(std::ptr::null_mut(), |v| v.as_ptr().as_ptr());
        self.store_word(slot, bits, value, true);
    }

    /// [`store`](Self::store) for a word that holds a reference or, for a
    /// [`Tagged`](crate::Tagged), an immediate: writes `bits` (the
    /// reference's address when `value` is `Some`), logging the word it
    /// overwrites for a running cycle only if `old_is_reference`.
    #[inline]
    pub(crate) fn store_word(
        &self,
        slot: &Cell<*mut u8>,
        bits: *mut u8,
        value: Option<ObjectRef>,
        old_is_reference: bool,
    ) {
        let slot_addr = slot.as_ptr().addr();
        let raw = &*self.raw;
        if value.is_some_and(|v| !self.owns(v)) {
            foreign_value();
        }
        if raw.is_young_addr(slot_addr) {
            // A field of a young object: minor collections trace it anyway.
            slot.set(bits);
            return;
        }
        if value.is_none() {
            // Null or an immediate: nothing to remember, and nothing that
            // could dangle wherever the word is (no owner lookup).
            if old_is_reference && raw.marking() {
                raw.log_overwritten(slot.get());
            }
            slot.set(bits);
            return;
        }
        let Some(owner) = raw.tenured_owner_of(slot_addr) else {
            outside_heap()
        };
        if old_is_reference && raw.marking() {
            // Snapshot at the beginning: the value overwritten stays live
            // to the running cycle (see `incremental`).
            raw.log_overwritten(slot.get());
        }
        slot.set(bits);
        if value.is_some_and(|v| raw.is_young_addr(v.addr())) {
            // SAFETY: `owner` is a live old or large object of this heap (just
            // looked up) and `slot` one of its fields: a `Member`, which is
            // a reference field the type's trace reports.
            unsafe { raw.remember_slot(owner, slot_addr) };
        }
    }
}

impl Mutator<'_> {
    /// The raw heap, for the crate's containers' bulk barriers.
    pub(crate) fn raw(&self) -> &RawHeap {
        self.raw
    }

    /// The registered id of `T` in this heap, if any `T` was allocated in
    /// it (so an object of another type never matches).
    pub(crate) fn allocated_type_id<T: Trace>(&self) -> Option<TypeId> {
        if let Some(entry) = self.types.recent_entry::<T>() {
            return Some(entry.id);
        }
        self.types
            .map
            .get(&std::any::TypeId::of::<T>())
            .map(|entry| entry.id)
    }

    /// The barrier behind [`RefLock::set`](crate::RefLock::set), before the
    /// inline value `old` at `addr` is replaced by one whose members are all
    /// null: checks that `addr` is inside a managed object of this heap and,
    /// while a cycle runs and that object is tenured, logs every member
    /// `old` holds (snapshot at the beginning). The new value needs no
    /// generational record: it refers to nothing.
    pub(crate) fn before_replace<T: Trace>(&self, addr: usize, old: &T) {
        let raw = &*self.raw;
        if raw.is_young_addr(addr) {
            return;
        }
        if raw.tenured_owner_of(addr).is_none() {
            outside_heap();
        }
        if T::HAS_REFERENCES && raw.marking() {
            struct LogEach<'h>(&'h RawHeap);
            impl SlotVisitor for LogEach<'_> {
                fn visit_slot(&mut self, slot: NonNull<*mut u8>) {
                    // SAFETY: a member's slot, inside the live value being
                    // traced.
                    self.0.log_overwritten(unsafe { slot.read() });
                }
            }
            old.trace(&mut crate::trace::Tracer::new(&mut LogEach(raw)));
        }
    }
}

#[cold]
#[inline(never)]
pub(crate) fn alloc_failed(error: GcError) -> ! {
    panic!("managed allocation failed: {error}")
}

#[cold]
#[inline(never)]
pub(crate) fn outside_heap() -> ! {
    panic!(
        "Member::set on a field that is not inside a managed object: members can only be set \
         on objects already allocated in the heap (allocate with Member::null(), then set)"
    )
}

#[cold]
#[inline(never)]
pub(crate) fn foreign_value() -> ! {
    panic!(
        "an object of another heap was stored or rooted: references may only stay within their own heap"
    )
}

/// A handle that keeps an object alive and finds it wherever the collector
/// moves it. Cheap to clone (a new table slot); dropping it releases the slot.
pub struct Root<'gc, T> {
    table: &'gc RootTable,
    index: u32,
    _marker: PhantomData<*const T>,
    _brand: Brand<'gc>,
}

impl<'gc, T> Root<'gc, T> {
    /// A new root slot in `table` holding `target`.
    #[inline]
    fn new(table: &'gc RootTable, target: *mut u8) -> Self {
        let index = RootTable::with(&table.strong, |strong| strong.insert(target));
        Root {
            table,
            index,
            _marker: PhantomData,
            _brand: PhantomData,
        }
    }

    /// What the root's slot holds now (the collector keeps it current).
    #[inline]
    fn target(&self) -> *mut u8 {
        RootTable::with(&self.table.strong, |strong| strong.get(self.index))
    }

    /// The rooted object, as the collector left it.
    #[inline]
    pub(crate) fn object(&self) -> ObjectRef {
        // SAFETY: a live root slot holds the payload address of a live
        // object (never null), kept up to date by every collection.
        let target = unsafe { NonNull::new_unchecked(self.target()) };
        // SAFETY: the payload address of a live object (above).
        unsafe { ObjectRef::from_payload(target) }
    }

    /// The same root slot, naming its object as a `U` (for roots that do
    /// not read their object as a typed value).
    pub(crate) fn cast<U>(self) -> Root<'gc, U> {
        let root = Root {
            table: self.table,
            index: self.index,
            _marker: PhantomData,
            _brand: PhantomData,
        };
        // The slot now belongs to `root`: not released here.
        std::mem::forget(self);
        root
    }
}

impl<'gc, T: Trace> Root<'gc, T> {
    /// A pointer to the object, valid while the mutator is borrowed.
    #[inline]
    pub fn get<'a>(&self, _mutator: &'a Mutator<'gc>) -> Gc<'a, T> {
        // SAFETY: the rooted object is a live `T`; the borrow of the
        // mutator keeps collections out for 'a.
        unsafe { Gc::from_object(self.object()) }
    }
}

impl<T> Clone for Root<'_, T> {
    fn clone(&self) -> Self {
        Root::new(self.table, self.target())
    }
}

impl<T> Drop for Root<'_, T> {
    fn drop(&mut self) {
        RootTable::with(&self.table.strong, |strong| strong.release(self.index));
    }
}

impl<T> fmt::Debug for Root<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Root(#{})", self.index)
    }
}

/// A weak handle: does not keep its object alive.
pub struct WeakRoot<'gc, T> {
    table: &'gc RootTable,
    index: u32,
    _marker: PhantomData<*const T>,
    _brand: Brand<'gc>,
}

impl<'gc, T: Trace> WeakRoot<'gc, T> {
    /// The object, if it has not been collected.
    pub fn upgrade<'a>(&self, mutator: &'a Mutator<'gc>) -> Option<Gc<'a, T>> {
        let target = NonNull::new(RootTable::with(&self.table.weak, |weak| {
            weak.get(self.index)
        }))?;
        // SAFETY: as below, a non-null weak slot holds a live object.
        let obj = unsafe { ObjectRef::from_payload(target) };
        // An object reachable only weakly when a running incremental cycle
        // started would be freed at its end, though upgraded now.
        mutator.raw.keep_alive(obj);
        // SAFETY: collections clear weak slots whose target died and update
        // the others, so a non-null slot is a live `T`; the mutator borrow
        // keeps collections out for 'a.
        Some(Gc {
            ptr: target.cast(),
            _marker: PhantomData,
        })
    }
}

impl<T> Drop for WeakRoot<'_, T> {
    fn drop(&mut self) {
        RootTable::with(&self.table.weak, |weak| weak.release(self.index));
    }
}

impl<T> fmt::Debug for WeakRoot<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WeakRoot(#{})", self.index)
    }
}

/// A pointer to a managed `T`, valid while the mutator is borrowed for `'a`.
pub struct Gc<'a, T> {
    ptr: NonNull<T>,
    _marker: PhantomData<&'a T>,
}

impl<T> Clone for Gc<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Gc<'_, T> {}

impl<'a, T> Gc<'a, T> {
    /// The object's address. Stable for pinned and old objects; young ones
    /// move at the next collection.
    pub fn as_ptr(self) -> *const T {
        self.ptr.as_ptr()
    }

    /// Whether two pointers are to the same object.
    pub fn ptr_eq(a: Gc<'_, T>, b: Gc<'_, T>) -> bool {
        a.ptr == b.ptr
    }

    /// The object's identity hash: the same number for its whole life,
    /// though collections move it, and different from every other live
    /// object's. For hash tables keyed by object identity ([`GcMap`](crate::GcMap)
    /// with `Member` keys uses it).
    ///
    /// ```
    /// use morph_gengc::{Collection, Heap, Trace};
    ///
    /// #[derive(Trace)]
    /// struct Point(i64, i64);
    ///
    /// let mut heap = Heap::new(Default::default())?;
    /// heap.enter(|m| {
    ///     let p = m.alloc(Point(1, 2));
    ///     let q = m.alloc(Point(1, 2));
    ///     let (hp, hq) = (p.get(m).identity_hash(m), q.get(m).identity_hash(m));
    ///     assert_ne!(hp, hq);
    ///     m.collect(Collection::Minor); // moves both
    ///     assert_eq!(p.get(m).identity_hash(m), hp);
    ///     assert_eq!(q.get(m).identity_hash(m), hq);
    /// });
    /// # Ok::<(), morph_gengc::GcError>(())
    /// ```
    ///
    /// # Panics
    /// If the object belongs to another heap than `mutator`'s.
    pub fn identity_hash(self, mutator: &Mutator<'_>) -> u64 {
        mutator.identity_hash_of(self.object())
    }

    /// The reference as the raw API sees it.
    pub fn object(self) -> ObjectRef {
        // SAFETY: a Gc always points at the payload of a live managed object.
        unsafe { ObjectRef::from_payload(self.ptr.cast()) }
    }

    /// A `Gc` of a live object of type `T`.
    ///
    /// # Safety
    /// `obj` is a live object whose payload is a `T`, and no collection
    /// runs during `'a` (the mutator is borrowed that long).
    pub(crate) unsafe fn from_object(obj: ObjectRef) -> Self {
        Gc {
            ptr: obj.as_ptr().cast(),
            _marker: PhantomData,
        }
    }

    /// The object itself, for as long as `'a` (where `Deref` would only
    /// lend it for the life of the `Gc` value).
    pub fn get_ref(self) -> &'a T {
        // SAFETY: a live, initialised T that no collection can move or free
        // during 'a (the mutator is borrowed); managed objects are only ever
        // accessed through shared references.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> Deref for Gc<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: as in `get_ref`.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> fmt::Debug for Gc<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Gc({:p})", self.ptr)
    }
}

/// A reference stored in a managed object: null or another managed object.
///
/// Build objects with `Member::null()` fields, then [`set`](Self::set) them
/// once the object is in the heap.
#[repr(transparent)]
pub struct Member<T> {
    ptr: Cell<*mut u8>,
    _marker: PhantomData<*const T>,
}

impl<T> Member<T> {
    /// The null reference.
    pub const fn null() -> Self {
        Member {
            ptr: Cell::new(std::ptr::null_mut()),
            _marker: PhantomData,
        }
    }

    /// Whether this member is null.
    pub fn is_null(&self) -> bool {
        self.ptr.get().is_null()
    }

    pub(crate) fn slot(&self) -> NonNull<*mut u8> {
        NonNull::from(&self.ptr).cast()
    }

    /// The referenced object, valid while the mutator is borrowed.
    #[inline]
    pub fn get<'a>(&self, _mutator: &'a Mutator<'_>) -> Option<Gc<'a, T>> {
        let ptr = NonNull::new(self.ptr.get())?;
        // SAFETY: a non-null member lies in a managed object (`set` checks)
        // that the collector traces and updates, and that object is live (we
        // were handed a reference into it), so the member points at a live
        // `T`; the mutator borrow keeps collections out for 'a, so the
        // pointer stays valid that long even if the containing object is
        // itself unreachable.
        Some(Gc {
            ptr: ptr.cast(),
            _marker: PhantomData,
        })
    }

    /// The referent's address, if the member is not null.
    pub(crate) fn referent_addr(&self) -> Option<usize> {
        let addr = self.ptr.get().addr();
        (addr != 0).then_some(addr)
    }

    /// Stores a reference (or null), with the write barrier.
    ///
    /// # Panics
    /// If this member is not a field of an object in `mutator`'s heap (for
    /// example a value not yet allocated), or `value` belongs to another heap.
    #[inline]
    pub fn set(&self, mutator: &Mutator<'_>, value: Option<Gc<'_, T>>) {
        mutator.store(&self.ptr, value.map(Gc::object));
    }
}

impl<T> Default for Member<T> {
    fn default() -> Self {
        Self::null()
    }
}

impl<T> fmt::Debug for Member<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Member({:p})", self.ptr.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(crate::Trace)]
    #[trace(crate = "crate")]
    struct Link {
        next: Member<Link>,
    }

    #[derive(crate::Trace)]
    #[trace(crate = "crate")]
    struct Plain(u64);

    #[test]
    fn the_root_count_follows_roots_made_and_dropped() {
        let mut heap = Heap::new(GcConfig::default()).unwrap();
        heap.enter(|m| {
            let a = m.alloc(Plain(1));
            let b = m.alloc(Plain(2));
            let c = m.alloc(Plain(3));
            assert_eq!(m.root_count(), 3);
            drop(b);
            assert_eq!(m.root_count(), 2, "a dropped root frees its slot");
            let d = m.alloc(Plain(4));
            assert_eq!(m.root_count(), 3, "a new root counts again");
            drop((a, c, d));
            assert_eq!(m.root_count(), 0);
        });
    }

    /// Types that differ only in a constant, for filling the type cache.
    #[derive(crate::Trace)]
    #[trace(crate = "crate")]
    struct Words<const N: usize>([u64; N]);

    #[test]
    fn each_type_is_found_in_its_cache_slot_after_allocating_it() {
        let mut heap = Heap::new(GcConfig::default()).unwrap();
        heap.enter(|m| {
            // More types than slots, in turn, so slots are shared and
            // taken back; each allocation must leave its own type cached
            // with its own id, and its value must read back after a
            // collection has moved it.
            for round in 0..3u64 {
                macro_rules! each {
                    ($($n:literal)*) => {$(
                        let root = m.alloc(Words::<$n>([round; $n]));
                        let cached = m.types.recent_entry::<Words<$n>>()
                            .expect("the type just allocated is in its slot");
                        assert_eq!(Ok(cached.id), registered_id::<Words<$n>>());
                        m.collect(Collection::Minor);
                        assert_eq!(root.get(m).0, [round; $n]);
                    )*};
                }
                each!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20);
            }
        });
    }

    #[test]
    fn safe_types_are_traced_through_their_collector_instantiations() {
        let mut heap = Heap::new(GcConfig::default()).unwrap();
        heap.enter(|m| {
            m.alloc(Link {
                next: Member::null(),
            });
            m.alloc(Plain(7));
        });
        let id = |registered: Result<TypeId, GcError>| registered.unwrap();
        let with_refs = heap.raw.types.get(id(registered_id::<Link>())).unwrap();
        assert!(
            with_refs.specialized.is_some(),
            "a type with members gets its minor and major trace instantiated"
        );
        let leaf = heap.raw.types.get(id(registered_id::<Plain>())).unwrap();
        assert!(
            leaf.trace.is_none() && leaf.specialized.is_none(),
            "nothing to trace in a leaf"
        );
    }
}
