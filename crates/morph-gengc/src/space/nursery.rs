//! The nursery: where objects are born, and where most of them die.
//!
//! One contiguous region holds the allocation area (eden) between the two
//! survivor spaces: `[ survivor 0 | eden | survivor 1 ]`. One contiguous
//! range makes "is this object young?" a single range check, which is the
//! first test of the write barrier. Objects are bump-allocated in eden; a
//! minor collection copies the live ones into the empty survivor space (or
//! promotes them), and then eden and the old survivor space are empty
//! again. With eden in the middle, what a minor collection evacuates (eden
//! and the current survivor space) is contiguous too, whichever survivor
//! space is current: "must this referent be copied?" is one range check
//! as well, made for every reference a collection visits.
//!
//! Invariants:
//! * eden is *not* re-zeroed after a minor collection: the safe API writes
//!   every new object's value whole, and the raw API zeroes each payload it
//!   hands out, so a bulk memset of eden (a few hundred microseconds of
//!   every pause for a 2 MiB eden) would be wasted work;
//! * objects in eden `[0, eden_top)` and in the current survivor space
//!   `[0, survivor_top)` lie back to back, so the space can be walked by
//!   reading each header's size.

use std::alloc::Layout;
use std::ptr::NonNull;

use crate::GcError;
use crate::object::{self, ObjectRef};

/// Alignment of the nursery region (objects need 8).
const REGION_ALIGN: usize = 16;

/// An owned, zero-initialised block of memory from the system allocator.
#[derive(Debug)]
pub(crate) struct Region {
    base: NonNull<u8>,
    layout: Layout,
}

impl Region {
    pub(crate) fn new_zeroed(size: usize) -> Result<Self, GcError> {
        let layout = Layout::from_size_align(size.max(REGION_ALIGN), REGION_ALIGN)
            .map_err(|_| GcError::ObjectTooLarge { size })?;
        // SAFETY: the layout has a non-zero size.
        let base = unsafe { std::alloc::alloc_zeroed(layout) };
        let base = NonNull::new(base).ok_or(GcError::OutOfMemory {
            bytes: layout.size(),
        })?;
        Ok(Region { base, layout })
    }

    pub(crate) fn base(&self) -> NonNull<u8> {
        self.base
    }

    pub(crate) fn size(&self) -> usize {
        self.layout.size()
    }

    /// Pointer `offset` bytes into the region.
    ///
    /// # Safety
    /// `offset <= self.size()`.
    #[inline]
    pub(crate) unsafe fn at(&self, offset: usize) -> NonNull<u8> {
        debug_assert!(offset <= self.size());
        // SAFETY: in bounds by the caller's contract; derived from `base`.
        unsafe { self.base.add(offset) }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `base` was allocated with exactly this layout and is freed once.
        unsafe { std::alloc::dealloc(self.base.as_ptr(), self.layout) }
    }
}

/// Where the nursery's spaces lie, by address (see [`Nursery::bounds`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bounds {
    base: usize,
    size: usize,
    /// Where eden and the current survivor space start, together.
    from_start: usize,
    /// Their size, together.
    from_size: usize,
}

impl Bounds {
    /// Whether `addr` lies in the nursery (eden or either survivor space).
    #[inline(always)]
    pub(crate) fn contains(&self, addr: usize) -> bool {
        addr.wrapping_sub(self.base) < self.size
    }

    /// Whether `addr` is in eden or the current survivor space.
    #[inline(always)]
    pub(crate) fn in_from_space(&self, addr: usize) -> bool {
        addr.wrapping_sub(self.from_start) < self.from_size
    }
}

/// The to-space of a minor collection: copies are bump-allocated from
/// `base`, back to back, up to `room` bytes. Kept by the evacuator (one
/// load and a compare per copy, with no trip through the nursery).
///
/// Invariant: `top <= room <= survivor_size`, so `[base, base + room)` is
/// inside the to-space.
#[derive(Debug)]
pub(crate) struct ToSpace {
    base: NonNull<u8>,
    top: usize,
    room: usize,
}

