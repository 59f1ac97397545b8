//! Identity hashes: a number per object, stable for the object's life
//! although the collector moves it.
//!
//! An object's address cannot serve (young objects move at every minor
//! collection), and the header has no room for a hash. So a hash is handed
//! out on first request and kept in a side table keyed by the object's
//! current address, which the collector keeps up to date: SpiderMonkey's
//! unique-id table works the same way. Two tables keep the upkeep in
//! proportion to the work each collection already does:
//!
//! * `young` — hashed nursery objects. After each minor collection every
//!   entry either follows its object (forwarded: to the survivor space, or
//!   to `tenured` when promoted) or goes (the object died). Its size is
//!   bounded by the young objects hashed since the last minor collection
//!   and the hashed survivors.
//! * `tenured` — hashed old and large objects, which do not move: entries
//!   of unmarked objects go when a major collection or cycle ends, before
//!   the sweep lets their memory be reused.
//!
//! The hashes themselves are a counter put through a bijective mix
//! (SplitMix64's finaliser), so they are distinct and well spread
//! whatever the addresses.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use crate::hash::{WordHasher, mix};
use crate::object::ObjectRef;

/// Keyed by object: addresses are 8-aligned and clustered, and the
/// hasher's final mix spreads them over every bit.
type Table = HashMap<ObjectRef, u64, BuildHasherDefault<WordHasher>>;

/// The identity hashes handed out so far, by object.
#[derive(Default)]
pub(crate) struct IdentityHashes {
    young: Table,
    tenured: Table,
    /// Hashes handed out; the next one is the mix of this count.
    issued: u64,
}

impl IdentityHashes {
    /// `obj`'s hash, handed out now if it has none. `young` tells which
    /// table holds it.
    pub(crate) fn hash_of(&mut self, obj: ObjectRef, young: bool) -> u64 {
        let table = if young {
            &mut self.young
        } else {
            &mut self.tenured
        };
        let issued = &mut self.issued;
        *table.entry(obj).or_insert_with(|| {
            *issued += 1;
            mix(*issued)
        })
    }

    /// After a minor collection's evacuation, before the from-space is
    /// reused: `forwarded` says where each hashed young object went (`None`:
    /// it died), `is_young` whether that place is still the nursery.
    pub(crate) fn after_minor(
        &mut self,
        forwarded: impl Fn(ObjectRef) -> Option<ObjectRef>,
        is_young: impl Fn(ObjectRef) -> bool,
    ) {
        if self.young.is_empty() {
            return;
        }
        let hashed = std::mem::take(&mut self.young);
        for (obj, hash) in hashed {
            if let Some(moved) = forwarded(obj) {
                let table = if is_young(moved) {
                    &mut self.young
                } else {
                    &mut self.tenured
                };
                table.insert(moved, hash);
            }
        }
    }

    /// After marking, before the sweep: forgets the objects `is_live`
    /// says are dead, so their memory can be reused by objects that will
    /// get hashes of their own.
    pub(crate) fn retain_live(&mut self, is_live: impl Fn(ObjectRef) -> bool) {
        self.young.retain(|&obj, _| is_live(obj));
        self.tenured.retain(|&obj, _| is_live(obj));
    }

    /// How many objects have a hash (for tests and statistics).
    pub(crate) fn len(&self) -> usize {
        self.young.len() + self.tenured.len()
    }
}
