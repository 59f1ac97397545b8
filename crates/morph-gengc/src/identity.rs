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
use std::hash::{BuildHasherDefault, Hasher};

use crate::object::ObjectRef;

/// Hashes an object's address for the side tables: addresses are 8-aligned
/// and clustered, so one multiply spreads them over the high bits the
/// table's hashbrown layout uses.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_usize(&mut self, addr: usize) {
        self.0 = (addr as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type Table = HashMap<ObjectRef, u64, BuildHasherDefault<AddressHasher>>;

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

/// SplitMix64's finaliser: a bijection on `u64` whose outputs look random.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_is_distinct_for_distinct_counts() {
        let hashes: std::collections::HashSet<u64> = (1..10_000).map(mix).collect();
        assert_eq!(hashes.len(), 9_999);
    }
}