impl ToSpace {
    /// Bump-allocates `size` bytes, if they fit.
    #[inline(always)]
    pub(crate) fn alloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        let start = bump(&mut self.top, self.room, size)?;
        // SAFETY: `start + size <= room <= survivor_size`: inside the to-space.
        Some(unsafe { self.base.add(start) })
    }

    /// Bytes copied so far.
    #[inline(always)]
    pub(crate) fn used(&self) -> usize {
        self.top
    }

    /// The copy starting `offset` bytes into the space.
    ///
    /// # Safety
    /// `offset` is the start of a copy in the used part of the space.
    #[inline(always)]
    pub(crate) unsafe fn object_at(&self, offset: usize) -> ObjectRef {
        debug_assert!(offset < self.top);
        // SAFETY: inside the used part (caller contract).
        let start = unsafe { self.base.add(offset) };
        // SAFETY: an object start (caller contract).
        unsafe { ObjectRef::from_start(start) }
    }
}

/// Moves a bump cursor `top` (at most `limit`) on by `size` bytes if they
/// fit below `limit`, and returns where they start.
#[inline(always)]
fn bump(top: &mut usize, limit: usize, size: usize) -> Option<usize> {
    let start = *top;
    if size > limit - start {
        return None;
    }
    *top = start + size;
    Some(start)
}

/// Region offset of survivor space `index` (0 or 1), on either side of eden.
const fn survivor_offset(index: usize, eden_size: usize, survivor_size: usize) -> usize {
    index * (eden_offset(survivor_size) + eden_size)
}

/// Region offset of eden: right after survivor space 0.
const fn eden_offset(survivor_size: usize) -> usize {
    survivor_size
}

/// Eden plus two survivor spaces in one region.
#[derive(Debug)]
pub(crate) struct Nursery {
    region: Region,
    /// Eden's first byte ([`eden_offset`] into the region).
    eden: NonNull<u8>,
    /// Bytes reserved for eden (the most the adaptive policy may use).
    eden_size: usize,
    /// Bytes of eden in use as the allocation area: `eden_size` unless an
    /// adaptive policy shrank it. Always a multiple of 8, at most `eden_size`.
    eden_limit: usize,
    survivor_size: usize,
    /// Where bump allocation stops: `eden_limit`, or an earlier pace point
    /// while the heap does work paced by allocation (see `pace_at`).
    alloc_limit: usize,
    /// The next pace point, while pacing.
    pace_at: Option<usize>,
    /// Bytes used in eden.
    eden_top: usize,
    /// Which survivor space holds the current survivors (0 or 1).
    from: usize,
    /// Bytes used in the current survivor space.
    survivor_top: usize,
    /// Bytes used in the other survivor space during a collection.
    to_top: usize,
    /// How much of the to-space this collection may fill (at most
    /// `survivor_size`); what does not fit is promoted.
    to_room: usize,
}

impl Nursery {
    pub(crate) fn new(eden_size: usize, survivor_size: usize) -> Result<Self, GcError> {
        let region = Region::new_zeroed(eden_size + 2 * survivor_size)?;
        // Fault the survivor spaces in now: the first two minor collections
        // copy into them, and a page fault per 4 KiB there was a fifth of
        // those pauses. (Eden is faulted in by the first allocations, at
        // no pause's expense.)
        for index in 0..2 {
            // SAFETY: both survivor spaces lie inside the region
            // (`survivor_offset`).
            let space = unsafe { region.at(survivor_offset(index, eden_size, survivor_size)) };
            // SAFETY: `survivor_size` bytes from `space` are that survivor
            // space, and writing zeroes keeps it zero-initialised.
            unsafe { object::touch_pages(space, survivor_size) };
        }
        // SAFETY: eden's offset is inside the region.
        let eden = unsafe { region.at(eden_offset(survivor_size)) };
        Ok(Nursery {
            region,
            eden,
            eden_size,
            eden_limit: eden_size,
            survivor_size,
            alloc_limit: eden_size,
            pace_at: None,
            eden_top: 0,
            from: 0,
            survivor_top: 0,
            to_top: 0,
            to_room: survivor_size,
        })
    }

