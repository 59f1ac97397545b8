//! The arena itself: bump allocation, reset, typed allocation, drop list.
//!
//! # State and invariants of the unsafe code in this module
//!
//! The *current chunk* is the one allocations are bumped from. `cursor` points
//! at the lowest byte handed out from it (allocations grow downwards, from
//! the chunk's end towards its data start) and `limit` is the address of its
//! data start. With no current chunk, `cursor` is null and `limit` is 1, so
//! every request fails the fast-path bounds check and takes the slow path.
//!
//! 1. `limit <= cursor.addr() <= current.end().addr()` whenever there is a
//!    current chunk, and `cursor` carries that chunk's provenance. Bytes in
//!    `limit .. cursor` have never been handed out since the chunk became
//!    current; bytes in `cursor .. end` may be referenced by the user.
//! 2. Every chunk is on exactly one of: `current`, the `retired` list (full
//!    chunks and dedicated chunks of large requests, still referenced), or
//!    the `free` list (idle, no references). Memory is only recycled
//!    (made current again, or deallocated) from the free list, and chunks
//!    move to the free list only in methods that take `&mut self` (or own the
//!    arena), so the borrow checker guarantees no reference into them is live.
//! 3. Every entry on the drop list was written by `alloc_with_drop`, lives in
//!    a chunk of this arena next to (after) the value it drops, and is run
//!    at most once: it is unlinked before its drop glue is called.

use std::alloc::{Layout, handle_alloc_error};
use std::cell::Cell;
use std::fmt;
use std::mem::needs_drop;
use std::ptr::{self, NonNull};

use crate::chunk::{CHUNK_ALIGN, ChunkList, ChunkPtr, HEADER_SIZE, MAX_CHUNK_SIZE};
use crate::{ArenaConfig, ArenaError, ArenaStats};

/// A bump-pointer arena: very fast allocation, everything freed at once.
///
/// See the [crate documentation](crate) for the model (what it costs, what it
/// will not do). In short: allocation moves a pointer; [`reset`](Arena::reset)
/// frees everything in O(1) and keeps the chunks for the next round; values
/// are **not dropped** unless allocated with
/// [`alloc_with_drop`](Arena::alloc_with_drop).
///
/// `Arena` is [`Send`] but not [`Sync`]: one thread allocates at a time.
///
/// ```
/// use morph_arena::Arena;
///
/// #[derive(Debug)]
/// enum Expr<'a> {
///     Num(i64),
///     Add(&'a Expr<'a>, &'a Expr<'a>),
/// }
///
/// let arena = Arena::new();
/// let one = arena.alloc(Expr::Num(1));
/// let two = arena.alloc(Expr::Num(2));
/// let sum = arena.alloc(Expr::Add(one, two));
/// assert!(matches!(sum, Expr::Add(Expr::Num(1), Expr::Num(2))));
/// ```
pub struct Arena {
    /// Lowest byte handed out from the current chunk (invariant 1).
    pub(crate) cursor: Cell<*mut u8>,
    /// Data start of the current chunk, or 1 without one.
    pub(crate) limit: Cell<usize>,
    pub(crate) current: Cell<Option<ChunkPtr>>,
    pub(crate) retired: Cell<ChunkList>,
    pub(crate) free: Cell<ChunkList>,
    /// Bytes handed out from retired chunks (padding included).
    pub(crate) retired_used: Cell<usize>,
    /// Bytes left unused in retired chunks.
    pub(crate) retired_wasted: Cell<usize>,
    pub(crate) resets: Cell<u64>,
    pub(crate) drops: Cell<Option<NonNull<DropEntry>>>,
    pub(crate) config: ArenaConfig,
    /// Requests needing more than this many bytes get a dedicated chunk.
    large_threshold: usize,
}

// SAFETY: the arena owns its chunks outright; moving it to another thread
// moves that ownership. Values it hands out are borrowed from it, so none can
// be live across the move. The only code that runs later on the values is the
// drop list, and `alloc_with_drop` requires `T: Send` for that reason. `Sync`
// is *not* implemented: the `Cell`s make concurrent `&Arena` use a data race.
unsafe impl Send for Arena {}

/// One registered destructor (see `Arena::alloc_with_drop`).
pub(crate) struct DropEntry {
    next: Option<NonNull<DropEntry>>,
    value: NonNull<u8>,
    drop_glue: unsafe fn(NonNull<u8>),
}

