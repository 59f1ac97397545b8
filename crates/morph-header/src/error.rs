//! The one error type of this crate.

use std::fmt;

/// What went wrong when building a header or registering a type.
///
/// Every variant carries the offending value, and its message says what to
/// change.
///
/// ```
/// use morph_header::{HeaderError, ObjectHeader, TypeId};
///
/// let err = ObjectHeader::new(1 << 24, TypeId::new(0)?).unwrap_err();
/// assert_eq!(err, HeaderError::PayloadTooLarge { size: 1 << 24 });
/// assert!(err.to_string().contains("large-object"));
/// # Ok::<(), HeaderError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// The payload does not fit the header's 24-bit size field.
    PayloadTooLarge {
        /// The requested payload size in bytes.
        size: usize,
    },
    /// The type id is beyond what the header can encode.
    TypeIdOutOfRange {
        /// The requested type id.
        id: u32,
    },
    /// A young age collides with the reserved `Old`/`Large` generation codes.
    AgeOutOfRange {
        /// The requested age.
        age: u8,
    },
    /// The type registry already holds as many types as a header can name.
    RegistryFull {
        /// How many types the registry holds.
        capacity: usize,
    },
    /// A forwarding address was not 8-byte aligned.
    MisalignedForwardingAddress {
        /// The address.
        addr: usize,
    },
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HeaderError::PayloadTooLarge { size } => write!(
                f,
                "payload of {size} bytes does not fit the 24-bit header size field \
                 (max {} bytes); allocate it in the large-object space",
                crate::MAX_PAYLOAD_SIZE
            ),
            HeaderError::TypeIdOutOfRange { id } => write!(
                f,
                "type id {id} is out of range: a header names at most {} types (ids 0..={})",
                crate::MAX_TYPES,
                crate::MAX_TYPES - 1
            ),
            HeaderError::AgeOutOfRange { age } => write!(
                f,
                "young age {age} is out of range: ages run 0..={}, 254 and 255 mean old and large",
                Generation::MAX_YOUNG_AGE
            ),
            HeaderError::RegistryFull { capacity } => write!(
                f,
                "type registry is full ({capacity} types); reuse descriptors for types that \
                 share a layout and trace function"
            ),
            HeaderError::MisalignedForwardingAddress { addr } => write!(
                f,
                "forwarding address {addr:#x} is not 8-byte aligned; objects must be word aligned"
            ),
        }
    }
}

use crate::Generation;

impl std::error::Error for HeaderError {}
