//! Contexts: configuration from C, create/destroy, the allocation
//! dispatcher (`morph_alloc_v2`), pooled frees, the write barrier and the
//! root API.

use std::ffi::c_void;
use std::ptr::NonNull;

use morph_mem::gc::{AllocFlags as GcAllocFlags, Collection, EdenLoan, ObjectRef};
use morph_mem::{AllocFlags, Mode, MorphMem, Space};

use crate::handle::{MorphInline, Shell, handle_kind, thread_pointer};
use crate::roots::{MorphFrame, Roots};
use crate::status::{
    Failure, MORPH_ERR_CONFIG, MORPH_ERR_POISONED, MORPH_ERR_TYPE, MorphStatus, boundary,
    boundary_ptr,
};
use crate::types::{MorphTypeInfo, load_inline_types};

/// A workload mode: one of the `MORPH_MODE_*` values.
pub type MorphWorkloadMode = u32;
/// Compiler mode: the arena (bulk free at `morph_reset`) and pools, no collector.
pub const MORPH_MODE_COMPILER: MorphWorkloadMode = 0;
/// Runtime mode: the generational collector, adaptive nursery and trigger.
pub const MORPH_MODE_RUNTIME: MorphWorkloadMode = 1;
/// VM mode: the collector sized for large heaps, and the JIT code cache.
pub const MORPH_MODE_VM: MorphWorkloadMode = 2;
/// Server mode: the collector under a hard bound, pressure callbacks.
pub const MORPH_MODE_SERVER: MorphWorkloadMode = 3;

/// How `morph_alloc_v2` places an object: `MORPH_ALLOC_*` values or-ed
/// together.
pub type MorphAllocFlags = u32;
/// The mode's default place: the arena (compiler mode) or the nursery.
pub const MORPH_ALLOC_DEFAULT: MorphAllocFlags = 0;
/// Never moved (its address may be kept by C code): the old generation
/// in collector modes. It still dies when unreachable: keep it rooted.
pub const MORPH_ALLOC_PINNED: MorphAllocFlags = 1;
/// Known to live long: straight into the old generation (pretenured).
pub const MORPH_ALLOC_TENURED: MorphAllocFlags = 2;
/// A fixed-size object in the size-class pools (32/64/128/256 bytes), in
/// every mode, freed only by `morph_free`. Not a managed object: never
/// store it in a root slot or a reference field.
pub const MORPH_ALLOC_POOLED: MorphAllocFlags = 4;
/// Zero the memory also where the layer does not (arena and pools);
/// collector allocations are always zeroed.
pub const MORPH_ALLOC_ZEROED: MorphAllocFlags = 8;
/// Every flag bit; `morph_alloc_v2` refuses others.
const ALL_FLAGS: MorphAllocFlags =
    MORPH_ALLOC_PINNED | MORPH_ALLOC_TENURED | MORPH_ALLOC_POOLED | MORPH_ALLOC_ZEROED;

/// A context's `MorphHandlePrefix::flags` bit: the context runs the
/// collector (so managed objects have headers and the write barrier
/// matters).
pub const MORPH_CONTEXT_COLLECTOR: u32 = 1;

/// The seed design's configuration. Start from `morph_config_preset` or
/// `morph_detect_config` and change fields; booleans are 0 or 1.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MorphMemConfig {
    /// A `MORPH_MODE_*` value.
    pub mode: MorphWorkloadMode,
    /// Expected heap size in bytes; a hard bound in server mode.
    pub heap_size_hint: usize,
    /// Old-generation growth that triggers a major collection (0 in
    /// compiler mode).
    pub gc_threshold: usize,
    /// Pause target in milliseconds (0: none; 0 in compiler mode).
    pub gc_pause_target_ms: u32,
    /// Age objects in a young generation before promoting them.
    pub enable_generational: u8,
    /// Ask for old-generation compaction (accepted; not implemented yet).
    pub enable_compaction: u8,
    /// Count allocations per type and record pauses.
    pub enable_metrics: u8,
    /// Bytes of the nursery's allocation area (0 in compiler mode).
    pub nursery_size: usize,
}

