//! The type registry (RTTI): what a collector needs to know about each type.
//!
//! A header stores only a [`TypeId`]; the registry maps it to a
//! [`TypeDescriptor`] — the type's name (for reports such as "Top Types"), its
//! layout, how to find the references inside it, and how to drop it.
//!
//! Lookups happen on a collector's hot path (once per traced object), so they
//! take no lock: the table is a fixed array of lazily created segments, each
//! slot written once ([`OnceLock`]) and never changed or freed while the
//! registry lives. Registration takes a unique id with one atomic
//! read-modify-write and then fills its slot, so it is safe from any number of
//! threads.

use std::alloc::Layout;
use std::borrow::Cow;
use std::fmt;
use std::ptr::NonNull;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::{HeaderError, MAX_TYPES, TypeId};

/// Receives the reference slots of an object while it is traced.
///
/// A slot is a pointer-sized field inside the object that holds the address
/// of another object's payload, or null. The visitor may read it and, for a
/// moving collector, overwrite it with the object's new address — which is
/// why tracing hands out slots rather than the references' values.
///
/// ```
/// use morph_header::SlotVisitor;
/// use std::ptr::NonNull;
///
/// /// Counts the non-null references it is shown.
/// struct Count(usize);
///
/// impl SlotVisitor for Count {
///     fn visit_slot(&mut self, slot: NonNull<*mut u8>) {
///         // SAFETY: visitors are handed valid, aligned slots.
///         if !unsafe { slot.read() }.is_null() {
///             self.0 += 1;
///         }
///     }
/// }
///
/// let mut target = [0u64; 2];
/// let mut fields = [std::ptr::null_mut(), target.as_mut_ptr().cast::<u8>()];
/// let mut count = Count(0);
/// for field in &mut fields {
///     count.visit_slot(NonNull::from(field));
/// }
/// // The sized visit falls back to `visit_slot` unless a visitor uses the size.
/// // SAFETY: the referent's payload is the 16 bytes of `target`.
/// unsafe { count.visit_sized_slot(NonNull::from(&mut fields[1]), 16) };
/// assert_eq!(count.0, 2);
/// ```
pub trait SlotVisitor {
    /// Called once for every reference slot of the traced object.
    fn visit_slot(&mut self, slot: NonNull<*mut u8>);

    /// [`visit_slot`](Self::visit_slot) for a slot whose referent, if the
    /// slot is not null, is known to have a payload of exactly `payload`
    /// bytes (a typed reference knows its referent's type). A copying
    /// collector can then copy and place the referent without reading its
    /// size from the header; the default ignores the size.
    ///
    /// # Safety
    /// A non-null referent of `slot` is an object whose payload is
    /// `payload` bytes.
    #[inline(always)]
    unsafe fn visit_sized_slot(&mut self, slot: NonNull<*mut u8>, payload: usize) {
        let _ = payload;
        self.visit_slot(slot);
    }

    /// Called for a *weak* reference slot: one that must not keep its
    /// referent alive, and that a collector clears (writes null to) when
    /// the referent dies, or updates when it moves. The default ignores
    /// it, which is right for a visitor that only follows strong
    /// references; a type whose trace reports weak slots must say so in
    /// its descriptor ([`TypeDescriptor::with_weak`]), so the collector
    /// can find its objects again after marking.
    #[inline(always)]
    fn visit_weak_slot(&mut self, slot: NonNull<*mut u8>) {
        let _ = slot;
    }

    /// Called for an *ephemeron*: a weak `key` slot and the `value` slot
    /// it guards (given only when it holds a reference now). The value is
    /// reachable through the entry only while the key is reachable some
    /// other way; a collector that knows ephemerons defers the value until
    /// it knows whether the key lives, and clears both slots when the key
    /// dies. The default treats the key as weak and the value as strong:
    /// sound, but an entry whose value refers back to its key then keeps
    /// both alive.
    #[inline(always)]
    fn visit_ephemeron(&mut self, key: NonNull<*mut u8>, value: Option<NonNull<*mut u8>>) {
        self.visit_weak_slot(key);
        if let Some(value) = value {
            self.visit_slot(value);
        }
    }
}

