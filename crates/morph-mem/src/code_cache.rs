//! The JIT code cache of VM mode: a reserved region from which a JIT takes
//! blocks for machine code, writes them, makes them executable, and later
//! discards them (de-optimisation) so their space is reused.
//!
//! The model is on [`CodeCache`].
//!
//! Invariants this module keeps (its `unsafe` blocks rely on them):
//! * `base .. base + capacity` is the memmap2 reservation, owned by
//!   `region`, page-aligned, `capacity` a multiple of the page size;
//! * every live block is a page-aligned run `offset .. offset + len` inside
//!   it, disjoint from every other live block and from every free run; its
//!   protection is exactly read + write (writable) or read + execute
//!   (executable); every free run is inaccessible, and a free page not
//!   marked in `dirty` reads as zeroes once made accessible.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use memmap2::{MmapOptions, MmapRaw, UncheckedAdvice};
use morph_metrics::{MorphMemStats, StatsSource};

/// Flushes the instruction cache for `len` bytes of new code at `start`,
/// after they were written and before they run: see the module docs.
pub type IcacheFlush = fn(start: NonNull<u8>, len: usize);

/// How a [`CodeCache`] is set up.
///
/// ```
/// use morph_mem::CodeCacheConfig;
///
/// let config = CodeCacheConfig { capacity: 1 << 20, ..CodeCacheConfig::default() };
/// assert!(config.icache_flush.is_some());
/// ```
#[derive(Clone, Copy, Debug)]
pub struct CodeCacheConfig {
    /// Bytes of address space to reserve (rounded up to whole pages). Only
    /// the pages of live blocks take memory.
    pub capacity: usize,
    /// Called on a block's code before it becomes executable (see
    /// [`IcacheFlush`]); `None` skips the flush, which is only correct on
    /// architectures with a coherent instruction cache.
    pub icache_flush: Option<IcacheFlush>,
    /// Bytes of discarded blocks kept resident (inaccessible) for reuse
    /// without page faults; discarded pages past it are returned to the
    /// system at once.
    pub retained_bytes: usize,
}

impl CodeCacheConfig {
    /// The capacity [`Default`] reserves: 64 MiB of address space.
    pub const DEFAULT_CAPACITY: usize = 64 << 20;
    /// The discarded bytes [`Default`] keeps resident: 1 MiB.
    pub const DEFAULT_RETAINED: usize = 1 << 20;
}

impl Default for CodeCacheConfig {
    fn default() -> Self {
        CodeCacheConfig {
            capacity: Self::DEFAULT_CAPACITY,
            icache_flush: Some(flush_icache),
            retained_bytes: Self::DEFAULT_RETAINED,
        }
    }
}

/// The host's instruction-cache flush: nothing on x86 and x86_64, whose
/// instruction caches snoop data writes (and `mprotect`, a system call,
/// serialises the pipeline); the toolchain's `__clear_cache` (libgcc or
/// compiler-rt) on every other architecture.
pub fn flush_icache(start: NonNull<u8>, len: usize) {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    let _ = (start, len);
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    {
        unsafe extern "C" {
            fn __clear_cache(start: *mut std::ffi::c_char, end: *mut std::ffi::c_char);
        }
        let begin = start.as_ptr().cast::<std::ffi::c_char>();
        // SAFETY: `__clear_cache` only flushes and invalidates cache lines
        // of the given range; callers pass a mapped block.
        unsafe { __clear_cache(begin, begin.wrapping_add(len)) };
    }
}

/// A block of a [`CodeCache`]: `Copy`, checked on every use (see the
/// module docs). Its bits round-trip through [`to_bits`](Self::to_bits) and
/// [`from_bits`](Self::from_bits), which is how the C ABI hands it out.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CodeBlock {
    cache: u32,
    index: u32,
    generation: u32,
}

impl CodeBlock {
    /// The handle as three words: cache id, slot, generation.
    pub const fn to_bits(self) -> [u32; 3] {
        [self.cache, self.index, self.generation]
    }

    /// A handle from [`to_bits`](Self::to_bits). Any value is safe to pass
    /// to a cache: one that names no live block of it is refused.
    pub const fn from_bits(bits: [u32; 3]) -> Self {
        CodeBlock {
            cache: bits[0],
            index: bits[1],
            generation: bits[2],
        }
    }
}