impl From<morph_mem::MorphMemConfig> for MorphMemConfig {
    fn from(c: morph_mem::MorphMemConfig) -> Self {
        MorphMemConfig {
            mode: match c.mode {
                Mode::Compiler => MORPH_MODE_COMPILER,
                Mode::Runtime => MORPH_MODE_RUNTIME,
                Mode::Vm => MORPH_MODE_VM,
                Mode::Server => MORPH_MODE_SERVER,
            },
            heap_size_hint: c.heap_size_hint,
            gc_threshold: c.gc_threshold,
            gc_pause_target_ms: c.gc_pause_target_ms,
            enable_generational: c.enable_generational.into(),
            enable_compaction: c.enable_compaction.into(),
            enable_metrics: c.enable_metrics.into(),
            nursery_size: c.nursery_size,
        }
    }
}

fn mode_of(mode: MorphWorkloadMode) -> Result<Mode, Failure> {
    match mode {
        MORPH_MODE_COMPILER => Ok(Mode::Compiler),
        MORPH_MODE_RUNTIME => Ok(Mode::Runtime),
        MORPH_MODE_VM => Ok(Mode::Vm),
        MORPH_MODE_SERVER => Ok(Mode::Server),
        other => Err(Failure::new(
            MORPH_ERR_CONFIG,
            format!("unknown mode {other}: use a MORPH_MODE_* value"),
        )),
    }
}

impl MorphMemConfig {
    /// The facade's configuration (not yet validated).
    fn to_facade(self) -> Result<morph_mem::MorphMemConfig, Failure> {
        Ok(morph_mem::MorphMemConfig {
            mode: mode_of(self.mode)?,
            heap_size_hint: self.heap_size_hint,
            gc_threshold: self.gc_threshold,
            gc_pause_target_ms: self.gc_pause_target_ms,
            enable_generational: self.enable_generational != 0,
            enable_compaction: self.enable_compaction != 0,
            enable_metrics: self.enable_metrics != 0,
            nursery_size: self.nursery_size,
            // `morph_write_barrier` runs after the store and sees only the
            // new value, which incremental marking's snapshot barrier
            // cannot work with: major collections stay whole from C.
            incremental_marking: false,
        })
    }
}

/// Stores `mode`'s preset (the seed's values) in `*out`.
///
/// # Safety
/// `out` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_config_preset(
    mode: MorphWorkloadMode,
    out: *mut MorphMemConfig,
) -> MorphStatus {
    boundary(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        let preset = mode_of(mode)?.preset();
        // SAFETY: non-null and writable (caller contract).
        unsafe { out.write(preset.into()) };
        Ok(())
    })
}

/// The seed's `morph_detect_config`: the runtime preset, or with less than
/// 512 MiB of available memory a heap of RAM/4 and a trigger of RAM/8.
#[unsafe(no_mangle)]
pub extern "C" fn morph_detect_config() -> MorphMemConfig {
    morph_mem::detect_config().into()
}

/// Checks a configuration: `MORPH_OK`, or `MORPH_ERR_CONFIG` with the
/// field at fault in `morph_last_error_message()`.
///
/// # Safety
/// `config` is null or readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_config_validate(config: *const MorphMemConfig) -> MorphStatus {
    boundary(|| {
        // SAFETY: caller contract.
        let config = unsafe { config.as_ref() }.ok_or_else(|| Failure::null("config"))?;
        config
            .to_facade()?
            .validate()
            .map_err(|e| Failure::from(morph_mem::MorphMemError::from(e)))
    })
}

/// Collect every N allocations, set from `MORPH_GC_STRESS` at creation or
/// by `morph_set_stress`.
#[derive(Debug, Default)]
struct Stress {
    every: u32,
    until: u32,
    rounds: u32,
}

/// A context's state.
pub(crate) struct Context {
    pub(crate) mem: MorphMem,
    pub(crate) roots: Roots,
    stress: Stress,
    /// A collector mode without stress mode: managed allocations go
    /// straight to the heap, and the header's inline allocation is open
    /// (its state is the shell's `MorphInline`, which `roots` points at).
    direct: bool,
    /// The part of eden lent to the inline allocation, while it is out.
    loan: Option<EdenLoan>,
}

/// A Morph Memory instance for one runtime: the layers of its mode, its
/// roots and its statistics. Made by `morph_context_create`, used on the
/// thread that made it. Its first bytes are a `MorphHandlePrefix`.
///
/// Opaque: C sees only pointers to it.
pub struct MorphContext {
    _opaque: [u64; 0],
    _not_send_sync_unpin: std::marker::PhantomData<(*mut u8, std::marker::PhantomPinned)>,
}

