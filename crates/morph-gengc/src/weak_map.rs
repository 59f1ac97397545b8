//! `GcWeakMap<K, V>`: an ephemeron table — a hash map keyed by object
//! identity whose entries live only as long as their keys.
//!
//! It is a [`GcMap`] whose keys are [`WeakMember`]s. Its table's buckets
//! report each entry to the collector as an *ephemeron*
//! ([`SlotVisitor::visit_ephemeron`](crate::SlotVisitor::visit_ephemeron)):
//! the value is reachable through the entry only while the key is
//! reachable some other way, so a value that refers back to its own key
//! does not keep the entry alive (the cycle a weak-keyed map of strong
//! values leaks). When the key dies, a collection clears the entry's key
//! and value together; the slot is reclaimed the next time the table grows
//! or is rehashed.
//!
//! How each collection treats the entries:
//! * a **major collection** marks values only for keys it has marked,
//!   rechecking the waiting entries each time its grey set runs dry, to a
//!   fixed point (an entry can make another's key reachable);
//! * an **incremental cycle** does the same across its steps; entries of
//!   young tables and of young keys keep their values (young objects are
//!   all live to a cycle);
//! * a **minor collection** keeps every value whose entry it visits: a
//!   young key that dies clears its entry, and the value waits for the
//!   next collection that finds it unreachable.
//!
//! As JavaScript's `WeakMap`, it has no length and no iteration: which
//! entries are left depends on when collections ran.

use std::fmt;

use morph_header::SlotVisitor;

use crate::map::{GcMap, MapKey};
use crate::safe::{Gc, Member, Mutator};
use crate::scope::Handle;
use crate::trace::{Trace, Tracer};
use crate::vec::Element;
use crate::weak::WeakMember;

/// A hash map from objects (by identity) to values, whose entries last
/// only as long as their keys: an ephemeron table, like JavaScript's
/// `WeakMap`. Values are [`Element`]s (`Member`, `Tagged`, `Cell` of plain
/// data). Use it as a field of a managed object.
///
/// ```
/// use morph_gengc::{Collection, GcWeakMap, Heap, Member, Trace};
///
/// #[derive(Trace)]
/// struct Object(u64);
///
/// #[derive(Trace)]
/// struct Note {
///     about: Member<Object>,
/// }
///
/// #[derive(Trace)]
/// struct Registry {
///     notes: GcWeakMap<Object, Member<Note>>,
/// }
///
/// let mut heap = Heap::new(Default::default())?;
/// heap.enter(|m| {
///     let registry = m.alloc(Registry { notes: GcWeakMap::new() });
///     let object = m.alloc(Object(1));
///     // The note refers back to its key: it still does not keep it alive.
///     let note = m.alloc(Note { about: Member::null() });
///     note.get(m).about.set(m, Some(object.get(m)));
///     GcWeakMap::insert(&registry, |r| &r.notes, m, |m| {
///         (object.get(m), Some(note.get(m)))
///     });
///     drop(note);
///     m.collect(Collection::Major);
///     let found = registry.get(m).notes.get(m, object.get(m)).flatten();
///     assert_eq!(found.map(|n| n.about.get(m).unwrap().0), Some(1));
///
///     let key = m.root(object.get(m));
///     drop(object);
///     m.collect(Collection::Major);
///     assert!(registry.get(m).notes.contains_key(m, key.get(m)), "still rooted");
///     drop(key);
///     m.collect(Collection::Major);
///     // The key died: its entry went with it, note and all.
///     assert!(registry.get(m).notes.is_cleared(m));
/// });
/// # Ok::<(), morph_gengc::GcError>(())
/// ```
pub struct GcWeakMap<K: 'static, V: 'static> {
    map: GcMap<WeakMember<K>, V>,
}

impl<K: 'static, V: Element> Default for GcWeakMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: 'static, V: Element> GcWeakMap<K, V> {
    /// An empty map (no table until the first insert).
    pub fn new() -> Self {
        GcWeakMap { map: GcMap::new() }
    }

