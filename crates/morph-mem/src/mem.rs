//! [`MorphMem`]: the layers of the configured mode behind one handle, the
//! allocation dispatcher and the stats over all of them.

use std::alloc::Layout;
use std::fmt;
use std::path::Path;
use std::ptr::NonNull;
use std::time::Instant;

use morph_header::{TypeDescriptor, TypeId, TypeRegistry};
use morph_metrics::{Metrics, MorphMemStats, Recorder, StatsSource};
use morph_pool::{SizeClassConfig, SizeClassPool};

#[cfg(feature = "compiler")]
use crate::CompilerArena;
use crate::{Mode, MorphMemConfig, MorphMemError};

#[cfg(collector)]
pub use morph_gengc::RootSet;

/// The roots of a raw allocation (see [`MorphMem::alloc_raw`]). This build
/// has no collector, so there is nothing to report; `&mut ()` is the empty
/// root set.
///
/// # Safety
/// Nothing to uphold in this build; collector builds re-export
/// `morph_gengc::RootSet`, whose contract an implementation must keep.
#[cfg(not(collector))]
pub unsafe trait RootSet {}

// SAFETY: the empty root set.
#[cfg(not(collector))]
unsafe impl RootSet for () {}

/// A registered type, for counting allocations per type ("Top Types" in
/// the stats report). Made by [`MorphMem::register_type`](crate::MorphMem::register_type);
/// `Copy` and free to pass around. It is not generic, so one tag serves a
/// type with lifetime parameters (an AST node borrowing the arena) at every
/// lifetime; allocation checks (in debug builds) that the value's size is
/// the registered one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TypeTag {
    id: TypeId,
    size: usize,
}

impl TypeTag {
    pub(crate) fn new(id: TypeId, size: usize) -> Self {
        TypeTag { id, size }
    }

    /// The type's id in the global type registry.
    pub fn id(self) -> TypeId {
        self.id
    }

    /// The registered type's size in bytes.
    pub fn size(self) -> usize {
        self.size
    }
}

/// How [`MorphMem::alloc_raw`] should place an object. Flags combine with `|`.
///
/// ```
/// use morph_mem::AllocFlags;
///
/// let flags = AllocFlags::PINNED | AllocFlags::TENURED;
/// assert!(flags.contains(AllocFlags::PINNED));
/// assert!(!flags.contains(AllocFlags::POOLED));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AllocFlags(u8);

impl AllocFlags {
    /// The mode's default place: the arena, or the nursery.
    pub const DEFAULT: AllocFlags = AllocFlags(0);
    /// Never moved (its address is handed to foreign code): the old
    /// generation in collector modes; the arena never moves anything.
    pub const PINNED: AllocFlags = AllocFlags(1);
    /// Known to live long: allocated straight into the old generation
    /// (pretenured) in collector modes.
    pub const TENURED: AllocFlags = AllocFlags(2);
    /// A fixed-size object freed explicitly with [`MorphMem::free_raw`]:
    /// the size-class pools, in every mode.
    pub const POOLED: AllocFlags = AllocFlags(4);

    /// Whether every flag of `other` is set.
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

/// Where the dispatcher put an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Space {
    /// The compiler-mode arena: freed at [`MorphMem::reset`].
    Arena,
    /// A size-class pool: freed with [`MorphMem::free_raw`].
    Pool,
    /// The collector's nursery: may move at the next collection.
    Nursery,
    /// The collector's old generation: never moves.
    Old,
    /// The collector's large-object space: its own mapping, never moves.
    Large,
}

/// An object placed by [`MorphMem::alloc_raw`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawAllocation {
    /// The object's first byte (8-byte aligned). In collector modes it is
    /// the payload of a managed object (an `ObjectRef`'s address), zeroed;
    /// arena and pool memory is not zeroed.
    pub ptr: NonNull<u8>,
    /// Where it went.
    pub space: Space,
}

/// The collector of the collector modes, with the pressure callbacks it
/// reports to.
#[cfg(collector)]
struct Collected {
    heap: morph_gengc::Heap,
    pressure: std::rc::Rc<std::cell::RefCell<crate::pressure::PressureMonitor>>,
}

