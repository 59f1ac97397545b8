//! `GcMap<K, V>`: a hash map laid out in one managed array of buckets,
//! with open addressing and linear probing.
//!
//! A bucket is the key's hash (one word: `EMPTY`, `TOMBSTONE`, or the
//! hash), the key slot and the value slot, next to each other, so a lookup
//! touches one cache line per probe and compares full hashes before keys.
//! Keys and values are [`Element`] slots, mutable in place through their
//! own barrier, so every store into the table goes through the write
//! barrier like a [`GcVec`](crate::GcVec)'s.
//!
//! Keys ([`MapKey`]):
//! * `Cell<L>` of plain `Eq + Hash` data (integers, tuples of them): by value;
//! * [`Member<U>`]: by object identity, through the object's
//!   [identity hash](crate::Gc::identity_hash), which survives moves;
//! * [`Tagged`]: immediates by value, strings ([`Str`](crate::Str)) by content, other
//!   objects by identity — the key of a dynamic language's table.
//!
//! Stored hashes stay right across collections (identity hashes are
//! stable), so a collection never forces a rehash.
//!
//! Invariants: `used` (live and tombstone buckets) stays at most three
//! quarters of the capacity, a power of two, so a probe always ends at an
//! empty bucket; empty and tombstone buckets hold empty slots, so they keep
//! nothing alive; `len` counts the live buckets.
//!
//! The hashes are fast, not keyed: a program that lets untrusted input
//! pick many colliding keys gets long probes, as with FxHash.

use std::cell::Cell;
use std::fmt;
use std::hash::{Hash, Hasher};

use morph_header::SlotVisitor;

use crate::array::Array;
use crate::hash::{WordHasher, mix};
use crate::safe::{Gc, Member, Mutator};
use crate::scope::Handle;
use crate::tagged::{Tagged, TaggedValue};
use crate::trace::{Leaf, Trace, Tracer};
use crate::vec::Element;

/// The hash word of a bucket that never held a key.
const EMPTY: u64 = 0;
/// The hash word of a bucket whose key was removed.
const TOMBSTONE: u64 = 1;
/// The capacity of a map's first table.
const MIN_CAPACITY: usize = 8;

/// A slot a [`GcMap`] can key by: `Cell<L>` of plain `Eq + Hash` data (by
/// value), [`Member<U>`] (by object identity) and [`Tagged`] (immediates by
/// value, [`Str`](crate::Str)s by content, other objects by identity).
pub trait MapKey: Element {
    /// A key prepared for probing: what a bucket's key slot is compared
    /// with, without decoding the slot.
    #[doc(hidden)]
    type Query<'a>: Copy;

    /// The key's hash (equal keys hash equal) and its prepared form.
    #[doc(hidden)]
    fn prepare<'a>(mutator: &Mutator<'_>, key: Self::Value<'a>) -> (u64, Self::Query<'a>);

    /// Whether this slot holds the prepared key.
    #[doc(hidden)]
    fn matches(&self, mutator: &Mutator<'_>, query: Self::Query<'_>) -> bool;
}

impl<L: Leaf + Copy + Default + Eq + Hash> MapKey for Cell<L> {
    type Query<'a> = L;

    #[inline]
    fn prepare<'a>(_mutator: &Mutator<'_>, key: Self::Value<'a>) -> (u64, Self::Query<'a>) {
        let mut hasher = WordHasher::default();
        key.hash(&mut hasher);
        (hasher.finish(), key)
    }

    #[inline]
    fn matches(&self, _mutator: &Mutator<'_>, query: L) -> bool {
        self.get() == query
    }
}

impl<U: 'static> MapKey for Member<U> {
    /// The referent's address (0 for null).
    type Query<'a> = usize;

    #[inline]
    fn prepare<'a>(mutator: &Mutator<'_>, key: Self::Value<'a>) -> (u64, Self::Query<'a>) {
        match key {
            Some(gc) => (gc.identity_hash(mutator), gc.object().addr()),
            None => (0, 0),
        }
    }

    #[inline]
    fn matches(&self, _mutator: &Mutator<'_>, query: usize) -> bool {
        self.referent_addr().unwrap_or(0) == query
    }
}

