//! The JIT code cache from C (VM mode): `morph_code_*` over
//! `MorphMem::code_cache`.

use std::ffi::c_void;

use morph_mem::{CodeBlock, CodeCacheConfig, CodeCacheError};

use crate::context::{MorphContext, with_context};
use crate::status::{
    Failure, MORPH_ERR_CODE, MORPH_ERR_INVALID_ARGUMENT, MORPH_ERR_OUT_OF_MEMORY,
    MORPH_ERR_WRONG_MODE, MorphStatus, boundary,
};

/// A code block of a context's code cache. Copy it freely: every use is
/// checked, and a block that was discarded (or belongs to another context)
/// is refused with `MORPH_ERR_CODE`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MorphCodeBlock {
    /// Which cache (the library's field).
    pub cache: u32,
    /// Which slot (the library's field).
    pub index: u32,
    /// Which use of the slot (the library's field).
    pub generation: u32,
}

impl From<CodeBlock> for MorphCodeBlock {
    fn from(block: CodeBlock) -> Self {
        let [cache, index, generation] = block.to_bits();
        MorphCodeBlock {
            cache,
            index,
            generation,
        }
    }
}

impl From<MorphCodeBlock> for CodeBlock {
    fn from(block: MorphCodeBlock) -> Self {
        CodeBlock::from_bits([block.cache, block.index, block.generation])
    }
}

impl From<CodeCacheError> for Failure {
    fn from(error: CodeCacheError) -> Self {
        let status = match &error {
            CodeCacheError::WrongMode { .. } => MORPH_ERR_WRONG_MODE,
            CodeCacheError::Reserve { .. }
            | CodeCacheError::Protect { .. }
            | CodeCacheError::Exhausted { .. } => MORPH_ERR_OUT_OF_MEMORY,
            CodeCacheError::ZeroSize | CodeCacheError::OutOfBounds { .. } => {
                MORPH_ERR_INVALID_ARGUMENT
            }
            _ => MORPH_ERR_CODE,
        };
        Failure::new(status, error.to_string())
    }
}

/// Reserves the context's code cache with `capacity` bytes of address
/// space (rounded up to pages; memory is taken only by live blocks),
/// replacing any previous one (its blocks die). Optional: the first
/// `morph_code_alloc` reserves 64 MiB. VM mode only.
///
/// # Safety
/// `ctx` is null or a context handle; no code of a previous cache runs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_code_cache_init(
    ctx: *mut MorphContext,
    capacity: usize,
) -> MorphStatus {
    boundary(|| {
        // SAFETY: caller contract.
        unsafe {
            with_context(ctx, |c| {
                Ok(c.mem.init_code_cache(CodeCacheConfig {
                    capacity,
                    ..CodeCacheConfig::default()
                })?)
            })
        }
    })
}

/// Allocates a writable code block of at least `size` bytes (whole pages,
/// zeroed). Stores its handle in `*out` and, if `writable` is not null,
/// the address to write the code at in `*writable` (valid until the block
/// is made executable or discarded; writes after that fault). VM mode
/// only.
///
/// # Safety
/// `ctx` is null or a context handle; `out` is null or writable;
/// `writable` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_code_alloc(
    ctx: *mut MorphContext,
    size: usize,
    out: *mut MorphCodeBlock,
    writable: *mut *mut c_void,
) -> MorphStatus {
    boundary(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        // SAFETY: caller contract.
        let (block, bytes) = unsafe {
            with_context(ctx, |c| {
                let cache = c.mem.code_cache()?;
                let block = cache.alloc(size)?;
                let bytes = cache.writable(block)?.as_mut_ptr();
                Ok((block, bytes))
            })
        }?;
        // SAFETY: non-null and writable (caller contract).
        unsafe { out.write(block.into()) };
        if !writable.is_null() {
            // SAFETY: writable (caller contract).
            unsafe { writable.write(bytes.cast()) };
        }
        Ok(())
    })
}

/// Copies `len` bytes from `bytes` into the block at `offset`. Refused
/// with `MORPH_ERR_CODE` once the block is executable (W^X) or discarded,
/// and with `MORPH_ERR_INVALID_ARGUMENT` past the block's end.
///
/// # Safety
/// `ctx` is null or a context handle; `bytes` holds `len` readable bytes
/// (may be null when `len` is 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_code_write(
    ctx: *mut MorphContext,
    block: MorphCodeBlock,
    offset: usize,
    bytes: *const c_void,
    len: usize,
) -> MorphStatus {
    boundary(|| {
        let source: &[u8] = if len == 0 {
            &[]
        } else if bytes.is_null() {
            return Err(Failure::null("bytes"));
        } else {
            // SAFETY: caller contract: `len` readable bytes.
            unsafe { std::slice::from_raw_parts(bytes.cast::<u8>(), len) }
        };
        // SAFETY: caller contract.
        unsafe {
            with_context(ctx, |c| {
                Ok(c.mem.code_cache()?.write(block.into(), offset, source)?)
            })
        }
    })
}

/// Makes the block executable (read + execute; no longer writable: W^X),
/// flushing the instruction cache where the architecture needs it, and
/// stores the code's first byte in `*entry` (if not null). Cast it to the
/// function type the code implements to call it.
///
/// # Safety
/// `ctx` is null or a context handle; `entry` is null or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_code_make_executable(
    ctx: *mut MorphContext,
    block: MorphCodeBlock,
    entry: *mut *const c_void,
) -> MorphStatus {
    boundary(|| {
        // SAFETY: caller contract.
        let start = unsafe {
            with_context(ctx, |c| {
                Ok(c.mem.code_cache()?.make_executable(block.into())?)
            })
        }?;
        if !entry.is_null() {
            // SAFETY: writable (caller contract).
            unsafe { entry.write(start.as_ptr().cast_const().cast()) };
        }
        Ok(())
    })
}

/// Discards the block (de-optimisation): its pages become inaccessible and
/// are returned to the system, its space is reused by later allocations,
/// and the handle stops working.
///
/// # Safety
/// `ctx` is null or a context handle; no thread runs or will call the
/// block's code.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_code_discard(
    ctx: *mut MorphContext,
    block: MorphCodeBlock,
) -> MorphStatus {
    // SAFETY: caller contract.
    boundary(|| unsafe { with_context(ctx, |c| Ok(c.mem.code_cache()?.discard(block.into())?)) })
}