/// Drops the `T` at `value` in place.
///
/// # Safety
///
/// `value` points to a live, initialised `T` that is never used again.
unsafe fn drop_glue<T>(value: NonNull<u8>) {
    // SAFETY: guaranteed by the caller.
    unsafe { ptr::drop_in_place(value.cast::<T>().as_ptr()) }
}

#[cold]
#[inline(never)]
#[track_caller]
fn allocation_failed(error: ArenaError, layout: Layout) -> ! {
    match error {
        ArenaError::OutOfMemory { .. } => handle_alloc_error(layout),
        other => panic!("{other}"),
    }
}

impl Arena {
    /// Creates an empty arena with the default configuration (2 MiB chunks,
    /// 16 MiB retained). Nothing is allocated until the first request.
    ///
    /// ```
    /// let arena = morph_arena::Arena::new();
    /// assert_eq!(arena.stats().chunks, 0);
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self::from_valid_config(ArenaConfig::new())
    }

    /// Creates an empty arena with `config`, after validating it.
    ///
    /// # Errors
    ///
    /// As [`ArenaConfig::validate`].
    ///
    /// ```
    /// use morph_arena::{Arena, ArenaConfig};
    /// let arena = Arena::with_config(ArenaConfig::new().chunk_size(16 * 1024))?;
    /// arena.alloc(7_u64);
    /// assert_eq!(arena.stats().reserved_bytes, 16 * 1024);
    /// # Ok::<(), morph_arena::ArenaError>(())
    /// ```
    pub const fn with_config(config: ArenaConfig) -> Result<Self, ArenaError> {
        match config.validate() {
            Ok(()) => Ok(Self::from_valid_config(config)),
            Err(e) => Err(e),
        }
    }

    pub(crate) const fn from_valid_config(config: ArenaConfig) -> Self {
        let large_threshold = (config.get_chunk_size() - HEADER_SIZE) / 4;
        Self {
            cursor: Cell::new(ptr::null_mut()),
            limit: Cell::new(1),
            current: Cell::new(None),
            retired: Cell::new(ChunkList::new()),
            free: Cell::new(ChunkList::new()),
            retired_used: Cell::new(0),
            retired_wasted: Cell::new(0),
            resets: Cell::new(0),
            drops: Cell::new(None),
            config,
            large_threshold,
        }
    }

    /// The configuration this arena was built with.
    ///
    /// ```
    /// let arena = morph_arena::Arena::new();
    /// assert_eq!(arena.config(), &morph_arena::ArenaConfig::default());
    /// ```
    #[must_use]
    pub fn config(&self) -> &ArenaConfig {
        &self.config
    }

    // ----------------------------------------------------------------------
    // Raw allocation: the fast path and the slow path.
    // ----------------------------------------------------------------------

    /// The fast path: carve `layout` below the cursor of the current chunk.
    #[inline(always)]
    fn bump(&self, layout: Layout) -> Option<NonNull<u8>> {
        let cursor = self.cursor.get();
        let addr = cursor.addr().checked_sub(layout.size())? & !(layout.align() - 1);
        if addr < self.limit.get() {
            return None;
        }
        let new_cursor = cursor.with_addr(addr);
        self.cursor.set(new_cursor);
        debug_assert!(addr != 0);
        // SAFETY: `addr >= limit >= 1` (invariant 1), so the pointer is non-null.
        Some(unsafe { NonNull::new_unchecked(new_cursor) })
    }

    /// Allocates memory for `layout`, or reports why it cannot.
    ///
    /// The returned memory is uninitialised, aligned to `layout.align()` and
    /// valid for `layout.size()` bytes until the arena is reset, rolled back
    /// past it, or dropped.
    ///
    /// # Errors
    ///
    /// [`ArenaError::AllocationTooLarge`] for requests beyond `isize::MAX`
    /// bytes once padded, [`ArenaError::OutOfMemory`] when the system refuses
    /// a new chunk.
    ///
    /// ```
    /// use std::alloc::Layout;
    /// let arena = morph_arena::Arena::new();
    /// let p = arena.try_alloc_layout(Layout::from_size_align(100, 64).unwrap())?;
    /// assert_eq!(p.as_ptr().addr() % 64, 0);
    /// # Ok::<(), morph_arena::ArenaError>(())
    /// ```
    #[inline(always)]
    pub fn try_alloc_layout(&self, layout: Layout) -> Result<NonNull<u8>, ArenaError> {
        match self.bump(layout) {
            Some(ptr) => Ok(ptr),
            None => self.alloc_layout_slow(layout),
        }
    }

    /// Allocates memory for `layout`; see
    /// [`try_alloc_layout`](Arena::try_alloc_layout).
    ///
    /// # Panics
    ///
    /// If the request exceeds `isize::MAX` bytes; calls
    /// [`handle_alloc_error`] when out of memory.
    ///
    /// ```
    /// use std::alloc::Layout;
    /// let arena = morph_arena::Arena::new();
    /// let p = arena.alloc_layout(Layout::new::<u128>());
    /// assert_eq!(p.as_ptr().addr() % align_of::<u128>(), 0);
    /// ```
    #[inline(always)]
    pub fn alloc_layout(&self, layout: Layout) -> NonNull<u8> {
        match self.bump(layout) {
            Some(ptr) => ptr,
            // Not `try_alloc_layout`: keeping the `Result` out of the fast path
            // saves materialising it on the stack at every call site.
            None => self.alloc_layout_slow_infallible(layout),
        }
    }

    /// The slow path for the infallible API: a plain pointer or a panic.
    #[cold]
    #[inline(never)]
    fn alloc_layout_slow_infallible(&self, layout: Layout) -> NonNull<u8> {
        match self.alloc_layout_slow(layout) {
            Ok(ptr) => ptr,
            Err(error) => allocation_failed(error, layout),
        }
    }

    /// The slow path: a new chunk (reused from the free list when there is
    /// one), or a dedicated chunk for a large request.
    #[cold]
    #[inline(never)]
    fn alloc_layout_slow(&self, layout: Layout) -> Result<NonNull<u8>, ArenaError> {
        if layout.size() == 0 {
            // Zero-sized requests need no memory: any aligned, non-null address
            // is valid for zero-byte accesses.
            let dangling = ptr::without_provenance_mut::<u8>(layout.align());
            // SAFETY: an alignment is at least 1, so the address is non-null.
            return Ok(unsafe { NonNull::new_unchecked(dangling) });
        }
        let too_large = ArenaError::AllocationTooLarge {
            size: layout.size(),
            align: layout.align(),
        };
        // Worst case: `align - 1` bytes of padding below a chunk end.
        let needed = layout
            .size()
            .checked_add(layout.align() - 1)
            .ok_or(too_large)?;
        if needed > self.large_threshold {
            return self.alloc_dedicated(layout, needed);
        }
        let chunk = self.take_free_or_new_chunk()?;
        self.retire_current();
        self.install_current(chunk);
        match self.bump(layout) {
            Some(ptr) => Ok(ptr),
            // Every chunk holds at least `large_threshold` bytes, so a request
            // of at most that many (padding included) fits in a fresh one.
            None => unreachable!("a fresh chunk must fit a small request"),
        }
    }

    fn take_free_or_new_chunk(&self) -> Result<ChunkPtr, ArenaError> {
        let mut free = self.free.get();
        if let Some(chunk) = free.pop_front() {
            self.free.set(free);
            return Ok(chunk);
        }
        let size = self.config.get_chunk_size();
        ChunkPtr::allocate(size).ok_or(ArenaError::OutOfMemory { chunk_bytes: size })
    }

    /// Puts a large request in a chunk of its own, behind the current chunk,
    /// so the current chunk keeps serving small requests (no tail is wasted).
    fn alloc_dedicated(&self, layout: Layout, needed: usize) -> Result<NonNull<u8>, ArenaError> {
        let mut free = self.free.get();
        // Reuse an idle chunk only if that does not waste more than it uses.
        let chunk = match free.take_first_fit(needed, needed.saturating_mul(2)) {
            Some(chunk) => {
                self.free.set(free);
                chunk
            }
            None => {
                let size = needed
                    .checked_add(HEADER_SIZE)
                    .filter(|&size| size <= MAX_CHUNK_SIZE)
                    .ok_or(ArenaError::AllocationTooLarge {
                        size: layout.size(),
                        align: layout.align(),
                    })?
                    .next_multiple_of(CHUNK_ALIGN);
                ChunkPtr::allocate(size).ok_or(ArenaError::OutOfMemory { chunk_bytes: size })?
            }
        };
        let end = chunk.end();
        let addr = (end.addr() - layout.size()) & !(layout.align() - 1);
        debug_assert!(addr >= chunk.data_start());
        self.retired_used
            .set(self.retired_used.get() + (end.addr() - addr));
        self.retired_wasted
            .set(self.retired_wasted.get() + (addr - chunk.data_start()));
        let mut retired = self.retired.get();
        retired.push_front(chunk);
        self.retired.set(retired);
        // SAFETY: `addr >= data_start > 0`; the pointer keeps the chunk's provenance.
        Ok(unsafe { NonNull::new_unchecked(end.with_addr(addr)) })
    }

    /// Moves the current chunk (if any) to the retired list and accounts for
    /// its used and wasted bytes; leaves the arena without a current chunk.
    pub(crate) fn retire_current(&self) {
        if let Some(chunk) = self.current.take() {
            let end = chunk.end().addr();
            let cursor = self.cursor.get().addr();
            self.retired_used
                .set(self.retired_used.get() + (end - cursor));
            self.retired_wasted
                .set(self.retired_wasted.get() + (cursor - chunk.data_start()));
            let mut retired = self.retired.get();
            retired.push_front(chunk);
            self.retired.set(retired);
        }
        self.cursor.set(ptr::null_mut());
        self.limit.set(1);
    }

    fn install_current(&self, chunk: ChunkPtr) {
        self.current.set(Some(chunk));
        self.cursor.set(chunk.end());
        self.limit.set(chunk.data_start());
    }

    // ----------------------------------------------------------------------
    // Reset and drop.
    // ----------------------------------------------------------------------

    /// Frees every allocation at once, in O(1) when the retention cap is not
    /// exceeded.
    ///
    /// Runs the destructors registered with
    /// [`alloc_with_drop`](Arena::alloc_with_drop) (newest first), then moves
    /// every chunk to the free list, where the next allocations find them: a
    /// refill after a reset makes no call to the system allocator. If the
    /// idle chunks exceed [`ArenaConfig::retained_bytes`], the excess is
    /// returned to the system.
    ///
    /// Other values are **not dropped**: their memory is simply reused.
    ///
    /// ```
    /// let mut arena = morph_arena::Arena::new();
    /// for round in 0..3_u64 {
    ///     let x = arena.alloc(round);
    ///     assert_eq!(*x, round);
    ///     arena.reset();
    /// }
    /// assert_eq!(arena.stats().resets, 3);
    /// assert_eq!(arena.stats().used_bytes, 0);
    /// assert_eq!(arena.stats().chunks, 1); // kept for reuse
    /// ```
    pub fn reset(&mut self) {
        self.run_drops(None);
        self.retire_current();
        let mut retired = self.retired.take();
        let mut free = self.free.get();
        free.splice_front(&mut retired);
        // SAFETY: `&mut self` guarantees no reference into any chunk is live
        // (invariant 2).
        unsafe { free.trim_to(self.config.get_retained_bytes()) };
        self.free.set(free);
        self.retired_used.set(0);
        self.retired_wasted.set(0);
        self.resets.set(self.resets.get() + 1);
    }

    /// Runs registered destructors, newest first, until the drop list head is
    /// `until`.
    pub(crate) fn run_drops(&mut self, until: Option<NonNull<DropEntry>>) {
        while let Some(entry) = self.drops.get() {
            if Some(entry) == until {
                break;
            }
            // SAFETY: invariant 3: the entry was fully written by
            // `alloc_with_drop` and its chunk has not been recycled (entries
            // are run before their chunk moves to the free list).
            let DropEntry {
                next,
                value,
                drop_glue,
            } = unsafe { entry.read() };
            // Unlink first, so a panicking destructor is never run twice.
            self.drops.set(next);
            // SAFETY: invariant 3: `value` is the live `T` this glue was made
            // for; `&mut self` means no reference to it is live, and it is
            // unlinked so it is dropped only once.
            unsafe { drop_glue(value) }
        }
    }

    // ----------------------------------------------------------------------
    // Typed allocation.
    // ----------------------------------------------------------------------

    /// Moves `value` into the arena and returns a mutable reference to it.
    ///
    /// The value is **not dropped** when the arena is reset or dropped; use
    /// [`alloc_with_drop`](Arena::alloc_with_drop) for values that own
    /// resources.
    ///
    /// # Panics
    ///
    /// Calls [`handle_alloc_error`] when out of memory.
    ///
    /// ```
    /// let arena = morph_arena::Arena::new();
    /// let x = arena.alloc([1_u8, 2, 3]);
    /// x[0] = 9;
    /// assert_eq!(*x, [9, 2, 3]);
    /// ```
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub fn alloc<T>(&self, value: T) -> &mut T {
        self.alloc_with(|| value)
    }

    /// Allocates space for a `T` and initialises it with `init()`; lets the
    /// compiler build the value in place instead of copying it.
    ///
    /// ```
    /// let arena = morph_arena::Arena::new();
    /// let table = arena.alloc_with(|| [0_u64; 512]);
    /// assert_eq!(table.len(), 512);
    /// ```
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub fn alloc_with<T>(&self, init: impl FnOnce() -> T) -> &mut T {
        let ptr = self.alloc_layout(Layout::new::<T>()).cast::<T>();
        // SAFETY: `ptr` is fresh arena memory, aligned and sized for a `T`,
        // that no one else refers to.
        unsafe { ptr.write(init()) };
        // SAFETY: just initialised; the reference borrows `self`, so it cannot
        // outlive a reset, rollback or drop (which need `&mut self`).
        unsafe { &mut *ptr.as_ptr() }
    }

    /// Fallible [`alloc`](Arena::alloc): on error `value` is dropped and the
    /// error returned.
    ///
    /// # Errors
    ///
    /// As [`try_alloc_layout`](Arena::try_alloc_layout).
    ///
    /// ```
    /// let arena = morph_arena::Arena::new();
    /// assert_eq!(*arena.try_alloc(5_i32)?, 5);
    /// # Ok::<(), morph_arena::ArenaError>(())
    /// ```
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub fn try_alloc<T>(&self, value: T) -> Result<&mut T, ArenaError> {
        let ptr = self.try_alloc_layout(Layout::new::<T>())?.cast::<T>();
        // SAFETY: fresh, aligned, sized memory, as in `alloc_with`.
        unsafe { ptr.write(value) };
        // SAFETY: initialised just above; borrows `self`.
        Ok(unsafe { &mut *ptr.as_ptr() })
    }

    /// Moves `value` into the arena **and registers its destructor**, which
    /// runs on [`reset`](Arena::reset), when the arena is dropped, or when a
    /// [`Checkpoint`](crate::Checkpoint) / [`scope`](Arena::scope) that
    /// allocated it ends. Destructors run newest first.
    ///
    /// Costs one extra 24-byte record in the arena when `T` needs dropping
    /// (nothing otherwise). `T: 'static` because the destructor runs after
    /// every borrow of the arena has ended, so it must not see borrowed data;
    /// `T: Send` because the arena may be sent to another thread before it
    /// runs.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use std::sync::Arc;
    ///
    /// let counter = Arc::new(());
    /// let mut arena = morph_arena::Arena::new();
    /// arena.alloc_with_drop(Arc::clone(&counter));
    /// assert_eq!(Arc::strong_count(&counter), 2);
    /// arena.reset();
    /// assert_eq!(Arc::strong_count(&counter), 1);
    /// ```
    #[allow(clippy::mut_from_ref)]
    pub fn alloc_with_drop<T: Send + 'static>(&self, value: T) -> &mut T {
        let value_ptr = self.alloc_layout(Layout::new::<T>()).cast::<T>();
        if needs_drop::<T>() {
            // Allocate the record before writing anything, so a panic here
            // leaves nothing half-registered.
            let entry = self
                .alloc_layout(Layout::new::<DropEntry>())
                .cast::<DropEntry>();
            // SAFETY: fresh, aligned, sized memory for a `T`.
            unsafe { value_ptr.write(value) };
            // SAFETY: fresh, aligned, sized memory for a `DropEntry`; it lives
            // after (below) the value in the arena, as invariant 3 requires.
            unsafe {
                entry.write(DropEntry {
                    next: self.drops.get(),
                    value: value_ptr.cast::<u8>(),
                    drop_glue: drop_glue::<T>,
                });
            }
            self.drops.set(Some(entry));
        } else {
            // SAFETY: fresh, aligned, sized memory for a `T`.
            unsafe { value_ptr.write(value) };
        }
        // SAFETY: initialised above; borrows `self`.
        unsafe { &mut *value_ptr.as_ptr() }
    }

    /// Copies `src` into the arena.
    ///
    /// ```
    /// let arena = morph_arena::Arena::new();
    /// let s = arena.alloc_slice_copy(&[1_u16, 2, 3]);
    /// s[1] = 20;
    /// assert_eq!(s, &[1, 20, 3]);
    /// ```
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub fn alloc_slice_copy<T: Copy>(&self, src: &[T]) -> &mut [T] {
        let layout = Layout::for_value(src);
        let dst = self.alloc_layout(layout).cast::<T>();
        Self::finish_slice_copy(src, dst)
    }

    /// Fallible [`alloc_slice_copy`](Arena::alloc_slice_copy).
    ///
    /// # Errors
    ///
    /// As [`try_alloc_layout`](Arena::try_alloc_layout).
    ///
    /// ```
    /// let arena = morph_arena::Arena::new();
    /// assert_eq!(arena.try_alloc_slice_copy(b"abc")?, b"abc");
    /// # Ok::<(), morph_arena::ArenaError>(())
    /// ```
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub fn try_alloc_slice_copy<T: Copy>(&self, src: &[T]) -> Result<&mut [T], ArenaError> {
        let layout = Layout::for_value(src);
        let dst = self.try_alloc_layout(layout)?.cast::<T>();
        Ok(Self::finish_slice_copy(src, dst))
    }

    #[inline(always)]
    fn finish_slice_copy<'a, T: Copy>(src: &[T], dst: NonNull<T>) -> &'a mut [T] {
        // SAFETY: `dst` is fresh arena memory with room for `src.len()` values,
        // so the ranges cannot overlap; `T: Copy` makes a bitwise copy valid.
        unsafe { ptr::copy_nonoverlapping(src.as_ptr(), dst.as_ptr(), src.len()) };
        // SAFETY: all `src.len()` elements were initialised just above. The
        // caller ties `'a` to its `&self`.
        unsafe { std::slice::from_raw_parts_mut(dst.as_ptr(), src.len()) }
    }

    /// Clones every element of `src` into the arena.
    ///
    /// ```
    /// let arena = morph_arena::Arena::new();
    /// let names = arena.alloc_slice_clone(&["a".to_string(), "b".to_string()]);
    /// assert_eq!(names[1], "b");
    /// ```
    #[allow(clippy::mut_from_ref)]
    pub fn alloc_slice_clone<T: Clone>(&self, src: &[T]) -> &mut [T] {
        self.alloc_slice_fill_iter(src.iter().cloned())
    }

    /// Fills a new slice from an iterator that knows its length.
    ///
    /// # Panics
    ///
    /// If the iterator yields fewer items than its `len()` promised (extra
    /// items are ignored), or the slice would exceed `isize::MAX` bytes.
    ///
    /// ```
    /// let arena = morph_arena::Arena::new();
    /// let squares = arena.alloc_slice_fill_iter((1..5_u32).map(|i| i * i));
    /// assert_eq!(squares, &[1, 4, 9, 16]);
    /// ```
    #[allow(clippy::mut_from_ref)]
    pub fn alloc_slice_fill_iter<T, I>(&self, iter: I) -> &mut [T]
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: ExactSizeIterator,
    {
        match self.try_alloc_slice_fill_iter(iter) {
            Ok(slice) => slice,
            Err(error) => allocation_failed(error, Layout::new::<T>()),
        }
    }

    /// Fallible [`alloc_slice_fill_iter`](Arena::alloc_slice_fill_iter).
    ///
    /// # Errors
    ///
    /// As [`try_alloc_layout`](Arena::try_alloc_layout), and
    /// [`ArenaError::AllocationTooLarge`] when `len * size_of::<T>()`
    /// overflows.
    ///
    /// # Panics
    ///
    /// If the iterator yields fewer items than its `len()` promised.
    ///
    /// ```
    /// let arena = morph_arena::Arena::new();
    /// let s = arena.try_alloc_slice_fill_iter(['x', 'y', 'z'])?;
    /// assert_eq!(s, &['x', 'y', 'z']);
    /// # Ok::<(), morph_arena::ArenaError>(())
    /// ```
    #[allow(clippy::mut_from_ref)]
    pub fn try_alloc_slice_fill_iter<T, I>(&self, iter: I) -> Result<&mut [T], ArenaError>
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: ExactSizeIterator,
    {
        let mut iter = iter.into_iter();
        let len = iter.len();
        let layout = Layout::array::<T>(len).map_err(|_| ArenaError::AllocationTooLarge {
            size: usize::MAX,
            align: align_of::<T>(),
        })?;
        let dst = self.try_alloc_layout(layout)?.cast::<T>();
        for index in 0..len {
            // If this panics (short iterator), the elements written so far are
            // leaked, never exposed: no slice has been created yet.
            let item = iter
                .next()
                .expect("ExactSizeIterator yielded fewer items than its len()");
            let slot = dst.as_ptr().wrapping_add(index);
            // SAFETY: `index < len`, so `slot` is inside the fresh allocation
            // for `len` values, aligned for `T`.
            unsafe { slot.write(item) };
        }
        // SAFETY: all `len` elements were initialised by the loop.
        Ok(unsafe { std::slice::from_raw_parts_mut(dst.as_ptr(), len) })
    }

    /// Copies a string into the arena.
    ///
    /// ```
    /// let arena = morph_arena::Arena::new();
    /// let ident = arena.alloc_str("main");
    /// ident.make_ascii_uppercase();
    /// assert_eq!(ident, "MAIN");
    /// ```
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub fn alloc_str(&self, src: &str) -> &mut str {
        let bytes = self.alloc_slice_copy(src.as_bytes());
        // SAFETY: the bytes are a copy of a valid `str`.
        unsafe { std::str::from_utf8_unchecked_mut(bytes) }
    }

    /// Fallible [`alloc_str`](Arena::alloc_str).
    ///
    /// # Errors
    ///
    /// As [`try_alloc_layout`](Arena::try_alloc_layout).
    ///
    /// ```
    /// let arena = morph_arena::Arena::new();
    /// assert_eq!(arena.try_alloc_str("fn")?, "fn");
    /// # Ok::<(), morph_arena::ArenaError>(())
    /// ```
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub fn try_alloc_str(&self, src: &str) -> Result<&mut str, ArenaError> {
        let bytes = self.try_alloc_slice_copy(src.as_bytes())?;
        // SAFETY: the bytes are a copy of a valid `str`.
        Ok(unsafe { std::str::from_utf8_unchecked_mut(bytes) })
    }

    // ----------------------------------------------------------------------
    // Statistics.
    // ----------------------------------------------------------------------

    /// A snapshot of the arena's memory figures.
    ///
    /// `reserved_bytes == used_bytes + wasted_bytes + available_bytes +
    /// free_bytes + overhead_bytes` always holds.
    ///
    /// ```
    /// let arena = morph_arena::Arena::new();
    /// arena.alloc(1_u64);
    /// let stats = arena.stats();
    /// assert_eq!(stats.used_bytes, 8);
    /// assert_eq!(
    ///     stats.reserved_bytes,
    ///     stats.used_bytes + stats.wasted_bytes + stats.available_bytes
    ///         + stats.free_bytes + stats.overhead_bytes
    /// );
    /// ```
    #[must_use]
    pub fn stats(&self) -> ArenaStats {
        let retired = self.retired.get();
        let free = self.free.get();
        let (current_chunks, current_bytes, current_used, available) = match self.current.get() {
            Some(chunk) => {
                let cursor = self.cursor.get().addr();
                (
                    1,
                    chunk.size(),
                    chunk.end().addr() - cursor,
                    cursor - chunk.data_start(),
                )
            }
            None => (0, 0, 0, 0),
        };
        let in_use_chunks = current_chunks + retired.count;
        ArenaStats {
            chunks: in_use_chunks + free.count,
            free_chunks: free.count,
            reserved_bytes: current_bytes + retired.bytes + free.bytes,
            used_bytes: self.retired_used.get() + current_used,
            wasted_bytes: self.retired_wasted.get(),
            available_bytes: available,
            free_bytes: free.bytes,
            overhead_bytes: in_use_chunks * HEADER_SIZE,
            resets: self.resets.get(),
        }
    }
}

impl Default for Arena {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Arena {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Arena")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        self.run_drops(None);
        self.retire_current();
        let mut retired = self.retired.take();
        let mut free = self.free.take();
        // SAFETY: the arena is being dropped: nothing borrows it (invariant 2).
        unsafe {
            retired.free_all();
        }
        // SAFETY: as above.
        unsafe {
            free.free_all();
        }
    }
}
