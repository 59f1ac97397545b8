//! `RawHeap`: the collector's heap and its raw API.
//!
//! This is the layer a VM with its own object model programs against, in the
//! spirit of MMTk's VM binding: allocate by (payload size, type id, flags),
//! hand the collector your roots through [`RootSet`] whenever it may collect,
//! and call the write barrier after storing a reference into an object. The
//! safe API ([`crate::Heap`]) is built on it.
//!
//! Collections happen only inside [`RawHeap::try_alloc`] and
//! [`RawHeap::collect`]; between those calls objects stay where they are.

use std::cell::RefCell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

use morph_header::{
    Generation, HeaderFlags, MAX_PAYLOAD_SIZE, ObjectHeader, SlotVisitor, TypeId, TypeRegistry,
};
use morph_metrics::{
    CollectionEvent, CollectionKind, Metrics, MorphMemStats, Recorder, StatsSource,
};

use crate::adaptive::{self, EdenPolicy, PretenurePolicy, TenuringPolicy};
use crate::collect::{Evacuator, Marker};
use crate::finalize::{self, PanicPayload};
use crate::identity::IdentityHashes;
use crate::incremental::{MarkCycle, Pacer, SWEEP_STEP_BLOCKS};
use crate::object::{self, ObjectRef};
use crate::space::large::LargeSpace;
use crate::space::nursery::Nursery;
use crate::space::old::{MAX_OLD_OBJECT, OLD_BLOCK_SIZE, OldSpace, PROMOTION_SLACK};
use crate::space::reserve::BlockReserve;
use crate::types::{CachedType, SpecializedTrace, TypeCache};
use crate::weak::WeakHolders;
use crate::{GcConfig, GcError};

/// Eden bytes allocated between two steps of paced work (one pre-faulted
/// old-generation block each): an eden's worth of allocation can prepare
/// an eden's worth of promotion.
const PACE_STEP: usize = OLD_BLOCK_SIZE;
/// The shortest pace step, for the smallest edens.
const MIN_PACE_STEP: usize = 512;

/// Idle, faulted-in old-generation blocks the reserve keeps between minor
/// collections: enough for a collection that promotes everything it
/// evacuates (a whole eden of `eden` bytes and a survivor space), plus one.
///
/// Not fewer when promotion has been quiet for a while: a target that
/// followed recent promotion volumes shrinks during such a phase, and the
/// collection that ends it, the first to promote a whole eden, then faults
/// its blocks in inside the pause (GCBench's #79: 225 faults and 0.93-1.55
/// ms, against 0.53 ms with the reserve full). The price is at most this
/// much idle resident memory, which counts against `heap_limit` like any
/// other reserved block.
fn reserve_blocks(eden: usize, survivor_size: usize) -> usize {
    (eden + survivor_size).div_ceil(OLD_BLOCK_SIZE) + 1
}

/// A callback run after every collection with the collection's event and
/// the heap's usage afterwards: see [`RawHeap::set_collection_observer`].
pub type CollectionObserver = Box<dyn FnMut(&CollectionEvent, &HeapUsage)>;

/// A young object's header (size, type id, `FINALIZABLE`) and block size
/// for one type, worked out once: see [`RawHeap::young_template`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct YoungTemplate {
    header: ObjectHeader,
    size: usize,
}

/// The header of a fresh young object.
fn young_header(payload: usize, type_id: TypeId, finalizable: bool) -> ObjectHeader {
    let mut header = ObjectHeader::from_bits(0);
    // Infallible: young payloads are far below MAX_PAYLOAD_SIZE.
    let _ = header.set_payload_size(payload);
    header.set_type_id(type_id);
    if finalizable {
        header.insert_flags(HeaderFlags::FINALIZABLE);
    }
    header
}

/// How an object is to be allocated.
///
/// ```
/// use morph_gengc::AllocFlags;
///
/// let flags = AllocFlags::PINNED | AllocFlags::TENURED;
/// assert!(flags.contains(AllocFlags::PINNED));
/// assert!(!AllocFlags::DEFAULT.contains(AllocFlags::TENURED));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AllocFlags(u8);

impl AllocFlags {
    /// Young, movable: the common case.
    pub const DEFAULT: AllocFlags = AllocFlags(0);
    /// Never moved (FFI, addresses handed out): allocated straight into the
    /// old generation, which does not move objects.
    pub const PINNED: AllocFlags = AllocFlags(1);
    /// Allocated straight into the old generation (pretenuring: objects
    /// known to live long).
    pub const TENURED: AllocFlags = AllocFlags(2);

    /// Whether every flag in `other` is set.
    pub const fn contains(self, other: AllocFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for AllocFlags {
    type Output = AllocFlags;
    fn bitor(self, rhs: AllocFlags) -> AllocFlags {
        AllocFlags(self.0 | rhs.0)
    }
}

/// The roots of a heap: every reference the program holds outside the heap.
///
/// The collector calls [`visit_roots`](Self::visit_roots) during a
/// collection; the implementation reports each root slot (a pointer-sized
/// location holding an object's payload address, or null) exactly once. A
/// moving collection rewrites the slots, so roots must be real memory
/// locations, not copies.
///
/// # Safety
/// The collector trusts what a root set reports, and reads and rewrites it
/// without checks. An implementation must:
/// * in [`visit_roots`](Self::visit_roots), report each root slot once, as
///   a valid, aligned, writable pointer-sized location that holds null or
///   the payload address of a live object of the heap being collected, and
///   that stays valid for the whole call;
/// * in [`visit_weak`](Self::visit_weak), hand `update` only payload
///   addresses of objects of this heap that were live after the previous
///   collection, and store what it returns;
/// * not unwind: a panic out of either method leaves the collection half
///   done and the heap [poisoned](RawHeap::is_poisoned); objects may then
///   exist twice (a copy and its original), and reading them is undefined.
///
/// ```
/// use morph_gengc::RootSet;
/// use morph_header::SlotVisitor;
/// use std::ptr::NonNull;
///
/// /// Payload addresses of live objects, or null, set by the VM.
/// struct Stack(Vec<*mut u8>);
/// // SAFETY: each slot is a vector element reported once, holding null or
/// // a live object's payload (the VM only stores what the heap returned,
/// // and the collector keeps the slots current); the visit cannot panic.
/// unsafe impl RootSet for Stack {
///     fn visit_roots(&mut self, visitor: &mut dyn SlotVisitor) {
///         for slot in &mut self.0 {
///             visitor.visit_slot(NonNull::from(slot));
///         }
///     }
/// }
/// ```
pub unsafe trait RootSet {
    /// Reports every root slot to `visitor`.
    fn visit_roots(&mut self, visitor: &mut dyn SlotVisitor);

    /// Called once a collection knows what survived: pass each weak
    /// reference's target to `update`, and replace it with the result — the
    /// object's new location, or `None` if it died. Weak references do not
    /// keep their targets alive. The default has none.
    fn visit_weak(&mut self, update: &mut dyn FnMut(ObjectRef) -> Option<ObjectRef>) {
        let _ = update;
    }
}

/// A root set with no roots.
// SAFETY: reports nothing.
unsafe impl RootSet for () {
    fn visit_roots(&mut self, _visitor: &mut dyn SlotVisitor) {}
}

/// Which collection [`RawHeap::collect`] should run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Collection {
    /// Young generation only.
    Minor,
    /// The whole heap (a minor collection does not run first), stopping
    /// the world until it is done; abandons a running incremental cycle.
    Major,
    /// Starts an incremental major cycle (after a minor collection), if
    /// [`GcConfig::incremental_marking`] is on and none is running; its
    /// steps then run as the program allocates. No-op otherwise.
    StartCycle,
    /// Marks what is left of the running incremental cycle and finishes it
    /// (frees what was unreachable when it started). No-op if none runs.
    FinishCycle,
}

/// A point-in-time summary of the heap's spaces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapUsage {
    /// Bytes the nursery reserves (eden and both survivor spaces).
    pub nursery_reserved: usize,
    /// Bytes young objects occupy.
    pub nursery_used: usize,
    /// Bytes the old generation reserves (whole blocks).
    pub old_reserved: usize,
    /// Bytes old objects occupy (slot sizes).
    pub old_used: usize,
    /// Old objects.
    pub old_objects: usize,
    /// Bytes large objects reserve.
    pub large_reserved: usize,
    /// Large objects.
    pub large_objects: usize,
}

impl HeapUsage {
    /// Everything the heap holds from the system.
    pub fn reserved(&self) -> usize {
        self.nursery_reserved + self.old_reserved + self.large_reserved
    }
}

