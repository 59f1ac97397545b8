//! The heap verifier: checks the invariants a collection relies on.
//!
//! It walks everything reachable from the roots, without moving or marking
//! anything, and reports each broken invariant:
//! * every reference (root, field, weak) is to the payload of an object that
//!   a space of this heap holds;
//! * no reachable object is forwarded;
//! * every reachable object's type is known to the heap;
//! * an object's generation matches the space it lives in;
//! * every reference from an old or large object to a young object is in the
//!   remembered set: its owner is remembered (the raw API's barrier, and
//!   promotion) or its slot is recorded (the safe API's barrier).
//!
//! Unreachable objects are not checked: the collector never looks at them
//! again (they may legitimately point at objects already freed).

use std::collections::HashSet;
use std::fmt;
use std::ptr::NonNull;

use morph_header::{HeaderFlags, SlotVisitor};

use crate::heap::{RawHeap, RootSet, is_marked};
use crate::object::ObjectRef;

/// One broken heap invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// A reference points at something that is not an object of the heap.
    DanglingReference {
        /// Where the reference is: `"root"`, `"weak root"`, or the owner's address.
        from: String,
        /// The address it holds.
        target: usize,
    },
    /// A reachable object has been forwarded (a collection left a stale reference).
    ForwardedReachable {
        /// The object.
        object: usize,
    },
    /// A reachable object's type is not known to the heap.
    UnknownType {
        /// The object.
        object: usize,
        /// Its type id.
        type_id: u32,
    },
    /// An object's generation does not match its space.
    WrongGeneration {
        /// The object.
        object: usize,
        /// What was found.
        detail: String,
    },
    /// An old or large object references a young one, but neither the object
    /// is remembered nor the field's slot recorded.
    NotRemembered {
        /// The old object.
        owner: usize,
        /// The young object it references.
        target: usize,
    },
    /// At the end of an incremental cycle's marking, a reachable old or
    /// large object is unmarked: the tri-colour invariant was broken (a
    /// store escaped the barrier). Checked in stress mode.
    Unmarked {
        /// The object.
        object: usize,
    },
    /// An object's trace reports weak references, but the heap does not
    /// list it as a weak holder, so collections would not clear them: its
    /// type does not declare [`Trace::HAS_WEAK`](crate::Trace::HAS_WEAK)
    /// (or, in the raw API, [`with_weak`](morph_header::TypeDescriptor::with_weak)).
    UnlistedWeakHolder {
        /// The object.
        object: usize,
    },
    /// A panic interrupted a collection: the heap is poisoned and not walked
    /// (see [`RawHeap::is_poisoned`](crate::RawHeap::is_poisoned)).
    Poisoned,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::DanglingReference { from, target } => {
                write!(
                    f,
                    "reference from {from} to {target:#x}, which is not an object of this heap"
                )
            }
            VerifyError::ForwardedReachable { object } => {
                write!(
                    f,
                    "reachable object {object:#x} is forwarded (stale reference)"
                )
            }
            VerifyError::UnknownType { object, type_id } => {
                write!(
                    f,
                    "object {object:#x} has type id {type_id}, unknown to the heap"
                )
            }
            VerifyError::WrongGeneration { object, detail } => {
                write!(f, "object {object:#x}: {detail}")
            }
            VerifyError::NotRemembered { owner, target } => write!(
                f,
                "old object {owner:#x} references young object {target:#x} but is not in the remembered set"
            ),
            VerifyError::Unmarked { object } => write!(
                f,
                "reachable object {object:#x} is unmarked at the end of an incremental cycle"
            ),
            VerifyError::UnlistedWeakHolder { object } => write!(
                f,
                "object {object:#x} holds weak references but is not listed as a weak holder (its type does not declare HAS_WEAK)"
            ),
            VerifyError::Poisoned => f.write_str(
                "the heap is poisoned: a panic interrupted a collection, so it is not walked",
            ),
        }
    }
}

impl std::error::Error for VerifyError {}

struct Checker<'h> {
    heap: &'h RawHeap,
    objects: HashSet<usize>,
    remembered: HashSet<usize>,
    /// Recorded slot addresses (the slot half of the remembered set).
    remembered_slots: HashSet<usize>,
    visited: HashSet<usize>,
    stack: Vec<ObjectRef>,
    errors: Vec<VerifyError>,
    /// Owner of the slots being visited; `None` for roots.
    owner: Option<ObjectRef>,
    /// Listed weak holders, and the remembered ones.
    weak_holders: HashSet<usize>,
    weak_remembered: HashSet<usize>,
    /// Whether this is the end of a cycle's marking (`verify_marked`).
    marked: bool,
}

