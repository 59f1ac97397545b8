//! The synchronisation primitives of [`SyncPool`](crate::SyncPool): std's in
//! normal builds, loom's model-checked ones under `cfg(loom)`, so the loom
//! tests check exactly the code that ships.

#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};