/// Morph Memory for one workload: the layers its [`Mode`] needs, one
/// allocation dispatcher ([`alloc_raw`](Self::alloc_raw)) and one stats
/// report over all of them ([`stats`](Self::stats),
/// [`print_stats`](Self::print_stats), [`dump_stats`](Self::dump_stats)).
///
/// Every mode has size-class pools for fixed-size objects freed explicitly.
/// Compiler mode adds the arena ([`arena`](Self::arena)); the collector modes
/// add the generational heap ([`enter`](Self::enter), [`heap`](Self::heap)).
///
/// ```
/// # #[cfg(feature = "server")] {
/// use morph_mem::{MorphMem, MorphMemConfig};
///
/// let mm = MorphMem::new(MorphMemConfig::SERVER)?;
/// assert_eq!(mm.mode(), morph_mem::Mode::Server);
/// assert!(mm.stats().heap.heap_bytes > 0);
/// # }
/// # Ok::<(), morph_mem::MorphMemError>(())
/// ```
pub struct MorphMem {
    config: MorphMemConfig,
    started: Instant,
    pools: SizeClassPool,
    /// Per-type counts of pool allocations (when metrics are on).
    pool_metrics: Option<Metrics>,
    #[cfg(feature = "compiler")]
    arena: Option<CompilerArena>,
    #[cfg(collector)]
    collected: Option<Collected>,
    /// The JIT code cache of VM mode, reserved on first use (`code_cache.rs`).
    #[cfg(all(feature = "vm", unix))]
    pub(crate) code_cache: Option<crate::CodeCache>,
}