/// A [`Tagged`] key prepared for probing.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub enum TaggedQuery<'a> {
    /// The slot's word must equal this one: an immediate, or a reference
    /// to an object that is not a string.
    Word(usize),
    /// A string: a slot referring to a [`Str`](crate::Str) with these
    /// contents matches (the address, if any, is the key's own object).
    Str(&'a str, usize),
}

impl MapKey for Tagged {
    type Query<'a> = TaggedQuery<'a>;

    #[inline]
    fn prepare<'a>(mutator: &Mutator<'_>, key: Self::Value<'a>) -> (u64, Self::Query<'a>) {
        match key {
            TaggedValue::Ref(any) => match any.as_str(mutator) {
                Some(s) => (str_hash(s), TaggedQuery::Str(s, any.object().addr())),
                None => (
                    any.identity_hash(mutator),
                    TaggedQuery::Word(any.object().addr()),
                ),
            },
            immediate => {
                let word = crate::tagged::encode_immediate(immediate).unwrap_or(0);
                (mix(word), TaggedQuery::Word(word as usize))
            }
        }
    }

    #[inline]
    fn matches(&self, mutator: &Mutator<'_>, query: TaggedQuery<'_>) -> bool {
        match query {
            TaggedQuery::Word(word) => self.word() == word,
            TaggedQuery::Str(s, addr) => {
                self.word() == addr
                    || matches!(self.get(mutator), TaggedValue::Ref(any) if any.as_str(mutator) == Some(s))
            }
        }
    }
}

/// The hash a string key has, whether a [`Str`](crate::Str) in a `Tagged` key or a
/// `&str` looked up with [`GcMap::get_str`].
#[inline]
fn str_hash(s: &str) -> u64 {
    let mut hasher = WordHasher::default();
    hasher.write(s.as_bytes());
    hasher.write_usize(s.len());
    hasher.finish()
}

/// A stored hash: never `EMPTY` or `TOMBSTONE`.
#[inline]
fn stored(hash: u64) -> u64 {
    hash.max(TOMBSTONE + 1)
}

/// The most live and tombstone buckets a table of `capacity` holds.
#[inline]
fn max_used(capacity: usize) -> usize {
    capacity / 4 * 3
}

/// The table capacity that holds `entries` within the load bound.
fn capacity_for(entries: usize) -> usize {
    let needed = entries
        .checked_mul(4)
        .map(|n| n.div_ceil(3))
        .expect("capacity overflow");
    needed.next_power_of_two().max(MIN_CAPACITY)
}

/// One entry of the table: the hash word, then the key and value slots.
struct Bucket<K, V> {
    hash: Cell<u64>,
    key: K,
    value: V,
}

impl<K: Element, V: Element> Bucket<K, V> {
    fn empty() -> Self {
        Bucket {
            hash: Cell::new(EMPTY),
            key: K::empty(),
            value: V::empty(),
        }
    }

    /// Whether the bucket holds an entry: a hash, and a key unless a
    /// collection cleared it (a weak key whose referent died).
    fn is_live(&self) -> bool {
        self.hash.get() > TOMBSTONE && !(K::HAS_WEAK && self.key.weak_slot().is_none())
    }
}

// SAFETY: the key and value slots are inline and traced by their own
// `Trace`, except that a weak key and the value it guards are reported
// together, as an ephemeron; the hash word holds no reference.
unsafe impl<K: Element, V: Element> Trace for Bucket<K, V> {
    const HAS_REFERENCES: bool = K::HAS_REFERENCES || V::HAS_REFERENCES;
    const HAS_WEAK: bool = K::HAS_WEAK || V::HAS_WEAK;

