//! Handles: how a context, arena or pool crosses the boundary, and how each
//! use of one is checked.
//!
//! A handle is a pointer to a [`Shell`]: a small, never-freed record that
//! holds a magic word (which kind of handle, live or destroyed), the
//! creating thread, a busy flag and the state. Checking a handle costs two
//! loads and a compare each:
//! * null → `MORPH_ERR_NULL`; misaligned or wrong magic → `MORPH_ERR_BAD_HANDLE`;
//! * destroyed → `MORPH_ERR_DESTROYED`: destroying drops the state (all the
//!   memory it owns) but keeps the shell, marked dead, in a quarantine of
//!   [`QUARANTINE`] shells per kind; only older shells are reused, so a
//!   stale handle is recognised for at least that many later destructions;
//! * another thread's → `MORPH_ERR_WRONG_THREAD`: states are not
//!   thread-safe (the collector is single-threaded), so a handle is used
//!   on the thread that created it;
//! * in use → `MORPH_ERR_BUSY`: a callback of the library (finalizer,
//!   trace function, pressure callback) calling back into the context
//!   that runs it would alias its state.
//!
//! A pointer that is not a handle at all cannot be detected in general
//! (reading its magic word may itself fault); the header says so.
//!
//! Invariants this module keeps (its `unsafe` relies on them):
//! * a shell is leaked (`'static`) and never freed, so reading its atomics
//!   through any handle ever returned is sound;
//! * `state` and `busy` are touched only by the thread recorded in
//!   `owner` while `magic` is live, after [`Shell::enter`] checked both
//!   (acquire load of `magic`, which creation stores with release after
//!   writing `owner` and `state`), and only while no other [`Entered`]
//!   guard of the shell exists (the busy flag).

use std::cell::{Cell, UnsafeCell};
use std::collections::VecDeque;
use std::ptr::NonNull;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::roots::MorphFrame;
use crate::status::{
    Failure, MORPH_ERR_BAD_HANDLE, MORPH_ERR_BUSY, MORPH_ERR_DESTROYED, MORPH_ERR_NULL,
    MORPH_ERR_WRONG_THREAD,
};

/// Destroyed shells of a kind kept out of reuse, so that stale handles
/// are still recognised as destroyed.
pub(crate) const QUARANTINE: usize = 256;

/// A kind of handle: its magic words and its shell pool.
pub(crate) trait Kind: Sized + 'static {
    /// The magic word of a live handle of this kind.
    const LIVE: u64;
    /// The magic word of a destroyed handle of this kind.
    const DEAD: u64;
    /// What the messages call it ("context", "arena", "pool").
    const NAME: &'static str;
    /// Destroyed shells of this kind, oldest first.
    fn shells() -> &'static Mutex<VecDeque<&'static Shell<Self>>>;
}

/// The first fields of every handle, as C may read them (the header's
/// inline write barrier reads a context's `flags`; its inline allocation
/// and frame paths use `inline_paths`).
///
/// `magic` says which kind of handle it is and whether it is live;
/// `flags` is set once at creation (for a context: `MORPH_CONTEXT_COLLECTOR`
/// when it runs the collector). Read-only for C, except `inline_paths` as
/// [`MorphInline`] says.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MorphHandlePrefix {
    /// The handle's kind, live or destroyed.
    pub magic: u64,
    /// Constant per handle (see the type's documentation).
    pub flags: u32,
    /// A context's state for the header's inline paths (zero in other
    /// handles).
    pub inline_paths: MorphInline,
}

