//! The depot: where threads leave full magazines of free slots and take
//! them back, one lock per magazine rather than per slot.
//!
//! A **magazine** is a stack of free slots (a `Vec` with room for the pool's
//! `magazine_slots`). The depot is a few **shards**, each a mutex over a
//! stack of full (non-empty) magazines and a stack of empty buffers. A
//! thread works against its **home** shard (threads are spread over the
//! shards), so two threads exchanging their own magazines never meet on a
//! lock; a thread whose home shard has nothing takes from the others, which
//! is how slots freed on one thread reach another.
//!
//! # Invariants
//! - A slot is in at most one magazine; a magazine is owned by one thread's
//!   cache or by one shard. Slots and buffers change hands only under a
//!   shard's mutex, whose release/acquire orders a thread's writes to a slot
//!   before another thread's reuse of it.
//! - Every magazine in `full` holds at least one slot; every one in `empty`
//!   holds none.
//!
//! No unsafe code except the `Send` of a magazine. Model-checked by
//! `loom_depot_hands_each_slot_to_one_thread`.

use core::ptr::NonNull;

use crossbeam_utils::CachePadded;

use crate::sync::{Mutex, MutexGuard};

/// A stack of free slots moving between a thread cache and the depot.
#[derive(Debug, Default)]
pub(crate) struct Magazine(pub(crate) Vec<NonNull<u8>>);

// SAFETY: a magazine holds free slots: plain memory that no one uses until
// it is handed out again, so the pointers may move to another thread (under
// the depot's mutex, which orders the hand-over).
unsafe impl Send for Magazine {}

#[derive(Debug, Default)]
struct Shard {
    full: Vec<Magazine>,
    empty: Vec<Magazine>,
}

/// Sharded stacks of magazines.
#[derive(Debug)]
pub(crate) struct Depot {
    shards: Box<[CachePadded<Mutex<Shard>>]>,
}

impl Depot {
    /// A depot with `shards` shards (at least 1).
    pub(crate) fn new(shards: usize) -> Self {
        Self {
            shards: (0..shards.max(1))
                .map(|_| CachePadded::new(Mutex::new(Shard::default())))
                .collect(),
        }
    }

    fn lock(&self, index: usize) -> MutexGuard<'_, Shard> {
        // Nothing panics while a shard is locked (Vec pushes abort on OOM),
        // but a poisoned shard is still consistent: take it.
        self.shards[index % self.shards.len()]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Leaves a full (non-empty) magazine in shard `home`; returns an empty
    /// buffer from there if it has one.
    pub(crate) fn put(&self, home: usize, full: Magazine) -> Option<Magazine> {
        debug_assert!(!full.0.is_empty());
        let mut shard = self.lock(home);
        shard.full.push(full);
        shard.empty.pop()
    }

    /// Takes a full magazine, from `home` first and then from the other
    /// shards; `empty` (an empty buffer the caller no longer needs) is left
    /// where the magazine was found. `None` when every shard is empty.
    pub(crate) fn take(&self, home: usize, empty: Option<Magazine>) -> Option<Magazine> {
        for step in 0..self.shards.len() {
            let mut shard = self.lock(home + step);
            if let Some(full) = shard.full.pop() {
                if let Some(empty) = empty {
                    debug_assert!(empty.0.is_empty());
                    shard.empty.push(empty);
                }
                return Some(full);
            }
        }
        None
    }

    /// Puts one slot into shard `home`: onto a magazine with room below
    /// `capacity`, or a new one. For frees that cannot use a thread cache.
    pub(crate) fn put_one(&self, home: usize, slot: NonNull<u8>, capacity: usize) {
        let mut shard = self.lock(home);
        match shard.full.last_mut() {
            Some(magazine) if magazine.0.len() < capacity => magazine.0.push(slot),
            _ => {
                let mut magazine = shard
                    .empty
                    .pop()
                    .unwrap_or_else(|| Magazine(Vec::with_capacity(capacity)));
                magazine.0.push(slot);
                shard.full.push(magazine);
            }
        }
    }

    /// Takes one slot from any shard, `home` first. For allocations that
    /// cannot use a thread cache.
    pub(crate) fn take_one(&self, home: usize) -> Option<NonNull<u8>> {
        for step in 0..self.shards.len() {
            let mut shard = self.lock(home + step);
            if let Some(magazine) = shard.full.last_mut() {
                let slot = magazine.0.pop().expect("full magazines are non-empty");
                if magazine.0.is_empty() {
                    let empty = shard.full.pop().expect("just looked at it");
                    shard.empty.push(empty);
                }
                return Some(slot);
            }
        }
        None
    }

    /// Free slots in the depot (a snapshot: shards are counted one at a
    /// time).
    pub(crate) fn free_slots(&self) -> usize {
        (0..self.shards.len())
            .map(|index| {
                let shard = self.lock(index);
                shard.full.iter().map(|m| m.0.len()).sum::<usize>()
            })
            .sum()
    }

    /// Every slot in the depot, emptying it (for the model checks).
    #[cfg(all(test, loom))]
    pub(crate) fn drain(&self) -> Vec<NonNull<u8>> {
        let mut all = Vec::new();
        for index in 0..self.shards.len() {
            let mut shard = self.lock(index);
            for magazine in shard.full.drain(..) {
                all.extend(magazine.0);
            }
        }
        all
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sync::Arc;

    fn fake_slot(n: usize) -> NonNull<u8> {
        NonNull::<u8>::dangling().map_addr(|a| a.saturating_add(n * 64))
    }

    /// Two threads each leave a magazine in their home shard and take one
    /// back, from any shard: every slot ends up in exactly one place.
    #[test]
    fn loom_depot_hands_each_slot_to_one_thread() {
        loom::model(|| {
            let depot = Arc::new(Depot::new(2));
            let workers: Vec<_> = (0..2)
                .map(|home| {
                    let depot = Arc::clone(&depot);
                    loom::thread::spawn(move || {
                        let mine = Magazine(vec![fake_slot(home * 2), fake_slot(home * 2 + 1)]);
                        let spare = depot.put(home, mine);
                        let taken = depot.take(home, spare);
                        taken.map(|m| m.0.iter().map(|s| s.addr().get()).collect::<Vec<_>>())
                    })
                })
                .collect();
            let mut seen: Vec<usize> = workers
                .into_iter()
                .flat_map(|w| w.join().unwrap().unwrap_or_default())
                .collect();
            seen.extend(depot.drain().iter().map(|s| s.addr().get()));
            seen.sort_unstable();
            let mut expected: Vec<usize> = (0..4).map(|n| fake_slot(n).addr().get()).collect();
            expected.sort_unstable();
            assert_eq!(seen, expected, "a slot was lost or handed out twice");
        });
    }
}
