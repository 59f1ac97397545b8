//! The object layout every Morph Memory layer agrees on.
//!
//! A managed object is an [`ObjectHeader`] (one 64-bit word) followed by its
//! payload. The header answers the questions a collector asks about an object
//! without knowing its Rust type:
//!
//! * how big is the payload? (24 bits: up to 16 MiB − 1; larger objects take
//!   the large-object path and record their size elsewhere),
//! * what type is it? (a [`TypeId`] into the [`TypeRegistry`], which says how
//!   to trace its references and how to drop it),
//! * is it marked, how old is it, is it pinned, forwarded, finalizable,
//!   remembered? ([`Generation`], [`HeaderFlags`]),
//! * and, once a copying collector has moved it, where did it go?
//!   ([`ObjectHeader::forwarded_to`]).
//!
//! The design document this project grew from sketched a 16-byte header with C
//! bitfields. Its fields fit in 8 bytes, so that is what we deliver, packed
//! with explicit shifts on one `u64` so the layout is the same on every
//! compiler and target:
//!
//! ```text
//!  63            48 47     40 39     32 31  30      24 23                     0
//! +----------------+---------+---------+---+----------+------------------------+
//! | reserved (16)  | flags   | gen/age | M | type (7) |  payload size (24)     |
//! +----------------+---------+---------+---+----------+------------------------+
//! ```
//!
//! The reserved bits carry the high part of a type id when the 7-bit field
//! holds the escape value, which gives the registry room for
//! [`MAX_TYPES`] (127 + 65,536) types.
//!
//! # Example
//!
//! ```
//! use morph_header::{Generation, HeaderFlags, ObjectHeader, TypeId};
//!
//! let ty = TypeId::new(3)?;
//! let mut header = ObjectHeader::new(48, ty)?;
//! header.set_marked(true);
//! header.set_generation(Generation::young(1)?);
//! header.insert_flags(HeaderFlags::PINNED);
//!
//! assert_eq!(header.payload_size(), 48);
//! assert_eq!(header.type_id(), ty);
//! assert!(header.is_marked() && header.flags().contains(HeaderFlags::PINNED));
//! assert_eq!(std::mem::size_of::<ObjectHeader>(), 8);
//! # Ok::<(), morph_header::HeaderError>(())
//! ```
//!
//! # What this crate must never do
//! It knows nothing of arenas, pools or collectors: it defines the bits and the
//! type table, and every other layer builds on it. It allocates only inside the
//! type registry.
#![deny(unsafe_op_in_unsafe_fn)]

mod atomic;
mod error;
mod header;
mod registry;

pub use atomic::AtomicHeader;
pub use error::HeaderError;
pub use header::{
    DIRECT_TYPE_IDS, ESCAPE_TYPE_ID, Generation, HeaderFlags, MAX_PAYLOAD_SIZE, MAX_TYPES,
    ObjectHeader, ObjectHeaderExt, TypeId,
};
pub use registry::{DropFn, SlotVisitor, TraceFn, TypeDescriptor, TypeRegistry};