/// The generational heap, raw API: allocate by (payload size, type id,
/// flags), report roots through [`RootSet`] whenever it may collect, and
/// call [`write_barrier`](Self::write_barrier) after storing a reference
/// into an object. Collections happen only inside
/// [`try_alloc`](Self::try_alloc) and [`collect`](Self::collect).
///
/// ```
/// use morph_gengc::{AllocFlags, Collection, GcConfig, RawHeap};
/// use morph_header::{TypeDescriptor, TypeRegistry};
///
/// static TYPES: TypeRegistry = TypeRegistry::new();
/// let blob = TYPES.register(TypeDescriptor::of::<[u64; 4]>("Blob"))?;
///
/// let mut heap = RawHeap::with_registry(GcConfig::default(), &TYPES)?;
/// // SAFETY: `[u64; 4]` has no trace or drop function; 32 bytes is its size.
/// let obj = unsafe { heap.try_alloc(32, blob, AllocFlags::DEFAULT, &mut ()) }?;
/// assert!(heap.is_young(obj));
/// heap.collect(Collection::Minor, &mut ()); // no roots: the object dies
/// assert_eq!(heap.usage().nursery_used, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RawHeap {
    pub(crate) config: GcConfig,
    pub(crate) nursery: Nursery,
    pub(crate) old: OldSpace,
    pub(crate) large: LargeSpace,
    pub(crate) types: TypeCache,
    /// Old and large objects that may hold references to young objects
    /// (each has the REMEMBERED header flag, so it is listed once). In a
    /// `RefCell` so the safe API's barrier can record through `&RawHeap`.
    pub(crate) remembered: RefCell<Vec<ObjectRef>>,
    /// Reference fields of old and large objects that the safe API's
    /// barrier saw receive a young value: a sequential store buffer of slot
    /// addresses (duplicates allowed; see [`RememberedSlots`]).
    pub(crate) remembered_slots: RefCell<RememberedSlots>,
    /// Identity hashes handed out, by object (see `identity`). In a
    /// `RefCell` so the safe API can hand one out through `&RawHeap`.
    pub(crate) identity: RefCell<IdentityHashes>,
    /// Young objects whose type has a destructor.
    pub(crate) finalizable_young: Vec<ObjectRef>,
    /// Old and large objects whose type has a destructor.
    pub(crate) finalizable_old: Vec<ObjectRef>,
    /// Objects whose type holds weak references (see `weak`).
    pub(crate) weak: WeakHolders,
    pub(crate) metrics: Metrics,
    /// Largest payload the allocation fast path puts in the nursery: below
    /// the large-object threshold, small enough (a quarter of eden) that one
    /// object cannot force a collection on its own, and promotable into an
    /// old-generation size class.
    pub(crate) max_young_payload: usize,
    /// Survivors of the last minor collection (for the live count).
    pub(crate) young_objects: usize,
    /// Bytes of old and large objects, headers included, as allocation
    /// counts them: what the last major collection marked, plus what was
    /// promoted or allocated tenured since. The live census reports this
    /// rather than the spaces' slot and page totals, so live never exceeds
    /// what was allocated.
    pub(crate) tenured_object_bytes: usize,
    /// Objects allocated in eden since the last minor collection (the one
    /// metric the allocation fast path keeps).
    pub(crate) eden_objects: usize,
    /// The part of eden lent out (`loan`): its first and end addresses.
    pub(crate) eden_loan: Option<(NonNull<u8>, NonNull<u8>)>,
    /// Bytes and objects of eden already recorded into the metrics: eden
    /// allocations are recorded in bulk before each collection (per type
    /// from `young_tally` if `type_stats` is on) and when stats are read.
    eden_recorded: (usize, usize),
    /// With `type_stats`: objects and bytes allocated in eden per type index
    /// since they were last recorded (counted at allocation, so a minor
    /// collection does not have to walk eden to count them).
    young_tally: Vec<(u64, u64)>,
    pub(crate) next_major_at: usize,
    /// Old-generation growth that triggers the next major collection
    /// (`gc_threshold`, or adapted to what major collections reclaim).
    major_threshold: usize,
    /// The adaptive eden policy, when `pause_target` is set.
    eden_policy: Option<EdenPolicy>,
    /// Picks each minor collection's promotion age (`adaptive_tenuring`).
    tenuring: TenuringPolicy,
    /// Which types are allocated old directly (`pretenuring`).
    pub(crate) pretenure: PretenurePolicy,
    /// The buffer minor collections count copied bytes per type in.
    copied_by_type: Vec<u64>,
    /// Whether the next minor collection prefetches the from-space around
    /// each object it copies: while minor collections copy a good share of
    /// what they find ([`adaptive::survival_is_dense`]).
    dense_survival: bool,
    /// The running incremental marking cycle (see `incremental`).
    pub(crate) cycle: Option<Box<MarkCycle>>,
    /// A cycle that just finished, for its pause's report.
    pub(crate) cycle_finished: Option<MarkCycle>,
    /// The barrier's log while a cycle runs: old and large objects whose
    /// last reference from a field may have been overwritten.
    pub(crate) satb: RefCell<Vec<ObjectRef>>,
    /// Tenured bytes at which the next incremental cycle starts.
    pub(crate) cycle_start_at: usize,
    /// Bytes allocated tenured since incremental work last ran for them.
    tenured_debt: usize,
    /// Tenured bytes before the pending sweep began (for `after_major`,
    /// once it completes).
    pub(crate) sweep_live_before: usize,
    /// Bytes the last incremental cycle found reachable by tracing (not
    /// counting what it allocated black), for the next growth allowance.
    pub(crate) cycle_traced: Option<usize>,
    /// Paces incremental marking against promotion.
    pub(crate) pacer: Pacer,
    /// Called after every collection (the facade's pressure callbacks).
    pub(crate) observer: Option<CollectionObserver>,
    /// Set while a collection runs; still set afterwards only if user code
    /// the collector called (a root set, a trace function) panicked out of
    /// it. A poisoned heap refuses every later allocation and collection,
    /// and leaks its objects' destructors when dropped: its spaces may be
    /// half copied.
    pub(crate) poisoned: bool,
    until_stress: u32,
    stress_rounds: u32,
    pub(crate) collections: u64,
    pub(crate) started: Instant,
}

impl fmt::Debug for RawHeap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawHeap")
            .field("config", &self.config)
            .field("usage", &self.usage())
            .finish()
    }
}

impl RawHeap {
    /// A heap whose types come from the process-wide registry.
    pub fn new(config: GcConfig) -> Result<Self, GcError> {
        Self::with_registry(config, TypeRegistry::global())
    }

    /// A heap whose types come from `registry`.
    pub fn with_registry(
        config: GcConfig,
        registry: &'static TypeRegistry,
    ) -> Result<Self, GcError> {
        config.validate()?;
        let mut nursery = Nursery::new(config.eden_capacity(), config.survivor_size)?;
        nursery.set_eden_limit(config.nursery_size, config.eden_floor());
        // Young objects must fit an old-generation size class, since
        // promotion copies them there; bigger ones start in the large-object
        // space.
        let max_young_payload = (config.large_object_threshold - 1)
            .min(config.eden_floor() / 4 - object::HEADER_SIZE)
            .min(MAX_OLD_OBJECT - object::HEADER_SIZE);
        let mut heap = RawHeap {
            max_young_payload,
            next_major_at: config.gc_threshold,
            major_threshold: config.gc_threshold,
            eden_policy: config
                .pause_target
                .map(|t| EdenPolicy::new(t, config.eden_floor(), config.eden_capacity())),
            tenuring: TenuringPolicy::new(config.promotion_age),
            pretenure: PretenurePolicy::default(),
            copied_by_type: Vec::new(),
            dense_survival: true,
            observer: None,
            cycle: None,
            cycle_finished: None,
            satb: RefCell::new(Vec::new()),
            cycle_start_at: config.gc_threshold / 2,
            tenured_debt: 0,
            sweep_live_before: 0,
            cycle_traced: None,
            pacer: Pacer::default(),
            poisoned: false,
            until_stress: config.stress_every.map_or(u32::MAX, |n| n.get()),
            stress_rounds: 0,
            nursery,
            old: OldSpace::new(Arc::new(BlockReserve::new(
                OLD_BLOCK_SIZE,
                reserve_blocks(config.nursery_size, config.survivor_size),
            )))?,
            large: LargeSpace::default(),
            types: TypeCache::new(registry),
            remembered: RefCell::new(Vec::new()),
            remembered_slots: RefCell::new(RememberedSlots::default()),
            identity: RefCell::default(),
            finalizable_young: Vec::new(),
            finalizable_old: Vec::new(),
            weak: WeakHolders::default(),
            young_objects: 0,
            tenured_object_bytes: 0,
            eden_objects: 0,
            eden_loan: None,
            eden_recorded: (0, 0),
            young_tally: Vec::new(),
            metrics: Metrics::with_mode("RUNTIME"),
            collections: 0,
            started: Instant::now(),
            config,
        };
        heap.schedule_pacing();
        Ok(heap)
    }

    /// The configuration the heap was built with.
    pub fn config(&self) -> &GcConfig {
        &self.config
    }

