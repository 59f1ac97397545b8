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
}

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
    ) -> Result<ObjectRef, GcError> {
        let (start, backing) = Self::backing(size, map)?;
        // SAFETY: `start` begins a fresh, zeroed block of `size` >= 16 bytes.
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
    fn backing(size: usize, map: bool) -> Result<(NonNull<u8>, Backing), GcError> {
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
    fn backing(size: usize, _map: bool) -> Result<(NonNull<u8>, Backing), GcError> {
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

    /// Frees every unmarked object (finalizers must have run) and clears the
    /// marks of the rest; returns (objects, bytes) freed.
    pub(crate) fn sweep(&mut self) -> (usize, usize) {
        let before = (self.objects.len(), self.reserved);
        self.objects
            .retain(|_, object| std::mem::replace(&mut object.marked, false));
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