/// What the header's inline `morph_alloc_v2`, `morph_frame_push` and
/// `morph_frame_pop` read and write in a context, between calls into the
/// library.
///
/// * `thread` is the owner thread's thread pointer (the value of GCC's and
///   Clang's `__builtin_thread_pointer()`) while the inline paths are
///   open, and 0 while they are closed: before the first call, while the
///   library runs (so a callback's inline call falls back to the checked
///   function, which refuses it), after the context is destroyed, and on
///   targets where the library cannot read the thread pointer. An inline
///   path runs only when `thread` is the calling thread's; otherwise it
///   calls the function, which checks everything.
/// * `[cursor, limit)` is a part of the nursery lent to the inline
///   allocation (`morph_gengc::EdenLoan`): it places young objects of
///   types registered before `types_loaded` C types (see
///   `MorphTypePrefix::inline_seq`), with payloads of at most
///   `max_payload` bytes, counting them in `objects`. Every call into the
///   library takes the part back first; only the inline allocation's own
///   call (`morph_alloc_v2_refill`) lends the rest afterwards, so a
///   program built without the inline paths never holds a loan.
/// * `top` and `depth` are the shadow stack: the innermost pushed frame
///   and how many are pushed. The functions and the inline paths keep them
///   alike.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MorphInline {
    /// The owner's thread pointer while the inline paths are open, else 0.
    pub thread: usize,
    /// Where the next inline allocation goes.
    pub cursor: *mut u8,
    /// The end of the nursery part lent to inline allocation.
    pub limit: *mut u8,
    /// Objects the inline allocation placed since the part was lent.
    pub objects: usize,
    /// The largest payload inline allocation may place.
    pub max_payload: usize,
    /// C types whose `inline_seq` is below this may be allocated inline.
    pub types_loaded: u32,
    /// The innermost pushed frame, or null.
    pub top: *mut MorphFrame,
    /// Frames pushed and not popped.
    pub depth: usize,
}

impl MorphInline {
    /// Every path closed, no frame pushed.
    const CLOSED: MorphInline = MorphInline {
        thread: 0,
        cursor: std::ptr::null_mut(),
        limit: std::ptr::null_mut(),
        objects: 0,
        max_payload: 0,
        types_loaded: 0,
        top: std::ptr::null_mut(),
        depth: 0,
    };
}

/// One handle's record. `#[repr(C)]`, prefix first: see
/// [`MorphHandlePrefix`].
#[repr(C)]
pub(crate) struct Shell<T> {
    magic: AtomicU64,
    flags: AtomicU32,
    inline_paths: UnsafeCell<MorphInline>,
    owner: AtomicUsize,
    busy: Cell<bool>,
    state: UnsafeCell<Option<T>>,
}

// The prefix C reads is where `MorphHandlePrefix` says it is.
const _: () = {
    assert!(
        std::mem::offset_of!(Shell<()>, magic) == std::mem::offset_of!(MorphHandlePrefix, magic)
    );
    assert!(
        std::mem::offset_of!(Shell<()>, flags) == std::mem::offset_of!(MorphHandlePrefix, flags)
    );
    assert!(
        std::mem::offset_of!(Shell<()>, inline_paths)
            == std::mem::offset_of!(MorphHandlePrefix, inline_paths)
    );
};

/// The calling thread's thread pointer as C's `__builtin_thread_pointer()`
/// reads it, or 0 where this build cannot read it (the inline paths then
/// stay closed).
#[inline]
pub(crate) fn thread_pointer() -> usize {
    #[cfg(all(target_os = "linux", target_arch = "x86_64", not(miri)))]
    {
        let tp: usize;
        // SAFETY: on x86-64 Linux the thread control block's first word is
        // its own address (the TLS ABI's self pointer), always mapped at
        // `fs:0` for every thread; this reads that word and nothing else.
        unsafe {
            std::arch::asm!(
                "mov {}, qword ptr fs:[0]",
                out(reg) tp,
                options(nostack, readonly, preserves_flags)
            );
        }
        tp
    }
    #[cfg(all(target_os = "linux", target_arch = "aarch64", not(miri)))]
    {
        let tp: usize;
        // SAFETY: reads the thread ID register, which every thread may read.
        unsafe {
            std::arch::asm!(
                "mrs {}, tpidr_el0",
                out(reg) tp,
                options(nomem, nostack, preserves_flags)
            );
        }
        tp
    }
    #[cfg(not(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64"),
        not(miri)
    )))]
    {
        0
    }
}

