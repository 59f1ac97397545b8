//! What heap work is under way on this thread: the guard behind "one
//! mutator per thread at a time, and none inside a finalizer".
//!
//! A [`Member`](crate::Member) carries no brand (it lives in `'static`
//! managed types), so `Member::get` cannot tell from types alone which
//! heap's mutator it is handed. Two facts close that gap at run time, for
//! the price of a thread-local read and write per [`Heap::enter`]:
//!
//! * **One mutator per thread.** While a heap is entered, entering another
//!   on the same thread panics. Managed pointers, members and roots are
//!   `!Send`, so a member of heap A can only be read through a mutator lent
//!   on A's thread, and the only one that can exist there while the
//!   member's borrow lasts is A's own.
//! * **No mutator inside a finalizer.** While the collector runs
//!   destructors (during a collection or when a heap is dropped), entering
//!   any heap panics, so a finalizer can never read a member of the dying
//!   object, whose referents may already be dead or moved.
//!
//! This module must never be bypassed: every way to obtain a
//! [`Mutator`](crate::Mutator) goes through [`enter`].
//!
//! [`Heap::enter`]: crate::Heap::enter

use std::cell::Cell;

/// This thread's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No mutator lent, no destructor running.
    Idle,
    /// A heap's mutator is lent (inside [`Heap::enter`](crate::Heap::enter)).
    Entered,
    /// The collector is running destructors of dead objects.
    Finalizing,
}

thread_local! {
    static STATE: Cell<State> = const { Cell::new(State::Idle) };
}

/// Restores the thread's previous state when dropped, also on unwinding.
#[derive(Debug)]
pub(crate) struct Restore(State);

impl Drop for Restore {
    fn drop(&mut self) {
        STATE.with(|state| state.set(self.0));
    }
}

/// Marks this thread as lending a mutator until the guard drops.
///
/// # Panics
/// If a mutator is already lent on this thread, or a finalizer is running.
#[inline]
pub(crate) fn enter() -> Restore {
    STATE.with(|state| match state.get() {
        State::Idle => {
            state.set(State::Entered);
            Restore(State::Idle)
        }
        State::Entered => nested_enter(),
        State::Finalizing => enter_in_finalizer(),
    })
}

/// Marks this thread as running destructors until the guard drops.
pub(crate) fn finalizing() -> Restore {
    STATE.with(|state| Restore(state.replace(State::Finalizing)))
}

#[cold]
#[inline(never)]
fn nested_enter() -> ! {
    panic!(
        "Heap::enter while another heap is entered on this thread: one mutator per thread at a \
         time (a member read through one heap's mutator must never reach another heap's \
         objects); finish with one heap, or pass plain data between them"
    )
}

#[cold]
#[inline(never)]
fn enter_in_finalizer() -> ! {
    panic!(
        "Heap::enter inside a finalizer: finalizers cannot reach managed objects (the dying \
         object's members may point at objects already collected); record what to do and do it \
         after the collection"
    )
}