    /// The type registry this heap resolves type ids in.
    pub fn registry(&self) -> &'static TypeRegistry {
        self.types.registry()
    }

    /// Allocates an object with a `payload`-byte payload of type `type_id`,
    /// zeroed, collecting first if the nursery is full (which is why it needs
    /// the roots).
    ///
    /// The object lives while a root set or another live object reports it
    /// at every collection; [`verify`](Self::verify) checks that.
    ///
    /// Objects of at least `large_object_threshold` bytes, or too big for the
    /// old generation's size classes, go to the large-object space; pinned
    /// and tenured ones to the old generation.
    ///
    /// # Errors
    /// [`GcError::HeapExhausted`] if the heap bound does not allow the
    /// allocation even after a full collection (nothing reachable is lost);
    /// [`GcError::UnknownType`], [`GcError::ObjectTooLarge`],
    /// [`GcError::OutOfMemory`], [`GcError::Poisoned`].
    ///
    /// # Safety
    /// The collector runs `type_id`'s registered functions on the new
    /// object: its trace function at every collection that finds it live,
    /// its drop function once when it dies (or the heap is dropped). From
    /// the moment this returns, through every value the caller later
    /// writes, those functions must be sound on the object's payload:
    /// * `payload` is at least the size of the type's registered layout,
    ///   and the functions read no further than `payload` bytes;
    /// * the zeroed payload is a value they accept (null references, no
    ///   owned memory) until the caller writes a valid value; so a type
    ///   whose drop function frees something (`TypeDescriptor::of::<Box<_>>`)
    ///   must be written before the next allocation or collection;
    /// * every reference slot the trace function reports holds null or a
    ///   live object of this heap.
    #[inline]
    pub unsafe fn try_alloc(
        &mut self,
        payload: usize,
        type_id: TypeId,
        flags: AllocFlags,
        roots: &mut dyn RootSet,
    ) -> Result<ObjectRef, GcError> {
        // SAFETY: caller contract; the payload is zeroed.
        unsafe { self.alloc_payload(payload, type_id, flags, roots, true) }
    }

    /// [`try_alloc`](Self::try_alloc), leaving the payload as the memory
    /// was (not zeroed) if `zero` is false.
    ///
    /// # Safety
    /// As `try_alloc`; without `zero`, the caller makes the payload a value
    /// its type's functions accept before anything else runs in the heap
    /// (an allocation, a collection, a verification).
    #[inline]
    pub(crate) unsafe fn alloc_payload(
        &mut self,
        payload: usize,
        type_id: TypeId,
        flags: AllocFlags,
        roots: &mut dyn RootSet,
        zero: bool,
    ) -> Result<ObjectRef, GcError> {
        let ty = self.types.load(type_id)?;
        self.until_stress -= 1;
        if flags == AllocFlags::DEFAULT
            && self.until_stress != 0
            && payload <= self.max_young_payload
            && !self.pretenure.is_pretenured(type_id.index())
            && let Some(start) = self.nursery.alloc(object::object_size(payload))
        {
            if zero {
                // SAFETY: a fresh nursery block of exactly this size; raw
                // payloads must read as zeroes (null references).
                unsafe { object::zero(start, object::object_size(payload)) };
            }
            // SAFETY: as above.
            return Ok(unsafe { self.init_young(start, payload, type_id, ty) });
        }
        self.alloc_slow(payload, type_id, flags, roots, zero)
    }

    /// How to allocate young objects of one type with default flags, for
    /// callers that know the type statically (the safe API): `None` when
    /// every such allocation must take [`try_alloc`](Self::try_alloc)'s
    /// path instead (the payload is too large for the nursery, or stress
    /// mode counts every allocation there). `type_id` must have been
    /// loaded with [`load_type`](Self::load_type) on this heap.
    pub(crate) fn young_template(
        &self,
        payload: usize,
        type_id: TypeId,
        finalizable: bool,
    ) -> Option<YoungTemplate> {
        debug_assert!(
            self.types.get(type_id).is_some(),
            "type {type_id} not loaded"
        );
        if self.config.stress_every.is_some()
            || payload > self.max_young_payload
            || self.types.get(type_id).is_some_and(|t| t.weak)
        {
            // Weak holders are listed when made: the raw path does that.
            return None;
        }
        Some(YoungTemplate {
            header: young_header(payload, type_id, finalizable),
            size: object::object_size(payload),
        })
    }

    /// Whether objects of `type_id` are allocated in the old generation
    /// directly (see `adaptive::PretenurePolicy`).
    #[inline]
    pub(crate) fn is_pretenured(&self, type_id: TypeId) -> bool {
        self.pretenure.is_pretenured(type_id.index())
    }

    /// Changes whenever the set of pretenured types does.
    #[inline]
    pub(crate) fn pretenure_epoch(&self) -> u64 {
        self.pretenure.epoch()
    }

    /// The allocation fast path: a young object in eden from its type's
    /// [template](Self::young_template), or `None` when eden has no room
    /// before the next pace point or collection (the slow path then runs).
    #[inline(always)]
    pub(crate) fn alloc_young_fast(&mut self, template: &YoungTemplate) -> Option<ObjectRef> {
        let start = self.nursery.alloc(template.size)?;
        // SAFETY: a fresh eden block of the template's size, which its
        // header describes.
        Some(unsafe { self.place_young(start, template.header, template.size) })
    }

    /// Loads a type's descriptor into the heap's cache (done by
    /// [`try_alloc`](Self::try_alloc) on its own), with its trace function
    /// instantiated for each collector.
    ///
    /// # Safety
    /// As [`TypeCache::load_specialized`].
    pub(crate) unsafe fn load_type(
        &mut self,
        type_id: TypeId,
        specialized: SpecializedTrace,
    ) -> Result<(), GcError> {
        // SAFETY: caller contract.
        unsafe { self.types.load_specialized(type_id, specialized) }
    }

    #[cold]
    #[inline(never)]
    fn alloc_slow(
        &mut self,
        payload: usize,
        type_id: TypeId,
        flags: AllocFlags,
        roots: &mut dyn RootSet,
        zero: bool,
    ) -> Result<ObjectRef, GcError> {
        if self.poisoned {
            return Err(GcError::Poisoned);
        }
        self.check_no_loan();
        let size = payload
            .checked_add(object::HEADER_SIZE + 7)
            .map(|_| object::object_size(payload))
            .ok_or(GcError::ObjectTooLarge { size: payload })?;
        if self.until_stress == 0 {
            self.until_stress = self.config.stress_every.map_or(u32::MAX, |n| n.get());
            self.stress_rounds += 1;
            // With incremental marking, a cycle starts every 16th round and
            // advances a few objects a round, so barrier mistakes surface;
            // every 64th round is a full collection (abandoning any cycle).
            let major_every = if self.config.incremental_marking {
                64
            } else {
                16
            };
            let kind = if self.stress_rounds.is_multiple_of(major_every) {
                Collection::Major
            } else {
                Collection::Minor
            };
            self.collect_checked(kind, roots)?;
            if self.config.incremental_marking
                && kind == Collection::Minor
                && self.cycle.is_none()
                && self.stress_rounds.is_multiple_of(16)
            {
                resume_panic(self.start_cycle(roots));
            }
        }
        let young = flags == AllocFlags::DEFAULT
            && payload <= self.max_young_payload
            && !self.pretenure.is_pretenured(type_id.index());
        if young {
            if let Some(obj) = self.try_young(size, payload, type_id, zero) {
                return Ok(obj);
            }
            while self.pace(roots) {
                if let Some(obj) = self.try_young(size, payload, type_id, zero) {
                    return Ok(obj);
                }
            }
            self.collect_checked(Collection::Minor, roots)?;
            if let Some(obj) = self.try_young(size, payload, type_id, zero) {
                return Ok(obj);
            }
        }
        self.alloc_tenured(size, payload, type_id, flags, roots, zero)
    }

    /// One step of work paced by allocation, run when eden allocation
    /// reaches a pace point: faults one more old-generation block into the
    /// reserve (see `space::reserve`), and sets the next pace point, or
    /// none once the reserve is full. Returns `false` (doing nothing) when
    /// allocation stopped at the end of eden instead.
    fn pace(&mut self, roots: &mut dyn RootSet) -> bool {
        if !self.nursery.at_pace_point() {
            return false;
        }
        if self.marking() {
            let step = self.pace_step();
            resume_panic(self.mark_step(step, roots));
        } else if self.old.sweeping() {
            self.sweep_step(SWEEP_STEP_BLOCKS, roots);
        }
        // Spread what is missing over the pace points left in eden, so the
        // reserve is full by the time eden is.
        let points_left = (self.nursery.eden_limit() - self.nursery.eden_used()) / self.pace_step();
        let blocks = self.old.reserve().deficit().div_ceil(points_left.max(1));
        for _ in 0..blocks {
            if !self.fits(OLD_BLOCK_SIZE) || !self.old.reserve().top_up_one() {
                break;
            }
        }
        self.schedule_pacing();
        true
    }

    /// Sets the next pace point, [`pace_step`](Self::pace_step) bytes of
    /// eden from now, while the reserve is below its target and the heap
    /// bound leaves room, or an incremental cycle runs.
    pub(crate) fn schedule_pacing(&mut self) {
        let more = (self.old.reserve().wants_more() && self.fits(OLD_BLOCK_SIZE))
            || self.marking()
            || self.old.sweeping();
        self.nursery.pace_every(more.then_some(self.pace_step()));
    }

    /// Eden bytes between pace points: [`PACE_STEP`], or an eighth of a
    /// smaller eden (a nursery under one step would otherwise never reach
    /// a pace point, and its promotions would fault their blocks in
    /// inside the pause).
    fn pace_step(&self) -> usize {
        (self.nursery.eden_limit() / 8).clamp(MIN_PACE_STEP, PACE_STEP) / 8 * 8
    }

    /// After a minor collection: the reserve aims at what the next one can
    /// promote at most (see [`reserve_blocks`]), for the eden in use now.
    fn retarget_reserve(&mut self) {
        let blocks = reserve_blocks(self.nursery.eden_limit(), self.config.survivor_size);
        self.old.reserve().set_target(blocks);
        self.schedule_pacing();
    }

    fn try_young(
        &mut self,
        size: usize,
        payload: usize,
        type_id: TypeId,
        zero: bool,
    ) -> Option<ObjectRef> {
        let start = self.nursery.alloc(size)?;
        if zero {
            // SAFETY: a fresh nursery block of `size` bytes; the payload
            // must read as zeroes for raw callers.
            unsafe { object::zero(start, size) };
        }
        let ty = self.types.get(type_id).unwrap_or_default();
        // SAFETY: a fresh eden block of `size = object_size(payload)` bytes.
        Some(unsafe { self.init_young(start, payload, type_id, ty) })
    }

    /// Writes the header of a fresh nursery object (payload at most
    /// `max_young_payload`) and lists it for finalization and as a weak
    /// holder if its type needs that.
    ///
    /// # Safety
    /// `start` is a fresh eden block of `object_size(payload)` bytes.
    #[inline(always)]
    unsafe fn init_young(
        &mut self,
        start: NonNull<u8>,
        payload: usize,
        type_id: TypeId,
        ty: CachedType,
    ) -> ObjectRef {
        let header = young_header(payload, type_id, ty.drop.is_some());
        // SAFETY: caller contract; the header describes the block.
        let obj = unsafe { self.place_young(start, header, object::object_size(payload)) };
        if ty.weak {
            self.weak.young.push(obj);
        }
        obj
    }

    /// Writes a young object's `header` at `start`, a fresh eden block of
    /// `size` bytes, and counts it.
    ///
    /// # Safety
    /// `start` is a fresh eden block of `size` bytes, and `header` a young
    /// header whose payload size makes `size`.
    #[inline(always)]
    unsafe fn place_young(
        &mut self,
        start: NonNull<u8>,
        header: ObjectHeader,
        size: usize,
    ) -> ObjectRef {
        // SAFETY: `start` is a fresh nursery block (caller contract), at
        // least 16 bytes.
        let obj = unsafe { ObjectRef::from_start(start) };
        if header.flags().contains(HeaderFlags::FINALIZABLE) {
            self.finalizable_young.push(obj);
        }
        // SAFETY: as above; the header is the block's first word.
        unsafe { obj.set_header(header) };
        self.eden_objects += 1;
        if self.config.type_stats {
            self.tally_young(header.type_id(), size);
        }
        obj
    }

    /// Counts one young allocation under its type (`type_stats`).
    #[inline]
    pub(crate) fn tally_young(&mut self, type_id: TypeId, bytes: usize) {
        let index = type_id.index();
        if index >= self.young_tally.len() {
            self.young_tally.resize(index + 1, (0, 0));
        }
        let entry = &mut self.young_tally[index];
        entry.0 += 1;
        entry.1 += bytes as u64;
    }

    /// Writes the header of a fresh old or large object and registers it
    /// for finalization if needed.
    fn init_tenured(
        &mut self,
        obj: ObjectRef,
        payload: usize,
        type_id: TypeId,
        generation: Generation,
        mut flags: HeaderFlags,
        size: usize,
    ) {
        let mut header = ObjectHeader::from_bits(0);
        // Sizes past the 24-bit field are kept by the large-object space.
        let _ = header.set_payload_size(if payload <= MAX_PAYLOAD_SIZE {
            payload
        } else {
            0
        });
        header.set_type_id(type_id);
        header.set_generation(generation);
        let ty = self.types.get(type_id).unwrap_or_default();
        if ty.drop.is_some() {
            flags |= HeaderFlags::FINALIZABLE;
            self.finalizable_old.push(obj);
        }
        if ty.weak {
            self.weak.old.push(obj);
        }
        header.insert_flags(flags);
        // SAFETY: `obj` is a fresh block of this heap (callers).
        unsafe { obj.set_header(header) };
        self.metrics.record_alloc(type_id, size);
        self.tenured_object_bytes += size;
        if let Some(cycle) = &mut self.cycle {
            // Allocated black: live to the running cycle.
            cycle.black += size;
            if generation.is_large() {
                self.large.mark(obj);
            } else {
                // SAFETY: a live old object, its header just written.
                unsafe { self.old.mark(obj) };
            }
        } else if self.old.sweeping() && !generation.is_large() {
            // Its block may not be swept yet: marked, it survives the sweep.
            // SAFETY: a live old object, its header just written.
            unsafe { self.old.mark(obj) };
            self.old.note_black_allocation();
        }
    }

    fn alloc_tenured(
        &mut self,
        size: usize,
        payload: usize,
        type_id: TypeId,
        flags: AllocFlags,
        roots: &mut dyn RootSet,
        zero: bool,
    ) -> Result<ObjectRef, GcError> {
        let large = size > MAX_OLD_OBJECT || payload >= self.config.large_object_threshold;
        let growth = |heap: &RawHeap| {
            if large {
                size
            } else {
                heap.old.growth_for(size)
            }
        };
        if !self.fits(growth(self)) {
            self.collect(Collection::Major, roots);
            if !self.fits(growth(self)) {
                return Err(self.exhausted(size));
            }
        } else {
            // Incremental work is paid per pace step of tenured bytes, as
            // eden pays it per pace step of its own: a step per tenured
            // object would stop the program at every one.
            self.tenured_debt += size;
            if !self.config.incremental_marking
                || self.tenured_debt >= self.pace_step()
                || self.tenured_bytes() >= self.next_major_at
            {
                let debt = std::mem::take(&mut self.tenured_debt);
                self.old_generation_work(debt, roots);
            }
            if !self.fits(growth(self)) {
                return Err(self.exhausted(size));
            }
        }
        let (obj, generation) = if large {
            let map = payload >= self.config.large_object_threshold;
            (
                self.large.alloc(size, payload, map, zero)?,
                Generation::LARGE,
            )
        } else {
            let start = self.old.alloc(size)?;
            if zero {
                // SAFETY: a fresh old-space slot of at least `size` bytes;
                // pool memory is not zeroed, and a payload must read as null
                // references.
                unsafe { object::zero(start, size) };
            }
            // SAFETY: the slot is an object block of at least 16 bytes.
            (unsafe { ObjectRef::from_start(start) }, Generation::OLD)
        };
        let header_flags = if flags.contains(AllocFlags::PINNED) {
            HeaderFlags::PINNED
        } else {
            HeaderFlags::EMPTY
        };
        self.init_tenured(obj, payload, type_id, generation, header_flags, size);
        Ok(obj)
    }

    fn exhausted(&self, requested: usize) -> GcError {
        GcError::HeapExhausted {
            requested,
            limit: self.config.heap_limit.unwrap_or(usize::MAX),
            in_use: self.usage().reserved(),
        }
    }

    /// Bytes in the old generation and large-object space.
    pub(crate) fn tenured_bytes(&self) -> usize {
        self.old.used() + self.large.reserved()
    }

    /// Worst-case growth of the old generation if every young object were
    /// promoted now: size-class rounding (at most a third of an object) plus
    /// a fresh block per class.
    fn promotion_reserve(&self) -> usize {
        let young = self.nursery.used();
        young + young / 2 + PROMOTION_SLACK
    }

    /// Whether `growth` more bytes fit under the heap bound with room left to
    /// promote the whole nursery. Idle reserve blocks are already counted
    /// as reserved, and growth and promotion take them first, so only what
    /// they cannot cover is new memory.
    fn fits(&self, growth: usize) -> bool {
        match self.config.heap_limit {
            None => true,
            Some(limit) => {
                let needed = (growth + self.promotion_reserve())
                    .saturating_sub(self.old.reserve().idle_bytes());
                self.usage().reserved() + needed <= limit
            }
        }
    }

    /// Runs a collection as the allocator does: a minor one only if the
    /// bound leaves room to promote, else a major one, and an error if even
    /// that leaves no room.
    fn collect_checked(
        &mut self,
        kind: Collection,
        roots: &mut dyn RootSet,
    ) -> Result<(), GcError> {
        if kind == Collection::Major || !self.fits(0) {
            self.collect(Collection::Major, roots);
            if !self.fits(0) {
                return Err(self.exhausted(0));
            }
            if kind == Collection::Major {
                return Ok(());
            }
        }
        self.collect(Collection::Minor, roots);
        self.old_generation_work(0, roots);
        Ok(())
    }

    /// The old generation's collection work after it grew (by `allocated`
    /// bytes allocated tenured, or by a minor collection's promotion, with
    /// eden empty): with incremental marking, a step of the running cycle
    /// or the start of one; without, a major collection when due.
    fn old_generation_work(&mut self, allocated: usize, roots: &mut dyn RootSet) {
        if !self.config.incremental_marking {
            if self.tenured_bytes() >= self.next_major_at {
                self.collect(Collection::Major, roots);
            }
        } else if self.old.sweeping() {
            self.sweep_step(SWEEP_STEP_BLOCKS, roots);
        } else if self.marking() {
            if allocated > 0 || self.config.stress_every.is_some() {
                resume_panic(self.mark_step(allocated, roots));
            } else if self.tenured_bytes() >= self.next_major_at {
                // Promotion reached the goal before marking ended.
                resume_panic(self.mark_step(usize::MAX, roots));
            }
        } else if self.cycle_due() {
            if self.nursery.eden_used() > 0 {
                self.collect(Collection::Minor, roots);
            }
            resume_panic(self.start_cycle(roots));
        }
    }

    /// Runs a collection now.
    ///
    /// A minor collection may promote more into the old generation than the
    /// heap bound allows; the allocator avoids that by checking first, so
    /// prefer letting [`try_alloc`](Self::try_alloc) decide when to collect.
    ///
    /// # Panics
    /// If the heap is [poisoned](Self::is_poisoned). A panic of a
    /// destructor or the observer is re-raised once the collection is
    /// complete (every dead object finalized, the heap consistent); a panic
    /// of the root set or a trace function leaves the heap poisoned.
    pub fn collect(&mut self, kind: Collection, roots: &mut dyn RootSet) {
        if self.poisoned {
            poisoned_heap();
        }
        self.check_no_loan();
        match kind {
            Collection::StartCycle => {
                if self.config.incremental_marking && !self.marking() {
                    self.collect(Collection::Minor, roots);
                    resume_panic(self.start_cycle(roots));
                }
                return;
            }
            Collection::FinishCycle => {
                let panicked = self.mark_step(usize::MAX, roots);
                self.sweep_step(usize::MAX, roots);
                resume_panic(panicked);
                return;
            }
            Collection::Minor | Collection::Major => {}
        }
        // Until the collection completes: a panic out of it leaves this set,
        // and allocation stopped (no eden room, so the fast path fails and
        // the slow path sees the poison).
        self.poisoned = true;
        self.nursery.pace_every(Some(0));
        let started = Instant::now();
        self.count_new_young();
        let before = self.usage();
        let tenured_before = self.tenured_object_bytes;
        // `panicked`: the first panic of a destructor the collection ran,
        // re-raised once the collection is complete.
        let (kind, promoted, mut panicked) = match kind {
            Collection::Minor => {
                let (promoted, panicked) = self.minor(roots);
                (CollectionKind::Minor, promoted, panicked)
            }
            Collection::Major => {
                self.abandon_cycle();
                (CollectionKind::Major, (0, 0), self.major(roots))
            }
            Collection::StartCycle | Collection::FinishCycle => unreachable!("handled above"),
        };
        let pause = started.elapsed();
        let after = self.usage();
        self.collections += 1;
        let (bytes_before, bytes_after) = match kind {
            CollectionKind::Minor => (before.nursery_used, after.nursery_used),
            // Object bytes, as allocation counts them (slot rounding and
            // large objects' pages left out), so what majors reclaim adds
            // up with what was allocated.
            CollectionKind::Major | CollectionKind::Incremental => {
                (tenured_before, self.tenured_object_bytes)
            }
        };
        let event = CollectionEvent {
            kind,
            pause,
            bytes_before: bytes_before as u64,
            bytes_after: bytes_after as u64,
            promoted_objects: promoted.0 as u64,
            promoted_bytes: promoted.1 as u64,
        };
        self.metrics.record_collection(&event);
        self.metrics.record_live(
            (self.young_objects + self.eden_objects + after.old_objects + after.large_objects)
                as u64,
            (after.nursery_used + self.tenured_object_bytes) as u64,
        );
        if kind == CollectionKind::Minor {
            // Young bytes the collection found, and those it kept young or
            // promoted: what every survival-driven policy reads.
            let (scanned, copied) = (before.nursery_used, after.nursery_used + promoted.1);
            if let Some(dense) = adaptive::survival_is_dense(scanned, copied) {
                self.dense_survival = dense;
            }
            if let Some(policy) = &mut self.eden_policy {
                let eden = policy.observe(self.nursery.eden_limit(), scanned, copied, pause);
                self.nursery.set_eden_limit(eden, self.config.eden_floor());
            }
        }
        if self.config.trace {
            eprintln!("{}", self.trace_line(&event, &after));
        }
        self.poisoned = false;
        self.schedule_pacing();
        if let Some(observer) = &mut self.observer {
            let observed = panic::catch_unwind(AssertUnwindSafe(|| observer(&event, &after))).err();
            panicked = panicked.or(observed);
        }
        if let Some(payload) = panicked {
            panic::resume_unwind(payload);
        }
    }

    /// Whether an incremental major cycle is running.
    pub fn is_marking(&self) -> bool {
        self.marking()
    }

    /// Whether a panic out of user code interrupted a collection (a root
    /// set or trace function: destructors and observers cannot do this),
    /// leaving the heap unusable: allocation returns [`GcError::Poisoned`],
    /// collection and verification refuse to run, and dropping the heap
    /// frees its memory without running destructors.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Calls `observer` after every collection with what it did and the
    /// heap's usage afterwards (replacing any previous observer; `None`
    /// removes it). It runs inside the collector: it must not panic, and it
    /// cannot reach the heap.
    ///
    /// ```
    /// use morph_gengc::{Collection, GcConfig, RawHeap};
    /// use std::{cell::Cell, rc::Rc};
    ///
    /// let mut heap = RawHeap::new(GcConfig::default())?;
    /// let seen = Rc::new(Cell::new(0));
    /// let counter = Rc::clone(&seen);
    /// heap.set_collection_observer(Some(Box::new(move |_event, _usage| counter.set(counter.get() + 1))));
    /// heap.collect(Collection::Minor, &mut ());
    /// assert_eq!(seen.get(), 1);
    /// # Ok::<(), morph_gengc::GcError>(())
    /// ```
    pub fn set_collection_observer(&mut self, observer: Option<CollectionObserver>) {
        self.observer = observer;
    }

    /// Bytes of eden currently used as the allocation area (the adaptive
    /// policy moves it between its floor and `eden_capacity`).
    pub fn eden_size(&self) -> usize {
        self.nursery.eden_limit()
    }

    /// Old-generation growth that will trigger the next major collection.
    pub fn major_threshold(&self) -> usize {
        self.major_threshold
    }

    /// One line per collection, like Go's `GODEBUG=gctrace=1`.
    fn trace_line(&self, event: &CollectionEvent, after: &HeapUsage) -> String {
        let kb = |b: u64| b / 1024;
        format!(
            "morph-gc #{} @{:.6}s {}: pause {:.3}ms, {} {}K->{}K, promoted {}K, \
             old {}K, large {}K, heap {}K",
            self.collections,
            self.started.elapsed().as_secs_f64(),
            match event.kind {
                CollectionKind::Minor => "minor",
                CollectionKind::Major => "major",
                CollectionKind::Incremental => "mark step",
            },
            event.pause.as_secs_f64() * 1e3,
            match event.kind {
                CollectionKind::Minor => "young",
                CollectionKind::Major | CollectionKind::Incremental => "tenured",
            },
            kb(event.bytes_before),
            kb(event.bytes_after),
            kb(event.promoted_bytes),
            after.old_used / 1024,
            after.large_reserved / 1024,
            after.reserved() / 1024,
        )
    }

    /// Minor collection; returns (objects, bytes) promoted, and the first
    /// panic of a destructor it ran.
    fn minor(&mut self, roots: &mut dyn RootSet) -> ((usize, usize), Option<PanicPayload>) {
        let remembered = std::mem::take(self.remembered.get_mut());
        let mut slots = std::mem::take(self.remembered_slots.get_mut());
        let survivors_before = self.nursery.survivor_used();
        let (promotion_age, survivor_room) = if self.config.adaptive_tenuring {
            (
                self.tenuring.age(),
                self.tenuring.survivor_room(self.config.survivor_size),
            )
        } else {
            (self.config.promotion_age, self.config.survivor_size)
        };
        self.nursery.set_survivor_room(survivor_room);
        let eden_used = self.nursery.eden_used();
        let allocate_black = self.cycle.is_some() || self.old.sweeping();
        // Non-empty when counting (the evacuator grows it to the type
        // indices it meets).
        let counts = if self.config.pretenuring {
            let mut counts = std::mem::take(&mut self.copied_by_type);
            if counts.is_empty() {
                counts.push(0);
            }
            counts
        } else {
            Vec::new()
        };
        let mut evacuator = Evacuator::new(
            &mut self.nursery,
            &mut self.old,
            &self.types,
            promotion_age,
            self.dense_survival,
            allocate_black,
            counts,
        );
        // Each root's, owner's and slot's subgraph is copied before the next
        // one's (a drain after each), so what is promoted together lands
        // together: a structure's nodes end up next to each other instead of
        // breadth-first across every root.
        evacuator.visit_roots_eagerly(roots);
        for owner in remembered {
            // SAFETY: remembered objects are live old/large objects (major
            // collections drop dead ones from the list).
            unsafe { evacuator.rescan_remembered(owner) };
            evacuator.drain();
        }
        // Every recorded slot, in the order recorded; keep those still
        // pointing into the nursery afterwards (targets kept as survivors).
        // The buffer is not deduplicated first: a slot recorded twice is
        // updated twice, harmlessly (the second visit finds it already
        // pointing out of the from-space), and sorting thousands of slots
        // cost more than the repeats; only the few kept are deduplicated.
        // The slots are scattered over the old generation and their targets
        // over eden, so each is a cache miss or two: prefetch the slot
        // `SLOT_PREFETCH` ahead, and the target of the one half as far ahead
        // (whose slot should be in cache by then).
        const SLOT_PREFETCH: usize = 16;
        let list = &mut slots.slots;
        let recorded = list.len();
        let mut kept = 0;
        for i in 0..list.len() {
            if let Some(ahead) = list.get(i + SLOT_PREFETCH) {
                object::prefetch(ahead.as_ptr().cast_const().cast());
            }
            if let Some(near) = list.get(i + SLOT_PREFETCH / 2) {
                // SAFETY: as for the update below: a valid reference field.
                let target = unsafe { near.read() };
                // The header is the word before the payload; a prefetch of
                // a null or stale address is harmless (a hint, never a load).
                object::prefetch(target.cast_const().wrapping_sub(object::HEADER_SIZE));
            }
            let slot = list[i];
            // SAFETY: recorded slots are reference fields of live old or
            // large objects (recorded by `Mutator::store` from the field's
            // owner; major collections drop the slots of dead owners), and
            // old and large objects do not move.
            if unsafe { evacuator.update_remembered_slot(slot) } {
                list[kept] = slot;
                kept += 1;
            }
            evacuator.drain();
        }
        list.truncate(kept);
        slots.dedup();
        evacuator.drain();
        let outcome = evacuator.finish();
        self.old.flush_runs();
        self.tenuring
            .observe(survivors_before, outcome.survivor_bytes_kept);
        *self.remembered.get_mut() = outcome.remembered;
        slots.settle_after_minor(recorded);
        *self.remembered_slots.get_mut() = slots;
        self.young_objects = outcome.survivor_objects;
        self.tenured_object_bytes += outcome.promoted_bytes;
        self.pacer.observe(eden_used, outcome.promoted_bytes);
        if self.config.pretenuring {
            let mut counts = outcome.copied_by_type;
            let copied: u64 = counts.iter().sum();
            let dead = (eden_used + survivors_before).saturating_sub(copied as usize);
            self.pretenure.observe(&counts, dead);
            counts.fill(0);
            self.copied_by_type = counts;
        }
        if self.old.sweeping() && outcome.promoted_objects > 0 {
            self.old.note_black_allocation();
        }
        if let Some(cycle) = &mut self.cycle {
            cycle.black += outcome.promoted_bytes;
        }
        self.eden_objects = 0;
        self.eden_recorded = (0, 0);

        // Weak references: follow moved targets, clear dead young ones.
        self.weak.fix_after_minor(&self.types, &self.nursery);
        let nursery = &self.nursery;
        roots.visit_weak(&mut |obj| {
            if !nursery.in_from_space(obj.addr()) {
                return Some(obj);
            }
            // SAFETY: from-space objects are intact until the flip below.
            unsafe { obj.forwarded() }
        });

        // Identity hashes follow their objects.
        self.identity.get_mut().after_minor(
            // SAFETY: hashed young objects are from-space objects, intact
            // until the flip.
            |obj| unsafe { obj.forwarded() },
            |obj| nursery.contains(obj.addr()),
        );

        // Hand surviving finalizable objects to their lists, then finalize
        // the dead ones, while their memory is intact (until the flip).
        let young = std::mem::take(&mut self.finalizable_young);
        let mut dead = Vec::new();
        for obj in young {
            // SAFETY: listed objects are live nursery blocks, intact until the flip.
            match unsafe { obj.forwarded() } {
                Some(moved) if self.nursery.contains(moved.addr()) => {
                    self.finalizable_young.push(moved)
                }
                Some(moved) => self.finalizable_old.push(moved),
                None => dead.push(obj),
            }
        }
        // SAFETY: not forwarded, so unreachable; listed once; intact until
        // the flip below.
        let panicked = unsafe { finalize::run_destructors(&self.types, &dead) };
        self.nursery.flip();
        self.retarget_reserve();
        ((outcome.promoted_objects, outcome.promoted_bytes), panicked)
    }

    /// Major collection: mark everything reachable in every space (young
    /// objects too, without moving them), then sweep the old generation and
    /// the large-object space.
    /// Returns the first panic of a destructor it ran.
    fn major(&mut self, roots: &mut dyn RootSet) -> Option<PanicPayload> {
        self.settle_old_marks();
        let mut marker = Marker::new(&self.nursery, &mut self.old, &mut self.large, &self.types);
        roots.visit_roots(&mut marker);
        marker.drain();
        self.tenured_object_bytes = marker.tenured_bytes();
        drop(marker);
        self.reclaim_unmarked(roots, false)
    }

    /// Sets when the next major collection (or incremental cycle) is due,
    /// after one left `tenured_bytes()` of `live_before` at the sweep.
    pub(crate) fn after_major(&mut self, live_before: usize) {
        let live = self.tenured_bytes();
        if self.eden_policy.is_some() {
            self.major_threshold = adaptive::next_major_threshold(
                self.major_threshold,
                self.config.gc_threshold,
                live_before,
                live,
            );
        }
        let allowance = adaptive::growth_allowance(
            live,
            self.cycle_traced.take(),
            self.major_threshold,
            self.config.heap_growth_percent,
        );
        self.next_major_at = live.saturating_add(allowance);
        // A cycle starts with half the allowance left, for marking to end
        // in before the heap reaches the goal.
        self.cycle_start_at = live + allowance / 2;
    }

    /// Records that `owner` now references `value`: call after storing a
    /// reference into an object. Cheap when there is nothing to record (the
    /// owner is young, or the value is not). With incremental marking on,
    /// an overwrite also needs [`pre_write_barrier`](Self::pre_write_barrier)
    /// before the store.
    ///
    /// # Safety
    /// `owner` is a live object of this heap.
    #[inline]
    pub unsafe fn write_barrier(&mut self, owner: ObjectRef, value: ObjectRef) {
        if self.nursery.contains(value.addr()) && !self.nursery.contains(owner.addr()) {
            // SAFETY: forwarded caller contract.
            unsafe { self.remember(owner) };
        }
    }

    /// Records that a reference field of `owner` holding `old` is about to
    /// be overwritten: call before every store into a reference field that
    /// may hold a reference, when the heap marks incrementally
    /// ([`GcConfig::incremental_marking`]). Cheap when there is nothing to
    /// record (no cycle runs, or the owner is young).
    ///
    /// ```
    /// use morph_gengc::{AllocFlags, GcConfig, RawHeap};
    /// use morph_header::{TypeDescriptor, TypeRegistry};
    ///
    /// static TYPES: TypeRegistry = TypeRegistry::new();
    /// // One word, a reference field to this example (never traced here).
    /// let cell = TYPES.register(TypeDescriptor::of::<u64>("Cell"))?;
    /// let mut heap = RawHeap::with_registry(GcConfig::default(), &TYPES)?;
    /// // SAFETY: `u64` has no trace or drop function; 8 bytes is its size.
    /// let owner = unsafe { heap.try_alloc(8, cell, AllocFlags::TENURED, &mut ()) }?;
    /// let field = owner.as_ptr().cast::<*mut u8>();
    /// // SAFETY: `owner` is a live object of this heap, and its field holds null.
    /// unsafe {
    ///     heap.pre_write_barrier(owner, field.read());
    ///     field.write(std::ptr::null_mut());
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Safety
    /// `owner` is a live object of this heap and `old` null or the payload
    /// address of a live object of this heap (the field's current value).
    #[inline]
    pub unsafe fn pre_write_barrier(&self, owner: ObjectRef, old: *mut u8) {
        if self.marking() && !self.nursery.contains(owner.addr()) {
            self.log_overwritten(old);
        }
    }

    /// Adds an old or large object to the remembered set (once).
    ///
    /// # Safety
    /// `owner` is a live old or large object of this heap.
    #[cold]
    pub(crate) unsafe fn remember(&self, owner: ObjectRef) {
        // SAFETY: caller contract.
        let mut header = unsafe { owner.header() };
        if !header.flags().contains(HeaderFlags::REMEMBERED) {
            header.insert_flags(HeaderFlags::REMEMBERED);
            // SAFETY: caller contract; headers are written through raw
            // pointers only, never through a Rust reference someone holds.
            unsafe { owner.set_header(header) };
            self.remembered.borrow_mut().push(owner);
        }
    }

    /// Records that the reference field at `slot` of the old or large object
    /// `owner` now holds a young reference: the slot-granularity barrier of
    /// the safe API. The slot pointer is derived from `owner`, so it carries
    /// the provenance of the object's memory.
    ///
    /// # Safety
    /// `owner` is a live old or large object of this heap and `slot` the
    /// address of one of its reference fields (8-byte aligned, inside it).
    // Out of line: the barrier's inlined part stays the range checks.
    #[inline(never)]
    pub(crate) unsafe fn remember_slot(&self, owner: ObjectRef, slot: usize) {
        debug_assert!(slot.is_multiple_of(std::mem::align_of::<*mut u8>()));
        let slot = owner
            .as_ptr()
            .cast::<*mut u8>()
            .with_addr(std::num::NonZeroUsize::new(slot).unwrap_or_else(|| unreachable!()));
        self.remembered_slots.borrow_mut().push(slot);
    }

    /// The object whose memory holds `addr`, if it is an old or large object
    /// (the nursery is checked with [`is_young_addr`](Self::is_young_addr)).
    pub(crate) fn tenured_owner_of(&self, addr: usize) -> Option<ObjectRef> {
        self.old
            .owner_of(addr)
            .or_else(|| self.large.owner_of(addr))
    }

    /// `obj`'s identity hash: a number handed out the first time it is
    /// asked for and the same for the object's whole life, though
    /// collections move it — for hash tables keyed by object identity.
    /// Distinct objects alive together get distinct hashes until 2^64 have
    /// been handed out.
    ///
    /// ```
    /// use std::ptr::NonNull;
    /// use morph_gengc::{AllocFlags, Collection, ObjectRef, RawHeap, RootSet, SlotVisitor};
    /// use morph_header::{TypeDescriptor, TypeRegistry};
    ///
    /// static TYPES: TypeRegistry = TypeRegistry::new();
    /// let number = TYPES.register(TypeDescriptor::of::<u64>("Number"))?;
    /// let mut heap = RawHeap::with_registry(Default::default(), &TYPES)?;
    ///
    /// struct OneRoot(*mut u8);
    /// // SAFETY: the slot holds null or the payload of a live object, which
    /// // the collector keeps current; reported once; nothing panics.
    /// unsafe impl RootSet for OneRoot {
    ///     fn visit_roots(&mut self, visitor: &mut dyn SlotVisitor) {
    ///         visitor.visit_slot(NonNull::from(&mut self.0));
    ///     }
    /// }
    /// let mut root = OneRoot(std::ptr::null_mut());
    /// // SAFETY: a zeroed `u64` is valid and its type has no functions.
    /// let obj = unsafe { heap.try_alloc(8, number, AllocFlags::DEFAULT, &mut root) }?;
    /// root.0 = obj.as_ptr().as_ptr();
    /// // SAFETY: a live object of this heap.
    /// let hash = unsafe { heap.identity_hash(obj) };
    /// heap.collect(Collection::Minor, &mut root); // moves the object
    /// // SAFETY: the root holds the moved object's payload.
    /// let moved = unsafe { ObjectRef::from_payload(NonNull::new(root.0).unwrap()) };
    /// assert_ne!(moved, obj);
    /// // SAFETY: a live object of this heap.
    /// assert_eq!(unsafe { heap.identity_hash(moved) }, hash);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Safety
    /// `obj` is a live object of this heap.
    pub unsafe fn identity_hash(&self, obj: ObjectRef) -> u64 {
        let young = self.is_young_addr(obj.addr());
        self.identity.borrow_mut().hash_of(obj, young)
    }

    /// How many objects have an identity hash.
    pub fn identity_hashed(&self) -> usize {
        self.identity.borrow().len()
    }

    /// Whether `addr` is in the nursery.
    #[inline(always)]
    pub(crate) fn is_young_addr(&self, addr: usize) -> bool {
        self.nursery.contains(addr)
    }

    /// Whether `obj` is young (in the nursery).
    pub fn is_young(&self, obj: ObjectRef) -> bool {
        self.nursery.contains(obj.addr())
    }

    /// The header of a live object.
    ///
    /// # Safety
    /// `obj` is a live object of this heap.
    pub unsafe fn header(&self, obj: ObjectRef) -> ObjectHeader {
        // SAFETY: caller contract.
        unsafe { obj.header() }
    }

    /// Payload size of a live object (including large objects past 16 MiB).
    ///
    /// # Safety
    /// `obj` is a live object of this heap.
    pub unsafe fn payload_size(&self, obj: ObjectRef) -> usize {
        // SAFETY: caller contract.
        let header = unsafe { obj.header() };
        if header.generation().is_large() {
            self.large
                .payload_size(obj)
                .unwrap_or(header.payload_size())
        } else {
            header.payload_size()
        }
    }

    /// Sizes of the heap's spaces.
    pub fn usage(&self) -> HeapUsage {
        HeapUsage {
            nursery_reserved: self.nursery.reserved(),
            nursery_used: self.nursery.used(),
            old_reserved: self.old.reserved(),
            old_used: self.old.used(),
            old_objects: self.old.objects(),
            large_reserved: self.large.reserved() + self.large.spare_bytes(),
            large_objects: self.large.len(),
        }
    }

    /// Collections run so far.
    pub fn collections(&self) -> u64 {
        self.collections
    }

    /// The metrics recorder (allocations, collections, pauses).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// A statistics snapshot, space figures included.
    pub fn stats(&self) -> MorphMemStats {
        let mut stats = self.current_metrics().snapshot(self.registry());
        self.report_into(&mut stats);
        stats
    }

    /// The heap's metrics brought up to date (eden allocations since the
    /// last collection counted in), for merging with other layers' before a
    /// snapshot. [`metrics`](Self::metrics) is the raw record.
    pub fn current_metrics(&self) -> Metrics {
        let mut metrics = self.metrics.clone();
        record_eden(
            &self.nursery,
            &self.young_tally,
            (self.eden_objects, self.eden_recorded),
            &mut metrics,
        );
        metrics
    }

    /// Records the eden allocations since the last count into the metrics.
    fn count_new_young(&mut self) {
        self.eden_recorded = record_eden(
            &self.nursery,
            &self.young_tally,
            (self.eden_objects, self.eden_recorded),
            &mut self.metrics,
        );
        self.young_tally.fill((0, 0));
    }

    /// Time since the heap was created.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Drop for RawHeap {
    /// Every object dies with the heap: destructors still owed run now
    /// (young ones first), exactly once, before the spaces are freed.
    ///
    /// A poisoned heap runs none: its spaces may hold half-copied objects,
    /// so it leaks what their destructors would have freed. A destructor's
    /// panic is re-raised after all have run (unless the heap is dropped
    /// during unwinding, when it is dropped silently).
    fn drop(&mut self) {
        if self.poisoned {
            return;
        }
        let mut dead = std::mem::take(&mut self.finalizable_young);
        dead.append(&mut self.finalizable_old);
        // SAFETY: outside a collection, listed young objects are live,
        // unforwarded nursery objects and listed old and large objects live
        // blocks, each listed once; nothing can reach them any more.
        let panicked = unsafe { finalize::run_destructors(&self.types, &dead) };
        if let Some(payload) = panicked
            && !std::thread::panicking()
        {
            panic::resume_unwind(payload);
        }
    }
}

