//! Object references and the raw reads and writes of object memory.
//!
//! A managed object is an 8-byte [`ObjectHeader`] followed by its payload;
//! an [`ObjectRef`] points at the payload (so a payload pointer can be cast
//! to the user's type directly) and the header sits 8 bytes before it.
//!
//! Invariants this module relies on and keeps:
//! * every `ObjectRef` the collector hands out points 8 bytes past the start
//!   of a block of at least [`MIN_OBJECT_SIZE`] bytes that one of its spaces
//!   owns, 8-byte aligned, and derived from that space's base pointer (so
//!   it carries the space's provenance);
//! * an object's total size ([`object_size`]) is header + payload rounded up
//!   to 8, and never less than [`MIN_OBJECT_SIZE`], so a forwarded object
//!   always has room for the forwarding pointer in its first payload word;
//! * forwarding writes the new address into the header (so
//!   [`ObjectHeader::is_forwarded`] tells) *and* the new pointer, with its
//!   provenance, into the first payload word (so reading it back needs no
//!   integer-to-pointer cast).

use std::fmt;
use std::mem::MaybeUninit;
use std::ptr::NonNull;

use morph_header::ObjectHeader;

/// Bytes of the header in front of every payload.
pub const HEADER_SIZE: usize = ObjectHeader::SIZE;

/// Smallest block an object occupies: a header and one word, the room a
/// forwarding pointer needs.
pub const MIN_OBJECT_SIZE: usize = HEADER_SIZE + 8;

/// Bytes an object with `payload` bytes occupies, header included.
#[inline]
pub const fn object_size(payload: usize) -> usize {
    let total = HEADER_SIZE + ((payload + 7) & !7);
    if total < MIN_OBJECT_SIZE {
        MIN_OBJECT_SIZE
    } else {
        total
    }
}

/// A reference to a managed object: the address of its payload.
///
/// The raw API hands these out; the payload can be read and written through
/// [`as_ptr`](Self::as_ptr) by code that knows the object's layout. An
/// `ObjectRef` is only meaningful until the next collection, which may move
/// or free the object: hold references across collections in root slots.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct ObjectRef(NonNull<u8>);

impl ObjectRef {
    /// Wraps a payload pointer.
    ///
    /// # Safety
    /// `payload` must point at the payload of an object allocated by a
    /// collector heap (see the module invariants).
    #[inline]
    pub unsafe fn from_payload(payload: NonNull<u8>) -> Self {
        ObjectRef(payload)
    }

    /// The payload pointer.
    #[inline]
    pub fn as_ptr(self) -> NonNull<u8> {
        self.0
    }

    /// The payload address.
    #[inline]
    pub fn addr(self) -> usize {
        self.0.addr().get()
    }

    /// Pointer to the object's header.
    #[inline]
    pub(crate) fn header_ptr(self) -> NonNull<ObjectHeader> {
        // SAFETY: the header is the 8 bytes before the payload inside the same
        // block (module invariant), so the result stays in bounds and non-null.
        unsafe { self.0.byte_sub(HEADER_SIZE).cast() }
    }

    /// Start of the object's block (its header), as bytes.
    #[inline]
    pub(crate) fn start(self) -> NonNull<u8> {
        self.header_ptr().cast()
    }

    /// The reference to an object whose block starts at `start`.
    ///
    /// # Safety
    /// `start` is the start of a block of at least [`MIN_OBJECT_SIZE`] bytes
    /// owned by a space of the heap.
    #[inline]
    pub(crate) unsafe fn from_start(start: NonNull<u8>) -> Self {
        // SAFETY: the block is at least MIN_OBJECT_SIZE bytes, so payload is in bounds.
        ObjectRef(unsafe { start.byte_add(HEADER_SIZE) })
    }

    /// Reads the header.
    ///
    /// # Safety
    /// The object is live (its block is allocated in a space of the heap)
    /// and no other reference to its header is being written concurrently.
    #[inline]
    pub(crate) unsafe fn header(self) -> ObjectHeader {
        // SAFETY: the caller guarantees the block is allocated; the header is
        // 8-aligned (module invariant).
        unsafe { self.header_ptr().read() }
    }

    /// Writes the header.
    ///
    /// # Safety
    /// As [`header`](Self::header).
    #[inline]
    pub(crate) unsafe fn set_header(self, header: ObjectHeader) {
        // SAFETY: as for `header`.
        unsafe { self.header_ptr().write(header) }
    }

    /// Marks this (old, about to be abandoned) copy as moved to `to`.
    ///
    /// # Safety
    /// Both objects are live blocks of the heap; `self` is never used as an
    /// object again (its first payload word is overwritten).
    #[inline]
    pub(crate) unsafe fn forward_to(self, to: ObjectRef) {
        let header = ObjectHeader::forwarding(to.addr()).expect("object addresses are 8-aligned");
        // SAFETY: the caller guarantees `self` is a live block; the payload has
        // at least one word (MIN_OBJECT_SIZE) and is 8-aligned.
        unsafe {
            self.header_ptr().write(header);
        }
        // SAFETY: as above; writing a pointer keeps its provenance.
        unsafe { self.0.cast::<NonNull<u8>>().write(to.0) }
    }