impl SlotVisitor for Checker<'_> {
    fn visit_slot(&mut self, slot: NonNull<*mut u8>) {
        // SAFETY: slots handed to a visitor are valid reference fields or root slots.
        let target = unsafe { slot.read() };
        let Some(target_ptr) = NonNull::new(target) else {
            return;
        };
        let owner = self.owner;
        if !self.objects.contains(&target_ptr.addr().get()) {
            let from = owner.map_or_else(|| "root".to_owned(), |o| format!("{:#x}", o.addr()));
            self.errors.push(VerifyError::DanglingReference {
                from,
                target: target_ptr.addr().get(),
            });
            return;
        }
        // SAFETY: checked above: the payload address of an object of the heap;
        // built from the slot's own pointer, so it keeps its provenance.
        let obj = unsafe { ObjectRef::from_payload(target_ptr) };
        if let Some(owner) = owner {
            let owner_young = self.heap.is_young(owner);
            if !owner_young
                && self.heap.is_young(obj)
                && !self.remembered.contains(&owner.addr())
                && !self.remembered_slots.contains(&slot.addr().get())
            {
                self.errors.push(VerifyError::NotRemembered {
                    owner: owner.addr(),
                    target: obj.addr(),
                });
            }
        }
        if self.visited.insert(obj.addr()) {
            self.stack.push(obj);
        }
    }

    fn visit_weak_slot(&mut self, slot: NonNull<*mut u8>) {
        self.check_weak(slot);
    }

    fn visit_ephemeron(&mut self, key: NonNull<*mut u8>, value: Option<NonNull<*mut u8>>) {
        let key_live = self.check_weak(key);
        // At the end of a cycle's marking, an entry whose key is unmarked
        // is about to be cleared: its value need not be marked.
        if let Some(value) = value
            && (!self.marked || key_live)
        {
            self.visit_slot(value);
        }
    }
}

impl Checker<'_> {
    /// Checks a weak slot: its referent exists, its holder is listed as
    /// one, and an old holder of a young referent is remembered. Returns
    /// whether the referent is null or counts as live to the marking.
    fn check_weak(&mut self, slot: NonNull<*mut u8>) -> bool {
        let Some(owner) = self.owner else {
            return true;
        };
        if !self.weak_holders.contains(&owner.addr()) {
            self.errors.push(VerifyError::UnlistedWeakHolder {
                object: owner.addr(),
            });
        }
        // SAFETY: a weak reference field of the object being traced.
        let target = unsafe { slot.read() };
        let Some(target_ptr) = NonNull::new(target) else {
            return true;
        };
        if !self.objects.contains(&target_ptr.addr().get()) {
            self.errors.push(VerifyError::DanglingReference {
                from: format!("weak field of {:#x}", owner.addr()),
                target: target_ptr.addr().get(),
            });
            return false;
        }
        // SAFETY: checked above: an object of the heap.
        let obj = unsafe { ObjectRef::from_payload(target_ptr) };
        let young = self.heap.is_young(obj);
        if young && !self.heap.is_young(owner) && !self.weak_remembered.contains(&owner.addr()) {
            self.errors.push(VerifyError::NotRemembered {
                owner: owner.addr(),
                target: obj.addr(),
            });
        }
        // SAFETY: a live object of the heap, outside a minor collection.
        young || unsafe { is_marked(&self.heap.nursery, &self.heap.old, &self.heap.large, obj) }
    }
}