handle_kind!(MorphContext, Context, "context", b"MORPHCTX", b"MORPHDED");

/// The environment variable that turns stress mode on at context
/// creation: `MORPH_GC_STRESS=N` collects every N allocations.
pub(crate) const STRESS_ENV: &str = "MORPH_GC_STRESS";

impl Context {
    fn new(
        config: morph_mem::MorphMemConfig,
        inline_paths: NonNull<MorphInline>,
    ) -> Result<Self, Failure> {
        let mem = MorphMem::from_env(config)?;
        let direct = mem.mode().has_collector();
        let mut context = Context {
            mem,
            roots: Roots::new(inline_paths),
            stress: Stress::default(),
            direct,
            loan: None,
        };
        if let Some(every) = std::env::var(STRESS_ENV)
            .ok()
            .and_then(|v| v.trim().parse().ok())
        {
            context.set_stress(every);
        }
        Ok(context)
    }

    fn has_collector(&self) -> bool {
        self.mem.mode().has_collector()
    }

    fn set_stress(&mut self, every: u32) {
        self.stress = Stress {
            every,
            until: every,
            rounds: 0,
        };
        self.direct = self.has_collector() && every == 0;
    }

    /// Closes the header's inline paths for the length of a call: a
    /// callback's inline call then takes the checked function, and the
    /// part of eden lent to inline allocation goes back to the heap with
    /// what was placed in it.
    #[inline]
    fn close_inline(&mut self) {
        let inline = self.roots.inline_paths().as_ptr();
        // SAFETY: the shell's inline state (never freed); this runs on the
        // owner thread inside a checked call, and no reference to it is
        // held across C code (see `MorphInline`).
        unsafe { (*inline).thread = 0 };
        if let Some(loan) = self.loan.take() {
            self.repay_from_inline(inline, loan);
        }
    }

    /// Takes back from the inline allocation the part of eden it was lent
    /// (its cursor and count are set only while a loan is out).
    #[inline(never)]
    fn repay_from_inline(&mut self, inline: *mut MorphInline, loan: EdenLoan) {
        // SAFETY: as in `close_inline`; the reference ends before any C
        // code can run.
        let inline = unsafe { &mut *inline };
        let (cursor, objects) = (inline.cursor, inline.objects);
        inline.cursor = std::ptr::null_mut();
        inline.limit = std::ptr::null_mut();
        inline.objects = 0;
        if let Ok(heap) = self.mem.heap() {
            let cursor = NonNull::new(cursor).unwrap_or(loan.start());
            // SAFETY: the header's inline allocation placed `objects`
            // objects from the loan's start to `cursor`, as `EdenLoan`
            // lays them out: the header its type's `young_header` or-ed
            // with the payload size (at most `max_payload`, at least the
            // type's size), the payload zeroed; only types loaded into
            // this heap (`inline_seq < types_loaded`) without a finalizer
            // (theirs is `UINT32_MAX`). The program's later stores keep
            // the C root and reference contract, as for `morph_alloc_v2`.
            unsafe { heap.repay_eden(loan, cursor, objects) };
        }
    }

    /// Opens the header's inline paths at the end of a call. With `lend`
    /// (the inline allocation's own call, `morph_alloc_v2_refill`), it also
    /// lends the free part of eden to inline allocation (collector modes
    /// outside stress mode), with every C type registered so far loaded;
    /// other calls leave eden unlent, so a program built without the
    /// inline paths never pays for a loan it cannot use.
    #[inline]
    fn open_inline(&mut self, lend: bool) {
        let inline = self.roots.inline_paths().as_ptr();
        if lend && self.direct {
            self.lend_to_inline(inline);
        }
        // SAFETY: as in `close_inline`.
        unsafe { (*inline).thread = thread_pointer() };
    }

    /// Lends the free part of eden to the inline allocation, loading the C
    /// types registered since the last loan.
    #[inline(never)]
    fn lend_to_inline(&mut self, inline: *mut MorphInline) {
        let Ok(heap) = self.mem.heap() else { return };
        // SAFETY: as in `close_inline`; the reference ends before any C
        // code can run.
        let inline = unsafe { &mut *inline };
        inline.types_loaded = load_inline_types(heap, inline.types_loaded);
        self.loan = heap.lend_eden();
        if let Some(loan) = self.loan {
            inline.cursor = loan.start().as_ptr();
            inline.limit = loan.limit().as_ptr();
            inline.max_payload = loan.max_payload();
        }
    }