    /// Where a forwarded object went, or `None` if it was not forwarded.
    ///
    /// # Safety
    /// `self` is a live block of the heap (forwarded or not).
    #[inline]
    pub(crate) unsafe fn forwarded(self) -> Option<ObjectRef> {
        // SAFETY: forwarded caller contract.
        let header = unsafe { self.header() };
        if !header.is_forwarded() {
            return None;
        }
        // SAFETY: a forwarded object holds its new pointer in its first payload
        // word (module invariant).
        let to = unsafe { self.0.cast::<NonNull<u8>>().read() };
        debug_assert_eq!(Some(to.addr().get()), header.forwarded_to());
        Some(ObjectRef(to))
    }
}

impl fmt::Debug for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectRef({:#x})", self.addr())
    }
}

/// Copies `size` bytes of object memory from one block to another.
///
/// Objects are 8-aligned and a multiple of 8 long, so small ones (most of
/// what a collector copies) are moved in 16-byte pieces, inline: a
/// call into `memcpy`, whose size dispatch suits large copies, cost more
/// than the copy. `MaybeUninit` words carry pointer provenance and padding
/// bytes as they are, as `memcpy` does.
///
/// # Safety
/// Both are 8-aligned blocks of at least `size` bytes owned by the heap,
/// `size` is a multiple of 8 and at least [`MIN_OBJECT_SIZE`] (an object's
/// size), and they do not overlap.
#[inline]
pub(crate) unsafe fn copy_block(from: NonNull<u8>, to: NonNull<u8>, size: usize) {
    debug_assert!(size.is_multiple_of(8) && from.addr().get().is_multiple_of(8));
    debug_assert!(size >= MIN_OBJECT_SIZE);
    if size <= 64 {
        // Two overlapping halves, as small-size `memcpy`s do: the first and
        // the last 16 (or 32) bytes cover every size from 16 to 32 (or 64)
        // with no loop. Bytes in the overlap are written twice with the
        // same value. Measured against a word loop: 12 fewer instructions
        // per 24-byte object.
        let chunk = if size <= 32 { 16 } else { 32 };
        // SAFETY: `chunk <= size`: inside the source block.
        let from_tail = unsafe { from.byte_add(size - chunk) };
        // SAFETY: likewise inside the destination block.
        let to_tail = unsafe { to.byte_add(size - chunk) };
        // SAFETY: `chunk <= size`, so the first and the last `chunk` bytes
        // lie inside both blocks, which do not overlap; all four pointers
        // are 8-aligned (caller contract, and `size - chunk` is a multiple
        // of 8).
        unsafe { copy_chunk(from, to, chunk) };
        // SAFETY: as above.
        unsafe { copy_chunk(from_tail, to_tail, chunk) };
    } else {
        // SAFETY: caller contract.
        unsafe { std::ptr::copy_nonoverlapping(from.as_ptr(), to.as_ptr(), size) }
    }
}

/// Copies 16 or 32 bytes as words.
///
/// # Safety
/// Both pointers are 8-aligned and valid for `chunk` bytes, in blocks that
/// do not overlap.
#[inline(always)]
unsafe fn copy_chunk(from: NonNull<u8>, to: NonNull<u8>, chunk: usize) {
    type Pair = [MaybeUninit<u64>; 2];
    let from = from.cast::<Pair>();
    let to = to.cast::<Pair>();
    // SAFETY: the first 16 bytes are inside the source (caller contract).
    let first = unsafe { from.read() };
    // SAFETY: and inside the destination, which does not overlap it.
    unsafe { to.write(first) };
    if chunk == 32 {
        // SAFETY: the second 16 bytes are inside both too when `chunk` is 32.
        let from = unsafe { from.add(1) };
        // SAFETY: as above.
        let to = unsafe { to.add(1) };
        // SAFETY: as above.
        let second = unsafe { from.read() };
        // SAFETY: as above.
        unsafe { to.write(second) };
    }
}

/// Asks the CPU to start loading the cache line holding `addr`. A hint: it
/// never faults and reads nothing a program can observe, so any address,
/// even null or dangling, is fine. A no-op off x86-64 and under Miri.
#[inline(always)]
pub(crate) fn prefetch(addr: *const u8) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    // SAFETY: `prefetcht0` is part of SSE, which every x86-64 CPU has, and
    // it accesses no memory architecturally (it cannot fault).
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(addr.cast());
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = addr;
}

/// Faults in every page of the `len` bytes at `start` by writing a zero
/// byte at each 4 KiB step (a page is at least that big everywhere the
/// collector runs). Volatile, so the writes are not elided.
///
/// # Safety
/// The range is valid for writes and a zero byte may be written anywhere
/// in it (it is fresh memory, or zeroed).
pub(crate) unsafe fn touch_pages(start: NonNull<u8>, len: usize) {
    for offset in (0..len).step_by(4096) {
        let byte = start.as_ptr().wrapping_add(offset);
        // SAFETY: `offset < len`: inside the range (caller contract).
        unsafe { byte.write_volatile(0) };
    }
}

/// Zeroes `size` bytes.
///
/// # Safety
/// `start` is valid for `size` bytes of writes.
#[inline]
pub(crate) unsafe fn zero(start: NonNull<u8>, size: usize) {
    // SAFETY: forwarded caller contract.
    unsafe { std::ptr::write_bytes(start.as_ptr(), 0, size) }
}