impl fmt::Debug for MorphMem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MorphMem")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl MorphMem {
    /// Builds the layers of `config`'s mode after validating it.
    ///
    /// # Errors
    /// [`MorphMemError::Config`] for a configuration
    /// [`MorphMemConfig::validate`] refuses (including a mode not compiled
    /// in); a layer's error if it cannot reserve its memory.
    pub fn new(config: MorphMemConfig) -> Result<Self, MorphMemError> {
        config.validate()?;
        let mut mem = MorphMem {
            config,
            started: Instant::now(),
            pools: SizeClassPool::new(SizeClassConfig::default())?,
            pool_metrics: config
                .enable_metrics
                .then(|| Metrics::with_mode(config.mode.name())),
            #[cfg(feature = "compiler")]
            arena: None,
            #[cfg(collector)]
            collected: None,
            #[cfg(all(feature = "vm", unix))]
            code_cache: None,
        };
        match config.mode {
            #[cfg(feature = "compiler")]
            Mode::Compiler => {
                // Keep up to the expected heap between units: a reset then
                // reuses every chunk, with no system call and no page fault.
                let arena = morph_arena::ArenaConfig::new()
                    .retained_bytes(config.heap_size_hint)
                    .build()?;
                mem.arena = Some(CompilerArena::new(arena, config.enable_metrics));
            }
            #[cfg(collector)]
            Mode::Runtime | Mode::Vm | Mode::Server => {
                mem.collected = Some(Collected::new(&config)?);
            }
            #[allow(unreachable_patterns)]
            mode => return Err(crate::ConfigError::ModeNotCompiled { mode }.into()),
        }
        Ok(mem)
    }

    /// [`new`](Self::new) with `config` after the `MORPH_MEM_MODE`
    /// override ([`MorphMemConfig::with_env_override`]).
    ///
    /// # Errors
    /// As [`new`](Self::new), and [`ConfigError::UnknownMode`](crate::ConfigError::UnknownMode)
    /// for a value of `MORPH_MEM_MODE` that names no mode.
    pub fn from_env(config: MorphMemConfig) -> Result<Self, MorphMemError> {
        Self::new(config.with_env_override()?)
    }

    /// The configuration in force.
    pub fn config(&self) -> &MorphMemConfig {
        &self.config
    }

    /// The workload mode in force.
    pub fn mode(&self) -> Mode {
        self.config.mode
    }

    /// Registers a type under `name` for per-type counts ("Top Types") and
    /// the raw dispatcher. Register each type once per process: the type
    /// registry is global and append-only.
    ///
    /// # Errors
    /// [`MorphMemError::Types`] when the registry is full.
    pub fn register_type<T>(&mut self, name: &'static str) -> Result<TypeTag, MorphMemError> {
        let id = TypeRegistry::global()
            .register(TypeDescriptor::of::<T>(name))
            .map_err(MorphMemError::Types)?;
        Ok(TypeTag::new(id, size_of::<T>()))
    }

    /// The arena of compiler mode. Borrowing it shared stops
    /// [`reset`](Self::reset) (which needs `&mut self`) while any of its
    /// references live.
    ///
    /// # Errors
    /// [`MorphMemError::WrongMode`] outside compiler mode.
    #[cfg(feature = "compiler")]
    pub fn arena(&self) -> Result<&CompilerArena, MorphMemError> {
        self.arena.as_ref().ok_or(MorphMemError::WrongMode {
            operation: "the arena",
            mode: self.config.mode,
        })
    }

    /// The collected heap of the collector modes, for its safe API
    /// ([`Heap::enter`](morph_gengc::Heap::enter)) and raw API.
    ///
    /// # Errors
    /// [`MorphMemError::WrongMode`] in compiler mode.
    #[cfg(collector)]
    pub fn heap(&mut self) -> Result<&mut morph_gengc::Heap, MorphMemError> {
        match &mut self.collected {
            Some(c) => Ok(&mut c.heap),
            None => Err(MorphMemError::WrongMode {
                operation: "the collected heap",
                mode: self.config.mode,
            }),
        }
    }

    /// Runs `f` with the collected heap's mutator: see
    /// [`Heap::enter`](morph_gengc::Heap::enter).
    ///
    /// # Errors
    /// [`MorphMemError::WrongMode`] in compiler mode.
    #[cfg(collector)]
    pub fn enter<R>(
        &mut self,
        f: impl for<'gc> FnOnce(&mut morph_gengc::Mutator<'gc>) -> R,
    ) -> Result<R, MorphMemError> {
        Ok(self.heap()?.enter(f))
    }

    /// Frees in bulk. Compiler mode: every arena object at once, in O(1),
    /// keeping the memory for the next unit (no system call). Collector
    /// modes: a major collection (nothing reachable is freed). Pool objects
    /// are freed only explicitly, by [`free_raw`](Self::free_raw).
    pub fn reset(&mut self) {
        #[cfg(feature = "compiler")]
        if let Some(arena) = &mut self.arena {
            arena.reset();
        }
        #[cfg(collector)]
        if let Some(c) = &mut self.collected {
            c.heap.collect_raw(morph_gengc::Collection::Major, &mut ());
        }
    }

    /// The allocation dispatcher, the Rust form of the seed design's
    /// `morph_alloc_v2(ctx, size, type, flags)`: `size` bytes (8-byte
    /// aligned) of type `type_id`, placed by mode, size and flags.
    ///
    /// | mode | flags | goes to |
    /// |---|---|---|
    /// | any | [`POOLED`](AllocFlags::POOLED) | the size-class pool that fits `size` (free with [`free_raw`](Self::free_raw)) |
    /// | compiler | otherwise | the arena (freed at [`reset`](Self::reset)) |
    /// | collector | default | the nursery; at or above the large-object threshold (1 MiB), the large-object space |
    /// | collector | [`PINNED`](AllocFlags::PINNED) or [`TENURED`](AllocFlags::TENURED) | the old generation (or the large-object space) |
    ///
    /// In collector modes the allocation may collect first: `roots` must
    /// report every slot through which the caller holds raw objects (the
    /// safe API's roots are added by the heap). `&mut ()` has none.
    ///
    /// ```
    /// # #[cfg(feature = "compiler")] {
    /// use morph_mem::{AllocFlags, MorphMem, MorphMemConfig, Space};
    ///
    /// let mut mm = MorphMem::new(MorphMemConfig::COMPILER)?;
    /// let token = mm.register_type::<[u64; 4]>("Token")?;
    /// // SAFETY: `[u64; 4]` has no destructor or references; 32 bytes is its size.
    /// let a = unsafe { mm.alloc_raw(32, token.id(), AllocFlags::DEFAULT, &mut ()) }?;
    /// // SAFETY: as above.
    /// let b = unsafe { mm.alloc_raw(32, token.id(), AllocFlags::POOLED, &mut ()) }?;
    /// assert_eq!((a.space, b.space), (Space::Arena, Space::Pool));
    /// mm.free_raw(b.ptr, 32, token.id())?;
    /// assert!(mm.free_raw(b.ptr, 32, token.id()).is_err()); // a double free is refused
    /// # }
    /// # Ok::<(), morph_mem::MorphMemError>(())
    /// ```
    ///
    /// # Errors
    /// A pool or arena error (size above the largest class, out of memory);
    /// in collector modes [`GcError::HeapExhausted`](morph_gengc::GcError::HeapExhausted)
    /// when the bound does not allow it even after a full collection
    /// (nothing reachable is lost), or an unregistered type.
    ///
    /// # Safety
    /// In collector modes, as [`RawHeap::try_alloc`](morph_gengc::RawHeap::try_alloc):
    /// `type_id`'s trace and drop functions must be sound on the new object
    /// from now on (at least `size` bytes of their type; the zeroed payload
    /// accepted until the caller writes a valid value), and `roots` must
    /// keep [`RootSet`]'s contract. Arena and pool allocations run no
    /// function on the memory; the caller owns what it writes there.
    pub unsafe fn alloc_raw(
        &mut self,
        size: usize,
        type_id: TypeId,
        flags: AllocFlags,
        roots: &mut dyn RootSet,
    ) -> Result<RawAllocation, MorphMemError> {
        if flags.contains(AllocFlags::POOLED) {
            let ptr = self.pools.alloc(raw_layout(size)?)?;
            if let Some(m) = &mut self.pool_metrics {
                m.record_alloc(type_id, size);
            }
            return Ok(RawAllocation {
                ptr,
                space: Space::Pool,
            });
        }
        #[cfg(feature = "compiler")]
        if let Some(arena) = &self.arena {
            let ptr = arena.raw().try_alloc_layout(raw_layout(size)?)?;
            arena.count(type_id, size);
            return Ok(RawAllocation {
                ptr,
                space: Space::Arena,
            });
        }
        #[cfg(collector)]
        if let Some(c) = &mut self.collected {
            // SAFETY: forwarded caller contract.
            return unsafe { c.alloc(size, type_id, flags, roots) };
        }
        // Without a collector nothing reads the roots.
        #[cfg(not(collector))]
        let _ = roots;
        Err(MorphMemError::WrongMode {
            operation: "raw allocation",
            mode: self.config.mode,
        })
    }

    /// Frees a [`POOLED`](AllocFlags::POOLED) object of `size` bytes and
    /// type `type_id`.
    ///
    /// # Errors
    /// [`MorphMemError::Pool`] for a pointer the pools did not hand out, an
    /// interior pointer or a double free; nothing is freed then.
    pub fn free_raw(
        &mut self,
        ptr: NonNull<u8>,
        size: usize,
        type_id: TypeId,
    ) -> Result<(), MorphMemError> {
        self.pools.free(ptr, raw_layout(size)?)?;
        if let Some(m) = &mut self.pool_metrics {
            m.record_free(type_id, size);
        }
        Ok(())
    }

    /// Calls `callback` when, after a collection, the collected heap
    /// reserves at least `fraction` of `heap_size_hint` (the hard bound in
    /// server mode). It fires once per crossing and re-arms when the heap
    /// falls [`REARM_MARGIN`](crate::REARM_MARGIN) below the line. It runs
    /// inside the collector: record what to do (shed a cache, refuse
    /// requests) and do it after.
    ///
    /// ```
    /// # #[cfg(feature = "server")] {
    /// use morph_mem::{MorphMem, MorphMemConfig};
    /// use std::{cell::Cell, rc::Rc};
    ///
    /// let mut mm = MorphMem::new(MorphMemConfig::builder(morph_mem::Mode::Server)
    ///     .heap_size_hint(64 << 20).gc_threshold(16 << 20).build()?)?;
    /// let warned = Rc::new(Cell::new(false));
    /// let flag = Rc::clone(&warned);
    /// mm.on_pressure(0.75, move |event| flag.set(event.fraction() >= 0.75))?;
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`MorphMemError::InvalidPressureFraction`] unless `0 < fraction <= 1`;
    /// [`MorphMemError::WrongMode`] in compiler mode.
    pub fn on_pressure(
        &mut self,
        fraction: f64,
        callback: impl FnMut(crate::PressureEvent) + 'static,
    ) -> Result<(), MorphMemError> {
        if !(fraction > 0.0 && fraction <= 1.0) {
            return Err(MorphMemError::InvalidPressureFraction { fraction });
        }
        #[cfg(collector)]
        if let Some(c) = &mut self.collected {
            c.pressure.borrow_mut().add(fraction, Box::new(callback));
            return Ok(());
        }
        let _ = callback;
        Err(MorphMemError::WrongMode {
            operation: "memory-pressure callbacks",
            mode: self.config.mode,
        })
    }

    /// A snapshot over every active layer: allocations (arena or heap, plus
    /// pools), collections and pauses, per-type counts, per-space sizes,
    /// with the mode and the uptime.
    pub fn stats(&self) -> MorphMemStats {
        let registry = TypeRegistry::global();
        let mut metrics = Metrics::with_mode(self.config.mode.name());
        #[cfg(feature = "compiler")]
        if let Some(m) = self.arena.as_ref().and_then(CompilerArena::metrics) {
            metrics.merge(&m);
        }
        #[cfg(collector)]
        if let Some(c) = &self.collected {
            metrics.merge(&c.heap.raw().current_metrics());
        }
        if let Some(m) = &self.pool_metrics {
            metrics.merge(m);
        }
        let mut stats = metrics.snapshot(registry);
        stats.uptime_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        #[cfg(feature = "compiler")]
        if let Some(arena) = &self.arena {
            arena.raw().report_into(&mut stats);
        }
        #[cfg(collector)]
        if let Some(c) = &self.collected {
            c.heap.raw().report_into(&mut stats);
        }
        #[cfg(all(feature = "vm", unix))]
        if let Some(cache) = &self.code_cache {
            cache.report_into(&mut stats);
        }
        for pool in self.pools.stats() {
            if pool.blocks > 0 {
                pool.report_into(&mut stats);
            }
        }
        stats
    }

    /// Prints [`stats`](Self::stats) to standard output in the seed's
    /// report format (Allocations / Breakdown / GC / Top Types).
    pub fn print_stats(&self) {
        self.stats().print_stats();
    }

    /// Writes [`stats`](Self::stats) to `path` as JSON.
    ///
    /// # Errors
    /// [`MorphMemError::Stats`] if the file cannot be written.
    pub fn dump_stats(&self, path: impl AsRef<Path>) -> Result<(), MorphMemError> {
        Ok(self.stats().dump_stats(path)?)
    }
}

