//! The synchronisation primitives of [`SyncPool`](crate::SyncPool) and the
//! shared pools ([`crate::shared`]): std's in normal builds, loom's
//! model-checked ones under `cfg(loom)`, so the loom tests check exactly the
//! code that ships.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

/// `thread_local!`, loom's under `cfg(loom)` (loom runs its threads on one
/// OS thread, so std's thread locals would be shared between them).
#[cfg(loom)]
macro_rules! pool_thread_local {
    ($(#[$attr:meta])* static $name:ident: $t:ty = $init:expr;) => {
        loom::thread_local!($(#[$attr])* static $name: $t = $init);
    };
}
#[cfg(not(loom))]
macro_rules! pool_thread_local {
    ($(#[$attr:meta])* static $name:ident: $t:ty = $init:expr;) => {
        std::thread_local!($(#[$attr])* static $name: $t = $init);
    };
}
pub(crate) use pool_thread_local;
