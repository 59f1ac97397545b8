//! Morph Memory's facade: one configuration, four workload modes, one
//! allocation dispatcher over the arena, the pools and the generational
//! collector, and one stats report over whatever layers run.
//!
//! | mode | what allocates | what frees |
//! |---|---|---|
//! | [`Mode::Compiler`] | the arena ([`CompilerArena`]) and pools | [`MorphMem::reset`], all at once |
//! | [`Mode::Runtime`] | the collector ([`gc::Heap`]) and pools | minor/major collections; nursery and trigger adapt |
//! | [`Mode::Vm`] | the collector, sized for large heaps | collections |
//! | [`Mode::Server`] | the collector under a hard bound | collections; pressure callbacks near the bound |
//!
//! Pick a preset ([`MorphMemConfig::COMPILER`], [`RUNTIME`](MorphMemConfig::RUNTIME),
//! [`VM`](MorphMemConfig::VM), [`SERVER`](MorphMemConfig::SERVER)), adjust it
//! with the [builder](MorphMemConfig::builder), or let [`detect_config`]
//! choose from the machine's memory. `MORPH_MEM_MODE=compiler|runtime|vm|server`
//! overrides the mode at run time ([`MorphMem::from_env`]).
//!
//! Cargo features `compiler`, `runtime`, `vm` and `server` (all on by
//! default) choose which layers are compiled in; a mode whose feature is off
//! is refused with [`ConfigError::ModeNotCompiled`].
//!
//! # Compiler mode
//!
//! ```
//! # #[cfg(feature = "compiler")] {
//! use morph_mem::{MorphMem, MorphMemConfig};
//!
//! enum Expr<'a> { Num(i64), Add(&'a Expr<'a>, &'a Expr<'a>) }
//! fn eval(e: &Expr<'_>) -> i64 { match e { Expr::Num(n) => *n, Expr::Add(a, b) => eval(a) + eval(b) } }
//!
//! let mut mm = MorphMem::new(MorphMemConfig { enable_metrics: true, ..MorphMemConfig::COMPILER })?;
//! let expr = mm.register_type::<Expr<'static>>("Expr")?;
//! for unit in 0..3 {
//!     let arena = mm.arena()?;
//!     let one = arena.alloc(expr, Expr::Num(1));
//!     let sum = arena.alloc(expr, Expr::Add(one, arena.alloc(expr, Expr::Num(unit))));
//!     assert_eq!(eval(sum), 1 + unit);
//!     mm.reset(); // the unit's nodes are freed at once; the memory is reused
//! }
//! assert_eq!(mm.stats().allocation.total_allocated_objects, 9);
//! # }
//! # Ok::<(), morph_mem::MorphMemError>(())
//! ```
//!
//! # Runtime mode
//!
//! ```
//! # #[cfg(feature = "runtime")] {
//! use morph_mem::gc::{Member, Trace};
//! use morph_mem::{MorphMem, MorphMemConfig};
//!
//! #[derive(Trace)]
//! struct Pair { head: u64, tail: Member<Pair> }
//!
//! let mut mm = MorphMem::new(MorphMemConfig::RUNTIME)?;
//! let sum = mm.enter(|m| {
//!     let list = m.alloc(Pair { head: 1, tail: Member::null() });
//!     for _ in 0..100_000 {
//!         m.alloc(Pair { head: 0, tail: Member::null() }); // garbage
//!     }
//!     list.get(m).head
//! })?;
//! assert_eq!(sum, 1);
//! assert!(mm.stats().gc.gc_count > 0);
//! # }
//! # Ok::<(), morph_mem::MorphMemError>(())
//! ```
//!
//! # The JIT code cache (VM mode)
//!
//! With the `vm` feature, [`MorphMem::code_cache`] lends VM mode's
//! [`CodeCache`]: a reserved region from which a JIT takes code blocks,
//! writes them, makes them executable (never writable and executable at
//! once) and discards them; its usage joins [`MorphMem::stats`].
//!
//! # The dispatcher
//!
//! [`MorphMem::alloc_raw`] is the Rust form of the seed design's
//! `morph_alloc_v2(ctx, size, type, flags)`: one entry point that routes by
//! mode, size and [`AllocFlags`] — see its documentation for the table.

#![deny(unsafe_op_in_unsafe_fn)]

#[cfg(all(feature = "vm", unix))]
mod code_cache;
#[cfg(feature = "compiler")]
mod compiler;
mod config;
mod error;
mod mem;
mod pressure;

#[cfg(all(feature = "vm", unix))]
pub use code_cache::{
    CodeBlock, CodeCache, CodeCacheConfig, CodeCacheError, CodeCacheStats, CodeState, IcacheFlush,
    flush_icache,
};
#[cfg(feature = "compiler")]
pub use compiler::CompilerArena;
pub use config::{
    ConfigBuilder, LOW_MEMORY, MIN_NURSERY, MODE_ENV, Mode, MorphMemConfig, available_ram,
    detect_config, detect_config_for,
};
pub use error::{ConfigError, MorphMemError};
pub use mem::{AllocFlags, MorphMem, RawAllocation, RootSet, Space, TypeTag};
pub use pressure::{PressureEvent, REARM_MARGIN};

/// The arena layer (compiler mode), re-exported.
#[cfg(feature = "compiler")]
pub use morph_arena as arena;
/// The generational collector (runtime, VM and server modes), re-exported:
/// `Heap`, `Mutator`, `Root`, `Gc`, `Member`, `#[derive(Trace)]`.
///
/// Everything of `morph_gengc`, except that `#[derive(Trace)]` here names
/// the collector as `morph_mem::gc`, so a type used through the facade
/// needs no `#[trace(crate = ...)]` attribute:
///
/// ```
/// use morph_mem::gc::{Heap, Member, Trace};
///
/// #[derive(Trace)]
/// struct Node {
///     next: Member<Node>,
///     value: u64,
/// }
///
/// let mut heap = Heap::new(Default::default())?;
/// let sum = heap.enter(|m| {
///     let head = m.alloc(Node { next: Member::null(), value: 1 });
///     let tail = m.alloc(Node { next: Member::null(), value: 2 });
///     head.get(m).next.set(m, Some(tail.get(m)));
///     let head = head.get(m);
///     head.value + head.next.get(m).map_or(0, |n| n.value)
/// });
/// assert_eq!(sum, 3);
/// # Ok::<(), morph_mem::gc::GcError>(())
/// ```
#[cfg(collector)]
pub mod gc {
    pub use morph_gengc::*;
    /// `#[derive(Trace)]`, naming the collector as `morph_mem::gc` (see
    /// [`morph_gengc::Trace`](trait@Trace) for the trait).
    pub use morph_gengc_derive::TraceThroughFacade as Trace;
}
/// The object header and type registry, re-exported.
pub use morph_header as header;
/// Statistics and reports, re-exported.
pub use morph_metrics as metrics;
/// The pools, re-exported.
pub use morph_pool as pool;
