//! The large-object space: objects too big to copy cheaply.
//!
//! Each object gets memory of its own — an anonymous memory mapping at or
//! above the configured threshold (so freeing it returns the pages to the
//! system at once), the system allocator below that (objects too big for the
//! old generation's size classes but under the threshold). Large objects
//! never move; a major collection marks them in this space's table and
//! unmaps the unmarked ones.
//!
//! Invariants:
//! * `objects` maps each large object's start address to its record; the
//!   record owns the memory, so dropping it frees the object;
//! * a large object's header has generation `LARGE`; its payload size is in
//!   the record (the header's 24-bit field cannot hold sizes from 16 MiB up
//!   and is left at 0 for them).

use std::collections::BTreeMap;
use std::ptr::NonNull;

use crate::GcError;
use crate::object::ObjectRef;
use crate::space::nursery::Region;

/// The size of a transparent huge page on x86-64 and most AArch64 systems.
#[cfg(all(target_os = "linux", not(miri)))]
const HUGE_PAGE: usize = 2 << 20;

/// Owns the object's memory; never read, dropped to free it.
#[derive(Debug)]
#[allow(dead_code)]
enum Backing {
    #[cfg(not(miri))]
    Mapping(memmap2::MmapMut),
    Heap(Region),
}

#[derive(Debug)]
struct LargeObject {
    start: NonNull<u8>,
    /// Bytes reserved for the object (header included).
    size: usize,
    payload: usize,
    marked: bool,
    _backing: Backing,
}

#[derive(Debug, Default)]
pub(crate) struct LargeSpace {
    objects: BTreeMap<usize, LargeObject>,
    reserved: usize,
    /// Mappings of objects the last sweep found dead, kept (up to
    /// [`SPARE_LIMIT`]) for allocations of about their size until the next
    /// sweep unmaps what was not reused: a program that grows buffers and
    /// tables keeps allocating the same sizes, and a reused mapping costs
    /// one `memset` where a fresh one costs a page fault per page.
    #[cfg(not(miri))]
    spare: Vec<memmap2::MmapMut>,
}

/// The most bytes of dead mappings kept for reuse.
#[cfg(not(miri))]
const SPARE_LIMIT: usize = 64 << 20;

impl LargeSpace {
    /// Bytes reserved by large objects.
    pub(crate) fn reserved(&self) -> usize {
        self.reserved
    }

    /// Number of large objects.
    pub(crate) fn len(&self) -> usize {
        self.objects.len()
    }

    /// Allocates zeroed memory for an object of `size` bytes (header
    /// included) whose payload is `payload` bytes; mapped if `map` is set.
    pub(crate) fn alloc(
        &mut self,
        size: usize,
        payload: usize,
        map: bool,
        zero: bool,
    ) -> Result<ObjectRef, GcError> {
        let (start, backing) = self.backing(size, map, zero)?;
        // SAFETY: `start` begins a fresh block of `size` >= 16 bytes (zeroed
        // if `zero`).
        let obj = unsafe { ObjectRef::from_start(start) };
        self.reserved += size;
        self.objects.insert(
            start.addr().get(),
            LargeObject {
                start,
                size,
                payload,
                marked: false,
                _backing: backing,
            },
        );
        Ok(obj)
    }

    #[cfg(not(miri))]
    fn backing(
        &mut self,
        size: usize,
        map: bool,
        zero: bool,
    ) -> Result<(NonNull<u8>, Backing), GcError> {
        if map && let Some(mut mapping) = self.take_spare(size) {
            let start = NonNull::new(mapping.as_mut_ptr()).expect("mappings are non-null");
            if zero {
                // SAFETY: the mapping is this space's alone (taken out of the
                // spares; no object lives in it) and holds at least `size` bytes.
                unsafe { start.write_bytes(0, size) };
            }
            return Ok((start, Backing::Mapping(mapping)));
        }
        if map {
            let mut mapping = memmap2::MmapMut::map_anon(size)
                .map_err(|_| GcError::OutOfMemory { bytes: size })?;
            #[cfg(target_os = "linux")]
            if size >= HUGE_PAGE {
                // A hint: one fault per 2 MiB instead of 512 where the system
                // has transparent huge pages in `madvise` mode.
                let _ = mapping.advise(memmap2::Advice::HugePage);
            }
            let start = NonNull::new(mapping.as_mut_ptr()).expect("mappings are non-null");
            return Ok((start, Backing::Mapping(mapping)));
        }
        let region = Region::new_zeroed(size)?;
        Ok((region.base(), Backing::Heap(region)))
    }

    /// Miri cannot map memory: large objects come from the allocator there.
    #[cfg(miri)]
    fn backing(
        &mut self,
        size: usize,
        _map: bool,
        _zero: bool,
    ) -> Result<(NonNull<u8>, Backing), GcError> {
        let region = Region::new_zeroed(size)?;
        Ok((region.base(), Backing::Heap(region)))
    }

    /// Whether `obj` is a large object of this space.
    pub(crate) fn contains_object(&self, obj: ObjectRef) -> bool {
        self.objects.contains_key(&obj.start().addr().get())
    }

    /// Payload size of a large object.
    pub(crate) fn payload_size(&self, obj: ObjectRef) -> Option<usize> {
        self.objects
            .get(&obj.start().addr().get())
            .map(|o| o.payload)
    }

