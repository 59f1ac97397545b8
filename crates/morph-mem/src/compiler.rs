//! Compiler mode's typed API: the arena, with per-type counts for the
//! stats report.

use std::cell::RefCell;
use std::fmt;
use std::ops::Deref;

use morph_arena::Arena;
use morph_header::TypeId;
use morph_metrics::{Metrics, Recorder};

use crate::TypeTag;

/// The arena of compiler mode: everything allocated lives until
/// [`MorphMem::reset`](crate::MorphMem::reset), which frees it all at once
/// and keeps the memory for the next compilation unit.
///
/// [`alloc`](Self::alloc) counts the object under its type for the stats
/// report; everything else of [`morph_arena::Arena`] (strings, slices,
/// iterators) is reachable through `Deref` and counts in the arena's bytes.
///
/// ```
/// use morph_mem::{MorphMem, MorphMemConfig};
///
/// struct Ident<'a> { name: &'a str }
///
/// let config = MorphMemConfig { enable_metrics: true, ..MorphMemConfig::COMPILER };
/// let mut mm = MorphMem::new(config)?;
/// let ident = mm.register_type::<Ident<'static>>("Identifier")?;
/// for _unit in 0..3 {
///     let arena = mm.arena()?;
///     let name = arena.alloc_str("main");
///     let node = arena.alloc(ident, Ident { name });
///     assert_eq!(node.name, "main");
///     mm.reset(); // every node of this unit is freed at once
/// }
/// assert_eq!(mm.stats().objects.by_type[0].name, "Identifier");
/// # Ok::<(), morph_mem::MorphMemError>(())
/// ```
pub struct CompilerArena {
    arena: Arena,
    metrics: Option<RefCell<Metrics>>,
}

impl fmt::Debug for CompilerArena {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompilerArena")
            .field("arena", &self.arena)
            .field("metrics", &self.metrics.is_some())
            .finish()
    }
}

impl CompilerArena {
    pub(crate) fn new(arena: Arena, metrics: bool) -> Self {
        CompilerArena {
            arena,
            metrics: metrics.then(|| RefCell::new(Metrics::with_mode("COMPILER"))),
        }
    }

    /// Moves `value` into the arena, counted under `tag`'s type.
    #[inline]
    pub fn alloc<T>(&self, tag: TypeTag, value: T) -> &mut T {
        debug_assert_eq!(tag.size(), size_of::<T>(), "value is not of the tag's type");
        self.count(tag.id(), size_of::<T>());
        self.arena.alloc(value)
    }

    /// As [`alloc`](Self::alloc), or an error when the system is out of
    /// memory.
    #[inline]
    pub fn try_alloc<T>(&self, tag: TypeTag, value: T) -> Result<&mut T, crate::MorphMemError> {
        debug_assert_eq!(tag.size(), size_of::<T>(), "value is not of the tag's type");
        let value = self.arena.try_alloc(value)?;
        self.count(tag.id(), size_of::<T>());
        Ok(value)
    }

    /// Copies `text` into the arena, its bytes counted under `tag`'s type
    /// (an identifier's or a string literal's text) without counting an
    /// object.
    #[inline]
    pub fn alloc_str_for(&self, tag: TypeTag, text: &str) -> &mut str {
        self.count_bytes(tag, text.len());
        self.arena.alloc_str(text)
    }

    /// Counts `bytes` more under `tag`'s type, without an object: for
    /// memory a node owns that was allocated through the arena's untyped
    /// methods (slices, strings).
    ///
    /// ```
    /// use morph_mem::{MorphMem, MorphMemConfig};
    ///
    /// let mut mm = MorphMem::new(MorphMemConfig { enable_metrics: true, ..MorphMemConfig::COMPILER })?;
    /// let call = mm.register_type::<u64>("CallArgs")?;
    /// let arena = mm.arena()?;
    /// let args = arena.alloc_slice_copy(&[1u64, 2, 3]);
    /// arena.count_bytes(call, size_of_val(args));
    /// assert_eq!(mm.stats().objects.by_type[0].bytes, 24);
    /// # Ok::<(), morph_mem::MorphMemError>(())
    /// ```
    #[inline]
    pub fn count_bytes(&self, tag: TypeTag, bytes: usize) {
        if let Some(metrics) = &self.metrics {
            metrics
                .borrow_mut()
                .record_allocs(tag.id(), 0, bytes as u64);
        }
    }

    #[inline]
    pub(crate) fn count(&self, id: TypeId, bytes: usize) {
        if let Some(metrics) = &self.metrics {
            metrics.borrow_mut().record_alloc(id, bytes);
        }
    }

    pub(crate) fn reset(&mut self) {
        self.arena.reset();
        if let Some(metrics) = &mut self.metrics {
            metrics.get_mut().record_reset();
        }
    }

    pub(crate) fn metrics(&self) -> Option<std::cell::Ref<'_, Metrics>> {
        self.metrics.as_ref().map(RefCell::borrow)
    }

    pub(crate) fn raw(&self) -> &Arena {
        &self.arena
    }
}

impl Deref for CompilerArena {
    type Target = Arena;

    fn deref(&self) -> &Arena {
        &self.arena
    }
}