impl RawHeap {
    /// Checks the heap's invariants over everything reachable from `roots`
    /// (see the [`verify`](crate::verify) module docs). Returns every broken
    /// invariant found; an empty heap or a healthy one gives `Ok(())`.
    ///
    /// ```
    /// use morph_gengc::{AllocFlags, GcConfig, RawHeap};
    /// use morph_header::{TypeDescriptor, TypeRegistry};
    ///
    /// static TYPES: TypeRegistry = TypeRegistry::new();
    /// let leaf = TYPES.register(TypeDescriptor::of::<u64>("Leaf"))?;
    /// let mut heap = RawHeap::with_registry(GcConfig::default(), &TYPES)?;
    /// // SAFETY: a leaf type: nothing to trace or drop.
    /// unsafe { heap.try_alloc(8, leaf, AllocFlags::DEFAULT, &mut ()) }?;
    /// assert_eq!(heap.verify(&mut ()), Ok(()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify(&self, roots: &mut dyn RootSet) -> Result<(), Vec<VerifyError>> {
        if self.is_poisoned() {
            return Err(vec![VerifyError::Poisoned]);
        }
        self.check_no_loan();
        self.walk(roots, false)
    }

    /// As [`verify`](Self::verify), and every reachable old or large
    /// object must be marked: the tri-colour invariant at the end of an
    /// incremental cycle's marking.
    pub(crate) fn verify_marked(&self, roots: &mut dyn RootSet) -> Result<(), Vec<VerifyError>> {
        self.walk(roots, true)
    }

    fn walk(&self, roots: &mut dyn RootSet, marked: bool) -> Result<(), Vec<VerifyError>> {
        let mut objects = HashSet::new();
        let mut errors = Vec::new();
        // SAFETY: not inside a collection; the closure does not allocate.
        unsafe {
            self.nursery.for_each_object(|o| {
                objects.insert(o.addr());
            });
        }
        self.old.for_each_object(|o| {
            objects.insert(o.addr());
        });
        self.large.for_each_object(|o| {
            objects.insert(o.addr());
        });
        let remembered = self.remembered.borrow().iter().map(|o| o.addr()).collect();
        let remembered_slots = self
            .remembered_slots
            .borrow()
            .slots
            .iter()
            .map(|slot| slot.addr().get())
            .collect();
        let mut checker = Checker {
            heap: self,
            objects,
            remembered,
            remembered_slots,
            visited: HashSet::new(),
            stack: Vec::new(),
            errors: Vec::new(),
            owner: None,
            weak_holders: self
                .weak
                .young
                .iter()
                .chain(&self.weak.old)
                .map(|o| o.addr())
                .collect(),
            weak_remembered: self
                .weak
                .remembered
                .borrow()
                .iter()
                .map(|o| o.addr())
                .collect(),
            marked,
        };
        roots.visit_roots(&mut checker);
        let mut weak_targets = Vec::new();
        roots.visit_weak(&mut |o| {
            weak_targets.push(o);
            Some(o)
        });
        for target in weak_targets {
            if !checker.objects.contains(&target.addr()) {
                checker.errors.push(VerifyError::DanglingReference {
                    from: "weak root".into(),
                    target: target.addr(),
                });
            }
        }
        while let Some(obj) = checker.stack.pop() {
            // SAFETY: only objects the heap holds are pushed.
            let header = unsafe { obj.header() };
            if header.is_forwarded() {
                checker
                    .errors
                    .push(VerifyError::ForwardedReachable { object: obj.addr() });
                continue;
            }
            let young = self.is_young(obj);
            let generation = header.generation();
            let consistent = if young {
                generation.is_young()
            } else if self.large.contains_object(obj) {
                generation.is_large()
            } else {
                generation.is_old()
            };
            if !consistent {
                checker.errors.push(VerifyError::WrongGeneration {
                    object: obj.addr(),
                    detail: format!(
                        "generation {generation:?} in the {} space",
                        if young { "young" } else { "old/large" }
                    ),
                });
            }
            if young && header.flags().contains(HeaderFlags::REMEMBERED) {
                checker.errors.push(VerifyError::WrongGeneration {
                    object: obj.addr(),
                    detail: "a young object carries the REMEMBERED flag".into(),
                });
            }
            // SAFETY: a live object of the heap, outside a minor collection.
            if marked && !young && !unsafe { is_marked(&self.nursery, &self.old, &self.large, obj) }
            {
                checker
                    .errors
                    .push(VerifyError::Unmarked { object: obj.addr() });
            }
            let Some(entry) = self.types.get(header.type_id()) else {
                checker.errors.push(VerifyError::UnknownType {
                    object: obj.addr(),
                    type_id: header.type_id().get(),
                });
                continue;
            };
            if let Some(trace) = entry.trace {
                checker.owner = Some(obj);
                // SAFETY: a live, non-forwarded object of a cached type.
                unsafe { trace(obj.as_ptr(), &mut checker) };
                checker.owner = None;
            }
        }
        errors.append(&mut checker.errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}