/// Finds the reference slots of one object.
///
/// # Safety
/// `object` must point at the payload of a live, initialised object of the
/// type the descriptor describes; the function must report every reference
/// slot exactly once, and nothing else.
pub type TraceFn = unsafe fn(object: NonNull<u8>, visitor: &mut dyn SlotVisitor);

/// Drops (finalizes) one object in place.
///
/// # Safety
/// `object` must point at the payload of a live, initialised object of the
/// type the descriptor describes, which is never used again afterwards.
pub type DropFn = unsafe fn(object: NonNull<u8>);

/// What the collector knows about one managed type.
///
/// Building and registering a descriptor is safe, whatever its functions
/// do: they are `unsafe fn` pointers that run only on objects a collector
/// allocated for the type, and that allocation is where a caller vouches
/// for them (`morph_gengc::RawHeap::try_alloc` is an `unsafe fn` whose
/// contract requires the functions to be sound on the object's payload,
/// zeroed at first).
///
/// ```
/// use morph_header::TypeDescriptor;
///
/// let strings = TypeDescriptor::of::<String>("String");
/// assert_eq!(strings.layout().size(), std::mem::size_of::<String>());
/// assert!(strings.drop_fn().is_some(), "String needs its destructor run");
/// assert!(TypeDescriptor::of::<u64>("u64").drop_fn().is_none());
/// ```
#[derive(Clone)]
pub struct TypeDescriptor {
    name: Cow<'static, str>,
    layout: Layout,
    trace: Option<TraceFn>,
    drop: Option<DropFn>,
    weak: bool,
}

impl TypeDescriptor {
    /// A descriptor with a name and payload layout, no references and no
    /// destructor (a leaf type). Add those with [`with_trace`](Self::with_trace)
    /// and [`with_drop`](Self::with_drop).
    pub fn new(name: impl Into<Cow<'static, str>>, layout: Layout) -> Self {
        TypeDescriptor {
            name: name.into(),
            layout,
            trace: None,
            drop: None,
            weak: false,
        }
    }

    /// A descriptor for the Rust type `T`: its layout, and `T`'s destructor
    /// if it has one.
    pub fn of<T>(name: impl Into<Cow<'static, str>>) -> Self {
        /// # Safety
        /// As [`DropFn`]: `object` is a live, initialised `T` never used again.
        unsafe fn drop_as<T>(object: NonNull<u8>) {
            // SAFETY: the caller upholds DropFn's contract for this type: the
            // pointer is a live, initialised, properly aligned T that is never
            // used after this call.
            unsafe { object.cast::<T>().drop_in_place() }
        }
        let drop: Option<DropFn> = if std::mem::needs_drop::<T>() {
            Some(drop_as::<T>)
        } else {
            None
        };
        TypeDescriptor {
            drop,
            ..TypeDescriptor::new(name, Layout::new::<T>())
        }
    }

    /// Sets how to find the object's references.
    pub fn with_trace(mut self, trace: TraceFn) -> Self {
        self.trace = Some(trace);
        self
    }

    /// Sets how to drop (finalize) the object.
    pub fn with_drop(mut self, drop: DropFn) -> Self {
        self.drop = Some(drop);
        self
    }

    /// Declares that the trace function reports weak slots or ephemerons
    /// ([`SlotVisitor::visit_weak_slot`], [`SlotVisitor::visit_ephemeron`]):
    /// the collector then lists the type's objects, so that it can clear
    /// their weak references after marking. A trace function that reports
    /// weak slots for a type without this flag leaves them uncleared, to
    /// dangle once their referents are freed.
    ///
    /// ```
    /// use morph_header::TypeDescriptor;
    ///
    /// let cache = TypeDescriptor::of::<[usize; 4]>("Cache").with_weak();
    /// assert!(cache.holds_weak());
    /// assert!(!TypeDescriptor::of::<u64>("u64").holds_weak());
    /// ```
    pub fn with_weak(mut self) -> Self {
        self.weak = true;
        self
    }

    /// The type's name, as reports show it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The payload layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// How to trace the object, if it holds references.
    pub fn trace_fn(&self) -> Option<TraceFn> {
        self.trace
    }

    /// How to drop the object, if it needs it.
    pub fn drop_fn(&self) -> Option<DropFn> {
        self.drop
    }

    /// Whether objects of the type hold weak references
    /// ([`with_weak`](Self::with_weak)).
    pub fn holds_weak(&self) -> bool {
        self.weak
    }
}