// SAFETY: `magic`, `flags` and `owner` are atomics; `busy` and `state` are
// touched only by the owner thread after `enter`'s checks (module
// invariants), and a shell changes owner only through the kind's mutex
// (destroy pushes it, create pops it), which orders the old owner's last
// access before the new owner's first.
unsafe impl<T> Sync for Shell<T> {}
// SAFETY: as above; a shell in the free list holds no state (`None`).
unsafe impl<T> Send for Shell<T> {}

thread_local! {
    /// Its address identifies the thread among live threads.
    static THREAD_TOKEN: u8 = const { 0 };
}

/// An identifier of the calling thread, unique among live threads.
#[inline]
pub(crate) fn thread_token() -> usize {
    THREAD_TOKEN.with(|token| std::ptr::from_ref(token).addr())
}

/// A checked, exclusive use of a handle's state; clears the busy flag when
/// dropped (also when a panic unwinds through it).
pub(crate) struct Entered<T: 'static> {
    shell: &'static Shell<T>,
}

impl<T> Entered<T> {
    /// The handle's state.
    #[inline]
    pub(crate) fn state(&mut self) -> &mut T {
        // SAFETY: `enter` checked that this thread owns the live shell and
        // set the busy flag, so this guard is the only access to the state
        // (module invariants); the state is `Some` while the shell is live.
        let state = unsafe { &mut *self.shell.state.get() };
        match state {
            Some(state) => state,
            None => unreachable!("a live shell holds its state"),
        }
    }
}

impl<T> Drop for Entered<T> {
    #[inline]
    fn drop(&mut self) {
        self.shell.busy.set(false);
    }
}

impl<T> Shell<T> {
    /// The inline-path state (see [`MorphInline`]).
    #[inline]
    fn inline_paths(&self) -> NonNull<MorphInline> {
        // `UnsafeCell` has its contents' layout, and a pointer from a
        // shared reference to it may write them.
        NonNull::from(&self.inline_paths).cast()
    }
}