    #[inline]
    fn trace<T: SlotVisitor + ?Sized>(&self, tracer: &mut Tracer<'_, T>) {
        if K::HAS_WEAK {
            // A weak key (a `GcWeakMap`'s): the value lives while the key
            // does. A weak value reports itself as weak.
            if let Some(key) = self.key.weak_slot() {
                // SAFETY: the key is a weak reference field of the bucket;
                // the value's slot, given only while it holds a reference,
                // is a member's or a `Tagged`'s word.
                unsafe { tracer.visit_ephemeron(key, self.value.strong_slot()) };
                if V::HAS_WEAK {
                    self.value.trace(tracer);
                }
                return;
            }
        } else {
            self.key.trace(tracer);
        }
        self.value.trace(tracer);
    }
}

impl<K, V> fmt::Debug for Bucket<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bucket")
            .field("hash", &self.hash.get())
            .finish_non_exhaustive()
    }
}

/// Where a probe for a key ended.
enum Probe<'a, K, V> {
    /// The bucket holding the key.
    Found(&'a Bucket<K, V>),
    /// The key is absent; it would go in this bucket (the first tombstone
    /// on the way, or the empty bucket that ended the probe).
    Vacant(&'a Bucket<K, V>),
}

/// Probes `table` (a power-of-two length with an empty bucket) for a key
/// with `hash` that `matches`.
#[inline]
fn probe<'a, K, V>(
    table: &'a [Bucket<K, V>],
    hash: u64,
    mut matches: impl FnMut(&'a Bucket<K, V>) -> bool,
) -> Probe<'a, K, V> {
    let mask = table.len() - 1;
    let mut index = hash as usize & mask;
    let mut tombstone = None;
    loop {
        let bucket = &table[index];
        match bucket.hash.get() {
            EMPTY => return Probe::Vacant(tombstone.unwrap_or(bucket)),
            TOMBSTONE => {
                tombstone.get_or_insert(bucket);
            }
            h if h == hash && matches(bucket) => return Probe::Found(bucket),
            _ => {}
        }
        index = (index + 1) & mask;
    }
}

/// A hash map in the managed heap, keyed by integers and other plain data,
/// by object identity, or by dynamic values (see [`MapKey`]). Use it as a
/// field of a managed object (or as an object of its own).
///
/// ```
/// use morph_gengc::{GcMap, Heap, Tagged, TaggedValue, Trace};
///
/// #[derive(Trace)]
/// struct Table {
///     fields: GcMap<Tagged, Tagged>,
/// }
///
/// let mut heap = Heap::new(Default::default())?;
/// heap.enter(|m| {
///     let table = m.alloc(Table { fields: GcMap::new() });
///     for i in 0..1000 {
///         GcMap::insert(&table, |t| &t.fields, m, |_| {
///             (TaggedValue::Int(i), TaggedValue::Int(i * i))
///         });
///     }
///     // A string key, made after any growth of the table.
///     let name = m.alloc_str("name");
///     GcMap::insert(&table, |t| &t.fields, m, |m| {
///         (TaggedValue::Ref(name.get(m).into()), TaggedValue::Bool(true))
///     });
///     let fields = &table.get(m).fields;
///     assert_eq!(fields.len(), 1001);
///     assert_eq!(fields.get(m, TaggedValue::Int(30)), Some(TaggedValue::Int(900)));
///     // Strings are keys by content.
///     assert_eq!(fields.get_str(m, "name"), Some(TaggedValue::Bool(true)));
///     assert_eq!(fields.remove(m, TaggedValue::Int(7)), Some(TaggedValue::Int(49)));
///     assert_eq!(fields.get(m, TaggedValue::Int(7)), None);
/// });
/// # Ok::<(), morph_gengc::GcError>(())
/// ```
pub struct GcMap<K: 'static, V: 'static> {
    /// Live entries.
    len: Cell<usize>,
    /// Live and tombstone buckets.
    used: Cell<usize>,
    table: Member<Array<Bucket<K, V>>>,
}