/// What a heap has committed against its bound: what it reserves, plus the
/// room the collector holds back to promote a full nursery (half as much
/// again, for size-class rounding). Allocation fails when this would pass
/// the bound, so pressure measured this way reaches 1 before it does.
#[cfg(collector)]
fn committed(usage: &morph_gengc::HeapUsage) -> usize {
    usage.reserved() + usage.nursery_reserved + usage.nursery_reserved / 2
}

/// The layout of a raw object: `size` bytes, 8-byte aligned.
fn raw_layout(size: usize) -> Result<Layout, MorphMemError> {
    Layout::from_size_align(size.max(1), 8).map_err(|_| {
        MorphMemError::Pool(morph_pool::PoolError::TooLarge {
            size,
            align: 8,
            largest_class: 0,
        })
    })
}

#[cfg(collector)]
impl Collected {
    fn new(config: &MorphMemConfig) -> Result<Self, MorphMemError> {
        use std::time::Duration;
        let nursery = config.nursery_size;
        // The adaptive eden may grow to 4× the nursery, within a quarter of
        // the heap (the young generation stays under half of it).
        let max_eden = nursery
            .saturating_mul(4)
            .min(config.heap_size_hint / 4 / 4096 * 4096)
            .max(nursery);
        let gc = morph_gengc::GcConfig {
            nursery_size: nursery,
            survivor_size: config.survivor_size(),
            promotion_age: if config.enable_generational { 2 } else { 1 },
            gc_threshold: config.gc_threshold,
            heap_limit: (config.mode == Mode::Server).then_some(config.heap_size_hint),
            type_stats: config.enable_metrics,
            pause_target: (config.gc_pause_target_ms > 0)
                .then(|| Duration::from_millis(config.gc_pause_target_ms.into())),
            max_nursery_size: Some(max_eden),
            incremental_marking: config.incremental_marking,
            ..morph_gengc::GcConfig::default()
        };
        let mut heap = morph_gengc::Heap::new(gc)?;
        let pressure =
            std::rc::Rc::<std::cell::RefCell<crate::pressure::PressureMonitor>>::default();
        let monitor = std::rc::Rc::clone(&pressure);
        let bound = config.heap_size_hint;
        heap.set_collection_observer(Some(Box::new(move |_event, usage| {
            monitor.borrow_mut().check(committed(usage), bound);
        })));
        Ok(Collected { heap, pressure })
    }

