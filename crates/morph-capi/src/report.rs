//! Statistics and pressure callbacks: `morph_mem_print_stats`,
//! `morph_mem_dump_stats` (the seed's names), `morph_mem_get_stats`, and
//! `morph_on_pressure`.

use std::ffi::{CStr, c_char, c_void};

use crate::context::{MorphContext, with_context};
use crate::status::{Failure, MorphStatus, boundary};

/// The seed design's statistics, as numbers (per-type figures are in the
/// printed and dumped reports).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MorphMemStats {
    /// Bytes allocated since start.
    pub total_allocated: u64,
    /// Bytes freed (explicitly, by reset, or by collection).
    pub total_freed: u64,
    /// Bytes live now.
    pub current_live: u64,
    /// Most bytes live at once.
    pub peak_live: u64,
    /// Objects allocated since start.
    pub object_count: u64,
    /// Objects live now.
    pub live_objects: u64,
    /// Collections of any kind.
    pub gc_count: u64,
    /// Time in collection pauses, microseconds.
    pub gc_time_us: u64,
    /// Longest pause, microseconds.
    pub gc_pause_max_us: u64,
    /// Mean pause, microseconds.
    pub gc_pause_avg_us: u64,
    /// 99th-percentile pause, microseconds.
    pub gc_pause_p99_us: u64,
    /// Arena chunks held.
    pub arena_count: u64,
    /// Bytes reserved by the arena.
    pub arena_bytes: u64,
    /// Size-class pools in use.
    pub pool_count: u64,
    /// Bytes reserved by pools.
    pub pool_bytes: u64,
    /// Bytes reserved by the collected heap.
    pub heap_bytes: u64,
    /// Bytes of address space reserved by the JIT code cache.
    pub code_bytes: u64,
    /// Bytes in live code blocks.
    pub code_used_bytes: u64,
    /// Live code blocks.
    pub code_blocks: u64,
    /// Minor collections.
    pub young_gc_count: u64,
    /// Major collections.
    pub old_gc_count: u64,
    /// Objects promoted to the old generation.
    pub promoted_objects: u64,
    /// Bytes promoted to the old generation.
    pub promoted_bytes: u64,
    /// Microseconds since the context was created.
    pub uptime_us: u64,
}

impl From<&morph_mem::metrics::MorphMemStats> for MorphMemStats {
    fn from(s: &morph_mem::metrics::MorphMemStats) -> Self {
        let (a, g, h, y) = (&s.allocation, &s.gc, &s.heap, &s.generational);
        MorphMemStats {
            total_allocated: a.total_allocated,
            total_freed: a.total_freed,
            current_live: a.current_live,
            peak_live: a.peak_live,
            object_count: a.total_allocated_objects,
            live_objects: a.current_live_objects,
            gc_count: g.gc_count,
            gc_time_us: g.gc_time_us,
            gc_pause_max_us: g.gc_pause_max_us,
            gc_pause_avg_us: g.gc_pause_avg_us,
            gc_pause_p99_us: g.gc_pause_p99_us,
            arena_count: h.arena_count,
            arena_bytes: h.arena_bytes,
            pool_count: h.pool_count,
            pool_bytes: h.pool_bytes,
            heap_bytes: h.heap_bytes,
            code_bytes: h.code_bytes,
            code_used_bytes: h.code_used_bytes,
            code_blocks: h.code_blocks,
            young_gc_count: y.young_gc_count,
            old_gc_count: y.old_gc_count,
            promoted_objects: y.promoted_objects,
            promoted_bytes: y.promoted_bytes,
            uptime_us: s.uptime_us,
        }
    }
}

/// Stores the context's statistics in `*out`.
///
/// # Safety
/// `ctx` is null or a context handle; `out` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_mem_get_stats(
    ctx: *mut MorphContext,
    out: *mut MorphMemStats,
) -> MorphStatus {
    boundary(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        // SAFETY: caller contract.
        let stats = unsafe { with_context(ctx, |c| Ok(c.mem.stats())) }?;
        // SAFETY: non-null and writable (caller contract).
        unsafe { out.write((&stats).into()) };
        Ok(())
    })
}

/// Prints the seed's report (Mode, Uptime, Allocations, Breakdown, GC, Top
/// Types) to standard output. It is written (and flushed) by the library,
/// not through C's `stdio` buffer: `fflush(stdout)` first if the program
/// printed with `printf` and the order matters.
///
/// # Safety
/// `ctx` is null or a context handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_mem_print_stats(ctx: *mut MorphContext) -> MorphStatus {
    boundary(|| {
        // SAFETY: caller contract.
        let report = unsafe { with_context(ctx, |c| Ok(c.mem.stats().report())) }?;
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        out.write_all(report.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| Failure::new(crate::status::MORPH_ERR_IO, format!("stdout: {e}")))
    })
}

/// Writes the context's statistics to the file `path` as JSON (the format
/// `morph_metrics::MorphMemStats` loads back).
///
/// # Safety
/// `ctx` is null or a context handle; `path` is null or a NUL-terminated
/// string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_mem_dump_stats(
    ctx: *mut MorphContext,
    path: *const c_char,
) -> MorphStatus {
    boundary(|| {
        if path.is_null() {
            return Err(Failure::null("path"));
        }
        // SAFETY: caller contract: a NUL-terminated string.
        let path = unsafe { CStr::from_ptr(path) };
        let path = std::path::PathBuf::from(path.to_string_lossy().into_owned());
        // SAFETY: caller contract.
        unsafe { with_context(ctx, |c| Ok(c.mem.dump_stats(&path)?)) }
    })
}

/// What a pressure callback is told.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MorphPressureEvent {
    /// The fraction of the bound the callback was registered for.
    pub threshold: f64,
    /// Bytes the heap has committed against the bound.
    pub used: usize,
    /// The bound (`heap_size_hint`).
    pub bound: usize,
}

/// Called when the heap crosses a pressure threshold.
///
/// # Safety
/// The C side's contract: it runs inside a collection, so it must not
/// call functions on the same context (they answer `MORPH_ERR_BUSY`) —
/// record what to do (shed a cache, refuse requests) and do it after.
pub type MorphPressureFn =
    Option<unsafe extern "C" fn(event: *const MorphPressureEvent, user_data: *mut c_void)>;

/// Calls `callback(event, user_data)` when, after a collection, the heap
/// has committed at least `fraction` (0 < fraction ≤ 1) of
/// `heap_size_hint` (the hard bound in server mode). Fires once per
/// crossing; re-arms when the heap falls 5 % of the bound below the line.
/// `MORPH_ERR_WRONG_MODE` in compiler mode.
///
/// # Safety
/// `ctx` is null or a context handle; `callback` keeps `MorphPressureFn`'s
/// contract for the life of the context, with this `user_data`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_on_pressure(
    ctx: *mut MorphContext,
    fraction: f64,
    callback: MorphPressureFn,
    user_data: *mut c_void,
) -> MorphStatus {
    boundary(|| {
        let callback = callback.ok_or_else(|| Failure::null("callback"))?;
        let notify = move |event: morph_mem::PressureEvent| {
            let event = MorphPressureEvent {
                threshold: event.threshold,
                used: event.used,
                bound: event.bound,
            };
            // SAFETY: the callback's contract (caller's); `event` lives for
            // the call.
            unsafe { callback(&event, user_data) };
        };
        // SAFETY: caller contract.
        unsafe { with_context(ctx, |c| Ok(c.mem.on_pressure(fraction, notify)?)) }
    })
}
