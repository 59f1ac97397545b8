//! The heap's cache of type descriptors: one array lookup per traced object
//! instead of a registry lookup.

use morph_header::{DropFn, TraceFn, TypeId, TypeRegistry};

use crate::GcError;

/// What the collector needs about one type, copied out of its descriptor.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CachedType {
    pub(crate) trace: Option<TraceFn>,
    pub(crate) drop: Option<DropFn>,
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
        };
        if self.entries.len() <= id.index() {
            self.entries.resize(id.index() + 1, None);
        }
        self.entries[id.index()] = Some(entry);
        Ok(entry)
    }

    /// The entry of a type this heap has allocated.
    #[inline]
    pub(crate) fn get(&self, id: TypeId) -> Option<CachedType> {
        self.entries.get(id.index()).copied().flatten()
    }
}