    /// The dispatcher behind `morph_alloc_v2`. The common case — a
    /// collector mode, no stress mode, a managed object (not pooled) —
    /// goes straight to the collected heap's raw allocation, which is
    /// what `MorphMem::alloc_raw` does for it after its dispatch; every
    /// other case takes [`alloc_dispatched`](Self::alloc_dispatched).
    #[inline(always)]
    fn alloc(
        &mut self,
        size: usize,
        ty: &'static MorphTypeInfo,
        flags: MorphAllocFlags,
    ) -> Result<NonNull<u8>, Failure> {
        if !self.direct || flags & !(MORPH_ALLOC_PINNED | MORPH_ALLOC_TENURED) != 0 {
            return self.alloc_dispatched(size, ty, flags);
        }
        if size < ty.size() {
            return Err(too_small(size, ty));
        }
        let mut gc_flags = GcAllocFlags::DEFAULT;
        if flags & MORPH_ALLOC_PINNED != 0 {
            gc_flags = gc_flags | GcAllocFlags::PINNED;
        }
        if flags & MORPH_ALLOC_TENURED != 0 {
            gc_flags = gc_flags | GcAllocFlags::TENURED;
        }
        let heap = self.mem.heap()?;
        let mut roots = self.roots.root_set();
        // SAFETY: `Heap::try_alloc_raw`'s contract, which is
        // `MorphMem::alloc_raw`'s: see `alloc_dispatched`.
        let obj = unsafe { heap.try_alloc_raw(size, ty.id(), gc_flags, &mut roots) }
            .map_err(|e| Failure::from(morph_mem::MorphMemError::from(e)))?;
        Ok(obj.as_ptr())
    }

    /// Every allocation through the facade's dispatcher (pools, arena,
    /// stress mode, argument errors).
    #[inline(never)]
    fn alloc_dispatched(
        &mut self,
        size: usize,
        ty: &'static MorphTypeInfo,
        flags: MorphAllocFlags,
    ) -> Result<NonNull<u8>, Failure> {
        if flags & !ALL_FLAGS != 0 {
            return Err(Failure::invalid(format!(
                "unknown allocation flag bits {:#x}",
                flags & !ALL_FLAGS
            )));
        }
        if size < ty.size() {
            return Err(too_small(size, ty));
        }
        let mut mem_flags = AllocFlags::DEFAULT;
        for (bit, flag) in [
            (MORPH_ALLOC_PINNED, AllocFlags::PINNED),
            (MORPH_ALLOC_TENURED, AllocFlags::TENURED),
            (MORPH_ALLOC_POOLED, AllocFlags::POOLED),
        ] {
            if flags & bit != 0 {
                mem_flags = mem_flags | flag;
            }
        }
        if self.stress.every != 0 && !mem_flags.contains(AllocFlags::POOLED) {
            self.stress_tick()?;
        }
        let mut roots = self.roots.root_set();
        // SAFETY: `MorphMem::alloc_raw`'s contract. C types' functions are
        // sound on the new object: an offset table reports only fields
        // inside `size` bytes (`size >= ty.size()`, checked above), each null
        // in the zeroed payload; a C trace callback or finalizer keeps the
        // header's contract (see `types.rs`). The roots keep `RootSet`'s
        // contract by the C root contract (`roots.rs`).
        let raw = unsafe { self.mem.alloc_raw(size, ty.id(), mem_flags, &mut roots) }?;
        if flags & MORPH_ALLOC_ZEROED != 0 && matches!(raw.space, Space::Arena | Space::Pool) {
            // SAFETY: the dispatcher handed out `size` writable bytes.
            unsafe { raw.ptr.write_bytes(0, size) };
        }
        Ok(raw.ptr)
    }

