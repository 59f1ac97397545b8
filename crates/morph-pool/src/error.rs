//! The one error type of this crate.

use core::fmt;

/// Everything that can go wrong in a pool: an invalid configuration, a request
/// the pool does not serve (so the caller must use its fallback allocator), the
/// system refusing memory, or a pointer handed back that the pool did not hand
/// out (or already took back).
///
/// Every message says what happened and what to change.
///
/// ```
/// use morph_pool::{PoolError, SizeClassConfig};
///
/// let err = SizeClassConfig::with_classes(vec![64, 32]).validate().unwrap_err();
/// assert!(matches!(err, PoolError::UnsortedSizeClasses { .. }));
/// assert!(err.to_string().contains("ascending"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolError {
    /// The block size is not a power of two (masking a slot address to find
    /// its block needs one).
    BlockSizeNotPowerOfTwo {
        /// The configured block size.
        block_size: usize,
    },
    /// The block size is outside the supported range.
    BlockSizeOutOfRange {
        /// The configured block size.
        block_size: usize,
        /// Smallest supported block size.
        min: usize,
        /// Largest supported block size.
        max: usize,
    },
    /// A size-class configuration without any class.
    NoSizeClasses,
    /// A size class of zero bytes.
    ZeroSizeClass {
        /// Position of the class in the configured list.
        index: usize,
    },
    /// Size classes must be strictly ascending (no duplicates) so routing can
    /// pick the smallest class that fits.
    UnsortedSizeClasses {
        /// Position of the offending class.
        index: usize,
        /// The class before it.
        previous: usize,
        /// The offending class.
        class: usize,
    },
    /// A slot size that is not a multiple of the slot granule (16 bytes), so
    /// its slots would not be 16-byte aligned.
    MisalignedSlotSize {
        /// The offending slot size.
        slot_size: usize,
        /// The granule every slot size must be a multiple of.
        granule: usize,
    },
    /// A slot too large to fit in a block next to the block header.
    SlotTooLarge {
        /// The offending slot size.
        slot_size: usize,
        /// The configured block size.
        block_size: usize,
        /// Largest slot size this block size supports.
        largest: usize,
    },
    /// A slot so small that a block would hold more slots than a block's
    /// bitmap can track.
    TooManySlots {
        /// The offending slot size.
        slot_size: usize,
        /// The configured block size.
        block_size: usize,
        /// Most slots one block can track.
        max_slots: usize,
    },
    /// The request is larger (or more aligned) than the largest size class:
    /// not an error of the program, a signal to use the fallback allocator.
    TooLarge {
        /// Requested size in bytes.
        size: usize,
        /// Requested alignment in bytes.
        align: usize,
        /// The largest size class of the pool.
        largest_class: usize,
    },
    /// The system allocator refused a new block.
    OutOfMemory {
        /// Bytes requested from the system.
        bytes: usize,
    },
    /// The pointer does not point into any slot of this pool (another pool's,
    /// the system allocator's, a block header, or garbage).
    ForeignPointer {
        /// The address handed in.
        addr: usize,
    },
    /// The pointer points inside a slot of this pool, not at its start.
    InteriorPointer {
        /// The address handed in.
        addr: usize,
        /// Start of the slot it points into.
        slot_start: usize,
    },
    /// The slot is already free: this is a second free of the same allocation.
    DoubleFree {
        /// The address handed in.
        addr: usize,
    },
    /// The slot is free, so it cannot be marked (a marking bug: the object
    /// was never allocated or was already swept).
    NotAllocated {
        /// The address handed in.
        addr: usize,
    },
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::BlockSizeNotPowerOfTwo { block_size } => write!(
                f,
                "block size {block_size} is not a power of two: blocks are found by masking \
                 slot addresses, choose e.g. 65536"
            ),
            Self::BlockSizeOutOfRange {
                block_size,
                min,
                max,
            } => write!(
                f,
                "block size {block_size} is outside the supported range {min}..={max} bytes"
            ),
            Self::NoSizeClasses => write!(f, "no size classes configured: give at least one"),
            Self::ZeroSizeClass { index } => {
                write!(
                    f,
                    "size class #{index} is 0 bytes: every class must hold an object"
                )
            }
            Self::UnsortedSizeClasses {
                index,
                previous,
                class,
            } => write!(
                f,
                "size class #{index} ({class} bytes) is not larger than the class before it \
                 ({previous} bytes): list classes in strictly ascending order"
            ),
            Self::MisalignedSlotSize { slot_size, granule } => write!(
                f,
                "slot size {slot_size} is not a multiple of {granule}: round it up to {}",
                slot_size.div_ceil(granule.max(1)) * granule
            ),
            Self::SlotTooLarge {
                slot_size,
                block_size,
                largest,
            } => write!(
                f,
                "slot size {slot_size} does not fit a {block_size}-byte block next to its \
                 header (largest slot: {largest} bytes): raise block_size or route such \
                 objects to the fallback allocator"
            ),
            Self::TooManySlots {
                slot_size,
                block_size,
                max_slots,
            } => write!(
                f,
                "slot size {slot_size} gives more than {max_slots} slots per {block_size}-byte \
                 block: use larger slots or smaller blocks"
            ),
            Self::TooLarge {
                size,
                align,
                largest_class,
            } => write!(
                f,
                "{size} bytes aligned to {align} exceed the largest size class \
                 ({largest_class} bytes): use the fallback allocator"
            ),
            Self::OutOfMemory { bytes } => {
                write!(f, "the system allocator refused a block of {bytes} bytes")
            }
            Self::ForeignPointer { addr } => write!(
                f,
                "pointer {addr:#x} was not allocated by this pool (foreign pointer, another \
                 pool's slot, or a block header)"
            ),
            Self::InteriorPointer { addr, slot_start } => write!(
                f,
                "pointer {addr:#x} points {} bytes into the slot at {slot_start:#x}: pass the \
                 slot's start address",
                addr - slot_start
            ),
            Self::DoubleFree { addr } => {
                write!(f, "double free: the slot at {addr:#x} is already free")
            }
            Self::NotAllocated { addr } => {
                write!(f, "the slot at {addr:#x} is free, so it cannot be marked")
            }
        }
    }
}

impl std::error::Error for PoolError {}