impl fmt::Debug for CodeBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CodeBlock(cache {}, #{}.{})",
            self.cache, self.index, self.generation
        )
    }
}

/// Which of its two states a live block is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CodeState {
    /// Read + write: being filled.
    Writable,
    /// Read + execute: can run, cannot be written.
    Executable,
}

/// Why a code-cache operation failed. Nothing changes on an error.
#[derive(Debug)]
#[non_exhaustive]
pub enum CodeCacheError {
    /// The region could not be reserved.
    Reserve {
        /// The capacity asked for.
        capacity: usize,
        /// What the system said.
        source: io::Error,
    },
    /// Changing a block's protection failed (the system refused an
    /// executable mapping, or ran out of memory for page tables).
    Protect {
        /// What the system said.
        source: io::Error,
    },
    /// A block of zero bytes was asked for.
    ZeroSize,
    /// No free run of the region is large enough.
    Exhausted {
        /// Bytes asked for (rounded up to pages).
        requested: usize,
        /// The largest free run.
        largest_free: usize,
        /// The region's capacity.
        capacity: usize,
    },
    /// The handle names no live block of this cache: it was discarded, or
    /// it belongs to another cache.
    UnknownBlock {
        /// The handle.
        block: CodeBlock,
    },
    /// The block is executable: W^X forbids writing it.
    NotWritable {
        /// The handle.
        block: CodeBlock,
    },
    /// A write past the end of the block.
    OutOfBounds {
        /// Where the write starts.
        offset: usize,
        /// Bytes to write.
        len: usize,
        /// The block's size.
        size: usize,
    },
    /// The code cache is part of VM mode.
    WrongMode {
        /// The mode in force.
        mode: crate::Mode,
    },
}

impl fmt::Display for CodeCacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodeCacheError::Reserve { capacity, source } => {
                write!(
                    f,
                    "could not reserve a {capacity}-byte code region: {source}"
                )
            }
            CodeCacheError::Protect { source } => {
                write!(f, "could not change a code block's protection: {source}")
            }
            CodeCacheError::ZeroSize => write!(f, "a code block must have at least one byte"),
            CodeCacheError::Exhausted {
                requested,
                largest_free,
                capacity,
            } => write!(
                f,
                "no room for a {requested}-byte code block (largest free run {largest_free} \
                 bytes of {capacity}): discard unused code or reserve a larger cache"
            ),
            CodeCacheError::UnknownBlock { block } => write!(
                f,
                "{block:?} is not a live block of this code cache (discarded, or another cache's)"
            ),
            CodeCacheError::NotWritable { block } => write!(
                f,
                "{block:?} is executable and cannot be written (W^X): discard it and allocate a new block"
            ),
            CodeCacheError::OutOfBounds { offset, len, size } => write!(
                f,
                "writing {len} bytes at offset {offset} passes the end of a {size}-byte code block"
            ),
            CodeCacheError::WrongMode { mode } => {
                write!(f, "the code cache is part of VM mode, not {mode} mode")
            }
        }
    }
}

impl std::error::Error for CodeCacheError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CodeCacheError::Reserve { source, .. } | CodeCacheError::Protect { source } => {
                Some(source)
            }
            _ => None,
        }
    }
}

/// What a [`CodeCache`] holds, for reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CodeCacheStats {
    /// Bytes of address space reserved.
    pub reserved_bytes: usize,
    /// Bytes in live blocks (whole pages).
    pub used_bytes: usize,
    /// The most bytes live blocks have held at once.
    pub peak_used_bytes: usize,
    /// Live blocks.
    pub blocks: usize,
    /// Live blocks that are executable.
    pub executable_blocks: usize,
    /// Blocks allocated since the cache was made.
    pub allocations: u64,
    /// Blocks discarded since the cache was made.
    pub discards: u64,
    /// Bytes of free pages kept resident for reuse (see
    /// [`CodeCacheConfig::retained_bytes`]).
    pub retained_bytes: usize,
}

/// One slot of the block table.
#[derive(Clone, Copy, Debug)]
struct Slot {
    offset: usize,
    len: usize,
    /// `None` while the slot is free.
    state: Option<CodeState>,
    /// Bumped at every discard, so old handles to the slot stop matching.
    generation: u32,
}