    /// # Safety
    /// As [`MorphMem::alloc_raw`].
    unsafe fn alloc(
        &mut self,
        size: usize,
        type_id: TypeId,
        flags: AllocFlags,
        roots: &mut dyn RootSet,
    ) -> Result<RawAllocation, MorphMemError> {
        let mut gc_flags = morph_gengc::AllocFlags::DEFAULT;
        if flags.contains(AllocFlags::PINNED) {
            gc_flags = gc_flags | morph_gengc::AllocFlags::PINNED;
        }
        if flags.contains(AllocFlags::TENURED) {
            gc_flags = gc_flags | morph_gengc::AllocFlags::TENURED;
        }
        // SAFETY: forwarded caller contract.
        let obj = unsafe { self.heap.try_alloc_raw(size, type_id, gc_flags, roots) }?;
        let raw = self.heap.raw();
        let space = if raw.is_young(obj) {
            Space::Nursery
        } else {
            // SAFETY: `obj` was allocated just now and nothing ran since, so
            // it is a live object of this heap.
            let header = unsafe { raw.header(obj) };
            if header.generation() == morph_header::Generation::LARGE {
                Space::Large
            } else {
                Space::Old
            }
        };
        Ok(RawAllocation {
            ptr: obj.as_ptr(),
            space,
        })
    }
}
