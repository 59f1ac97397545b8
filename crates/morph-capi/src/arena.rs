//! The bump arena and the fixed-size pools for C compilers, without a
//! context: `morph_arena_*` and `morph_pool_*`.

use std::ffi::{CStr, c_char, c_void};
use std::ptr::NonNull;

use morph_arena::{Arena, ArenaConfig};
use morph_pool::{PoolConfig, RawPool};

use crate::handle::{Shell, handle_kind};
use crate::status::{
    Failure, MORPH_ERR_BAD_FREE, MORPH_ERR_OUT_OF_MEMORY, MORPH_ERR_TOO_LARGE, MorphStatus,
    boundary, boundary_ptr,
};

/// An arena's state.
pub(crate) struct ArenaState(Arena);

/// A bump arena: O(1) allocation, everything freed at once by
/// `morph_arena_reset`, its chunks kept for the next unit (up to the
/// retention cap). Made by `morph_arena_create`, used on its thread.
///
/// Opaque: C sees only pointers to it.
pub struct MorphArena {
    _opaque: [u64; 0],
    _not_send_sync_unpin: std::marker::PhantomData<(*mut u8, std::marker::PhantomPinned)>,
}

handle_kind!(MorphArena, ArenaState, "arena", b"MORPHARN", b"MORPHARD");

/// What an arena holds.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MorphArenaStats {
    /// Chunks held (in use and kept for reuse).
    pub chunks: usize,
    /// Bytes reserved by those chunks.
    pub reserved_bytes: usize,
    /// Bytes handed out since the last reset.
    pub used_bytes: usize,
    /// Bytes lost at chunk ends since the last reset.
    pub wasted_bytes: usize,
    /// Resets so far.
    pub resets: u64,
}

fn arena_error(error: morph_arena::ArenaError) -> Failure {
    let status = match error {
        morph_arena::ArenaError::OutOfMemory { .. } => MORPH_ERR_OUT_OF_MEMORY,
        morph_arena::ArenaError::AllocationTooLarge { .. } => MORPH_ERR_TOO_LARGE,
        _ => crate::status::MORPH_ERR_CONFIG,
    };
    Failure::new(status, format!("arena: {error}"))
}

/// Creates an arena with `chunk_size`-byte chunks (0: 2 MiB) that keeps up
/// to `retained_bytes` of chunks across resets (0: 16 MiB), and stores its
/// handle in `*out`.
///
/// # Safety
/// `out` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_arena_create(
    chunk_size: usize,
    retained_bytes: usize,
    out: *mut *mut MorphArena,
) -> MorphStatus {
    boundary(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        let mut config = ArenaConfig::new();
        if chunk_size != 0 {
            config = config.chunk_size(chunk_size);
        }
        if retained_bytes != 0 {
            config = config.retained_bytes(retained_bytes);
        }
        let arena = config.build().map_err(arena_error)?;
        let shell = Shell::create(ArenaState(arena), 0);
        // SAFETY: non-null and writable (caller contract).
        unsafe { out.write(MorphArena::handle(shell)) };
        Ok(())
    })
}

/// `size` bytes aligned to `align` (0: 8; otherwise a power of two), not
/// zeroed, valid until the next `morph_arena_reset` or
/// `morph_arena_destroy`. NULL on failure.
///
/// # Safety
/// `arena` is null or an arena handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_arena_alloc(
    arena: *mut MorphArena,
    size: usize,
    align: usize,
) -> *mut c_void {
    boundary_ptr(|| {
        let align = if align == 0 { 8 } else { align };
        let layout = std::alloc::Layout::from_size_align(size, align).map_err(|_| {
            Failure::invalid(format!(
                "alignment {align} is not a power of two, or size {size} is too large"
            ))
        })?;
        // SAFETY: caller contract.
        let mut entered = unsafe { Shell::enter(MorphArena::shell(arena)) }?;
        let ptr = entered
            .state()
            .0
            .try_alloc_layout(layout)
            .map_err(arena_error)?;
        Ok(ptr.as_ptr().cast())
    })
}

/// A copy of the NUL-terminated string `text` in the arena, or NULL.
///
/// # Safety
/// `arena` is null or an arena handle; `text` is null or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_arena_strdup(
    arena: *mut MorphArena,
    text: *const c_char,
) -> *mut c_char {
    boundary_ptr(|| {
        if text.is_null() {
            return Err(Failure::null("text"));
        }
        // SAFETY: caller contract: NUL-terminated.
        let bytes = unsafe { CStr::from_ptr(text) }.to_bytes_with_nul();
        // SAFETY: caller contract.
        let mut entered = unsafe { Shell::enter(MorphArena::shell(arena)) }?;
        let copy = entered
            .state()
            .0
            .try_alloc_slice_copy(bytes)
            .map_err(arena_error)?;
        Ok(copy.as_mut_ptr().cast())
    })
}

/// Frees everything allocated from the arena at once, keeping its chunks
/// (up to the retention cap) for reuse without system calls.
///
/// # Safety
/// `arena` is null or an arena handle; nothing uses its memory afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_arena_reset(arena: *mut MorphArena) -> MorphStatus {
    boundary(|| {
        // SAFETY: caller contract.
        let mut entered = unsafe { Shell::enter(MorphArena::shell(arena)) }?;
        entered.state().0.reset();
        Ok(())
    })
}