impl<K: MapKey, V: Element> Default for GcMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: MapKey, V: Element> GcMap<K, V> {
    /// An empty map (no table until the first insert).
    pub fn new() -> Self {
        GcMap {
            len: Cell::new(0),
            used: Cell::new(0),
            table: Member::null(),
        }
    }

    /// Buckets holding an entry (for a weak map, whose `len` counts
    /// entries a collection may have cleared since).
    pub(crate) fn live_buckets(&self, mutator: &Mutator<'_>) -> usize {
        self.buckets(mutator).iter().filter(|b| b.is_live()).count()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.len.get()
    }

    /// Whether the map has no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries the map holds before an insert allocates a larger table.
    pub fn capacity(&self, mutator: &Mutator<'_>) -> usize {
        let buckets = self.buckets(mutator).len();
        max_used(buckets) - (self.used.get() - self.len())
    }

    fn buckets<'a>(&self, mutator: &'a Mutator<'_>) -> &'a [Bucket<K, V>] {
        self.table.get(mutator).map_or(&[], Gc::as_slice)
    }

    /// The bucket holding `key`, if any.
    #[inline]
    fn find<'a>(&self, mutator: &'a Mutator<'_>, key: K::Value<'_>) -> Option<&'a Bucket<K, V>> {
        if self.is_empty() {
            return None;
        }
        let (hash, query) = K::prepare(mutator, key);
        self.find_prepared(mutator, stored(hash), query)
    }

    /// The bucket holding the prepared key, if any.
    #[inline]
    fn find_prepared<'a>(
        &self,
        mutator: &'a Mutator<'_>,
        hash: u64,
        query: K::Query<'_>,
    ) -> Option<&'a Bucket<K, V>> {
        match probe(self.buckets(mutator), hash, |b| {
            b.key.matches(mutator, query)
        }) {
            Probe::Found(bucket) => Some(bucket),
            Probe::Vacant(_) => None,
        }
    }

    /// The value for `key`, if any.
    #[inline]
    pub fn get<'a>(&self, mutator: &'a Mutator<'_>, key: K::Value<'_>) -> Option<V::Value<'a>> {
        self.find(mutator, key).map(|b| b.value.read(mutator))
    }

    /// Whether the map has an entry for `key`.
    pub fn contains_key(&self, mutator: &Mutator<'_>, key: K::Value<'_>) -> bool {
        self.find(mutator, key).is_some()
    }

    /// Replaces the value of `key`'s entry, if there is one, with the
    /// barrier; returns whether there was.
    pub fn set(&self, mutator: &Mutator<'_>, key: K::Value<'_>, value: V::Value<'_>) -> bool {
        self.find(mutator, key)
            .map(|bucket| bucket.value.write(mutator, value))
            .is_some()
    }

    /// Removes `key`'s entry and returns its value.
    pub fn remove<'a>(&self, mutator: &'a Mutator<'_>, key: K::Value<'_>) -> Option<V::Value<'a>> {
        let bucket = self.find(mutator, key)?;
        Some(self.remove_bucket(mutator, bucket))
    }

    /// Empties a live bucket into a tombstone; returns its value.
    fn remove_bucket<'a>(&self, mutator: &'a Mutator<'_>, bucket: &Bucket<K, V>) -> V::Value<'a> {
        let value = bucket.value.read(mutator);
        // The value stays valid: no collection runs while 'a borrows the
        // mutator, though the table no longer keeps it.
        bucket.key.clear(mutator);
        bucket.value.clear(mutator);
        bucket.hash.set(TOMBSTONE);
        self.len.set(self.len() - 1);
        value
    }

    /// Removes every entry (the table is kept).
    pub fn clear(&self, mutator: &Mutator<'_>) {
        for bucket in self.buckets(mutator) {
            if bucket.hash.get() != EMPTY {
                bucket.key.clear(mutator);
                bucket.value.clear(mutator);
                bucket.hash.set(EMPTY);
            }
        }
        self.len.set(0);
        self.used.set(0);
    }

    /// The entries, in table order.
    pub fn iter<'a>(
        &self,
        mutator: &'a Mutator<'_>,
    ) -> impl Iterator<Item = (K::Value<'a>, V::Value<'a>)> {
        self.buckets(mutator)
            .iter()
            .filter(|b| b.is_live())
            .map(move |b| (b.key.read(mutator), b.value.read(mutator)))
    }

    /// The keys, in table order.
    pub fn keys<'a>(&self, mutator: &'a Mutator<'_>) -> impl Iterator<Item = K::Value<'a>> {
        self.iter(mutator).map(|(k, _)| k)
    }

    /// The values, in table order.
    pub fn values<'a>(&self, mutator: &'a Mutator<'_>) -> impl Iterator<Item = V::Value<'a>> {
        self.iter(mutator).map(|(_, v)| v)
    }

    /// Inserts `key → value` if that needs no allocation: `key` has an
    /// entry (its value is replaced), or the table has room. For keys and
    /// values that borrow the mutator, after [`reserve`](Self::reserve).
    /// Returns whether an entry was replaced.
    ///
    /// # Errors
    /// The key and value themselves when the table is full.
    #[inline]
    pub fn insert_within_capacity<'a>(
        &self,
        mutator: &Mutator<'_>,
        key: K::Value<'a>,
        value: V::Value<'a>,
    ) -> Result<bool, (K::Value<'a>, V::Value<'a>)> {
        let buckets = self.buckets(mutator);
        if buckets.is_empty() {
            return Err((key, value));
        }
        let (hash, query) = K::prepare(mutator, key);
        let hash = stored(hash);
        match probe(buckets, hash, |b| b.key.matches(mutator, query)) {
            Probe::Found(bucket) => {
                bucket.value.write(mutator, value);
                Ok(true)
            }
            Probe::Vacant(bucket) => {
                let fresh = bucket.hash.get() == EMPTY;
                if fresh && self.used.get() + 1 > max_used(buckets.len()) {
                    return Err((key, value));
                }
                bucket.hash.set(hash);
                bucket.key.write(mutator, key);
                bucket.value.write(mutator, value);
                self.len.set(self.len() + 1);
                if fresh {
                    self.used.set(self.used.get() + 1);
                }
                Ok(false)
            }
        }
    }

    /// Inserts the entry `entry` makes (from a shared borrow of the
    /// mutator, after any allocation) into the map that `field` projects
    /// out of `owner`, replacing the value if the key has an entry. Returns
    /// whether it did. Replacing never allocates; `entry` is called a
    /// second time if a new key needs a larger table.
    pub fn insert<'gc, O: Trace>(
        owner: &impl Handle<'gc, O>,
        field: impl for<'x> Fn(&'x O) -> &'x GcMap<K, V>,
        mutator: &mut Mutator<'gc>,
        entry: impl for<'a> Fn(&'a Mutator<'gc>) -> (K::Value<'a>, V::Value<'a>),
    ) -> bool {
        {
            // An existing key, or room (the common cases): no allocation.
            let mutator = &*mutator;
            let map = field(owner.get(mutator).get_ref());
            let (key, value) = entry(mutator);
            if let Ok(replaced) = map.insert_within_capacity(mutator, key, value) {
                return replaced;
            }
        }
        Self::reserve(owner, &field, mutator, 1);
        // Room now: no allocation, so the entry may be made here.
        let mutator = &*mutator;
        let map = field(owner.get(mutator).get_ref());
        let (key, value) = entry(mutator);
        map.insert_within_capacity(mutator, key, value)
            .unwrap_or_else(|_| unreachable!("room was reserved"))
    }

    /// Makes room for `additional` more entries in the map that `field`
    /// projects out of `owner`, allocating a larger table (which may
    /// collect) if needed. Tombstones left by removals go in the move.
    pub fn reserve<'gc, O: Trace>(
        owner: &impl Handle<'gc, O>,
        field: impl for<'x> Fn(&'x O) -> &'x GcMap<K, V>,
        mutator: &mut Mutator<'gc>,
        additional: usize,
    ) {
        let (len, used, buckets) = {
            let map = field(owner.get(mutator).get_ref());
            (map.len(), map.used.get(), map.buckets(mutator).len())
        };
        let room = max_used(buckets);
        if used.checked_add(additional).expect("capacity overflow") <= room {
            return;
        }
        let needed = len.checked_add(additional).expect("capacity overflow");
        // Mostly tombstones: rehash at the same size; otherwise at least
        // double, so growth stays amortised.
        let capacity = if needed <= room / 2 {
            buckets
        } else {
            capacity_for(needed.max(room + 1))
        };
        let fresh = if K::EMPTY_IS_ZEROED && V::EMPTY_IS_ZEROED {
            // SAFETY: a zeroed bucket is the empty hash word and two empty
            // slots, which both element types vouch are zero bytes.
            unsafe { mutator.alloc_array_of_zeroes::<Bucket<K, V>>(capacity) }
        } else {
            mutator.alloc_array(capacity, |_| Bucket::empty())
        };
        let mutator = &*mutator;
        let map = field(owner.get(mutator).get_ref());
        let table = fresh.get(mutator).as_slice();
        // Counted, not taken from `len`: a weak map's entries whose keys
        // died are not live, and are left behind.
        let mut moved = 0;
        for old in map.buckets(mutator).iter().filter(|b| b.is_live()) {
            moved += 1;
            let hash = old.hash.get();
            // Every key in the old table is distinct: only an empty bucket
            // can end the probe.
            let Probe::Vacant(new) = probe(table, hash, |_| false) else {
                unreachable!("no key matches")
            };
            new.hash.set(hash);
            new.key.write(mutator, old.key.read(mutator));
            new.value.write(mutator, old.value.read(mutator));
        }
        // The old table's entries stay valid for a running cycle: the
        // member's barrier logs the old table, whose entries are traced.
        map.table.set(mutator, Some(fresh.get(mutator)));
        map.len.set(moved);
        map.used.set(moved);
    }
}