impl StatsSource for RawHeap {
    fn report_into(&self, stats: &mut MorphMemStats) {
        let usage = self.usage();
        let heap = &mut stats.heap;
        heap.heap_bytes += usage.reserved() as u64;
        heap.nursery_bytes += usage.nursery_reserved as u64;
        heap.old_bytes += usage.old_reserved as u64;
        heap.large_bytes += usage.large_reserved as u64;
        heap.large_count += usage.large_objects as u64;
    }
}

#[cold]
#[inline(never)]
/// Re-raises a destructor's panic that a completed collection step
/// returned.
fn resume_panic(panicked: Option<PanicPayload>) {
    if let Some(payload) = panicked {
        panic::resume_unwind(payload);
    }
}

fn poisoned_heap() -> ! {
    panic!("{}", GcError::Poisoned)
}

/// Records into `metrics` the eden allocations not yet recorded, given how
/// many objects eden holds and how far it was recorded (bytes, objects):
/// per type from `tally` when `type_stats` counted them at allocation (then
/// `tally` holds exactly the unrecorded ones), else in the totals only.
/// Returns how far it is recorded now.
fn record_eden(
    nursery: &Nursery,
    tally: &[(u64, u64)],
    (eden_objects, (bytes_done, objects_done)): (usize, (usize, usize)),
    metrics: &mut Metrics,
) -> (usize, usize) {
    let eden_bytes = nursery.eden_used();
    let mut typed = (0u64, 0u64);
    for (index, &(objects, bytes)) in tally.iter().enumerate() {
        if objects > 0
            && let Ok(type_id) = TypeId::new(index as u32)
        {
            metrics.record_allocs(type_id, objects, bytes);
            typed.0 += objects;
            typed.1 += bytes;
        }
    }
    let untyped = (
        ((eden_objects - objects_done) as u64).saturating_sub(typed.0),
        ((eden_bytes - bytes_done) as u64).saturating_sub(typed.1),
    );
    if untyped != (0, 0) {
        metrics.record_untyped_allocs(untyped.0, untyped.1);
    }
    (eden_bytes, eden_objects)
}