    /// Bytes the nursery reserves.
    pub(crate) fn reserved(&self) -> usize {
        self.region.size()
    }

    /// Limits how much of the to-space the next minor collection fills
    /// (clamped to the survivor space's size).
    pub(crate) fn set_survivor_room(&mut self, bytes: usize) {
        self.to_room = bytes.min(self.survivor_size);
    }

    /// Bytes in the current survivor space.
    pub(crate) fn survivor_used(&self) -> usize {
        self.survivor_top
    }

    /// Bytes in use by young objects (eden and the current survivors).
    pub(crate) fn used(&self) -> usize {
        self.eden_top + self.survivor_top
    }

    /// Bytes of eden used as the allocation area.
    pub(crate) fn eden_limit(&self) -> usize {
        self.eden_limit
    }

    /// Resizes the allocation area to `limit` bytes (rounded down to 8,
    /// clamped to what is reserved, at least `floor`). Only between
    /// collections and only while eden is empty or the new limit is above
    /// what is used, so no object falls outside it.
    pub(crate) fn set_eden_limit(&mut self, limit: usize, floor: usize) {
        let limit = (limit / 8 * 8).clamp(floor.min(self.eden_size), self.eden_size);
        self.eden_limit = limit.max(self.eden_top);
        self.refresh_alloc_limit();
    }

    /// Stops bump allocation `step` bytes from now (a pace point, where the
    /// heap's slow path does a step of paced work), or, with `None`, only
    /// at the end of eden.
    pub(crate) fn pace_every(&mut self, step: Option<usize>) {
        self.pace_at = step.map(|step| self.eden_top + step);
        self.refresh_alloc_limit();
    }

    /// Whether allocation stopped at a pace point rather than the end of eden.
    pub(crate) fn at_pace_point(&self) -> bool {
        self.alloc_limit < self.eden_limit
    }

    fn refresh_alloc_limit(&mut self) {
        self.alloc_limit = match self.pace_at {
            Some(at) => at.clamp(self.eden_top, self.eden_limit),
            None => self.eden_limit,
        };
    }

    /// Bytes allocated in eden since the last minor collection.
    pub(crate) fn eden_used(&self) -> usize {
        self.eden_top
    }

    /// Whether `addr` lies in the nursery (eden or either survivor space).
    #[inline(always)]
    pub(crate) fn contains(&self, addr: usize) -> bool {
        self.bounds().contains(addr)
    }

    /// The nursery's address ranges as they stand (fixed during a minor
    /// collection): a copy the evacuator keeps next to its other state, so
    /// the checks on every slot need no trip through the nursery.
    #[inline(always)]
    pub(crate) fn bounds(&self) -> Bounds {
        let base = self.region.base().addr().get();
        Bounds {
            base,
            size: self.region.size(),
            // Survivor space 0 then eden, or eden then survivor space 1.
            from_start: base
                + match self.from {
                    0 => self.survivor_offset(0),
                    _ => eden_offset(self.survivor_size),
                },
            from_size: self.survivor_size + self.eden_size,
        }
    }

    fn survivor_offset(&self, index: usize) -> usize {
        survivor_offset(index, self.eden_size, self.survivor_size)
    }

    /// Whether `addr` is in the part a minor collection evacuates: eden or
    /// the current survivor space (not the space being copied into).
    #[inline]
    pub(crate) fn in_from_space(&self, addr: usize) -> bool {
        self.bounds().in_from_space(addr)
    }