/// Gives each cache its own id, so a handle of one is refused by another.
static NEXT_CACHE_ID: AtomicU32 = AtomicU32::new(1);

/// A JIT code cache: a reserved region from which a JIT takes code blocks.
///
/// * **One reservation.** [`new`](Self::new) maps the whole region at once
///   (memmap2, `MAP_NORESERVE`) and makes it inaccessible: address space,
///   no memory. Blocks are runs of whole pages inside it, so code stays
///   near other code (short relative calls) and the cache's size is bounded.
/// * **W^X, per block.** A block is either *writable* (read + write) or
///   *executable* (read + execute), never both:
///   [`alloc`](Self::alloc) hands out a writable block,
///   [`make_executable`](Self::make_executable) flips it (and flushes
///   the instruction cache), and from then on [`write`](Self::write)
///   and [`writable`](Self::writable) refuse it
///   ([`CodeCacheError::NotWritable`]); a raw store into it faults.
/// * **Discard and reuse.** [`discard`](Self::discard) makes the pages
///   inaccessible again (a stale call into discarded code faults instead of
///   running old code) and returns the run to the free list, merged with
///   its free neighbours. Up to [`CodeCacheConfig::retained_bytes`] of
///   discarded pages stay resident, so reusing them costs no page fault
///   (they are zeroed when handed out again); past that, discarded pages go
///   back to the system (`MADV_DONTNEED`). The next allocation takes the
///   lowest free run that fits, so the space is reused.
/// * **Checked handles.** A [`CodeBlock`] names its cache, a slot and the
///   slot's generation: a handle used after its block was discarded, or
///   with another cache, is [`CodeCacheError::UnknownBlock`], never
///   another block.
/// * **Instruction-cache coherence.** x86 and x86_64 keep the instruction
///   cache coherent with data writes; elsewhere (AArch64, RISC-V, …) new
///   code must be flushed from the data cache and invalidated in the
///   instruction cache before it runs. [`make_executable`](Self::make_executable)
///   calls the configured [`IcacheFlush`] hook: by default nothing on
///   x86/x86_64 and the toolchain's `__clear_cache` elsewhere.
///
/// ```
/// use morph_mem::{CodeCache, CodeCacheConfig, CodeState};
///
/// let mut cache = CodeCache::new(CodeCacheConfig { capacity: 1 << 20, ..Default::default() })?;
/// let block = cache.alloc(100)?; // one page
/// cache.write(block, 0, &[0xc3])?; // x86 `ret`, for instance
/// let entry = cache.make_executable(block)?;
/// assert_eq!(cache.state(block)?, CodeState::Executable);
/// assert!(cache.write(block, 0, &[0x90]).is_err()); // W^X
/// cache.discard(block)?;
/// let again = cache.alloc(4096)?;
/// assert_eq!(cache.writable(again)?.as_ptr(), entry.as_ptr()); // the space is reused
/// # Ok::<(), morph_mem::CodeCacheError>(())
/// ```
pub struct CodeCache {
    id: u32,
    /// Owns the reservation; unmapped on drop, whatever the protections.
    region: MmapRaw,
    /// `region`'s first byte (page-aligned), with its provenance.
    base: NonNull<u8>,
    capacity: usize,
    page: usize,
    /// Free runs: offset → length, coalesced (no two adjacent).
    free: BTreeMap<usize, usize>,
    slots: Vec<Slot>,
    free_slots: Vec<u32>,
    icache_flush: Option<IcacheFlush>,
    /// Free pages that may hold old bytes (kept resident by `discard`):
    /// one bit per page of the region.
    dirty: Vec<u64>,
    retain_limit: usize,
    stats: CodeCacheStats,
}

impl fmt::Debug for CodeCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeCache")
            .field("id", &self.id)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// The system's page size.
fn page_size() -> usize {
    // SAFETY: `sysconf` only reads a configuration value.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|s| s.is_power_of_two())
        .unwrap_or(4096)
}

