//! Running the destructors of dead objects, panic-safely.
//!
//! Destructors are user code (`Finalize` impls, the drop glue of fields)
//! called from inside a collection. The contract (docs/SAFETY.md, "Panic
//! safety"): a destructor that panics never leaves the collection half
//! done. Every dead object of the batch is still finalized, exactly once;
//! the collection finishes; only then is the first panic re-raised, by
//! [`RawHeap::collect`](crate::RawHeap::collect). While destructors run,
//! no heap can be entered on this thread (see `reentry`), so they cannot
//! reach managed objects.
//!
//! This module must never hand a destructor an object that is reachable or
//! already finalized.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

use morph_header::HeaderFlags;

use crate::object::ObjectRef;
use crate::reentry;
use crate::types::TypeCache;

/// What a caught panic carries, kept until it can be re-raised.
pub(crate) type PanicPayload = Box<dyn Any + Send + 'static>;

/// Runs the destructor of every object in `dead`, in order, even if some
/// panic; returns the first panic's payload, if any.
///
/// # Safety
/// Every object in `dead` is unreachable, its memory intact, and listed
/// once; its header names a type loaded in `types`.
pub(crate) unsafe fn run_destructors(
    types: &TypeCache,
    dead: &[ObjectRef],
) -> Option<PanicPayload> {
    if dead.is_empty() {
        return None;
    }
    let _finalizing = reentry::finalizing();
    let mut next = 0;
    let mut first_panic = None;
    // One `catch_unwind` per panic, not per object: after a panic the loop
    // resumes at the object after the one that panicked (already marked
    // finalized, so it is not run twice).
    while next < dead.len() {
        let batch = panic::catch_unwind(AssertUnwindSafe(|| {
            while let Some(&obj) = dead.get(next) {
                next += 1;
                // SAFETY: caller contract, for each listed object once.
                unsafe { finalize_one(types, obj) };
            }
        }));
        if let Err(payload) = batch {
            first_panic.get_or_insert(payload);
        }
    }
    first_panic
}

/// Runs one unreachable object's destructor, unless it already ran.
///
/// # Safety
/// As [`run_destructors`], for `obj`.
unsafe fn finalize_one(types: &TypeCache, obj: ObjectRef) {
    // SAFETY: caller contract: the object's memory is intact.
    let mut header = unsafe { obj.header() };
    if header.flags().contains(HeaderFlags::FINALIZED) {
        return;
    }
    // Marked before the call: if the destructor panics, it is not run again.
    header.insert_flags(HeaderFlags::FINALIZED);
    // SAFETY: as above.
    unsafe { obj.set_header(header) };
    if let Some(drop) = types.get(header.type_id()).and_then(|t| t.drop) {
        // SAFETY: the object is an initialised value of the type its header
        // names (allocation invariant), unreachable, and never used again.
        unsafe { drop(obj.as_ptr()) };
    }
}
