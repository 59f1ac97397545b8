//! The heap's cache of type descriptors: one array lookup per traced object
//! instead of a registry lookup.

use morph_header::{DropFn, TraceFn, TypeId, TypeRegistry};

use crate::GcError;
use crate::collect::{MajorTraceFn, MinorRunFn, MinorTraceFn};

/// What the collector needs about one type, copied out of its descriptor.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CachedType {
    pub(crate) trace: Option<TraceFn>,
    pub(crate) drop: Option<DropFn>,
    /// Whether the type's objects hold weak references (listed as weak
    /// holders; see `weak`).
    pub(crate) weak: bool,
    /// `trace` instantiated for each collector (the visit inlined at each
    /// reference), for the safe API's types; `None` uses `trace`.
    pub(crate) specialized: Option<SpecializedTrace>,
}

/// A type's trace function instantiated for each collector's visitor.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SpecializedTrace {
    pub(crate) minor: MinorTraceFn,
    /// The evacuator's scan loop over a run of objects of this type.
    pub(crate) minor_run: MinorRunFn,
    pub(crate) major: MajorTraceFn,
}

/// Descriptors of the types this heap has allocated, indexed by type id.
///
/// Invariant: every object in the heap has a type id with an entry here
/// (entries are filled at allocation, before the object exists, and never
/// removed), so the collector's lookups cannot miss.
#[derive(Debug)]
pub(crate) struct TypeCache {
    registry: &'static TypeRegistry,
    entries: Vec<Option<CachedType>>,
}

impl TypeCache {
    pub(crate) fn new(registry: &'static TypeRegistry) -> Self {
        TypeCache {
            registry,
            entries: Vec::new(),
        }
    }

    pub(crate) fn registry(&self) -> &'static TypeRegistry {
        self.registry
    }

    /// The entry for `id`, loading it from the registry on first use.
    #[inline]
    pub(crate) fn load(&mut self, id: TypeId) -> Result<CachedType, GcError> {
        match self.entries.get(id.index()) {
            Some(Some(entry)) => Ok(*entry),
            _ => self.load_slow(id),
        }
    }

    #[cold]
    fn load_slow(&mut self, id: TypeId) -> Result<CachedType, GcError> {
        let descriptor = self
            .registry
            .get(id)
            .ok_or(GcError::UnknownType { type_id: id.get() })?;
        let entry = CachedType {
            trace: descriptor.trace_fn(),
            drop: descriptor.drop_fn(),
            weak: descriptor.holds_weak(),
            specialized: None,
        };
        if self.entries.len() <= id.index() {
            self.entries.resize(id.index() + 1, None);
        }
        self.entries[id.index()] = Some(entry);
        Ok(entry)
    }

    /// Loads `id` and records its specialised trace functions.
    ///
    /// # Safety
    /// `specialized` traces objects of `id`'s type exactly as the
    /// registered trace function does.
    pub(crate) unsafe fn load_specialized(
        &mut self,
        id: TypeId,
        specialized: SpecializedTrace,
    ) -> Result<(), GcError> {
        self.load(id)?;
        if let Some(Some(entry)) = self.entries.get_mut(id.index()) {
            entry.specialized = entry.trace.map(|_| specialized);
        }
        Ok(())
    }

    /// The entry of a type this heap has allocated.
    #[inline]
    pub(crate) fn get(&self, id: TypeId) -> Option<CachedType> {
        self.entries.get(id.index()).copied().flatten()
    }
}
