//! Thread caches: each thread keeps, per shared pool it uses, two
//! magazines of free slots (`loaded` and `spare`). Allocation pops from
//! `loaded` and freeing pushes onto it — no lock, no atomic operation.
//!
//! When `loaded` runs empty, a full `spare` takes its place; otherwise a
//! full magazine comes from the depot (or fresh slots are carved). When
//! `loaded` is full, an empty `spare` takes its place; otherwise the full
//! spare goes to the depot. So a thread touches the depot at most once per
//! `magazine_slots` operations, and a batch of up to `2 × magazine_slots`
//! allocations then frees never touches it (Bonwick's magazines, 2001).
//!
//! **Magazines grow with the batches they see.** A cache that gives the
//! depot a full magazine and then has to take one back (or takes one and
//! then gives one) holds batches that do not fit it: it doubles its
//! magazine size, up to [`GROWTH_LIMIT`] times the pool's `magazine_slots`.
//! A steady producer only takes and a steady consumer only gives, so their
//! magazines keep their size; a thread that churns batches of `B` ends with
//! magazines of at least `B / 2` (within the limit) and no depot traffic.
//!
//! The caches of a thread live in one `thread_local!`, indexed by the pool
//! core's small id (ids are recycled only once a core is gone); a cache
//! holds an `Arc` of its core, so slots in a cache never outlive their
//! blocks. When the thread exits, its caches go back to the depots. A free
//! or allocation that cannot reach the thread cache (during thread-local
//! destruction) goes to the depot directly.
//!
//! # The hot table
//! The fast paths do not touch that `RefCell`: the loaded magazine of each
//! of the first [`HOT_CACHES`] core ids is mirrored in a second, constant
//! initialised thread local without a destructor (the [`HotTable`]), whose
//! access is one thread-pointer-relative address. A pop is then an id
//! check, a pointer compare, a length test and a load — what mimalloc's
//! free-list pop costs — with no borrow flag to set and clear.
//!
//! # Invariants
//! - The `RefCell` is borrowed only inside one slow-path call, during which
//!   no user code runs (a box's value is dropped before its slot is freed),
//!   so it is never borrowed twice; if it were (a global allocator built on
//!   a shared pool, called while carving), the operation would take the
//!   uncached path instead of panicking.
//! - **Hot entries.** While `HOT[id].core` is a core `C` (not null): the
//!   thread's `caches[id]` is a cache of `C`, its `loaded` magazine's slots
//!   are `buf[..len]` (the `Vec`'s own length is stale), `buf` is that
//!   `Vec`'s buffer, and `len <= cap <= loaded.capacity()`. A slow path
//!   *detaches* the entry (folds `len` and `allocs` back into the cache and
//!   sets `core` to null) before it touches the cache and *attaches* it
//!   again when done, so a reentrant fast path in between finds no hot
//!   entry, and nothing but the hot entry uses the buffer while attached.
//! - `LocalCache::published` is what this cache last added to
//!   `SlotCore::cached`.

use core::cell::{Cell, RefCell};
use core::ptr::NonNull;

use super::depot::Magazine;
use super::page_map;
use super::slot_core::{CoreRef, SlotCore};
use crate::error::PoolError;
use crate::sync::{Arc, Ordering, pool_thread_local};