impl<V: Element> GcMap<Tagged, V> {
    /// The value for the string key `key` (a [`Str`](crate::Str) key
    /// with these contents), without allocating one to look it up.
    pub fn get_str<'a>(&self, mutator: &'a Mutator<'_>, key: &str) -> Option<V::Value<'a>> {
        self.find_str(mutator, key).map(|b| b.value.read(mutator))
    }

    /// Sets the string key `key` to the value `value` makes (from a shared
    /// borrow of the mutator, after any allocation) in the map that
    /// `field` projects out of `owner`: replaces the value in place if the
    /// key has an entry, else allocates the key as a [`Str`](crate::Str)
    /// and inserts it. Returns whether it replaced. `value` may be called
    /// more than once.
    ///
    /// ```
    /// use morph_gengc::{GcMap, Heap, Tagged, TaggedValue, Trace};
    ///
    /// #[derive(Trace)]
    /// struct Object {
    ///     fields: GcMap<Tagged, Tagged>,
    /// }
    ///
    /// let mut heap = Heap::new(Default::default())?;
    /// heap.enter(|m| {
    ///     let o = m.alloc(Object { fields: GcMap::new() });
    ///     assert!(!GcMap::insert_str(&o, |o| &o.fields, m, "x", |_| TaggedValue::Int(1)));
    ///     assert!(GcMap::insert_str(&o, |o| &o.fields, m, "x", |_| TaggedValue::Int(2)));
    ///     assert_eq!(o.get(m).fields.get_str(m, "x"), Some(TaggedValue::Int(2)));
    /// });
    /// # Ok::<(), morph_gengc::GcError>(())
    /// ```
    pub fn insert_str<'gc, O: Trace>(
        owner: &impl Handle<'gc, O>,
        field: impl for<'x> Fn(&'x O) -> &'x GcMap<Tagged, V>,
        mutator: &mut Mutator<'gc>,
        key: &str,
        value: impl for<'a> Fn(&'a Mutator<'gc>) -> V::Value<'a>,
    ) -> bool {
        {
            let mutator = &*mutator;
            let map = field(owner.get(mutator).get_ref());
            if map.set_str(mutator, key, value(mutator)) {
                return true;
            }
        }
        let key = mutator.alloc_str(key);
        Self::insert(owner, field, mutator, |m| {
            (TaggedValue::Ref(key.get(m).into()), value(m))
        })
    }

    /// Whether the map has an entry for the string key `key`.
    pub fn contains_str(&self, mutator: &Mutator<'_>, key: &str) -> bool {
        self.find_str(mutator, key).is_some()
    }

    /// Replaces the value of the string key `key`'s entry, if there is
    /// one; returns whether there was.
    pub fn set_str(&self, mutator: &Mutator<'_>, key: &str, value: V::Value<'_>) -> bool {
        self.find_str(mutator, key)
            .map(|bucket| bucket.value.write(mutator, value))
            .is_some()
    }

    /// Removes the string key `key`'s entry and returns its value.
    pub fn remove_str<'a>(&self, mutator: &'a Mutator<'_>, key: &str) -> Option<V::Value<'a>> {
        let bucket = self.find_str(mutator, key)?;
        Some(self.remove_bucket(mutator, bucket))
    }

    /// The bucket of the string key `key`, if any.
    #[inline]
    fn find_str<'a>(&self, mutator: &'a Mutator<'_>, key: &str) -> Option<&'a Bucket<Tagged, V>> {
        if self.is_empty() {
            return None;
        }
        // No object is this key: only the contents can match.
        self.find_prepared(mutator, stored(str_hash(key)), TaggedQuery::Str(key, 0))
    }
}