    /// Bump-allocates `size` bytes (a multiple of 8, at least
    /// [`object::MIN_OBJECT_SIZE`]) in eden, not zeroed. `None` when eden is full.
    #[inline(always)]
    pub(crate) fn alloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        let start = bump(&mut self.eden_top, self.alloc_limit, size)?;
        // SAFETY: start + size <= alloc_limit <= eden_size: inside eden.
        Some(unsafe { self.eden.add(start) })
    }

    /// Lends eden's free room up to the allocation limit, as its first and
    /// end addresses, and moves eden's cursor to the end so nothing else is
    /// allocated there until [`repay`](Self::repay); `None` when there is
    /// no room.
    pub(crate) fn lend(&mut self) -> Option<(NonNull<u8>, NonNull<u8>)> {
        if self.eden_top == self.alloc_limit {
            return None;
        }
        // SAFETY: eden_top <= alloc_limit <= eden_size: inside eden.
        let start = unsafe { self.eden.add(self.eden_top) };
        // SAFETY: as above.
        let limit = unsafe { self.eden.add(self.alloc_limit) };
        self.eden_top = self.alloc_limit;
        Some((start, limit))
    }

    /// Takes back a loan of `[start, limit)` whose borrower allocated up to
    /// `cursor` (inside it, 8-aligned: the caller checked).
    pub(crate) fn repay(&mut self, start: NonNull<u8>, limit: NonNull<u8>, cursor: NonNull<u8>) {
        let offset = |p: NonNull<u8>| p.addr().get() - self.eden.addr().get();
        debug_assert!(start <= cursor && cursor <= limit);
        debug_assert_eq!(self.eden_top, offset(limit), "eden moved while lent");
        self.eden_top = offset(cursor);
    }

    /// The survivor space a minor collection copies into, as a bump cursor
    /// the collection owns until [`end_copying`](Self::end_copying).
    pub(crate) fn to_space(&self) -> ToSpace {
        // `set_survivor_room` keeps `to_room <= survivor_size`; `to_top` is
        // 0 between collections (`flip`).
        debug_assert!(self.to_top <= self.to_room && self.to_room <= self.survivor_size);
        ToSpace {
            // SAFETY: the survivor offset is inside the region.
            base: unsafe { self.region.at(self.survivor_offset(1 - self.from)) },
            top: self.to_top,
            room: self.to_room,
        }
    }

    /// Takes back the cursor of [`to_space`](Self::to_space) (before
    /// [`flip`](Self::flip)).
    pub(crate) fn end_copying(&mut self, to: ToSpace) {
        debug_assert!(to.top <= self.to_room);
        self.to_top = to.top;
    }

    /// Ends a minor collection: the to-space becomes the survivor space; eden
    /// and the old survivor space are empty (their bytes are left as they
    /// are: allocation overwrites them).
    pub(crate) fn flip(&mut self) {
        self.eden_top = 0;
        self.pace_at = None;
        self.alloc_limit = self.eden_limit;
        self.from = 1 - self.from;
        self.survivor_top = self.to_top;
        self.to_top = 0;
    }

    /// Calls `f` on every object of eden and the current survivor space, in
    /// address order.
    ///
    /// # Safety
    /// Must not run during a minor collection (forwarded objects would not
    /// parse) and `f` must not allocate in the nursery.
    pub(crate) unsafe fn for_each_object(&self, mut f: impl FnMut(ObjectRef)) {
        // SAFETY: forwarded caller contract.
        unsafe {
            self.walk(
                self.survivor_offset(self.from),
                0,
                self.survivor_top,
                &mut f,
            )
        };
        // SAFETY: forwarded caller contract.
        unsafe { self.walk(eden_offset(self.survivor_size), 0, self.eden_top, &mut f) };
    }

    /// Walks the objects of the space starting at region offset `start`,
    /// from byte `from` of it up to byte `used`.
    ///
    /// # Safety
    /// As [`for_each_object`](Self::for_each_object); `from` is an object
    /// boundary of that space and `used` its end.
    unsafe fn walk(&self, start: usize, from: usize, used: usize, f: &mut impl FnMut(ObjectRef)) {
        let mut offset = from;
        while offset < used {
            // SAFETY: `start + offset` is inside the used part of a space.
            let at = unsafe { self.region.at(start + offset) };
            // SAFETY: objects lie back to back from `start` (module invariant),
            // so `at` is an object start.
            let obj = unsafe { ObjectRef::from_start(at) };
            // SAFETY: `obj` is a live, non-forwarded object (caller contract).
            let size = object::object_size(unsafe { obj.header() }.payload_size());
            f(obj);
            offset += size;
        }
    }
}