impl CodeCache {
    /// Reserves a region of `config.capacity` bytes (rounded up to pages).
    ///
    /// # Errors
    /// [`CodeCacheError::ZeroSize`] for a zero capacity;
    /// [`CodeCacheError::Reserve`] if the address space cannot be reserved.
    pub fn new(config: CodeCacheConfig) -> Result<Self, CodeCacheError> {
        if config.capacity == 0 {
            return Err(CodeCacheError::ZeroSize);
        }
        let page = page_size();
        let reserve_error = |source| CodeCacheError::Reserve {
            capacity: config.capacity,
            source,
        };
        let capacity = config
            .capacity
            .checked_next_multiple_of(page)
            .ok_or_else(|| reserve_error(io::ErrorKind::OutOfMemory.into()))?;
        let region: MmapRaw = MmapOptions::new()
            .len(capacity)
            .no_reserve_swap()
            .map_anon()
            .map_err(reserve_error)?
            .into();
        let base = NonNull::new(region.as_mut_ptr())
            .ok_or_else(|| reserve_error(io::ErrorKind::Other.into()))?;
        let cache = CodeCache {
            id: NEXT_CACHE_ID.fetch_add(1, Ordering::Relaxed),
            region,
            base,
            capacity,
            page,
            free: BTreeMap::from([(0, capacity)]),
            slots: Vec::new(),
            free_slots: Vec::new(),
            icache_flush: config.icache_flush,
            dirty: vec![0; (capacity / page).div_ceil(64)],
            retain_limit: config.retained_bytes,
            stats: CodeCacheStats {
                reserved_bytes: capacity,
                ..CodeCacheStats::default()
            },
        };
        // Free runs are inaccessible (module invariant).
        cache
            .protect(0, capacity, libc::PROT_NONE)
            .map_err(|e| match e {
                CodeCacheError::Protect { source } => reserve_error(source),
                other => other,
            })?;
        Ok(cache)
    }

    /// Sets `prot` on `offset .. offset + len` of the region.
    fn protect(&self, offset: usize, len: usize, prot: libc::c_int) -> Result<(), CodeCacheError> {
        debug_assert!(offset.is_multiple_of(self.page) && len.is_multiple_of(self.page));
        debug_assert!(offset + len <= self.capacity);
        // SAFETY: `offset + len <= capacity` (callers pass runs of the
        // region), so the pointer stays inside the reservation.
        let start = unsafe { self.base.add(offset) };
        // SAFETY: a page-aligned range inside the reservation this cache
        // owns; changing its protection affects no Rust reference (the only
        // references into it are the `&mut [u8]` of `writable`, which
        // borrows `self` mutably and so has ended).
        let result = unsafe { libc::mprotect(start.as_ptr().cast(), len, prot) };
        if result == 0 {
            Ok(())
        } else {
            Err(CodeCacheError::Protect {
                source: io::Error::last_os_error(),
            })
        }
    }

    /// The slot of a live block of this cache.
    fn slot(&self, block: CodeBlock) -> Result<(usize, Slot), CodeCacheError> {
        let index = block.index as usize;
        match self.slots.get(index) {
            Some(slot)
                if block.cache == self.id
                    && slot.generation == block.generation
                    && slot.state.is_some() =>
            {
                Ok((index, *slot))
            }
            _ => Err(CodeCacheError::UnknownBlock { block }),
        }
    }