// SAFETY: the table member is inline and reported; the counts hold no
// reference.
unsafe impl<K: MapKey, V: Element> Trace for GcMap<K, V> {
    const HAS_REFERENCES: bool = true;

    #[inline]
    fn trace<T: SlotVisitor + ?Sized>(&self, tracer: &mut Tracer<'_, T>) {
        self.table.trace(tracer);
    }
}

impl<K, V> fmt::Debug for GcMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcMap")
            .field("len", &self.len.get())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacities_keep_the_load_bound_and_powers_of_two() {
        assert_eq!(capacity_for(0), MIN_CAPACITY);
        assert_eq!(capacity_for(6), 8);
        assert_eq!(capacity_for(7), 16);
        for n in [1, 5, 100, 1000, 12_345] {
            let c = capacity_for(n);
            assert!(c.is_power_of_two() && max_used(c) >= n, "{n} → {c}");
        }
    }

    #[test]
    fn stored_hashes_are_never_markers() {
        assert_eq!(stored(EMPTY), 2);
        assert_eq!(stored(TOMBSTONE), 2);
        assert_eq!(stored(77), 77);
    }

    #[test]
    fn word_hashes_differ_for_nearby_keys() {
        let hash = |x: u64| {
            let mut h = WordHasher::default();
            x.hash(&mut h);
            h.finish()
        };
        let low: std::collections::HashSet<u64> = (0..4096).map(|x| hash(x) & 4095).collect();
        // Consecutive integers spread over the low bits the table indexes by.
        assert!(low.len() > 2500, "{} distinct of 4096", low.len());
        assert_ne!(str_hash("ab"), str_hash("ba"));
        assert_ne!(str_hash(""), str_hash("\0"));
    }
}