/// The next depot home shard, handed to threads round robin.
#[cfg(not(loom))]
fn next_home() -> usize {
    static NEXT_HOME: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    NEXT_HOME.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Under loom the counter must start again with every execution, or the
/// model would not be deterministic.
#[cfg(loom)]
fn next_home() -> usize {
    loom::lazy_static! {
        static ref NEXT_HOME: crate::sync::AtomicUsize = crate::sync::AtomicUsize::new(0);
    }
    NEXT_HOME.fetch_add(1, Ordering::Relaxed)
}

/// How many times the pool's `magazine_slots` a thread's magazines may
/// grow to.
pub(crate) const GROWTH_LIMIT: usize = 4;

/// The cache's last exchange with the depot (for growing magazines).
#[derive(Clone, Copy, PartialEq, Eq)]
enum LastExchange {
    None,
    Gave,
    Took,
}

struct LocalCache {
    core: Arc<SlotCore>,
    /// Slots per magazine: `core.magazine_slots`, grown (up to
    /// `GROWTH_LIMIT` times) when batches overflow it.
    capacity: usize,
    last_exchange: LastExchange,
    loaded: Vec<NonNull<u8>>,
    spare: Vec<NonNull<u8>>,
    /// Allocations since the last publish. Frees are not counted on the
    /// fast path: they follow from the slots that came in and went out
    /// (see [`LocalCache::publish`]).
    allocs: u64,
    /// Slots brought into this cache (depot, carving) since the last publish.
    received: u64,
    /// Slots sent to the depot since the last publish.
    sent: u64,
    published: usize,
}

pub(crate) struct ThreadCaches {
    home: usize,
    /// Indexed by `SlotCore::id`.
    caches: Vec<Option<LocalCache>>,
}

pool_thread_local! {
    static CACHES: RefCell<ThreadCaches> = RefCell::new(ThreadCaches {
        home: next_home(),
        caches: Vec::new(),
    });
}

/// Core ids whose loaded magazine the fast paths reach through [`HOT`];
/// caches of higher ids work through the `RefCell` alone. (Smaller under
/// Miri, so a test reaches past the table with a handful of pools.)
pub(crate) const HOT_CACHES: usize = if cfg!(miri) { 4 } else { 32 };

/// The fast-path view of one thread cache's loaded magazine (see the
/// module's invariants).
struct Hot {
    /// The core of the attached cache, or null.
    core: Cell<*const SlotCore>,
    buf: Cell<*mut NonNull<u8>>,
    len: Cell<usize>,
    cap: Cell<usize>,
    /// Allocations by the fast path since the entry was attached.
    allocs: Cell<u64>,
}

impl Hot {
    #[cfg_attr(loom, allow(dead_code))] // no hot table under loom
    const fn empty() -> Self {
        Self {
            core: Cell::new(core::ptr::null()),
            buf: Cell::new(core::ptr::null_mut()),
            len: Cell::new(0),
            cap: Cell::new(0),
            allocs: Cell::new(0),
        }
    }
}

pub(crate) struct HotTable([Hot; HOT_CACHES]);

impl HotTable {
    #[cfg_attr(loom, allow(dead_code))] // no hot table under loom
    const fn new() -> Self {
        Self([const { Hot::empty() }; HOT_CACHES])
    }

    /// This thread's attached entry for `core`, if any.
    #[inline(always)]
    fn entry(&self, core: CoreRef<'_>) -> Option<&Hot> {
        self.entry_at(core.id, core.as_ptr())
    }

    /// The attached entry at `index` if it is `core`'s.
    #[inline(always)]
    fn entry_at(&self, index: usize, core: *const SlotCore) -> Option<&Hot> {
        let hot = self.0.get(index)?;
        (hot.core.get() == core).then_some(hot)
    }

    #[inline(always)]
    fn pop(&self, core: CoreRef<'_>) -> Option<NonNull<u8>> {
        let hot = self.entry(core)?;
        let len = hot.len.get().checked_sub(1)?;
        hot.len.set(len);
        hot.allocs.set(hot.allocs.get() + 1);
        // SAFETY: the entry is attached, so `buf[..len + 1]` are the loaded
        // magazine's slots (hot-entry invariant): `len` is in bounds...
        let at = unsafe { hot.buf.get().add(len) };
        // SAFETY: ...and initialised; its slot is taken out of the magazine
        // by the length just stored.
        Some(unsafe { at.read() })
    }

    #[inline(always)]
    fn push(&self, index: usize, core: *const SlotCore, slot: NonNull<u8>) -> bool {
        let Some(hot) = self.entry_at(index, core) else {
            return false;
        };
        let len = hot.len.get();
        if len >= hot.cap.get() {
            return false;
        }
        // SAFETY: attached, so `buf` is the loaded magazine's buffer with
        // room for `cap` slots (hot-entry invariant) and `len < cap`...
        let at = unsafe { hot.buf.get().add(len) };
        // SAFETY: ...so `at` is in the buffer, and past the loaded slots.
        unsafe { at.write(slot) };
        hot.len.set(len + 1);
        true
    }
}

#[cfg(not(loom))]
std::thread_local! {
    static HOT: HotTable = const { HotTable::new() };
}

/// Runs `f` on this thread's hot table. It has no destructor, so it is
/// there even while the thread's other locals are being destroyed.
#[cfg(not(loom))]
#[inline(always)]
fn with_hot<R>(f: impl FnOnce(&HotTable) -> R) -> Option<R> {
    HOT.try_with(f).ok()
}

/// Under loom there is no hot table: loom's thread locals are destroyed in
/// an order of their own, and the table is per thread with nothing to
/// model-check. Every operation takes the `RefCell` path.
#[cfg(loom)]
#[inline(always)]
fn with_hot<R>(_: impl FnOnce(&HotTable) -> R) -> Option<R> {
    None
}

/// Allocates a slot of `core` through the calling thread's cache.
///
/// # Errors
/// [`PoolError::OutOfMemory`] if a new block was needed and refused.
#[inline(always)]
pub(crate) fn alloc(core: CoreRef<'_>) -> Result<NonNull<u8>, PoolError> {
    match alloc_from_loaded(core) {
        Some(slot) => Ok(slot),
        None => alloc_slow(core),
    }
}

/// The fast path: a pop from the thread's loaded magazine, or `None`.
/// Returns only a pointer, so nothing larger than a register crosses the
/// thread-local access.
#[inline(always)]
pub(crate) fn alloc_from_loaded(core: CoreRef<'_>) -> Option<NonNull<u8>> {
    with_hot(|hot| hot.pop(core)).flatten()
}

/// Everything but the fast path: a new cache, a refill, or no cache at all.
#[cold]
#[inline(never)]
pub(crate) fn alloc_slow(core: CoreRef<'_>) -> Result<NonNull<u8>, PoolError> {
    let cached = CACHES.try_with(|caches| {
        let mut caches = caches.try_borrow_mut().ok()?;
        Some(caches.alloc(core))
    });
    match cached {
        Ok(Some(result)) => result,
        _ => alloc_uncached(core),
    }
}

/// Frees a slot of `core` into the calling thread's cache.
///
/// # Safety
/// `slot` is a carved slot of `core` that its holder gives up: it is in no
/// cache, the depot, or anyone's hands afterwards.
#[inline(always)]
pub(crate) unsafe fn free(core: CoreRef<'_>, slot: NonNull<u8>) {
    if with_hot(|hot| hot.push(core.id, core.as_ptr(), slot)) != Some(true) {
        free_slow(core, slot);
    }
}

/// Frees a slot into the calling thread's cache of the core that owns it,
/// found through the page map (what a one-pointer box does).
///
/// # Safety
/// As [`free`], for the core whose block holds `slot`; that core's `Arc`
/// lives throughout the call.
#[inline(always)]
pub(crate) unsafe fn free_to_owner(slot: NonNull<u8>) {
    let (core, index) = page_map::untag(page_map::entry_of(slot.addr().get()));
    if with_hot(|hot| hot.push(index, core, slot)) != Some(true) {
        // SAFETY: `core` is the slot's page entry and lives (caller).
        free_slow(unsafe { CoreRef::from_page_entry(core) }, slot);
    }
}

/// Everything but the fast path of [`free`].
#[cold]
#[inline(never)]
fn free_slow(core: CoreRef<'_>, slot: NonNull<u8>) {
    let cached = CACHES.try_with(|caches| {
        let Ok(mut caches) = caches.try_borrow_mut() else {
            return false;
        };
        caches.free(core, slot);
        true
    });
    if !matches!(cached, Ok(true)) {
        free_uncached(&core, slot);
    }
}

/// The calling thread's current magazine size for `core`, if it has a
/// cache of it.
#[cfg(all(test, not(loom)))]
pub(crate) fn magazine_capacity(core: &Arc<SlotCore>) -> Option<usize> {
    CACHES.with(|caches| {
        let mut caches = caches.borrow_mut();
        caches.find(CoreRef::new(core)).map(|cache| cache.capacity)
    })
}

/// Returns the calling thread's cached slots of `core` to the depot and
/// forgets the cache (so the thread holds no `Arc` of the core).
pub(crate) fn forget(core: &Arc<SlotCore>) {
    let _ = CACHES.try_with(|caches| {
        if let Ok(mut caches) = caches.try_borrow_mut() {
            let home = caches.home;
            if caches.find(CoreRef::new(core)).is_some() {
                let mut cache = caches.caches[core.id].take().expect("just found");
                cache.detach();
                cache.flush(home);
            }
        }
    });
}

/// Returns the calling thread's cached slots of `core` to the depot, keeping
/// the (empty) cache.
pub(crate) fn flush(core: &Arc<SlotCore>) {
    let _ = CACHES.try_with(|caches| {
        if let Ok(mut caches) = caches.try_borrow_mut() {
            let home = caches.home;
            if let Some(cache) = caches.find(CoreRef::new(core)) {
                cache.detach();
                cache.flush(home);
                cache.attach();
            }
        }
    });
}

#[cold]
#[inline(never)]
fn alloc_uncached(core: CoreRef<'_>) -> Result<NonNull<u8>, PoolError> {
    core.counters.allocs.fetch_add(1, Ordering::Relaxed);
    if let Some(slot) = core.depot.take_one(0) {
        return Ok(slot);
    }
    let mut one = Vec::with_capacity(1);
    SlotCore::carve(core, &mut one, 1).inspect_err(|_| {
        core.counters.allocs.fetch_sub(1, Ordering::Relaxed);
    })?;
    Ok(one[0])
}

#[cold]
#[inline(never)]
fn free_uncached(core: &SlotCore, slot: NonNull<u8>) {
    core.counters.frees.fetch_add(1, Ordering::Relaxed);
    core.depot.put_one(0, slot, core.magazine_slots);
}

impl ThreadCaches {
    /// This thread's cache of `core`: the entry at the core's id. (An id
    /// is reused only after its core is dropped, which no cache allows
    /// while it holds the core's `Arc`; the pointer check is a safety net.)
    #[inline(always)]
    fn find(&mut self, core: CoreRef<'_>) -> Option<&mut LocalCache> {
        let cache = self.caches.get_mut(core.id)?.as_mut()?;
        if Arc::as_ptr(&cache.core) == core.as_ptr() {
            Some(cache)
        } else {
            None
        }
    }

    fn alloc(&mut self, core: CoreRef<'_>) -> Result<NonNull<u8>, PoolError> {
        let home = self.home;
        let cache = match self.find(core) {
            Some(cache) => cache,
            None => self.register(core),
        };
        cache.detach();
        let result = match cache.loaded.pop() {
            Some(slot) => {
                cache.allocs += 1;
                Ok(slot)
            }
            None => cache.refill(home),
        };
        cache.attach();
        result
    }

    fn free(&mut self, core: CoreRef<'_>, slot: NonNull<u8>) {
        let home = self.home;
        let cache = match self.find(core) {
            Some(cache) => cache,
            None => self.register(core),
        };
        cache.detach();
        if cache.loaded.len() < cache.capacity {
            cache.loaded.push(slot);
        } else {
            cache.make_room_and_free(home, slot);
        }
        cache.attach();
    }

    /// A new cache for `core` (and, while at it, drops the caches of pools
    /// whose handle is gone).
    #[cold]
    #[inline(never)]
    fn register(&mut self, core: CoreRef<'_>) -> &mut LocalCache {
        let home = self.home;
        for entry in &mut self.caches {
            let closed = entry
                .as_ref()
                .is_some_and(|cache| cache.core.closed.load(Ordering::Relaxed) != 0);
            if closed && let Some(mut cache) = entry.take() {
                cache.detach();
                cache.flush(home);
            }
        }
        if self.caches.len() <= core.id {
            self.caches.resize_with(core.id + 1, || None);
        }
        if let Some(mut other) = self.caches[core.id].take() {
            // Unreachable by the id invariant; keep nothing of it anyway.
            other.detach();
            other.flush(home);
        }
        let magazine = core.magazine_slots;
        self.caches[core.id].insert(LocalCache {
            core: core.to_arc(),
            capacity: magazine,
            last_exchange: LastExchange::None,
            loaded: Vec::with_capacity(magazine),
            spare: Vec::with_capacity(magazine),
            allocs: 0,
            received: 0,
            sent: 0,
            published: 0,
        })
    }
}

impl LocalCache {
    /// Takes the loaded magazine back from the hot table, if it is there:
    /// its length and fast-path allocations return to this cache, and the
    /// entry stops serving fast paths until [`attach`](Self::attach).
    fn detach(&mut self) {
        let (id, core) = (self.core.id, Arc::as_ptr(&self.core));
        let _ = with_hot(|table| {
            let Some(hot) = table.0.get(id) else { return };
            if hot.core.get() != core {
                return;
            }
            hot.core.set(core::ptr::null());
            let len = hot.len.get();
            assert!(
                len <= self.loaded.capacity(),
                "a hot entry stays in its buffer"
            );
            // SAFETY: the entry was attached, so `buf[..len]` — this Vec's
            // buffer — holds the loaded slots, initialised (hot-entry
            // invariant), and `len` is within the capacity (just checked).
            unsafe { self.loaded.set_len(len) };
            self.allocs += hot.allocs.replace(0);
        });
    }

    /// Hands the loaded magazine to the hot table (if this core's id has an
    /// entry), after which only the fast paths use it until
    /// [`detach`](Self::detach).
    fn attach(&mut self) {
        let (id, core) = (self.core.id, Arc::as_ptr(&self.core));
        let _ = with_hot(|table| {
            let Some(hot) = table.0.get(id) else { return };
            hot.buf.set(self.loaded.as_mut_ptr());
            hot.len.set(self.loaded.len());
            hot.cap.set(self.capacity.min(self.loaded.capacity()));
            hot.allocs.set(0);
            hot.core.set(core);
        });
    }

    /// `loaded` is empty: swap in a non-empty spare, or a magazine from the
    /// depot, or carve fresh slots; then allocate.
    #[cold]
    #[inline(never)]
    fn refill(&mut self, home: usize) -> Result<NonNull<u8>, PoolError> {
        debug_assert!(self.loaded.is_empty());
        if !self.spare.is_empty() {
            core::mem::swap(&mut self.loaded, &mut self.spare);
        } else {
            self.exchanged(LastExchange::Took);
            let empty = Magazine(core::mem::take(&mut self.loaded));
            match self.core.depot.take(home, Some(empty)) {
                Some(full) => self.loaded = full.0,
                None => {
                    self.loaded = Vec::with_capacity(self.capacity);
                    SlotCore::carve(CoreRef::new(&self.core), &mut self.loaded, self.capacity)?;
                }
            }
            self.received += self.loaded.len() as u64;
        }
        let slot = self.loaded.pop().expect("a refilled magazine has a slot");
        self.allocs += 1;
        self.publish();
        Ok(slot)
    }

    /// `loaded` is full: swap in an empty spare, or leave the full spare in
    /// the depot; then free.
    #[cold]
    #[inline(never)]
    fn make_room_and_free(&mut self, home: usize, slot: NonNull<u8>) {
        if self.loaded.len() >= self.capacity {
            if self.spare.is_empty() {
                core::mem::swap(&mut self.loaded, &mut self.spare);
            } else {
                self.exchanged(LastExchange::Gave);
                let full = Magazine(core::mem::take(&mut self.spare));
                self.sent += full.0.len() as u64;
                let empty = self.core.depot.put(home, full);
                let capacity = self.capacity;
                let empty = empty.map_or_else(|| Vec::with_capacity(capacity), |m| m.0);
                self.spare = core::mem::replace(&mut self.loaded, empty);
            }
        }
        self.loaded.push(slot);
        self.publish();
    }

    /// Notes an exchange with the depot; one in the other direction than
    /// the last means the thread's batches overflow its magazines, so they
    /// double (within the limit).
    fn exchanged(&mut self, now: LastExchange) {
        let turned = self.last_exchange != LastExchange::None && self.last_exchange != now;
        self.last_exchange = now;
        let limit = self.core.magazine_slots * GROWTH_LIMIT;
        if turned && self.capacity < limit {
            self.capacity = (self.capacity * 2).min(limit);
        }
    }

    /// Brings the core's counters up to date with this cache. Frees are
    /// what balances the books: `cached now = cached before + received -
    /// sent + frees - allocs`.
    fn publish(&mut self) {
        let core = &self.core;
        let cached = self.loaded.len() + self.spare.len();
        let frees = (cached as u64 + self.sent + self.allocs)
            .checked_sub(self.published as u64 + self.received)
            .expect("a cache's slots are conserved");
        core.counters
            .allocs
            .fetch_add(core::mem::take(&mut self.allocs), Ordering::Relaxed);
        core.counters.frees.fetch_add(frees, Ordering::Relaxed);
        self.received = 0;
        self.sent = 0;
        if cached >= self.published {
            core.counters
                .cached
                .fetch_add(cached - self.published, Ordering::Relaxed);
        } else {
            core.counters
                .cached
                .fetch_sub(self.published - cached, Ordering::Relaxed);
        }
        self.published = cached;
    }

    /// Puts every cached slot into the depot.
    fn flush(&mut self, home: usize) {
        for magazine in [&mut self.loaded, &mut self.spare] {
            if !magazine.is_empty() {
                let full = Magazine(core::mem::take(magazine));
                self.sent += full.0.len() as u64;
                // The empty buffer handed back is dropped: this cache is
                // going away or idle.
                drop(self.core.depot.put(home, full));
            }
        }
        self.publish();
    }
}

impl Drop for ThreadCaches {
    fn drop(&mut self) {
        let home = self.home;
        for cache in self.caches.iter_mut().flatten() {
            cache.detach();
            cache.flush(home);
        }
    }
}
