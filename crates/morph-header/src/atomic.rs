//! An atomic view of a header word, for collectors that mark or copy from
//! several threads at once.
//!
//! Invariants this module keeps:
//! * an [`AtomicHeader`] has exactly the layout of an [`ObjectHeader`]
//!   (`repr(transparent)` over a 64-bit atomic, which has the size and
//!   alignment of `u64`), so a header in object memory can be viewed as one;
//! * the only state transitions offered are the ones a parallel collector
//!   needs to win races on: set-the-mark-bit and install-a-forwarding-address,
//!   each a single read-modify-write so exactly one thread wins.

#[cfg(loom)]
use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{HeaderError, ObjectHeader};

const MARK_BIT: u64 = 1 << 31;

/// A header word that several threads may update at once.
///
/// ```
/// use morph_header::{AtomicHeader, ObjectHeader, TypeId};
/// use std::sync::atomic::Ordering;
///
/// let header = AtomicHeader::new(ObjectHeader::new(32, TypeId::new(1)?)?);
/// assert!(header.try_mark(), "first marker wins");
/// assert!(!header.try_mark(), "second marker sees it marked");
/// assert!(header.load(Ordering::Acquire).is_marked());
/// # Ok::<(), morph_header::HeaderError>(())
/// ```
#[derive(Debug)]
#[repr(transparent)]
pub struct AtomicHeader(AtomicU64);

impl AtomicHeader {
    /// Wraps a header value.
    pub fn new(header: ObjectHeader) -> Self {
        AtomicHeader(AtomicU64::new(header.to_bits()))
    }

    /// Views the header at `ptr` as an atomic header.
    ///
    /// # Safety
    /// `ptr` must be valid for reads and writes and 8-byte aligned for the
    /// whole lifetime `'a`, and during `'a` every access to that header must
    /// go through atomic operations (this view or another `AtomicHeader` on
    /// the same address): a plain read or write racing with it is a data race.
    #[cfg(not(loom))]
    pub unsafe fn from_ptr<'a>(ptr: *mut ObjectHeader) -> &'a AtomicHeader {
        // SAFETY: the caller guarantees validity, alignment and atomic-only
        // access for 'a (this fn's contract), which is AtomicU64::from_ptr's
        // contract; ObjectHeader is repr(transparent) over u64.
        let atomic = unsafe { AtomicU64::from_ptr(ptr.cast::<u64>()) };
        // SAFETY: AtomicHeader is repr(transparent) over AtomicU64, so a
        // reference to one is a valid reference to the other.
        unsafe { &*std::ptr::from_ref(atomic).cast::<AtomicHeader>() }
    }

    /// Reads the header.
    #[inline]
    pub fn load(&self, order: Ordering) -> ObjectHeader {
        ObjectHeader::from_bits(self.0.load(order))
    }

    /// Replaces the header.
    #[inline]
    pub fn store(&self, header: ObjectHeader, order: Ordering) {
        self.0.store(header.to_bits(), order);
    }

    /// Sets the mark bit; returns `true` if this call set it (the caller
    /// "won" the object and must scan it), `false` if it was already set.
    ///
    /// Only for objects that are not forwarded: non-moving spaces, or after
    /// the caller has checked.
    #[inline]
    pub fn try_mark(&self) -> bool {
        self.0.fetch_or(MARK_BIT, Ordering::AcqRel) & MARK_BIT == 0
    }

    /// Installs a forwarding address if the header still equals `expected`.
    ///
    /// Returns `Ok(())` if this call forwarded the object, or `Err(current)`
    /// with the header another thread installed first (typically its own
    /// forwarding address, which the loser must use instead of its copy).
    pub fn try_forward(
        &self,
        expected: ObjectHeader,
        new_address: usize,
    ) -> Result<Result<(), ObjectHeader>, HeaderError> {
        let forwarded = ObjectHeader::forwarding(new_address)?;
        Ok(self
            .0
            .compare_exchange(
                expected.to_bits(),
                forwarded.to_bits(),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .map(|_| ())
            .map_err(ObjectHeader::from_bits))
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::TypeId;
    use loom::sync::Arc;
    use loom::thread;

    fn header() -> ObjectHeader {
        ObjectHeader::new(16, TypeId::new(2).unwrap()).unwrap()
    }

    #[test]
    fn exactly_one_thread_wins_the_mark() {
        loom::model(|| {
            let h = Arc::new(AtomicHeader::new(header()));
            let h2 = Arc::clone(&h);
            let t = thread::spawn(move || h2.try_mark());
            let mine = h.try_mark();
            let theirs = t.join().unwrap();
            assert!(mine ^ theirs, "exactly one marker must win");
            assert!(h.load(Ordering::Acquire).is_marked());
        });
    }

    #[test]
    fn exactly_one_forwarding_address_is_installed() {
        loom::model(|| {
            let original = header();
            let h = Arc::new(AtomicHeader::new(original));
            let h2 = Arc::clone(&h);
            let t = thread::spawn(move || h2.try_forward(original, 0x2000).unwrap());
            let mine = h.try_forward(original, 0x1000).unwrap();
            let theirs = t.join().unwrap();
            let installed = h.load(Ordering::Acquire).forwarded_to().unwrap();
            match (mine, theirs) {
                (Ok(()), Err(seen)) => {
                    assert_eq!(installed, 0x1000);
                    assert_eq!(seen.forwarded_to(), Some(0x1000));
                }
                (Err(seen), Ok(())) => {
                    assert_eq!(installed, 0x2000);
                    assert_eq!(seen.forwarded_to(), Some(0x2000));
                }
                other => panic!("both or neither won: {other:?}"),
            }
        });
    }
}
