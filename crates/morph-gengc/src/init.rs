//! One-step construction: an object allocated with its references filled
//! in, in one expression.
//!
//! A moving collector cannot take an object's references as plain pointers
//! in the value to allocate: the allocation may collect first and move
//! them. So the value is described by an *initializer* whose reference
//! fields are handles ([`Root`]s or [`Local`](crate::Local)s), which find
//! their objects after any collection. `#[derive(Trace)]` with
//! `#[trace(init)]` generates one per struct, `{Name}Init`, and
//! [`Mutator::alloc_init`] allocates from it: the object with null members
//! first, then each member set from its handle through
//! [`Member::set`](crate::Member::set), with its checks and barrier. V8's
//! handles around a `New` call, and gc-arena's `Gc::new` with its fields
//! filled in, are the two ends this sits between.
//!
//! Soundness needs nothing new: the generated code is safe code over the
//! public API, and a hand-written [`Init`] can do no more than that either.

use crate::error::GcError;
use crate::safe::{Mutator, Root, alloc_failed};
use crate::scope::{Local, Scope};
use crate::trace::Trace;

/// A description of an object to allocate with its references filled in:
/// what `#[trace(init)]` generates as `{Name}Init`.
///
/// ```
/// use morph_gengc::{Heap, Member, Trace};
///
/// #[derive(Trace)]
/// #[trace(init)]
/// struct Pair {
///     tag: u32,
///     left: Member<Pair>,
///     right: Member<Pair>,
/// }
///
/// let mut heap = Heap::new(Default::default())?;
/// heap.enter(|m| {
///     let leaf = m.alloc_init(PairInit { tag: 1, left: None, right: None });
///     let pair = m.alloc_init(PairInit { tag: 2, left: Some(&leaf), right: Some(&leaf) });
///     let left = pair.get(m).left.get(m).expect("filled in");
///     assert_eq!(left.tag, 1);
/// });
/// # Ok::<(), morph_gengc::GcError>(())
/// ```
pub trait Init<'gc>: Sized {
    /// The type of the object it allocates.
    type Target: Trace;

    /// Allocates the object in `mutator`'s heap and fills in its references.
    ///
    /// # Errors
    /// As [`Mutator::try_alloc`].
    fn try_alloc_in(self, mutator: &mut Mutator<'gc>) -> Result<Root<'gc, Self::Target>, GcError>;
}

impl<'gc> Mutator<'gc> {
    /// Allocates an object from its initializer, references and all, and
    /// returns a root to it. May collect: the initializer's handles find
    /// their objects afterwards. See [`Init`] for an example.
    ///
    /// # Panics
    /// As [`alloc`](Self::alloc); and if a handle's object belongs to
    /// another heap.
    #[inline]
    pub fn alloc_init<I: Init<'gc>>(&mut self, init: I) -> Root<'gc, I::Target> {
        match init.try_alloc_in(self) {
            Ok(root) => root,
            Err(error) => alloc_failed(error),
        }
    }

    /// As [`alloc_init`](Self::alloc_init), returning why not instead of
    /// panicking when the heap cannot hold the object.
    ///
    /// ```
    /// use morph_gengc::{GcConfig, Heap, Member, Trace};
    ///
    /// #[derive(Trace)]
    /// #[trace(init)]
    /// struct Link {
    ///     next: Member<Link>,
    /// }
    ///
    /// let mut heap = Heap::new(GcConfig::default())?;
    /// heap.enter(|m| {
    ///     let end = m.try_alloc_init(LinkInit { next: None })?;
    ///     let start = m.try_alloc_init(LinkInit { next: Some(&end) })?;
    ///     assert!(start.get(m).next.get(m).is_some());
    ///     Ok::<(), morph_gengc::GcError>(())
    /// })?;
    /// # Ok::<(), morph_gengc::GcError>(())
    /// ```
    ///
    /// # Errors
    /// As [`try_alloc`](Self::try_alloc).
    pub fn try_alloc_init<I: Init<'gc>>(
        &mut self,
        init: I,
    ) -> Result<Root<'gc, I::Target>, GcError> {
        init.try_alloc_in(self)
    }
}

impl<'s, 'gc> Scope<'s, 'gc> {
    /// As [`Mutator::alloc_init`], handing back a [`Local`] of this scope
    /// instead of a root.
    ///
    /// ```
    /// use morph_gengc::{Heap, Member, Trace};
    ///
    /// #[derive(Trace)]
    /// #[trace(init)]
    /// struct Cons {
    ///     head: i64,
    ///     tail: Member<Cons>,
    /// }
    ///
    /// let mut heap = Heap::new(Default::default())?;
    /// heap.enter(|m| {
    ///     m.scope(|s| {
    ///         let mut list = s.alloc_local_init(ConsInit { head: 0, tail: None });
    ///         for head in 1..4 {
    ///             list = s.alloc_local_init(ConsInit { head, tail: Some(&list) });
    ///         }
    ///         assert_eq!(list.get(s).head, 3);
    ///     });
    /// });
    /// # Ok::<(), morph_gengc::GcError>(())
    /// ```
    ///
    /// # Panics
    /// As [`Mutator::alloc_init`].
    pub fn alloc_local_init<I: Init<'gc>>(&mut self, init: I) -> Local<'s, I::Target> {
        let root = self.alloc_init(init);
        let object = root.get(self);
        self.local(object)
    }
}
