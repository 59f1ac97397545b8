//! The heap's spaces: where objects live, and the policy of each.
//!
//! * [`nursery`] — bump allocation, evacuated by minor collections;
//! * [`old`] — size-class slots, mark-sweep, never moved;
//! * [`large`] — one mapping per object, never moved;
//! * [`reserve`] — old-generation blocks faulted in ahead of promotion.

pub(crate) mod large;
pub(crate) mod nursery;
pub(crate) mod old;
pub(crate) mod reserve;