    /// Counts one allocation toward stress mode's next collection.
    #[cold]
    fn stress_tick(&mut self) -> Result<(), Failure> {
        if !self.has_collector() {
            return Ok(());
        }
        self.stress.until = self.stress.until.saturating_sub(1);
        if self.stress.until > 0 {
            return Ok(());
        }
        self.stress.until = self.stress.every;
        self.stress.rounds = self.stress.rounds.wrapping_add(1);
        let kind = if self.stress.rounds.is_multiple_of(16) {
            Collection::Major
        } else {
            Collection::Minor
        };
        self.collect(kind)
    }

    /// Runs a collection with the C roots.
    pub(crate) fn collect(&mut self, kind: Collection) -> Result<(), Failure> {
        let heap = self.mem.heap()?;
        if heap.raw().is_poisoned() {
            return Err(poisoned());
        }
        let mut roots = self.roots.root_set();
        heap.collect_raw(kind, &mut roots);
        Ok(())
    }

    /// Checks the heap's invariants against the C roots.
    fn verify(&mut self) -> Result<(), Failure> {
        if !self.has_collector() {
            return Ok(());
        }
        let heap = self.mem.heap()?;
        if heap.raw().is_poisoned() {
            return Err(poisoned());
        }
        let mut roots = self.roots.root_set();
        heap.raw().verify(&mut roots).map_err(|errors| {
            let shown: Vec<String> = errors.iter().take(8).map(ToString::to_string).collect();
            Failure::new(
                crate::status::MORPH_ERR_VERIFY,
                format!(
                    "{} heap invariant(s) broken: {}{}",
                    errors.len(),
                    shown.join("; "),
                    if errors.len() > shown.len() {
                        "; …"
                    } else {
                        ""
                    }
                ),
            )
        })
    }

    /// Bulk free: the arena in compiler mode, a major collection (with the
    /// C roots) in collector modes.
    fn reset(&mut self) -> Result<(), Failure> {
        if self.has_collector() {
            self.collect(Collection::Major)
        } else {
            self.mem.reset();
            Ok(())
        }
    }
}

#[cold]
fn too_small(size: usize, ty: &MorphTypeInfo) -> Failure {
    Failure::new(
        MORPH_ERR_TYPE,
        format!(
            "a {size}-byte payload is smaller than its type ({} bytes)",
            ty.size()
        ),
    )
}

fn poisoned() -> Failure {
    Failure::new(
        MORPH_ERR_POISONED,
        "the heap is poisoned: a collection was interrupted; destroy the context",
    )
}

/// Checks `ctx` and runs `body` with its state.
///
/// # Safety
/// `ctx` is null or a context handle (see `Shell::enter`).
#[inline]
pub(crate) unsafe fn with_context<R>(
    ctx: *mut MorphContext,
    body: impl FnOnce(&mut Context) -> Result<R, Failure>,
) -> Result<R, Failure> {
    // SAFETY: caller contract.
    unsafe { with_context_lending(ctx, false, body) }
}

/// [`with_context`], lending eden to the header's inline allocation
/// afterwards if `lend` (see [`Context::open_inline`]).
///
/// # Safety
/// As [`with_context`].
#[inline]
unsafe fn with_context_lending<R>(
    ctx: *mut MorphContext,
    lend: bool,
    body: impl FnOnce(&mut Context) -> Result<R, Failure>,
) -> Result<R, Failure> {
    // SAFETY: caller contract.
    let mut entered = unsafe { Shell::enter(MorphContext::shell(ctx)) }?;
    let context = entered.state();
    context.close_inline();
    let result = body(context);
    context.open_inline(lend);
    result
}

/// Creates a context from `config` (null: `morph_detect_config()`), after
/// the `MORPH_MEM_MODE` override (`compiler|runtime|vm|server` switches to
/// that mode's preset) and with stress mode on if `MORPH_GC_STRESS=N` is
/// set. Stores the handle in `*out`. Use it on this thread only; destroy it
/// with `morph_context_destroy`.
///
/// # Safety
/// `config` is null or readable; `out` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_context_create(
    config: *const MorphMemConfig,
    out: *mut *mut MorphContext,
) -> MorphStatus {
    boundary(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        // SAFETY: caller contract.
        let config = match unsafe { config.as_ref() } {
            Some(config) => config.to_facade()?,
            None => morph_mem::detect_config(),
        };
        let shell = Shell::create_with(|inline| {
            let context = Context::new(config, inline)?;
            let flags = if context.has_collector() {
                MORPH_CONTEXT_COLLECTOR
            } else {
                0
            };
            Ok((context, flags))
        })?;
        // SAFETY: non-null and writable (caller contract).
        unsafe { out.write(MorphContext::handle(shell)) };
        Ok(())
    })
}