impl<T: Kind> Shell<T> {
    /// A new live handle holding `state`, owned by this thread.
    pub(crate) fn create(state: T, flags: u32) -> &'static Shell<T> {
        match Self::create_with(|_| Ok((state, flags))) {
            Ok(shell) => shell,
            Err(_) => unreachable!("the state is made already"),
        }
    }

    /// A new live handle whose state and flags `make` returns, given
    /// where the handle's inline-path state lives (a context keeps that
    /// pointer). If `make` fails, the shell goes back to the free list.
    pub(crate) fn create_with(
        make: impl FnOnce(NonNull<MorphInline>) -> Result<(T, u32), Failure>,
    ) -> Result<&'static Shell<T>, Failure> {
        let reused = {
            let mut shells = T::shells().lock().unwrap_or_else(|e| e.into_inner());
            if shells.len() > QUARANTINE {
                shells.pop_front()
            } else {
                None
            }
        };
        let shell = reused.unwrap_or_else(|| {
            Box::leak(Box::new(Shell {
                magic: AtomicU64::new(T::DEAD),
                flags: AtomicU32::new(0),
                inline_paths: UnsafeCell::new(MorphInline::CLOSED),
                owner: AtomicUsize::new(0),
                busy: Cell::new(false),
                state: UnsafeCell::new(None),
            }))
        });
        let (state, flags) = match make(shell.inline_paths()) {
            Ok(made) => made,
            Err(failure) => {
                T::shells()
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_back(shell);
                return Err(failure);
            }
        };
        shell.owner.store(thread_token(), Ordering::Relaxed);
        shell.flags.store(flags, Ordering::Relaxed);
        shell.busy.set(false);
        // SAFETY: the shell is dead (fresh, or taken from the free list
        // under its mutex), so no thread may touch its state or its inline
        // paths (closed while dead): this thread is the only one that can
        // reach them until `magic` goes live below.
        unsafe { *shell.state.get() = Some(state) };
        // SAFETY: as above.
        unsafe { shell.inline_paths().write(MorphInline::CLOSED) };
        shell.magic.store(T::LIVE, Ordering::Release);
        Ok(shell)
    }

    /// Checks `handle` (see the module docs) and marks it busy.
    ///
    /// # Safety
    /// `handle` is null or was returned by [`create`](Self::create) (of
    /// any kind); other pointers are read as a shell, which is undefined
    /// unless at least 24 readable bytes lie there.
    #[inline(always)]
    pub(crate) unsafe fn enter(handle: *const Shell<T>) -> Result<Entered<T>, Failure> {
        // SAFETY: caller contract.
        let shell = unsafe { Self::check(handle) }?;
        if shell.busy.replace(true) {
            return Err(Failure::new(
                MORPH_ERR_BUSY,
                format!(
                    "the {} is in use: a callback it runs called back into it",
                    T::NAME
                ),
            ));
        }
        Ok(Entered { shell })
    }

    /// The live shell behind `handle`, owned by this thread.
    ///
    /// # Safety
    /// As [`enter`](Self::enter).
    #[inline(always)]
    unsafe fn check(handle: *const Shell<T>) -> Result<&'static Shell<T>, Failure> {
        if handle.is_null() {
            return Err(Failure::new(
                MORPH_ERR_NULL,
                format!("the {} is null", T::NAME),
            ));
        }
        if !handle.is_aligned() {
            return Err(bad_handle::<T>());
        }
        // SAFETY: a non-null, aligned pointer that, by the caller contract,
        // is a leaked shell (never freed): reading it is sound. Only its
        // atomics are read before the checks pass.
        let shell: &'static Shell<T> = unsafe { &*handle };
        match shell.magic.load(Ordering::Acquire) {
            live if live == T::LIVE => {}
            dead if dead == T::DEAD => {
                return Err(Failure::new(
                    MORPH_ERR_DESTROYED,
                    format!("the {} was destroyed", T::NAME),
                ));
            }
            _ => return Err(bad_handle::<T>()),
        }
        if shell.owner.load(Ordering::Relaxed) != thread_token() {
            return Err(Failure::new(
                MORPH_ERR_WRONG_THREAD,
                format!(
                    "the {} belongs to another thread: use it on the thread that created it",
                    T::NAME
                ),
            ));
        }
        Ok(shell)
    }

    /// Destroys the handle: drops its state (with the busy flag set, so
    /// callbacks that run meanwhile cannot reach it), marks it dead and
    /// quarantines the shell.
    ///
    /// # Safety
    /// As [`enter`](Self::enter).
    pub(crate) unsafe fn destroy(handle: *const Shell<T>) -> Result<(), Failure> {
        // SAFETY: caller contract.
        let guard = unsafe { Self::enter(handle) }?;
        let shell = guard.shell;
        // Closed first, so an inline path used after this (or by a
        // destructor below) takes the checked function.
        // SAFETY: the guard makes this thread the only one touching the
        // shell, and no reference to the inline state is held.
        unsafe { shell.inline_paths().write(MorphInline::CLOSED) };
        // Dropped outside the borrow of the cell: the state's destructors
        // (finalizers) may run code that checks this handle, which then
        // finds it busy.
        // SAFETY: the guard makes this the only access to the state.
        let state = unsafe { (*shell.state.get()).take() };
        // Marked dead even if a destructor panics (the panic is caught at
        // the boundary): the state is gone either way.
        struct Bury<T: Kind>(&'static Shell<T>);
        impl<T: Kind> Drop for Bury<T> {
            fn drop(&mut self) {
                self.0.magic.store(T::DEAD, Ordering::Release);
                T::shells()
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_back(self.0);
            }
        }
        let _bury = Bury(shell);
        drop(state);
        drop(guard);
        Ok(())
    }
}