/// Whether a live object was marked by the current major collection.
///
/// # Safety
/// `obj` is a live object of the heap whose spaces these are, outside a
/// minor collection.
pub(crate) unsafe fn is_marked(
    nursery: &Nursery,
    old: &OldSpace,
    large: &LargeSpace,
    obj: ObjectRef,
) -> bool {
    if nursery.contains(obj.addr()) {
        // SAFETY: caller contract.
        return unsafe { obj.header() }.is_marked();
    }
    // SAFETY: caller contract.
    let generation = unsafe { obj.header() }.generation();
    if generation.is_large() {
        large.is_marked(obj)
    } else {
        old.is_marked(obj)
    }
}

/// The slot half of the remembered set: addresses of reference fields of
/// old and large objects that were given a young value by the safe API's
/// barrier ([`RawHeap::remember_slot`]).
///
/// A sequential store buffer: the barrier appends, so a field written many
/// times between two minor collections may be listed many times. A minor
/// collection deduplicates the buffer first (so it updates each slot once)
/// and keeps only the slots that still point into the nursery; a major
/// collection drops the slots of dead owners. Between collections the
/// buffer is bounded by compaction: whenever it has doubled since the last
/// deduplication it is sorted and deduplicated, so it never holds more than
/// twice the number of distinct fields written (plus [`Self::MIN_COMPACT`]).
#[derive(Debug, Default)]
pub(crate) struct RememberedSlots {
    /// Slot pointers, derived from their owner's object pointer.
    pub(crate) slots: Vec<NonNull<*mut u8>>,
    /// Length below which `push` does not compact.
    compact_at: usize,
}