/// `morph_context_create` with `mode`'s preset.
///
/// # Safety
/// `out` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_context_create_preset(
    mode: MorphWorkloadMode,
    out: *mut *mut MorphContext,
) -> MorphStatus {
    let mut config = morph_detect_config();
    // SAFETY: `config` is a local.
    let status = unsafe { morph_config_preset(mode, &mut config) };
    if status != crate::MORPH_OK {
        return status;
    }
    // SAFETY: `config` is a local; `out` per the caller contract.
    unsafe { morph_context_create(&config, out) }
}

/// Destroys a context: finalizers of its remaining objects run, and all
/// its memory (heap, arena, pools, code cache) is released. Every pointer
/// into it dies. Using the handle afterwards gives `MORPH_ERR_DESTROYED`.
///
/// # Safety
/// `ctx` is null or a handle from `morph_context_create`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_context_destroy(ctx: *mut MorphContext) -> MorphStatus {
    // SAFETY: caller contract.
    boundary(|| unsafe { Shell::destroy(MorphContext::shell(ctx)) })
}

/// Stores the configuration in force (after `MORPH_MEM_MODE`) in `*out`.
///
/// # Safety
/// `ctx` is null or a context handle; `out` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_context_config(
    ctx: *mut MorphContext,
    out: *mut MorphMemConfig,
) -> MorphStatus {
    boundary(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        // SAFETY: caller contract.
        let config = unsafe { with_context(ctx, |c| Ok(*c.mem.config())) }?;
        // SAFETY: non-null and writable (caller contract).
        unsafe { out.write(config.into()) };
        Ok(())
    })
}