impl fmt::Debug for TypeDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypeDescriptor")
            .field("name", &self.name)
            .field("size", &self.layout.size())
            .field("align", &self.layout.align())
            .field("traced", &self.trace.is_some())
            .field("dropped", &self.drop.is_some())
            .field("weak", &self.weak)
            .finish()
    }
}

const SEGMENT_LEN: usize = 256;
const SEGMENTS: usize = MAX_TYPES.div_ceil(SEGMENT_LEN);

type Segment = [OnceLock<TypeDescriptor>; SEGMENT_LEN];

/// Maps [`TypeId`]s to [`TypeDescriptor`]s; registration and lookup are safe
/// from any number of threads, and lookups take no lock.
///
/// Most programs use the process-wide [`TypeRegistry::global`]; a runtime
/// that wants its own id space (or a test) builds its own.
///
/// ```
/// use morph_header::{TypeDescriptor, TypeRegistry};
///
/// let registry = TypeRegistry::new();
/// let id = registry.register(TypeDescriptor::of::<[u64; 2]>("Pair"))?;
/// assert_eq!(registry.get(id).map(|d| d.name()), Some("Pair"));
/// assert_eq!(registry.len(), 1);
/// # Ok::<(), morph_header::HeaderError>(())
/// ```
pub struct TypeRegistry {
    next: AtomicU32,
    capacity: u32,
    segments: [OnceLock<Box<Segment>>; SEGMENTS],
}

static GLOBAL: TypeRegistry = TypeRegistry::new();

impl TypeRegistry {
    /// An empty registry that holds up to [`MAX_TYPES`] types.
    pub const fn new() -> Self {
        Self::with_capacity(MAX_TYPES)
    }

    /// An empty registry that holds up to `capacity` types (at most
    /// [`MAX_TYPES`]; a larger request is capped, since no header could name
    /// the extra ids).
    pub const fn with_capacity(capacity: usize) -> Self {
        let capacity = if capacity < MAX_TYPES {
            capacity
        } else {
            MAX_TYPES
        };
        TypeRegistry {
            next: AtomicU32::new(0),
            capacity: capacity as u32,
            segments: [const { OnceLock::new() }; SEGMENTS],
        }
    }

    /// The process-wide registry.
    pub fn global() -> &'static TypeRegistry {
        &GLOBAL
    }

    /// Registers a type and returns its id, or
    /// [`HeaderError::RegistryFull`] once the registry holds `capacity` types
    /// (nothing is changed then).
    pub fn register(&self, descriptor: TypeDescriptor) -> Result<TypeId, HeaderError> {
        let capacity = self.capacity;
        let id = self
            .next
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < capacity).then_some(n + 1)
            })
            .map_err(|_| HeaderError::RegistryFull {
                capacity: capacity as usize,
            })?;
        let index = id as usize;
        let segment = self.segments[index / SEGMENT_LEN]
            .get_or_init(|| Box::new(std::array::from_fn(|_| OnceLock::new())));
        let fresh = segment[index % SEGMENT_LEN].set(descriptor).is_ok();
        debug_assert!(fresh, "type id {id} handed out twice");
        TypeId::new(id)
    }

    /// The descriptor of `id`, or `None` if no type has that id (yet).
    #[inline]
    pub fn get(&self, id: TypeId) -> Option<&TypeDescriptor> {
        let index = id.index();
        self.segments.get(index / SEGMENT_LEN)?.get()?[index % SEGMENT_LEN].get()
    }

    /// The name of `id`, or `"<unregistered>"`: what reports print.
    pub fn name_of(&self, id: TypeId) -> &str {
        self.get(id).map_or("<unregistered>", TypeDescriptor::name)
    }

    /// How many ids have been handed out.
    pub fn len(&self) -> usize {
        self.next.load(Ordering::Acquire) as usize
    }

    /// Whether no type is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many types this registry can hold.
    pub fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// Every registered type, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (TypeId, &TypeDescriptor)> + '_ {
        (0..self.len() as u32).filter_map(move |raw| {
            let id = TypeId::new(raw).ok()?;
            Some((id, self.get(id)?))
        })
    }
}

impl Default for TypeRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for TypeRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypeRegistry")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}