impl RememberedSlots {
    /// Smallest buffer compacted on growth: below this, duplicates cost
    /// less than sorting. (Smaller under Miri, whose tests store less.)
    const MIN_COMPACT: usize = if cfg!(miri) { 1024 } else { 4096 };

    /// Appends a slot (skipping an immediate repeat of the last one).
    #[inline]
    pub(crate) fn push(&mut self, slot: NonNull<*mut u8>) {
        if self.slots.last() == Some(&slot) {
            return;
        }
        self.slots.push(slot);
        if self.slots.len() >= self.compact_at.max(Self::MIN_COMPACT) {
            self.compact();
        }
    }

    #[cold]
    #[inline(never)]
    fn compact(&mut self) {
        self.dedup();
        self.settle();
    }

    /// Sorts by address and removes duplicates.
    pub(crate) fn dedup(&mut self) {
        self.slots.sort_unstable_by_key(|slot| slot.addr());
        self.slots.dedup();
    }

    /// After a minor collection that processed `recorded` slots: as
    /// [`settle`](Self::settle), but the next compaction waits until the
    /// buffer is twice as long as it was at this collection. A program
    /// that records thousands of distinct slots a cycle was otherwise
    /// sorted once a cycle, in the mutator, for no duplicates found. The
    /// bound stays: a compaction resets the point to twice the distinct
    /// slots, so what the buffer holds is at most twice what a cycle
    /// recorded, or the compaction minimum.
    pub(crate) fn settle_after_minor(&mut self, recorded: usize) {
        self.settle();
        self.compact_at = self.compact_at.max(2 * recorded);
    }