/// The seed's allocation entry point: `size` bytes (8-byte aligned) of type
/// `type` (NULL: untyped bytes), placed by the context's mode, the size and
/// `flags` (`MORPH_ALLOC_*`):
///
/// | mode      | flags               | goes to |
/// |-----------|---------------------|---------|
/// | any       | POOLED              | the size-class pool that fits (free with `morph_free`) |
/// | compiler  | otherwise           | the arena (freed at `morph_reset`) |
/// | collector | default             | the nursery (moves at collections); ≥ 1 MiB: large-object space |
/// | collector | PINNED or TENURED   | the old generation or large-object space (never moves) |
///
/// In collector modes the memory is zeroed, and the allocation may collect
/// first: every managed object the caller still needs must be in a root
/// slot (a pushed frame or a global root), and other pointers to movable
/// objects are stale afterwards. Returns NULL on failure
/// (`morph_last_error()` says why: heap exhausted, payload smaller than the
/// type, unknown flags, bad handles …).
///
/// # Safety
/// `ctx` is null or a context handle; `type` is null or a type handle. The
/// roots hold only null or live managed objects of this context, and every
/// trace callback and finalizer of a type keeps its contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_alloc_v2(
    ctx: *mut MorphContext,
    size: usize,
    r#type: *const MorphTypeInfo,
    flags: MorphAllocFlags,
) -> *mut c_void {
    // SAFETY: caller contract.
    unsafe { alloc_and_lend(ctx, size, r#type, flags, false) }
}

/// `morph_alloc_v2` for the header's inline allocation, when the part of
/// the nursery it was lent is spent (or none is out): allocates as
/// `morph_alloc_v2` does, then lends the inline allocation the free part
/// of the nursery again. Call `morph_alloc_v2` instead; a program built
/// without the inline paths never needs this.
///
/// # Safety
/// As `morph_alloc_v2`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_alloc_v2_refill(
    ctx: *mut MorphContext,
    size: usize,
    r#type: *const MorphTypeInfo,
    flags: MorphAllocFlags,
) -> *mut c_void {
    // SAFETY: caller contract.
    unsafe { alloc_and_lend(ctx, size, r#type, flags, true) }
}

/// The body of `morph_alloc_v2` and `morph_alloc_v2_refill`.
///
/// # Safety
/// As `morph_alloc_v2`.
#[inline(always)]
unsafe fn alloc_and_lend(
    ctx: *mut MorphContext,
    size: usize,
    r#type: *const MorphTypeInfo,
    flags: MorphAllocFlags,
    lend: bool,
) -> *mut c_void {
    boundary_ptr(|| {
        // SAFETY: caller contract.
        let ty = unsafe { MorphTypeInfo::check(r#type) }?;
        // SAFETY: caller contract.
        let ptr = unsafe { with_context_lending(ctx, lend, |c| c.alloc(size, ty, flags)) }?;
        Ok(ptr.as_ptr().cast())
    })
}

/// Frees a `MORPH_ALLOC_POOLED` object of `size` bytes and type `type`
/// (the values it was allocated with). A pointer the pools did not hand
/// out, an interior pointer or a second free is refused with
/// `MORPH_ERR_BAD_FREE`, and nothing is freed.
///
/// # Safety
/// `ctx` is null or a context handle; `type` is null or a type handle;
/// nothing uses the object after it is freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_free(
    ctx: *mut MorphContext,
    ptr: *mut c_void,
    size: usize,
    r#type: *const MorphTypeInfo,
) -> MorphStatus {
    boundary(|| {
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| Failure::null("ptr"))?;
        // SAFETY: caller contract.
        let ty = unsafe { MorphTypeInfo::check(r#type) }?;
        // SAFETY: caller contract.
        unsafe { with_context(ctx, |c| Ok(c.mem.free_raw(ptr, size, ty.id())?)) }
    })
}

/// The write barrier: call it after storing `value` into a reference field
/// of `owner` (`owner->field = value; morph_write_barrier(ctx, owner,
/// value);`), so a minor collection finds old-to-young references. The
/// header's `morph_write_barrier_inline` does the cheap filtering inline
/// and calls this only when an old, unremembered object receives a young
/// one. No-op in compiler mode and for a null `value`.
///
/// # Safety
/// `ctx` is null or a context handle; `owner` is a live managed object of
/// this context (not a pooled or arena object) and `value` null or one.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_write_barrier(
    ctx: *mut MorphContext,
    owner: *mut c_void,
    value: *mut c_void,
) -> MorphStatus {
    let barrier = |c: &mut Context| -> Result<(), Failure> {
        let owner = NonNull::new(owner.cast::<u8>()).ok_or_else(|| Failure::null("owner"))?;
        let Some(value) = NonNull::new(value.cast::<u8>()) else {
            return Ok(());
        };
        if !c.has_collector() {
            return Ok(());
        }
        if !owner.addr().get().is_multiple_of(8) || !value.addr().get().is_multiple_of(8) {
            return Err(Failure::invalid(
                "owner and value must be managed objects (8-byte aligned)",
            ));
        }
        // SAFETY: the caller contract: a managed object of this context.
        let owner = unsafe { ObjectRef::from_payload(owner) };
        // SAFETY: as above.
        let value = unsafe { ObjectRef::from_payload(value) };
        // SAFETY: `owner` is a live object of this heap (caller contract).
        unsafe { c.mem.heap()?.write_barrier(owner, value) };
        Ok(())
    };
    // SAFETY: caller contract.
    boundary(|| unsafe { with_context(ctx, barrier) })
}

/// Pushes `frame` onto the context's shadow stack, over `count` root slots
/// at `slots` (each null or a managed object of this context). Collections
/// read the slots and rewrite them when objects move. Pop the frame with
/// `morph_frame_pop` before `frame` or `slots` go out of scope; frames are
/// popped in reverse push order.
///
/// # Safety
/// `ctx` is null or a context handle; `frame` is null or writable; `slots`
/// holds `count` pointer-sized slots. Until popped, `frame` and `slots`
/// stay valid and `frame`'s fields are not changed, and the slots hold
/// only null or live managed objects of this context (never pooled or
/// arena memory, never stale pointers).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_frame_push(
    ctx: *mut MorphContext,
    frame: *mut MorphFrame,
    slots: *mut *mut c_void,
    count: usize,
) -> MorphStatus {
    let push = |c: &mut Context| {
        // SAFETY: caller contract, forwarded.
        unsafe { c.roots.push(frame, slots, count) }
    };
    // SAFETY: caller contract.
    boundary(|| unsafe { with_context(ctx, push) })
}

/// Pops `frame`, which must be the innermost pushed frame
/// (`MORPH_ERR_FRAME_ORDER` otherwise, and nothing changes).
///
/// # Safety
/// `ctx` is null or a context handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_frame_pop(
    ctx: *mut MorphContext,
    frame: *mut MorphFrame,
) -> MorphStatus {
    // SAFETY: caller contract.
    boundary(|| unsafe { with_context(ctx, |c| c.roots.pop(frame)) })
}

/// Frames pushed and not popped (for checks at the end of a function or
/// an error path), or `SIZE_MAX` for a bad handle.
///
/// # Safety
/// `ctx` is null or a context handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_frame_depth(ctx: *mut MorphContext) -> usize {
    // SAFETY: caller contract.
    match unsafe { with_context(ctx, |c| Ok(c.roots.depth())) } {
        Ok(depth) => depth,
        Err(failure) => {
            failure.record();
            usize::MAX
        }
    }
}

/// Makes the `void*` at `slot` a global root until `morph_root_remove`:
/// collections keep its object alive and update it when it moves.
///
/// # Safety
/// `ctx` is null or a context handle; `slot` stays valid until removed and
/// holds only null or live managed objects of this context.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_root_add(
    ctx: *mut MorphContext,
    slot: *mut *mut c_void,
) -> MorphStatus {
    // SAFETY: caller contract.
    boundary(|| unsafe { with_context(ctx, |c| c.roots.add_global(slot)) })
}

