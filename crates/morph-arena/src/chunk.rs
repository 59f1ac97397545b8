//! Chunks: the blocks of memory an arena carves its allocations from.
//!
//! A chunk is one allocation from the global allocator. Its first
//! [`HEADER_SIZE`] bytes hold a [`ChunkHeader`] (the link to the next chunk in
//! whichever list the chunk is on, and the chunk's size); the rest is the
//! *data region*, which the arena hands out from the top down.
//!
//! ```text
//!  base                    data_start                                 end
//!   | ChunkHeader (padded) | ... free ... | cursor -> allocations ... |
//! ```
//!
//! # Invariants of the unsafe code in this module
//!
//! 1. A [`ChunkPtr`] is only created by [`ChunkPtr::allocate`], which writes a
//!    valid header before returning. Until [`ChunkPtr::deallocate`] is called
//!    on it (or on a copy), the header is initialised and the whole chunk,
//!    `base .. base + size`, is live memory owned by the arena. Holders of a
//!    copy never use it after deallocation (the arena keeps every chunk on
//!    exactly one list, and removes it before deallocating it).
//! 2. `header.size` is the exact size the chunk was allocated with, at
//!    alignment [`CHUNK_ALIGN`], so deallocation uses the allocation layout.
//! 3. Nothing outside this module ever creates a reference to a header; the
//!    arena reads and writes it only through these raw-pointer accessors, and
//!    hands out memory only from the data region, so user references and
//!    header accesses never alias.
//! 4. Every pointer into the chunk is derived from the base pointer returned
//!    by the global allocator (strict provenance: addresses are changed with
//!    `with_addr`/`add`, never conjured from integers).

use std::alloc::{self, Layout};
use std::ptr::NonNull;

/// Alignment of every chunk allocation (and of the start of its data region).
pub(crate) const CHUNK_ALIGN: usize = 16;

/// Bytes at the start of each chunk reserved for its header.
pub(crate) const HEADER_SIZE: usize = size_of::<ChunkHeader>().next_multiple_of(CHUNK_ALIGN);

/// Largest chunk the global allocator can be asked for.
pub(crate) const MAX_CHUNK_SIZE: usize = (isize::MAX as usize) & !(CHUNK_ALIGN - 1);

/// Bookkeeping stored at the start of every chunk.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct ChunkHeader {
    /// Next chunk on the same list (used, retired or free).
    next: Option<ChunkPtr>,
    /// Total size of the chunk allocation, header included.
    size: usize,
}

/// A pointer to a live chunk (see the module invariants).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct ChunkPtr(NonNull<ChunkHeader>);

impl ChunkPtr {
    /// Allocates a chunk of `size` bytes (header included) from the global
    /// allocator; `None` if the allocator fails.
    ///
    /// `size` must be in `HEADER_SIZE + 1 ..= MAX_CHUNK_SIZE` (checked by the
    /// callers, asserted here).
    pub(crate) fn allocate(size: usize) -> Option<ChunkPtr> {
        assert!(
            size > HEADER_SIZE && size <= MAX_CHUNK_SIZE,
            "chunk size {size} out of range"
        );
        let layout = Layout::from_size_align(size, CHUNK_ALIGN).ok()?;
        // SAFETY: `layout` has a non-zero size (size > HEADER_SIZE > 0).
        let base = unsafe { alloc::alloc(layout) };
        let header = NonNull::new(base)?.cast::<ChunkHeader>();
        // SAFETY: `base` is a fresh allocation of at least HEADER_SIZE bytes
        // aligned to CHUNK_ALIGN >= align_of::<ChunkHeader>(); nothing else
        // refers to it yet.
        unsafe {
            header.write(ChunkHeader { next: None, size });
        }
        Some(ChunkPtr(header))
    }

    /// Returns the chunk to the global allocator.
    ///
    /// # Safety
    ///
    /// The chunk must not be on any list any more, no reference into its data
    /// region may be live, and neither `self` nor any copy may be used again.
    pub(crate) unsafe fn deallocate(self) {
        let size = self.size();
        // SAFETY: invariant 2: the chunk was allocated with exactly this layout,
        // which was valid then.
        let layout = unsafe { Layout::from_size_align_unchecked(size, CHUNK_ALIGN) };
        // SAFETY: invariant 1 (the chunk is live) and the caller's promise that
        // nothing uses it afterwards.
        unsafe { alloc::dealloc(self.0.as_ptr().cast::<u8>(), layout) }
    }

    /// A copy of the header.
    #[inline(always)]
    fn header(self) -> ChunkHeader {
        // SAFETY: invariant 1: the header is initialised while the chunk is
        // live; invariant 3: no reference to it exists.
        unsafe { self.0.as_ptr().read() }
    }

    /// Total size of the chunk, header included.
    #[inline(always)]
    pub(crate) fn size(self) -> usize {
        self.header().size
    }

    /// The next chunk on this chunk's list.
    #[inline]
    pub(crate) fn next(self) -> Option<ChunkPtr> {
        self.header().next
    }