    /// Sets the next compaction point after the buffer changed size, and
    /// returns memory a burst of stores left behind.
    pub(crate) fn settle(&mut self) {
        self.compact_at = self.slots.len() * 2;
        if self.slots.capacity() > 4 * self.slots.len().max(Self::MIN_COMPACT) {
            self.slots.shrink_to(2 * self.slots.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Roots: a list of payload pointers, updated when their objects move.
    struct Slots(Vec<*mut u8>);

    // SAFETY: the slots hold null or payloads the test allocated and kept
    // rooted; each is reported once; nothing panics.
    unsafe impl RootSet for Slots {
        fn visit_roots(&mut self, visitor: &mut dyn SlotVisitor) {
            for slot in &mut self.0 {
                visitor.visit_slot(NonNull::from(slot));
            }
        }
    }

    #[test]
    fn neighbour_prefetching_follows_how_densely_minor_collections_survive() {
        static TYPES: TypeRegistry = TypeRegistry::new();
        let leaf = TYPES
            .register(morph_header::TypeDescriptor::of::<[u64; 2]>("Leaf"))
            .unwrap();
        let config = GcConfig {
            nursery_size: 64 << 10,
            survivor_size: 16 << 10,
            ..GcConfig::default()
        };
        let mut heap = RawHeap::with_registry(config, &TYPES).unwrap();
        // Until a minor collection has measured anything, copies prefetch.
        assert!(heap.dense_survival);
        let mut roots = Slots(Vec::new());
        let mut run = |heap: &mut RawHeap, keep_every: usize| {
            roots.0.clear();
            for i in 0..1000 {
                // SAFETY: a leaf type of 16 bytes: nothing to trace or drop.
                let obj =
                    unsafe { heap.try_alloc(16, leaf, AllocFlags::DEFAULT, &mut ()) }.unwrap();
                if i % keep_every == 0 {
                    roots.0.push(obj.as_ptr().as_ptr());
                }
            }
            heap.collect(Collection::Minor, &mut roots);
            heap.dense_survival
        };
        // One object in 20 survives: sparse, so the next collection does not.
        assert!(!run(&mut heap, 20));
        // One in 2: dense again.
        assert!(run(&mut heap, 2));
    }

    #[test]
    fn a_cycle_recording_as_many_slots_as_the_last_is_not_compacted() {
        let distinct = 3 * RememberedSlots::MIN_COMPACT / 2;
        let mut fields = vec![std::ptr::null_mut::<u8>(); distinct];
        // Recorded from the highest address down: a compaction would sort.
        let slots: Vec<NonNull<*mut u8>> = fields.iter_mut().rev().map(NonNull::from).collect();
        let mut buffer = RememberedSlots::default();
        buffer.settle_after_minor(distinct);
        for &slot in &slots {
            buffer.push(slot);
        }
        assert_eq!(buffer.slots, slots, "compacted a cycle of distinct slots");
        // Repeats are still bounded: a compaction comes at twice the last
        // cycle's length and leaves the distinct slots.
        let repeats = if cfg!(miri) {
            8 * distinct
        } else {
            64 * distinct
        };
        for i in 0..repeats {
            buffer.push(slots[i % 2]);
            assert!(buffer.slots.len() <= 2 * distinct);
        }
    }

    #[test]
    fn the_slot_buffer_stays_bounded_by_the_distinct_slots_written() {
        let mut fields = [std::ptr::null_mut::<u8>(); 8];
        let slots: Vec<NonNull<*mut u8>> = fields.iter_mut().map(NonNull::from).collect();
        let mut buffer = RememberedSlots::default();
        // Many stores to a few fields, interleaved so no store repeats the last.
        for i in 0..4 * RememberedSlots::MIN_COMPACT {
            buffer.push(slots[i % slots.len()]);
            assert!(buffer.slots.len() <= RememberedSlots::MIN_COMPACT);
        }
        buffer.dedup();
        let mut expected = slots.clone();
        expected.sort_unstable_by_key(|slot| slot.addr());
        assert_eq!(buffer.slots, expected);
        // An immediate repeat is skipped outright.
        buffer.push(expected[7]);
        assert_eq!(buffer.slots.len(), 8);
    }
}