    /// The value for `key`, if it has an entry.
    ///
    /// While an incremental cycle runs, the value is live to it without
    /// being logged: the entry either existed when the cycle started,
    /// under a key the caller holds (so the value is marked through it),
    /// or was inserted since, with a value the program held then; the
    /// entry's removal or replacement logs the old value.
    #[inline]
    pub fn get<'a>(&self, mutator: &'a Mutator<'_>, key: Gc<'_, K>) -> Option<V::Value<'a>> {
        self.map.get(mutator, Some(key))
    }

    /// Whether `key` has an entry.
    pub fn contains_key(&self, mutator: &Mutator<'_>, key: Gc<'_, K>) -> bool {
        self.map.contains_key(mutator, Some(key))
    }

    /// Replaces the value of `key`'s entry, if there is one, with the
    /// barrier; returns whether there was.
    pub fn set(&self, mutator: &Mutator<'_>, key: Gc<'_, K>, value: V::Value<'_>) -> bool {
        self.map.set(mutator, Some(key), value)
    }

    /// Removes `key`'s entry and returns its value.
    pub fn remove<'a>(&self, mutator: &'a Mutator<'_>, key: Gc<'_, K>) -> Option<V::Value<'a>> {
        self.map.remove(mutator, Some(key))
    }

    /// Entries the table holds before the next insert of a new key
    /// allocates (entries whose keys died count until the table is
    /// rehashed).
    pub fn capacity(&self, mutator: &Mutator<'_>) -> usize {
        self.map.capacity(mutator)
    }

    /// Whether the map has no live entry: never filled, emptied, or every
    /// key died. Walks the table.
    pub fn is_cleared(&self, mutator: &Mutator<'_>) -> bool {
        self.map.live_buckets(mutator) == 0
    }

    /// Inserts the entry `entry` makes (from a shared borrow of the
    /// mutator, after any allocation) into the map that `field` projects
    /// out of `owner`, replacing the value if the key has an entry; returns
    /// whether it did. As [`GcMap::insert`]: `entry` runs a second time if
    /// a new key needs a larger table.
    pub fn insert<'gc, O: Trace>(
        owner: &impl Handle<'gc, O>,
        field: impl for<'x> Fn(&'x O) -> &'x GcWeakMap<K, V>,
        mutator: &mut Mutator<'gc>,
        entry: impl for<'a> Fn(&'a Mutator<'gc>) -> (Gc<'a, K>, V::Value<'a>),
    ) -> bool {
        GcMap::insert(
            owner,
            |o| &field(o).map,
            mutator,
            |m| {
                let (key, value) = entry(m);
                (Some(key), value)
            },
        )
    }
}

impl<K: 'static> MapKey for WeakMember<K> {
    /// The referent's address (0 for null).
    type Query<'a> = usize;

    #[inline]
    fn prepare<'a>(mutator: &Mutator<'_>, key: Self::Value<'a>) -> (u64, Self::Query<'a>) {
        // By identity, as a member key.
        <Member<K> as MapKey>::prepare(mutator, key)
    }

    #[inline]
    fn matches(&self, _mutator: &Mutator<'_>, query: usize) -> bool {
        // A cleared key (0) never matches a query: queries are objects.
        self.referent_addr().unwrap_or(0) == query
    }
}

// SAFETY: the map is inline and reports its table; the table's buckets
// report their ephemerons (and `HAS_WEAK` lists the table, not this value).
unsafe impl<K: 'static, V: Element> Trace for GcWeakMap<K, V> {
    #[inline]
    fn trace<T: SlotVisitor + ?Sized>(&self, tracer: &mut Tracer<'_, T>) {
        self.map.trace(tracer);
    }
}

impl<K, V> fmt::Debug for GcWeakMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcWeakMap").finish_non_exhaustive()
    }
}