    /// The large object whose memory contains `addr`, if any.
    pub(crate) fn owner_of(&self, addr: usize) -> Option<ObjectRef> {
        let (_, object) = self.objects.range(..=addr).next_back()?;
        let offset = addr - object.start.addr().get();
        // SAFETY: `object.start` is the start of a live large object.
        (offset < object.size).then(|| unsafe { ObjectRef::from_start(object.start) })
    }

    /// Marks a large object; `true` if it was not marked.
    pub(crate) fn mark(&mut self, obj: ObjectRef) -> bool {
        match self.objects.get_mut(&obj.start().addr().get()) {
            Some(object) => !std::mem::replace(&mut object.marked, true),
            None => false,
        }
    }

    /// Whether a large object is marked.
    pub(crate) fn is_marked(&self, obj: ObjectRef) -> bool {
        self.objects
            .get(&obj.start().addr().get())
            .is_some_and(|o| o.marked)
    }

    /// Clears every mark without freeing anything.
    pub(crate) fn clear_marks(&mut self) {
        for object in self.objects.values_mut() {
            object.marked = false;
        }
    }

    /// A spare mapping for an object of `size` bytes: the smallest of at
    /// least `size` bytes, if it wastes at most a quarter more.
    #[cfg(not(miri))]
    fn take_spare(&mut self, size: usize) -> Option<memmap2::MmapMut> {
        let (index, _) = self
            .spare
            .iter()
            .enumerate()
            .filter(|(_, m)| m.len() >= size && m.len() <= size + size / 4)
            .min_by_key(|(_, m)| m.len())?;
        Some(self.spare.swap_remove(index))
    }

    /// Bytes of dead objects' mappings kept for reuse.
    pub(crate) fn spare_bytes(&self) -> usize {
        #[cfg(not(miri))]
        return self.spare.iter().map(|m| m.len()).sum();
        #[cfg(miri)]
        0
    }

    /// Frees every unmarked object (finalizers must have run) and clears the
    /// marks of the rest; returns (objects, bytes) freed. With `keep_spare`
    /// the dead objects' mappings are kept for reuse until the next sweep;
    /// the spares of the last one go now.
    pub(crate) fn sweep(&mut self, keep_spare: bool) -> (usize, usize) {
        let before = (self.objects.len(), self.reserved);
        let dead: Vec<usize> = self
            .objects
            .iter_mut()
            .filter_map(|(&start, object)| {
                (!std::mem::replace(&mut object.marked, false)).then_some(start)
            })
            .collect();
        #[cfg(not(miri))]
        self.spare.clear();
        #[cfg(not(miri))]
        let mut spare_bytes = 0;
        for start in dead {
            let Some(object) = self.objects.remove(&start) else {
                continue;
            };
            #[cfg(not(miri))]
            if let Backing::Mapping(mapping) = object._backing
                && keep_spare
                && spare_bytes + mapping.len() <= SPARE_LIMIT
            {
                spare_bytes += mapping.len();
                self.spare.push(mapping);
            }
            #[cfg(miri)]
            let _ = (object, keep_spare);
        }
        self.reserved = self.objects.values().map(|o| o.size).sum();
        (before.0 - self.objects.len(), before.1 - self.reserved)
    }

    /// Calls `f` on every large object.
    pub(crate) fn for_each_object(&self, mut f: impl FnMut(ObjectRef)) {
        for object in self.objects.values() {
            // SAFETY: `object.start` is the start of a live large object.
            f(unsafe { ObjectRef::from_start(object.start) });
        }
    }
}

#[cfg(all(test, not(miri)))]
mod tests {
    use super::*;

    const SIZE: usize = 3 << 20;

    #[test]
    fn a_dead_mapping_is_reused_zeroed_for_the_same_size_until_the_next_sweep() {
        let mut space = LargeSpace::default();
        let first = space.alloc(SIZE, SIZE - 8, true, true).unwrap();
        // SAFETY: the object's memory, `SIZE` bytes, this test's alone.
        unsafe { first.start().as_ptr().write_bytes(0xAB, SIZE) };
        assert_eq!(space.sweep(true), (1, SIZE), "unmarked: dead");
        assert_eq!(space.spare_bytes(), SIZE);
        assert_eq!(space.reserved(), 0);
        let again = space.alloc(SIZE, SIZE - 8, true, true).unwrap();
        assert_eq!(again.start(), first.start(), "the spare mapping is reused");
        assert_eq!(space.spare_bytes(), 0);
        // SAFETY: the new object's memory.
        let bytes = unsafe { std::slice::from_raw_parts(again.start().as_ptr(), SIZE) };
        assert!(
            bytes.iter().all(|&b| b == 0),
            "reused memory reads as zeroes"
        );
        // Too small a request for the spare: a fresh mapping.
        space.sweep(true);
        let small = space.alloc(SIZE / 2, SIZE / 2 - 8, true, true).unwrap();
        assert_ne!(small.start(), first.start());
        assert_eq!(space.spare_bytes(), SIZE);
        // A sweep unmaps the spares it did not reuse; a bounded heap keeps none.
        assert!(space.mark(small));
        space.sweep(false);
        assert_eq!(space.spare_bytes(), 0);
        assert_eq!(space.len(), 1);
    }
}
