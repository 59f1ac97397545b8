//! `allocator-api2` support: `Vec<T, &Arena>`, `Box<T, &Arena>`, hash maps.
//!
//! Deallocation gives memory back only when the block is the most recent
//! allocation of the current chunk (the common "push then pop" and
//! "grow the vector you just made" cases); otherwise it is a no-op and the
//! memory returns at the next reset. Growing the most recent allocation
//! extends it downwards within the chunk (one `memmove`, no waste); shrinking
//! it by half or more slides it up and returns the tail.
//!
//! # Invariants of the unsafe code in this module
//!
//! Those of the arena module. In addition, the cursor is only ever moved with
//! `cursor.with_addr(..)`, so it keeps the chunk's provenance even when the
//! caller's pointer has narrower provenance (strict provenance).

use std::alloc::Layout;
use std::ptr::{self, NonNull};

use allocator_api2::alloc::{AllocError, Allocator};

use crate::Arena;

impl Arena {
    /// Whether `ptr` is the lowest (most recent) allocation of the current chunk.
    #[inline]
    fn is_last_allocation(&self, ptr: NonNull<u8>) -> bool {
        self.current.get().is_some() && ptr.as_ptr().addr() == self.cursor.get().addr()
    }
}

// SAFETY: blocks come from `try_alloc_layout`, so they are fresh, aligned and
// sized as requested, and stay valid until the arena is reset, rolled back or
// dropped, each of which needs `&mut Arena` (or ownership) and so cannot
// happen while an `&Arena` allocator, or a collection owning the arena, lives.
// Blocks are never handed out twice: the cursor only moves up again on
// `deallocate`/`shrink` of the block directly above it, which the caller
// promises is no longer used.
unsafe impl Allocator for Arena {
    #[inline(always)]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        match self.try_alloc_layout(layout) {
            Ok(ptr) => Ok(NonNull::slice_from_raw_parts(ptr, layout.size())),
            Err(_) => Err(AllocError),
        }
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if self.is_last_allocation(ptr) {
            let cursor = self.cursor.get();
            // The block was carved below the old cursor, so `ptr + size` is
            // still inside the current chunk (invariant 1).
            self.cursor
                .set(cursor.with_addr(ptr.as_ptr().addr() + layout.size()));
        }
    }

    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        debug_assert!(new_layout.size() >= old_layout.size());
        if self.is_last_allocation(ptr) {
            let extra = new_layout.size() - old_layout.size();
            let new_addr = ptr
                .as_ptr()
                .addr()
                .checked_sub(extra)
                .map(|addr| addr & !(new_layout.align() - 1));
            if let Some(new_addr) = new_addr.filter(|&addr| addr >= self.limit.get()) {
                let new_ptr = self.cursor.get().with_addr(new_addr);
                // SAFETY: source is the caller's live block of `old_layout.size()`
                // bytes; destination `new_addr .. new_addr + old size` lies in
                // `limit .. ptr + old size`, i.e. the block plus free bytes below
                // it in the current chunk. `copy` allows the overlap.
                unsafe { ptr::copy(ptr.as_ptr(), new_ptr, old_layout.size()) };
                self.cursor.set(new_ptr);
                // SAFETY: `new_addr >= limit >= 1`.
                let new_ptr = unsafe { NonNull::new_unchecked(new_ptr) };
                return Ok(NonNull::slice_from_raw_parts(new_ptr, new_layout.size()));
            }
        }
        let new_block = self.allocate(new_layout)?;
        // SAFETY: the new block is fresh, so it does not overlap the caller's
        // block, and both hold at least `old_layout.size()` bytes.
        unsafe {
            ptr::copy_nonoverlapping(
                ptr.as_ptr(),
                new_block.cast::<u8>().as_ptr(),
                old_layout.size(),
            );
        }
        Ok(new_block)
    }

    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old_layout: Layout,
        new_layout: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        debug_assert!(new_layout.size() <= old_layout.size());
        if !ptr.as_ptr().addr().is_multiple_of(new_layout.align()) {
            // Stricter alignment than the block has: move it.
            let new_block = self.allocate(new_layout)?;
            // SAFETY: fresh block, no overlap; both hold `new_layout.size()` bytes.
            unsafe {
                ptr::copy_nonoverlapping(
                    ptr.as_ptr(),
                    new_block.cast::<u8>().as_ptr(),
                    new_layout.size(),
                );
            }
            return Ok(new_block);
        }
        if self.is_last_allocation(ptr) && new_layout.size() <= old_layout.size() / 2 {
            // Slide the kept bytes up to the block's end and give back the rest.
            let new_addr = (ptr.as_ptr().addr() + old_layout.size() - new_layout.size())
                & !(new_layout.align() - 1);
            let new_ptr = self.cursor.get().with_addr(new_addr);
            // SAFETY: both ranges lie inside the caller's block
            // (`ptr <= new_addr` as `ptr` is aligned to `new_layout.align()`,
            // and `new_addr + new size <= ptr + old size`); `copy` allows overlap.
            unsafe { ptr::copy(ptr.as_ptr(), new_ptr, new_layout.size()) };
            self.cursor.set(new_ptr);
            // SAFETY: `new_addr >= ptr > 0`.
            let new_ptr = unsafe { NonNull::new_unchecked(new_ptr) };
            return Ok(NonNull::slice_from_raw_parts(new_ptr, new_layout.size()));
        }
        Ok(NonNull::slice_from_raw_parts(ptr, new_layout.size()))
    }
}