/// Stops treating `slot` as a global root.
///
/// # Safety
/// `ctx` is null or a context handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_root_remove(
    ctx: *mut MorphContext,
    slot: *mut *mut c_void,
) -> MorphStatus {
    // SAFETY: caller contract.
    boundary(|| unsafe { with_context(ctx, |c| c.roots.remove_global(slot)) })
}

/// A collection kind for `morph_collect`.
pub type MorphCollection = u32;
/// Young generation only.
pub const MORPH_COLLECT_MINOR: MorphCollection = 0;
/// The whole heap.
pub const MORPH_COLLECT_MAJOR: MorphCollection = 1;

/// Runs a collection now, with the context's roots. Finalizers of dead
/// objects run during it. `MORPH_ERR_WRONG_MODE` in compiler mode.
///
/// # Safety
/// `ctx` is null or a context handle; the roots keep their contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_collect(
    ctx: *mut MorphContext,
    kind: MorphCollection,
) -> MorphStatus {
    boundary(|| {
        let kind = match kind {
            MORPH_COLLECT_MINOR => Collection::Minor,
            MORPH_COLLECT_MAJOR => Collection::Major,
            other => return Err(Failure::invalid(format!("unknown collection kind {other}"))),
        };
        // SAFETY: caller contract.
        unsafe { with_context(ctx, |c| c.collect(kind)) }
    })
}

/// Frees in bulk: compiler mode frees every arena object at once (O(1),
/// the memory kept for the next unit); collector modes run a major
/// collection with the context's roots. Pooled objects are freed only by
/// `morph_free`.
///
/// # Safety
/// `ctx` is null or a context handle; in compiler mode nothing uses arena
/// memory afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_reset(ctx: *mut MorphContext) -> MorphStatus {
    // SAFETY: caller contract.
    boundary(|| unsafe { with_context(ctx, Context::reset) })
}

/// Checks the heap's invariants (every root and reference points at a live
/// object, generations match spaces, every old-to-young reference is
/// remembered): `MORPH_OK`, or `MORPH_ERR_VERIFY` with the first problems
/// in the message. A debugging aid, linear in the heap; `MORPH_OK` in
/// compiler mode.
///
/// # Safety
/// `ctx` is null or a context handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_verify(ctx: *mut MorphContext) -> MorphStatus {
    // SAFETY: caller contract.
    boundary(|| unsafe { with_context(ctx, Context::verify) })
}

/// Stress mode: collect every `every` allocations (a minor collection,
/// every 16th a major one), so a missing root or barrier shows up at once.
/// 0 turns it off. Also set at creation by `MORPH_GC_STRESS=N`.
///
/// # Safety
/// `ctx` is null or a context handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_set_stress(ctx: *mut MorphContext, every: u32) -> MorphStatus {
    boundary(|| {
        // SAFETY: caller contract.
        unsafe {
            with_context(ctx, |c| {
                c.set_stress(every);
                Ok(())
            })
        }
    })
}