fn bad_handle<T: Kind>() -> Failure {
    Failure::new(
        MORPH_ERR_BAD_HANDLE,
        format!(
            "not a {} handle (a handle of another kind, or a pointer that is no handle)",
            T::NAME
        ),
    )
}

/// Makes the opaque C handle type `$name` a handle of `Shell<$state>`,
/// with its magic words.
macro_rules! handle_kind {
    ($name:ident, $state:ty, $what:literal, $live:literal, $dead:literal) => {
        impl $crate::handle::Kind for $state {
            const LIVE: u64 = u64::from_le_bytes(*$live);
            const DEAD: u64 = u64::from_le_bytes(*$dead);
            const NAME: &'static str = $what;
            fn shells() -> &'static std::sync::Mutex<
                std::collections::VecDeque<&'static $crate::handle::Shell<Self>>,
            > {
                static SHELLS: std::sync::Mutex<
                    std::collections::VecDeque<&'static $crate::handle::Shell<$state>>,
                > = std::sync::Mutex::new(std::collections::VecDeque::new());
                &SHELLS
            }
        }

        impl $name {
            /// The shell behind a C handle (not yet checked).
            #[inline]
            pub(crate) fn shell(handle: *const $name) -> *const $crate::handle::Shell<$state> {
                handle.cast()
            }

            /// The C handle of a shell.
            pub(crate) fn handle(shell: &'static $crate::handle::Shell<$state>) -> *mut $name {
                std::ptr::from_ref(shell).cast_mut().cast()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(stringify!($name))
            }
        }
    };
}
pub(crate) use handle_kind;

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) struct Probe(std::rc::Rc<Cell<u32>>);
    impl Drop for Probe {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    pub(crate) struct ProbeHandle {
        _opaque: [u64; 0],
    }
    handle_kind!(ProbeHandle, Probe, "probe", b"PROBE+++", b"PROBE---");

    #[test]
    fn a_handle_is_checked_on_every_use() {
        let drops = std::rc::Rc::new(Cell::new(0));
        let shell = Shell::create(Probe(drops.clone()), 7);
        let handle = ProbeHandle::shell(ProbeHandle::handle(shell));
        // SAFETY: a handle from `create`.
        let mut entered = unsafe { Shell::enter(handle) }.unwrap();
        assert_eq!(shell.flags.load(Ordering::Relaxed), 7);
        let _ = entered.state();
        // SAFETY: as above.
        let again = unsafe { Shell::enter(handle) };
        assert_eq!(again.err().map(|f| f.status), Some(MORPH_ERR_BUSY));
        drop(entered);
        // SAFETY: as above.
        unsafe { Shell::destroy(handle) }.unwrap();
        assert_eq!(drops.get(), 1);
        // SAFETY: a destroyed handle from `create` (shells are never freed).
        let stale = unsafe { Shell::enter(handle) };
        assert_eq!(stale.err().map(|f| f.status), Some(MORPH_ERR_DESTROYED));
        // SAFETY: null is always accepted.
        let null = unsafe { Shell::<Probe>::enter(std::ptr::null()) };
        assert_eq!(null.err().map(|f| f.status), Some(MORPH_ERR_NULL));
    }

    #[test]
    fn another_threads_handle_is_refused() {
        let shell = Shell::create(Probe(Default::default()), 0);
        let status = std::thread::spawn(move || {
            // SAFETY: a handle from `create`; only its atomics are read.
            unsafe { Shell::enter(std::ptr::from_ref(shell)) }
                .err()
                .map(|f| f.status)
        })
        .join()
        .unwrap();
        assert_eq!(status, Some(MORPH_ERR_WRONG_THREAD));
        // SAFETY: a handle from `create`.
        unsafe { Shell::destroy(std::ptr::from_ref(shell)) }.unwrap();
    }
}
