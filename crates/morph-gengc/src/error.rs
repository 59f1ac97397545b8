//! The one error type of the collector.

use std::fmt;

/// What went wrong in the collector: bad configuration, a request it cannot
/// serve, or a heap bound that a full collection could not get under.
///
/// ```
/// use morph_gengc::{GcConfig, GcError};
///
/// let err = GcConfig { nursery_size: 0, ..GcConfig::default() }.validate().unwrap_err();
/// assert!(matches!(err, GcError::InvalidConfig { .. }));
/// assert!(err.to_string().contains("nursery_size"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GcError {
    /// A configuration value is out of range; `reason` says which and why.
    InvalidConfig {
        /// Which field, and what to change.
        reason: String,
    },
    /// The heap bound was reached and a full collection did not free enough.
    /// Nothing reachable was lost.
    HeapExhausted {
        /// Bytes the failed request needed.
        requested: usize,
        /// The configured bound.
        limit: usize,
        /// Bytes the heap holds after the full collection.
        in_use: usize,
    },
    /// The object's alignment is more than the collector guarantees (8 bytes).
    UnsupportedAlignment {
        /// The requested alignment.
        align: usize,
    },
    /// The request is larger than any object can be.
    ObjectTooLarge {
        /// The requested payload size.
        size: usize,
    },
    /// The type id is not registered in the heap's type registry.
    UnknownType {
        /// The raw type id.
        type_id: u32,
    },
    /// The system refused memory.
    OutOfMemory {
        /// Bytes that were requested from the system.
        bytes: usize,
    },
    /// A panic out of user code (a root set or a trace function) interrupted
    /// a collection; the heap can no longer be used.
    Poisoned,
}

impl fmt::Display for GcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GcError::InvalidConfig { reason } => {
                write!(f, "invalid collector configuration: {reason}")
            }
            GcError::HeapExhausted {
                requested,
                limit,
                in_use,
            } => write!(
                f,
                "heap limit of {limit} bytes reached: a request for {requested} bytes does not fit \
                 even after a full collection ({in_use} bytes still in use); raise heap_limit or \
                 drop references to data you no longer need"
            ),
            GcError::UnsupportedAlignment { align } => write!(
                f,
                "alignment {align} is not supported: managed objects are 8-byte aligned; \
                 box over-aligned data outside the heap"
            ),
            GcError::ObjectTooLarge { size } => {
                write!(
                    f,
                    "an object of {size} bytes is larger than the address space allows"
                )
            }
            GcError::UnknownType { type_id } => write!(
                f,
                "type id {type_id} is not registered: register a TypeDescriptor before allocating"
            ),
            GcError::OutOfMemory { bytes } => {
                write!(f, "the system refused {bytes} bytes of memory")
            }
            GcError::Poisoned => f.write_str(
                "the heap is poisoned: a root set or trace function panicked during a \
                 collection, which left it half done; build a new heap (root sets and trace \
                 functions must not panic)",
            ),
        }
    }
}

impl std::error::Error for GcError {}