    /// Links this chunk to `next`.
    #[inline]
    pub(crate) fn set_next(self, next: Option<ChunkPtr>) {
        let header = ChunkHeader {
            next,
            size: self.size(),
        };
        // SAFETY: as in `header`; the write goes through a raw pointer and no
        // reference to the header exists (invariant 3).
        unsafe { self.0.as_ptr().write(header) }
    }

    /// Address of the first byte of the data region.
    #[inline(always)]
    pub(crate) fn data_start(self) -> usize {
        self.0.as_ptr().addr() + HEADER_SIZE
    }

    /// One-past-the-end pointer of the chunk, carrying the chunk's provenance.
    #[inline(always)]
    pub(crate) fn end(self) -> *mut u8 {
        let size = self.size();
        // SAFETY: `base + size` is one past the end of the chunk's allocation
        // (invariants 1 and 2), which `add` permits.
        unsafe { self.0.as_ptr().cast::<u8>().add(size) }
    }

    /// Bytes available for allocations in this chunk.
    #[inline]
    pub(crate) fn capacity(self) -> usize {
        self.size() - HEADER_SIZE
    }
}

/// An intrusive singly linked list of chunks with O(1) push, pop and splice.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ChunkList {
    head: Option<ChunkPtr>,
    tail: Option<ChunkPtr>,
    /// Number of chunks on the list.
    pub(crate) count: usize,
    /// Sum of the chunks' sizes.
    pub(crate) bytes: usize,
}

impl ChunkList {
    pub(crate) const fn new() -> Self {
        Self {
            head: None,
            tail: None,
            count: 0,
            bytes: 0,
        }
    }

    pub(crate) fn head(&self) -> Option<ChunkPtr> {
        self.head
    }

    pub(crate) fn push_front(&mut self, chunk: ChunkPtr) {
        chunk.set_next(self.head);
        if self.head.is_none() {
            self.tail = Some(chunk);
        }
        self.head = Some(chunk);
        self.count += 1;
        self.bytes += chunk.size();
    }

    pub(crate) fn pop_front(&mut self) -> Option<ChunkPtr> {
        let chunk = self.head?;
        self.head = chunk.next();
        if self.head.is_none() {
            self.tail = None;
        }
        chunk.set_next(None);
        self.count -= 1;
        self.bytes -= chunk.size();
        Some(chunk)
    }

    /// Moves every chunk of `front` to the front of `self`, in O(1).
    pub(crate) fn splice_front(&mut self, front: &mut ChunkList) {
        let Some(front_tail) = front.tail else {
            return;
        };
        front_tail.set_next(self.head);
        if self.head.is_none() {
            self.tail = Some(front_tail);
        }
        self.head = front.head;
        self.count += front.count;
        self.bytes += front.bytes;
        *front = ChunkList::new();
    }

    /// Removes and returns the first chunk whose capacity lies in
    /// `min_capacity ..= max_capacity` (first fit; O(length)).
    pub(crate) fn take_first_fit(
        &mut self,
        min_capacity: usize,
        max_capacity: usize,
    ) -> Option<ChunkPtr> {
        let mut prev: Option<ChunkPtr> = None;
        let mut cursor = self.head;
        while let Some(chunk) = cursor {
            if (min_capacity..=max_capacity).contains(&chunk.capacity()) {
                let next = chunk.next();
                match prev {
                    Some(p) => p.set_next(next),
                    None => self.head = next,
                }
                if self.tail == Some(chunk) {
                    self.tail = prev;
                }
                chunk.set_next(None);
                self.count -= 1;
                self.bytes -= chunk.size();
                return Some(chunk);
            }
            prev = cursor;
            cursor = chunk.next();
        }
        None
    }

    /// Keeps chunks (in list order) while their total stays within
    /// `max_bytes`, and returns the others to the global allocator.
    ///
    /// # Safety
    ///
    /// No reference into any chunk of this list may be live.
    pub(crate) unsafe fn trim_to(&mut self, max_bytes: usize) {
        if self.bytes <= max_bytes {
            return;
        }
        let mut kept = ChunkList::new();
        let mut rest = self.head;
        while let Some(chunk) = rest {
            rest = chunk.next();
            if kept.bytes + chunk.size() <= max_bytes {
                // Appending keeps the hottest chunks (at the front) first in line.
                chunk.set_next(None);
                match kept.tail {
                    Some(t) => t.set_next(Some(chunk)),
                    None => kept.head = Some(chunk),
                }
                kept.tail = Some(chunk);
                kept.count += 1;
                kept.bytes += chunk.size();
            } else {
                // SAFETY: the chunk is unlinked from every list (we walk past it and
                // never store it), and the caller promises no reference into it.
                unsafe { chunk.deallocate() }
            }
        }
        *self = kept;
    }

    /// Returns every chunk to the global allocator.
    ///
    /// # Safety
    ///
    /// No reference into any chunk of this list may be live.
    pub(crate) unsafe fn free_all(&mut self) {
        while let Some(chunk) = self.pop_front() {
            // SAFETY: popped, so on no list; the caller promises no references.
            unsafe { chunk.deallocate() }
        }
    }
}