/// Stores the arena's figures in `*out`.
///
/// # Safety
/// `arena` is null or an arena handle; `out` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_arena_stats(
    arena: *mut MorphArena,
    out: *mut MorphArenaStats,
) -> MorphStatus {
    boundary(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        // SAFETY: caller contract.
        let mut entered = unsafe { Shell::enter(MorphArena::shell(arena)) }?;
        let s = entered.state().0.stats();
        let stats = MorphArenaStats {
            chunks: s.chunks,
            reserved_bytes: s.reserved_bytes,
            used_bytes: s.used_bytes,
            wasted_bytes: s.wasted_bytes,
            resets: s.resets,
        };
        // SAFETY: non-null and writable (caller contract).
        unsafe { out.write(stats) };
        Ok(())
    })
}

/// Destroys the arena and frees its memory.
///
/// # Safety
/// `arena` is null or an arena handle; nothing uses its memory afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_arena_destroy(arena: *mut MorphArena) -> MorphStatus {
    // SAFETY: caller contract.
    boundary(|| unsafe { Shell::destroy(MorphArena::shell(arena)) })
}

/// A pool's state.
pub(crate) struct PoolState(RawPool);

/// A pool of fixed-size slots: O(1) allocation and free, no
/// fragmentation, checked frees. Made by `morph_pool_create`, used on its
/// thread.
///
/// Opaque: C sees only pointers to it.
pub struct MorphPool {
    _opaque: [u64; 0],
    _not_send_sync_unpin: std::marker::PhantomData<(*mut u8, std::marker::PhantomPinned)>,
}

handle_kind!(MorphPool, PoolState, "pool", b"MORPHPOL", b"MORPHPOD");

/// What a pool holds.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MorphPoolStats {
    /// Bytes per slot (the requested size rounded up).
    pub slot_size: usize,
    /// Blocks held.
    pub blocks: usize,
    /// Slots allocated now.
    pub live_slots: usize,
    /// Allocations so far.
    pub total_allocs: u64,
    /// Frees so far.
    pub total_frees: u64,
}

fn pool_error(error: morph_pool::PoolError) -> Failure {
    use morph_pool::PoolError;
    let status = match error {
        PoolError::OutOfMemory { .. } => MORPH_ERR_OUT_OF_MEMORY,
        PoolError::ForeignPointer { .. }
        | PoolError::InteriorPointer { .. }
        | PoolError::DoubleFree { .. }
        | PoolError::NotAllocated { .. } => MORPH_ERR_BAD_FREE,
        PoolError::TooLarge { .. } | PoolError::SlotTooLarge { .. } => MORPH_ERR_TOO_LARGE,
        _ => crate::status::MORPH_ERR_INVALID_ARGUMENT,
    };
    Failure::new(status, format!("pool: {error}"))
}

/// Creates a pool of `slot_size`-byte slots (8-byte aligned) and stores its
/// handle in `*out`.
///
/// # Safety
/// `out` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_pool_create(
    slot_size: usize,
    out: *mut *mut MorphPool,
) -> MorphStatus {
    boundary(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        let slot = slot_size.max(1).next_multiple_of(8);
        let pool = RawPool::new(slot, PoolConfig::default()).map_err(pool_error)?;
        let shell = Shell::create(PoolState(pool), 0);
        // SAFETY: non-null and writable (caller contract).
        unsafe { out.write(MorphPool::handle(shell)) };
        Ok(())
    })
}

/// One slot (not zeroed), or NULL.
///
/// # Safety
/// `pool` is null or a pool handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_pool_alloc(pool: *mut MorphPool) -> *mut c_void {
    boundary_ptr(|| {
        // SAFETY: caller contract.
        let mut entered = unsafe { Shell::enter(MorphPool::shell(pool)) }?;
        let slot = entered.state().0.alloc().map_err(pool_error)?;
        Ok(slot.as_ptr().cast())
    })
}

/// Frees a slot. A pointer this pool did not hand out, an interior pointer
/// or a second free is refused with `MORPH_ERR_BAD_FREE`, and nothing is
/// freed.
///
/// # Safety
/// `pool` is null or a pool handle; nothing uses the slot afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_pool_free(pool: *mut MorphPool, ptr: *mut c_void) -> MorphStatus {
    boundary(|| {
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| Failure::null("ptr"))?;
        // SAFETY: caller contract.
        let mut entered = unsafe { Shell::enter(MorphPool::shell(pool)) }?;
        entered.state().0.free(ptr).map_err(pool_error)
    })
}

/// Stores the pool's figures in `*out`.
///
/// # Safety
/// `pool` is null or a pool handle; `out` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_pool_stats(
    pool: *mut MorphPool,
    out: *mut MorphPoolStats,
) -> MorphStatus {
    boundary(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        // SAFETY: caller contract.
        let mut entered = unsafe { Shell::enter(MorphPool::shell(pool)) }?;
        let s = entered.state().0.stats();
        let stats = MorphPoolStats {
            slot_size: s.slot_size,
            blocks: s.blocks,
            live_slots: s.live_slots,
            total_allocs: s.total_allocs,
            total_frees: s.total_frees,
        };
        // SAFETY: non-null and writable (caller contract).
        unsafe { out.write(stats) };
        Ok(())
    })
}

/// Destroys the pool and frees its memory (every slot).
///
/// # Safety
/// `pool` is null or a pool handle; nothing uses its slots afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_pool_destroy(pool: *mut MorphPool) -> MorphStatus {
    // SAFETY: caller contract.
    boundary(|| unsafe { Shell::destroy(MorphPool::shell(pool)) })
}