    /// A writable block of at least `size` bytes (whole pages), taken from
    /// the lowest free run that fits. Its bytes are zero.
    ///
    /// # Errors
    /// [`CodeCacheError::ZeroSize`], [`CodeCacheError::Exhausted`],
    /// [`CodeCacheError::Protect`].
    pub fn alloc(&mut self, size: usize) -> Result<CodeBlock, CodeCacheError> {
        if size == 0 {
            return Err(CodeCacheError::ZeroSize);
        }
        let exhausted = |cache: &CodeCache, requested| CodeCacheError::Exhausted {
            requested,
            largest_free: cache.free.values().copied().max().unwrap_or(0),
            capacity: cache.capacity,
        };
        let Some(len) = size.checked_next_multiple_of(self.page) else {
            return Err(exhausted(self, size));
        };
        let Some((&offset, &run)) = self.free.iter().find(|&(_, &run)| run >= len) else {
            return Err(exhausted(self, len));
        };
        self.protect(offset, len, libc::PROT_READ | libc::PROT_WRITE)?;
        self.free.remove(&offset);
        if run > len {
            self.free.insert(offset + len, run - len);
        }
        self.zero_dirty(offset, len);
        let slot = Slot {
            offset,
            len,
            state: Some(CodeState::Writable),
            generation: 0,
        };
        let index = match self.free_slots.pop() {
            Some(index) => {
                let reused = &mut self.slots[index as usize];
                *reused = Slot {
                    generation: reused.generation,
                    ..slot
                };
                index
            }
            None => {
                self.slots.push(slot);
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.stats.used_bytes += len;
        self.stats.peak_used_bytes = self.stats.peak_used_bytes.max(self.stats.used_bytes);
        self.stats.blocks += 1;
        self.stats.allocations += 1;
        Ok(CodeBlock {
            cache: self.id,
            index,
            generation: self.slots[index as usize].generation,
        })
    }

    /// The block's bytes, to write code into, while it is writable. The
    /// slice borrows the cache, so it cannot be used after
    /// [`make_executable`](Self::make_executable).
    ///
    /// # Errors
    /// [`CodeCacheError::UnknownBlock`]; [`CodeCacheError::NotWritable`]
    /// once the block is executable.
    pub fn writable(&mut self, block: CodeBlock) -> Result<&mut [u8], CodeCacheError> {
        let (_, slot) = self.slot(block)?;
        if slot.state != Some(CodeState::Writable) {
            return Err(CodeCacheError::NotWritable { block });
        }
        // SAFETY: a live block lies inside the reservation (module
        // invariant).
        let start = unsafe { self.base.add(slot.offset) };
        // SAFETY: the block's pages are mapped read + write while it is
        // writable (module invariant) and belong to this block alone; the
        // slice borrows `self` mutably, so no other access to the block and
        // no protection change happens while it lives.
        Ok(unsafe { std::slice::from_raw_parts_mut(start.as_ptr(), slot.len) })
    }

    /// Copies `bytes` into the block at `offset`, while it is writable.
    ///
    /// # Errors
    /// As [`writable`](Self::writable), and [`CodeCacheError::OutOfBounds`].
    pub fn write(
        &mut self,
        block: CodeBlock,
        offset: usize,
        bytes: &[u8],
    ) -> Result<(), CodeCacheError> {
        let code = self.writable(block)?;
        let size = code.len();
        let target = offset
            .checked_add(bytes.len())
            .and_then(|end| code.get_mut(offset..end))
            .ok_or(CodeCacheError::OutOfBounds {
                offset,
                len: bytes.len(),
                size,
            })?;
        target.copy_from_slice(bytes);
        Ok(())
    }

    /// Makes the block executable (read + execute, no longer writable) and
    /// flushes the instruction cache for it; returns its first byte, where
    /// the JIT's code starts. Calling it on an executable block only
    /// returns the address.
    ///
    /// Running the code is the caller's `unsafe` business: turning the
    /// address into a function pointer vouches that the bytes are a valid
    /// function for the host with that signature.
    ///
    /// # Errors
    /// [`CodeCacheError::UnknownBlock`], [`CodeCacheError::Protect`].
    pub fn make_executable(&mut self, block: CodeBlock) -> Result<NonNull<u8>, CodeCacheError> {
        let (index, slot) = self.slot(block)?;
        // SAFETY: a live block lies inside the reservation.
        let start = unsafe { self.base.add(slot.offset) };
        if slot.state == Some(CodeState::Executable) {
            return Ok(start);
        }
        self.protect(slot.offset, slot.len, libc::PROT_READ | libc::PROT_EXEC)?;
        if let Some(flush) = self.icache_flush {
            flush(start, slot.len);
        }
        self.slots[index].state = Some(CodeState::Executable);
        self.stats.executable_blocks += 1;
        Ok(start)
    }

    /// The first byte of an executable block (a writable block's bytes are
    /// reached through [`writable`](Self::writable) only).
    ///
    /// # Errors
    /// [`CodeCacheError::UnknownBlock`], also for a block that is not
    /// executable yet.
    pub fn entry(&self, block: CodeBlock) -> Result<NonNull<u8>, CodeCacheError> {
        let (_, slot) = self.slot(block)?;
        if slot.state != Some(CodeState::Executable) {
            return Err(CodeCacheError::UnknownBlock { block });
        }
        // SAFETY: a live block lies inside the reservation.
        Ok(unsafe { self.base.add(slot.offset) })
    }

    /// Whether the block is writable or executable.
    ///
    /// # Errors
    /// [`CodeCacheError::UnknownBlock`].
    pub fn state(&self, block: CodeBlock) -> Result<CodeState, CodeCacheError> {
        let (_, slot) = self.slot(block)?;
        slot.state.ok_or(CodeCacheError::UnknownBlock { block })
    }

    /// The block's size in bytes (whole pages).
    ///
    /// # Errors
    /// [`CodeCacheError::UnknownBlock`].
    pub fn block_size(&self, block: CodeBlock) -> Result<usize, CodeCacheError> {
        Ok(self.slot(block)?.1.len)
    }

    /// Discards the block (de-optimisation): its pages become inaccessible
    /// and are given back to the system, its run returns to the free list,
    /// and every handle to it stops working. The caller must make sure no
    /// thread is still running, or about to call, its code: a call into a
    /// discarded block faults (or, once the space is reused, runs the new
    /// code).
    ///
    /// # Errors
    /// [`CodeCacheError::UnknownBlock`], [`CodeCacheError::Protect`].
    pub fn discard(&mut self, block: CodeBlock) -> Result<(), CodeCacheError> {
        let (index, slot) = self.slot(block)?;
        self.protect(slot.offset, slot.len, libc::PROT_NONE)?;
        let keep = self.stats.retained_bytes + slot.len <= self.retain_limit;
        // Past the retention limit, give the memory back (zero pages on the
        // next use); if the system refuses, keep the pages as dirty.
        // SAFETY: the run lies inside the reservation and no Rust
        // reference points into it (its protection was just removed).
        let released = !keep
            && unsafe {
                self.region
                    .unchecked_advise_range(UncheckedAdvice::DontNeed, slot.offset, slot.len)
            }
            .is_ok();
        if !released {
            self.mark_dirty(slot.offset, slot.len);
        }
        let state = slot.state;
        let freed = &mut self.slots[index];
        freed.state = None;
        freed.generation = freed.generation.wrapping_add(1);
        self.free_slots.push(block.index);
        self.release_run(slot.offset, slot.len);
        self.stats.used_bytes -= slot.len;
        self.stats.blocks -= 1;
        if state == Some(CodeState::Executable) {
            self.stats.executable_blocks -= 1;
        }
        self.stats.discards += 1;
        Ok(())
    }

    /// Marks the free pages of `offset .. offset + len` as holding old bytes.
    fn mark_dirty(&mut self, offset: usize, len: usize) {
        for page in offset / self.page..(offset + len) / self.page {
            self.dirty[page / 64] |= 1 << (page % 64);
        }
        self.stats.retained_bytes += len;
    }

    /// Zeroes the dirty pages of `offset .. offset + len`, a run just made
    /// read + write, so a new block reads as zeroes.
    fn zero_dirty(&mut self, offset: usize, len: usize) {
        for page in offset / self.page..(offset + len) / self.page {
            let (word, bit) = (page / 64, 1u64 << (page % 64));
            if self.dirty[word] & bit == 0 {
                continue;
            }
            self.dirty[word] &= !bit;
            self.stats.retained_bytes -= self.page;
            // SAFETY: the page lies inside the run, which is inside the
            // reservation and mapped read + write (callers).
            let start = unsafe { self.base.add(page * self.page) };
            // SAFETY: as above: `self.page` writable bytes, referenced by
            // nothing else (the block is not handed out yet).
            unsafe { start.write_bytes(0, self.page) };
        }
    }

    /// Returns a run to the free map, merged with free neighbours.
    fn release_run(&mut self, mut offset: usize, mut len: usize) {
        if let Some((&before, &before_len)) = self.free.range(..offset).next_back()
            && before + before_len == offset
        {
            self.free.remove(&before);
            offset = before;
            len += before_len;
        }
        if let Some(after_len) = self.free.remove(&(offset + len)) {
            len += after_len;
        }
        self.free.insert(offset, len);
    }

    /// Usage figures.
    pub fn stats(&self) -> CodeCacheStats {
        self.stats
    }

    /// Bytes of address space reserved.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The size blocks are rounded up to.
    pub fn page_size(&self) -> usize {
        self.page
    }

    /// Whether `addr` lies inside the region (in any block or none).
    pub fn contains(&self, addr: usize) -> bool {
        addr.wrapping_sub(self.base.addr().get()) < self.capacity
    }
}

impl StatsSource for CodeCache {
    fn report_into(&self, stats: &mut MorphMemStats) {
        let code = &mut stats.heap;
        code.code_bytes += self.stats.reserved_bytes as u64;
        code.code_used_bytes += self.stats.used_bytes as u64;
        code.code_blocks += self.stats.blocks as u64;
    }
}

impl crate::MorphMem {
    /// The JIT code cache of VM mode, reserved on first use with
    /// [`CodeCacheConfig::default`] (64 MiB of address space) unless
    /// [`init_code_cache`](Self::init_code_cache) chose otherwise. Its usage
    /// appears in [`stats`](Self::stats) (`code_bytes`, `code_used_bytes`,
    /// `code_blocks`) and in the report's breakdown.
    ///
    /// ```
    /// use morph_mem::{MorphMem, MorphMemConfig};
    ///
    /// let mut mm = MorphMem::new(MorphMemConfig::VM)?;
    /// let cache = mm.code_cache()?;
    /// let block = cache.alloc(64)?;
    /// cache.write(block, 0, &[0xc3])?;
    /// assert_eq!(mm.stats().heap.code_blocks, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`CodeCacheError::WrongMode`] outside VM mode;
    /// [`CodeCacheError::Reserve`] if the region cannot be reserved.
    pub fn code_cache(&mut self) -> Result<&mut CodeCache, CodeCacheError> {
        if self.code_cache.is_none() {
            self.init_code_cache(CodeCacheConfig::default())?;
        }
        let mode = self.mode();
        self.code_cache
            .as_mut()
            .ok_or(CodeCacheError::WrongMode { mode })
    }

    /// Reserves the code cache with `config`, replacing (and unmapping)
    /// any previous one.
    ///
    /// # Errors
    /// As [`code_cache`](Self::code_cache).
    pub fn init_code_cache(&mut self, config: CodeCacheConfig) -> Result<(), CodeCacheError> {
        if self.mode() != crate::Mode::Vm {
            return Err(CodeCacheError::WrongMode { mode: self.mode() });
        }
        self.code_cache = Some(CodeCache::new(config)?);
        Ok(())
    }
}

// Miri supports only private anonymous mappings and no `mprotect`: the
// code cache's mappings are exercised natively (and under ASan by the C
// tests), not under Miri.
#[cfg(all(test, not(miri)))]
mod tests {
    use super::*;

    fn small() -> CodeCache {
        CodeCache::new(CodeCacheConfig {
            capacity: 16 * page_size(),
            ..CodeCacheConfig::default()
        })
        .expect("a small code cache")
    }

    #[test]
    fn free_runs_coalesce_after_discards_in_any_order() {
        let mut cache = small();
        let page = cache.page_size();
        let blocks: Vec<_> = (0..4).map(|_| cache.alloc(page).unwrap()).collect();
        for &i in &[1, 3, 0, 2] {
            cache.discard(blocks[i]).unwrap();
        }
        assert_eq!(cache.free.len(), 1, "{:?}", cache.free);
        assert_eq!(cache.free.get(&0), Some(&cache.capacity()));
        // The whole region is one run again: it can be allocated at once.
        let all = cache.alloc(cache.capacity()).unwrap();
        assert_eq!(cache.block_size(all).unwrap(), cache.capacity());
    }

    #[test]
    fn exhaustion_and_bad_handles_are_errors() {
        let mut cache = small();
        let capacity = cache.capacity();
        assert!(matches!(
            cache.alloc(capacity + 1),
            Err(CodeCacheError::Exhausted { .. })
        ));
        assert!(matches!(cache.alloc(0), Err(CodeCacheError::ZeroSize)));
        let block = cache.alloc(1).unwrap();
        let mut other = small();
        assert!(matches!(
            other.write(block, 0, &[1]),
            Err(CodeCacheError::UnknownBlock { .. })
        ));
        assert!(matches!(
            cache.write(block, cache.page_size() - 1, &[1, 2]),
            Err(CodeCacheError::OutOfBounds { .. })
        ));
        cache.discard(block).unwrap();
        assert!(matches!(
            cache.discard(block),
            Err(CodeCacheError::UnknownBlock { .. })
        ));
        assert_eq!(cache.stats().blocks, 0);
    }
}
