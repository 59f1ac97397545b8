//! The packed header word, its fields, and the forwarding encoding.

use std::fmt;
use std::ptr::NonNull;

use crate::HeaderError;

/// Largest payload, in bytes, the 24-bit size field can hold (16 MiB − 1).
/// Larger objects live in the large-object space, which records their size
/// out of line.
pub const MAX_PAYLOAD_SIZE: usize = (1 << SIZE_BITS) - 1;

/// Type ids below this value are stored in the header's 7-bit type field.
pub const DIRECT_TYPE_IDS: u32 = 127;

/// The 7-bit type field value meaning "the type id continues in the reserved
/// bits". Ids from [`DIRECT_TYPE_IDS`] up are stored as this escape plus
/// `id - DIRECT_TYPE_IDS` in the 16 reserved bits.
pub const ESCAPE_TYPE_ID: u32 = 127;

/// How many distinct type ids a header can name: 127 direct ids plus 65,536
/// escaped ones.
pub const MAX_TYPES: usize = DIRECT_TYPE_IDS as usize + (1 << RESERVED_BITS);

const SIZE_BITS: u32 = 24;
const SIZE_SHIFT: u32 = 0;
const SIZE_MASK: u64 = (1 << SIZE_BITS) - 1;

const TYPE_SHIFT: u32 = 24;
const TYPE_MASK: u64 = 0x7f;

const MARK_SHIFT: u32 = 31;

const GEN_SHIFT: u32 = 32;
const FLAGS_SHIFT: u32 = 40;
const BYTE_MASK: u64 = 0xff;

const RESERVED_BITS: u32 = 16;
const RESERVED_SHIFT: u32 = 48;
const RESERVED_MASK: u64 = (1 << RESERVED_BITS) - 1;

/// Forwarding: the word is the whole address rotated left by this much, with
/// the FORWARDED flag set. The rotation carries the address's bit 0, which
/// is zero in every 8-aligned address, onto the FORWARDED bit of the flags
/// byte, so the flag never overwrites a bit of the address and no address
/// is too large: encoding is a rotate and an `or`, decoding an `and` and a
/// rotate back (a copying collector does one of each per object it moves).
const FORWARD_ROTATION: u32 = FLAGS_SHIFT + HeaderFlags::FORWARDED_BIT.trailing_zeros();
const FORWARDED_MASK: u64 = (HeaderFlags::FORWARDED_BIT as u64) << FLAGS_SHIFT;

/// Identifies a registered type: an index into a [`TypeRegistry`](crate::TypeRegistry).
///
/// Valid ids run from 0 to [`MAX_TYPES`]` - 1`; the constructor checks it.
///
/// ```
/// use morph_header::{TypeId, MAX_TYPES};
///
/// assert_eq!(TypeId::new(200)?.index(), 200);
/// assert!(TypeId::new(MAX_TYPES as u32).is_err());
/// # Ok::<(), morph_header::HeaderError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TypeId(u32);

impl TypeId {
    /// The type id `id`, if a header can encode it.
    pub const fn new(id: u32) -> Result<Self, HeaderError> {
        if (id as usize) < MAX_TYPES {
            Ok(TypeId(id))
        } else {
            Err(HeaderError::TypeIdOutOfRange { id })
        }
    }

    /// The id as an index into a registry table.
    #[inline]
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// The raw id.
    #[inline]
    pub const fn get(self) -> u32 {
        self.0
    }

    /// Whether this id fits the 7-bit field without the escape.
    #[inline]
    pub const fn is_direct(self) -> bool {
        self.0 < DIRECT_TYPE_IDS
    }
}

impl fmt::Display for TypeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "type#{}", self.0)
    }
}

/// The generation/age byte: how many minor collections a young object has
/// survived, or whether it lives in the old generation or the large-object
/// space.
///
/// Encoding: `0..=253` are young ages, `254` is old, `255` is large.
///
/// ```
/// use morph_header::Generation;
///
/// let g = Generation::young(3)?;
/// assert_eq!(g.age(), Some(3));
/// assert_eq!(g.older().age(), Some(4));
/// assert!(Generation::OLD.is_old() && Generation::LARGE.is_large());
/// # Ok::<(), morph_header::HeaderError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Generation(u8);

impl Generation {
    /// The largest age a young object can record.
    pub const MAX_YOUNG_AGE: u8 = 253;
    /// A freshly allocated nursery object: young, age 0.
    pub const NURSERY: Generation = Generation(0);
    /// An object in the old generation.
    pub const OLD: Generation = Generation(254);
    /// An object in the large-object space.
    pub const LARGE: Generation = Generation(255);

    /// A young object that has survived `age` minor collections.
    pub const fn young(age: u8) -> Result<Self, HeaderError> {
        if age <= Self::MAX_YOUNG_AGE {
            Ok(Generation(age))
        } else {
            Err(HeaderError::AgeOutOfRange { age })
        }
    }

    /// The age if young, `None` for old and large objects.
    #[inline]
    pub const fn age(self) -> Option<u8> {
        if self.0 <= Self::MAX_YOUNG_AGE {
            Some(self.0)
        } else {
            None
        }
    }

    /// One collection older: ages saturate at [`Self::MAX_YOUNG_AGE`]; old
    /// and large objects stay what they are.
    #[inline]
    pub const fn older(self) -> Self {
        if self.0 < Self::MAX_YOUNG_AGE {
            Generation(self.0 + 1)
        } else {
            self
        }
    }

    /// Whether the object is in the young generation.
    #[inline]
    pub const fn is_young(self) -> bool {
        self.0 <= Self::MAX_YOUNG_AGE
    }

    /// Whether the object is in the old generation.
    #[inline]
    pub const fn is_old(self) -> bool {
        self.0 == Self::OLD.0
    }

    /// Whether the object is in the large-object space.
    #[inline]
    pub const fn is_large(self) -> bool {
        self.0 == Self::LARGE.0
    }

    /// The encoded byte.
    #[inline]
    pub const fn to_byte(self) -> u8 {
        self.0
    }

    /// Decodes a byte; every byte is a valid generation.
    #[inline]
    pub const fn from_byte(byte: u8) -> Self {
        Generation(byte)
    }
}

impl fmt::Debug for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.age() {
            Some(age) => write!(f, "Young({age})"),
            None if self.is_old() => f.write_str("Old"),
            None => f.write_str("Large"),
        }
    }
}

/// The flags byte of a header.
///
/// One bit of the byte, "forwarded", is not a flag a user can set: it is
/// owned by the forwarding encoding ([`ObjectHeader::forwarding`]), so the
/// flag API masks it out and a header can never claim to be forwarded
/// without a forwarding address.
///
/// ```
/// use morph_header::HeaderFlags;
///
/// let f = HeaderFlags::PINNED | HeaderFlags::FINALIZABLE;
/// assert!(f.contains(HeaderFlags::PINNED));
/// assert!(!f.contains(HeaderFlags::REMEMBERED));
/// assert_eq!((f - HeaderFlags::PINNED), HeaderFlags::FINALIZABLE);
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct HeaderFlags(u8);

impl HeaderFlags {
    /// No flag set.
    pub const EMPTY: HeaderFlags = HeaderFlags(0);
    /// Never moved by any collector (FFI, addresses handed out).
    pub const PINNED: HeaderFlags = HeaderFlags(1 << 0);
    // Bit 1 is FORWARDED, owned by the forwarding encoding.
    /// The type has a destructor or finalizer that must run when it dies.
    pub const FINALIZABLE: HeaderFlags = HeaderFlags(1 << 2);
    /// The object is already in the remembered set (the write barrier's
    /// "seen it" bit, so an object is recorded once per cycle).
    pub const REMEMBERED: HeaderFlags = HeaderFlags(1 << 3);
    /// An [`ObjectHeaderExt`] holds this header: a link and metadata word follow.
    pub const HAS_EXTENSION: HeaderFlags = HeaderFlags(1 << 4);
    /// The finalizer has run; the object must never be finalized again even
    /// if a finalizer resurrected it.
    pub const FINALIZED: HeaderFlags = HeaderFlags(1 << 5);
    /// Left to the embedding runtime; no Morph layer reads or writes it.
    pub const EMBEDDER_0: HeaderFlags = HeaderFlags(1 << 6);
    /// Left to the embedding runtime; no Morph layer reads or writes it.
    pub const EMBEDDER_1: HeaderFlags = HeaderFlags(1 << 7);

    /// The bit the forwarding encoding owns.
    pub(crate) const FORWARDED_BIT: u8 = 1 << 1;
    /// Every bit a user may set.
    pub const ALL: HeaderFlags = HeaderFlags(!Self::FORWARDED_BIT);

    /// Flags from a byte; the forwarding bit is dropped.
    #[inline]
    pub const fn from_bits_truncate(bits: u8) -> Self {
        HeaderFlags(bits & Self::ALL.0)
    }

    /// The flag bits.
    #[inline]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every flag in `other` is set.
    #[inline]
    pub const fn contains(self, other: HeaderFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no flag is set.
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl std::ops::BitOr for HeaderFlags {
    type Output = HeaderFlags;
    fn bitor(self, rhs: HeaderFlags) -> HeaderFlags {
        HeaderFlags(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for HeaderFlags {
    fn bitor_assign(&mut self, rhs: HeaderFlags) {
        self.0 |= rhs.0;
    }
}

impl std::ops::Sub for HeaderFlags {
    type Output = HeaderFlags;
    fn sub(self, rhs: HeaderFlags) -> HeaderFlags {
        HeaderFlags(self.0 & !rhs.0)
    }
}

impl fmt::Debug for HeaderFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(HeaderFlags, &str); 7] = [
            (HeaderFlags::PINNED, "PINNED"),
            (HeaderFlags::FINALIZABLE, "FINALIZABLE"),
            (HeaderFlags::REMEMBERED, "REMEMBERED"),
            (HeaderFlags::HAS_EXTENSION, "HAS_EXTENSION"),
            (HeaderFlags::FINALIZED, "FINALIZED"),
            (HeaderFlags::EMBEDDER_0, "EMBEDDER_0"),
            (HeaderFlags::EMBEDDER_1, "EMBEDDER_1"),
        ];
        let mut set = f.debug_set();
        for (flag, name) in NAMES {
            if self.contains(flag) {
                set.entry(&format_args!("{name}"));
            }
        }
        set.finish()
    }
}

/// The 8-byte header in front of every managed object.
///
/// A header is either *live* (size, type, mark, generation, flags) or
/// *forwarded* (a copying collector moved the object and left its new
/// address). Check [`is_forwarded`](Self::is_forwarded) before reading the
/// fields of a header that a collection may have forwarded: the field
/// accessors of a forwarded header return meaningless values (and
/// debug-assert).
///
/// ```
/// use morph_header::{ObjectHeader, TypeId};
///
/// let ty = TypeId::new(1000)?; // past the 7-bit field: uses the escape
/// let h = ObjectHeader::new(16, ty)?;
/// assert_eq!(h.type_id(), ty);
///
/// let moved = ObjectHeader::forwarding(0x7f00_1234_5678)?;
/// assert_eq!(moved.forwarded_to(), Some(0x7f00_1234_5678));
/// assert_eq!(h.forwarded_to(), None);
/// # Ok::<(), morph_header::HeaderError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct ObjectHeader(u64);

const _: () = assert!(std::mem::size_of::<ObjectHeader>() == 8);
const _: () = assert!(std::mem::align_of::<ObjectHeader>() == 8);

impl ObjectHeader {
    /// Size of the header in bytes.
    pub const SIZE: usize = 8;

    /// A live header for a nursery object: given size and type, unmarked,
    /// age 0, no flags.
    pub const fn new(payload_size: usize, type_id: TypeId) -> Result<Self, HeaderError> {
        if payload_size > MAX_PAYLOAD_SIZE {
            return Err(HeaderError::PayloadTooLarge { size: payload_size });
        }
        let header = ObjectHeader((payload_size as u64) << SIZE_SHIFT);
        Ok(header.with_type_id(type_id))
    }

    /// The raw 64-bit word.
    #[inline]
    pub const fn to_bits(self) -> u64 {
        self.0
    }

    /// A header from its raw word (as read from memory). Every word is a
    /// valid header value; whether it describes a real object is the
    /// caller's knowledge.
    #[inline]
    pub const fn from_bits(bits: u64) -> Self {
        ObjectHeader(bits)
    }

    #[inline]
    const fn field(self, shift: u32, mask: u64) -> u64 {
        (self.0 >> shift) & mask
    }

    #[inline]
    const fn with_field(self, shift: u32, mask: u64, value: u64) -> Self {
        ObjectHeader((self.0 & !(mask << shift)) | ((value & mask) << shift))
    }

    /// Payload size in bytes (the header itself not included).
    #[inline]
    pub const fn payload_size(self) -> usize {
        debug_assert!(!self.is_forwarded());
        self.field(SIZE_SHIFT, SIZE_MASK) as usize
    }

    /// Sets the payload size; sizes above [`MAX_PAYLOAD_SIZE`] are refused
    /// and leave the header unchanged.
    #[inline]
    pub fn set_payload_size(&mut self, size: usize) -> Result<(), HeaderError> {
        if size > MAX_PAYLOAD_SIZE {
            return Err(HeaderError::PayloadTooLarge { size });
        }
        *self = self.with_field(SIZE_SHIFT, SIZE_MASK, size as u64);
        Ok(())
    }

    /// The object's type id, decoding the escape if present.
    #[inline]
    pub const fn type_id(self) -> TypeId {
        debug_assert!(!self.is_forwarded());
        let direct = self.field(TYPE_SHIFT, TYPE_MASK) as u32;
        if direct < DIRECT_TYPE_IDS {
            TypeId(direct)
        } else {
            TypeId(DIRECT_TYPE_IDS + self.field(RESERVED_SHIFT, RESERVED_MASK) as u32)
        }
    }

    /// Whether the header names `type_id`: the same answer as
    /// `self.type_id() == type_id`, as one mask and compare (the escape is
    /// not decoded), which a loop over objects of one type hoists.
    ///
    /// ```
    /// use morph_header::{ObjectHeader, TypeId};
    ///
    /// let escaped = ObjectHeader::new(16, TypeId::new(1000)?)?;
    /// assert!(escaped.has_type_id(TypeId::new(1000)?));
    /// assert!(!escaped.has_type_id(TypeId::new(1001)?));
    /// assert!(!escaped.has_type_id(TypeId::new(127)?));
    /// # Ok::<(), morph_header::HeaderError>(())
    /// ```
    #[inline]
    pub const fn has_type_id(self, type_id: TypeId) -> bool {
        debug_assert!(!self.is_forwarded());
        let (mask, bits) = if type_id.is_direct() {
            (TYPE_MASK << TYPE_SHIFT, (type_id.0 as u64) << TYPE_SHIFT)
        } else {
            (
                (TYPE_MASK << TYPE_SHIFT) | (RESERVED_MASK << RESERVED_SHIFT),
                ((ESCAPE_TYPE_ID as u64) << TYPE_SHIFT)
                    | (((type_id.0 - DIRECT_TYPE_IDS) as u64) << RESERVED_SHIFT),
            )
        };
        self.0 & mask == bits
    }

    const fn with_type_id(self, type_id: TypeId) -> Self {
        if type_id.is_direct() {
            self.with_field(TYPE_SHIFT, TYPE_MASK, type_id.0 as u64)
                .with_field(RESERVED_SHIFT, RESERVED_MASK, 0)
        } else {
            self.with_field(TYPE_SHIFT, TYPE_MASK, ESCAPE_TYPE_ID as u64)
                .with_field(
                    RESERVED_SHIFT,
                    RESERVED_MASK,
                    (type_id.0 - DIRECT_TYPE_IDS) as u64,
                )
        }
    }

    /// Sets the type id. Every [`TypeId`] is encodable, so this cannot fail.
    #[inline]
    pub fn set_type_id(&mut self, type_id: TypeId) {
        *self = self.with_type_id(type_id);
    }

    /// The mark bit.
    #[inline]
    pub const fn is_marked(self) -> bool {
        self.field(MARK_SHIFT, 1) != 0
    }

    /// Sets or clears the mark bit.
    #[inline]
    pub fn set_marked(&mut self, marked: bool) {
        *self = self.with_field(MARK_SHIFT, 1, marked as u64);
    }

    /// The generation/age byte.
    #[inline]
    pub const fn generation(self) -> Generation {
        debug_assert!(!self.is_forwarded());
        Generation(self.field(GEN_SHIFT, BYTE_MASK) as u8)
    }

    /// Sets the generation/age byte.
    #[inline]
    pub fn set_generation(&mut self, generation: Generation) {
        *self = self.with_field(GEN_SHIFT, BYTE_MASK, generation.0 as u64);
    }

    /// The flags byte (never includes the forwarding bit).
    #[inline]
    pub const fn flags(self) -> HeaderFlags {
        debug_assert!(!self.is_forwarded());
        HeaderFlags::from_bits_truncate(self.field(FLAGS_SHIFT, BYTE_MASK) as u8)
    }

    /// Sets the given flags, leaving the others as they were.
    #[inline]
    pub fn insert_flags(&mut self, flags: HeaderFlags) {
        let bits = (self.flags() | flags).0;
        *self = self.with_field(FLAGS_SHIFT, BYTE_MASK, bits as u64);
    }

    /// Clears the given flags, leaving the others as they were.
    #[inline]
    pub fn remove_flags(&mut self, flags: HeaderFlags) {
        let bits = (self.flags() - flags).0;
        *self = self.with_field(FLAGS_SHIFT, BYTE_MASK, bits as u64);
    }

    /// The header a copying collector gives an object's copy: in
    /// `generation`, unmarked, and without the flags in `clear`; size, type
    /// and the other flags as they were. One mask and one `or`, where
    /// [`set_generation`](Self::set_generation), [`set_marked`](Self::set_marked)
    /// and [`remove_flags`](Self::remove_flags) would each rewrite the word:
    /// this runs once per object copied.
    ///
    /// ```
    /// use morph_header::{Generation, HeaderFlags, ObjectHeader, TypeId};
    ///
    /// let mut header = ObjectHeader::new(24, TypeId::new(3)?)?;
    /// header.set_marked(true);
    /// header.insert_flags(HeaderFlags::REMEMBERED | HeaderFlags::FINALIZABLE);
    /// let copy = header.moved(Generation::OLD, HeaderFlags::REMEMBERED);
    /// assert_eq!(copy.generation(), Generation::OLD);
    /// assert!(!copy.is_marked());
    /// assert_eq!(copy.flags(), HeaderFlags::FINALIZABLE);
    /// assert_eq!((copy.payload_size(), copy.type_id()), (24, TypeId::new(3)?));
    /// # Ok::<(), morph_header::HeaderError>(())
    /// ```
    #[inline]
    #[must_use]
    pub const fn moved(self, generation: Generation, clear: HeaderFlags) -> Self {
        debug_assert!(!self.is_forwarded());
        let cleared =
            (1 << MARK_SHIFT) | (BYTE_MASK << GEN_SHIFT) | ((clear.0 as u64) << FLAGS_SHIFT);
        ObjectHeader((self.0 & !cleared) | ((generation.0 as u64) << GEN_SHIFT))
    }

    /// A forwarded header pointing at `new_address`, the address of the
    /// object's copy (header included, as the collector defines it).
    ///
    /// The address must be 8-byte aligned. A forwarded header keeps nothing
    /// of the object's own fields: read [`is_forwarded`](Self::is_forwarded)
    /// first, as the type's documentation says.
    ///
    /// ```
    /// use morph_header::{HeaderError, ObjectHeader};
    ///
    /// let moved = ObjectHeader::forwarding(0x7f00_1234_5678)?;
    /// assert!(moved.is_forwarded());
    /// assert_eq!(moved.forwarded_to(), Some(0x7f00_1234_5678));
    /// assert!(matches!(
    ///     ObjectHeader::forwarding(0x7f00_1234_5679),
    ///     Err(HeaderError::MisalignedForwardingAddress { .. })
    /// ));
    /// # Ok::<(), HeaderError>(())
    /// ```
    #[inline]
    pub const fn forwarding(new_address: usize) -> Result<Self, HeaderError> {
        let addr = new_address as u64;
        if addr & 0b111 != 0 {
            return Err(HeaderError::MisalignedForwardingAddress { addr: new_address });
        }
        Ok(ObjectHeader(
            addr.rotate_left(FORWARD_ROTATION) | FORWARDED_MASK,
        ))
    }

    /// Whether a copying collector has moved this object.
    #[inline]
    pub const fn is_forwarded(self) -> bool {
        self.0 & FORWARDED_MASK != 0
    }

    /// The address the object was moved to, if it was forwarded.
    ///
    /// This is an address, not a pointer: a collector turns it back into a
    /// pointer with the provenance of the space it copied into
    /// (`space_base.with_addr(addr)`), which keeps the crate clean under
    /// strict provenance.
    #[inline]
    pub const fn forwarded_to(self) -> Option<usize> {
        if !self.is_forwarded() {
            return None;
        }
        Some((self.0 & !FORWARDED_MASK).rotate_right(FORWARD_ROTATION) as usize)
    }
}

impl fmt::Debug for ObjectHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(addr) = self.forwarded_to() {
            return write!(f, "ObjectHeader(forwarded to {addr:#x})");
        }
        f.debug_struct("ObjectHeader")
            .field("payload_size", &self.payload_size())
            .field("type_id", &self.type_id().get())
            .field("marked", &self.is_marked())
            .field("generation", &self.generation())
            .field("flags", &self.flags())
            .finish()
    }
}

/// A header with a link word and a 64-bit metadata word: 24 bytes.
///
/// Used where an object must sit on an intrusive list (free lists, the list
/// of finalizable or large objects) or carry a word of runtime-specific
/// metadata (a hash code, a monitor, a large object's full size). Building
/// one sets [`HeaderFlags::HAS_EXTENSION`] so a heap walker knows the extra
/// 16 bytes are there.
///
/// ```
/// use morph_header::{HeaderFlags, ObjectHeader, ObjectHeaderExt, TypeId};
///
/// let ext = ObjectHeaderExt::new(ObjectHeader::new(64, TypeId::new(5)?)?, 0xfeed);
/// assert!(ext.header.flags().contains(HeaderFlags::HAS_EXTENSION));
/// assert_eq!(std::mem::size_of::<ObjectHeaderExt>(), 24);
/// # Ok::<(), morph_header::HeaderError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct ObjectHeaderExt {
    /// The ordinary header; always first, so a pointer to the extension is a
    /// pointer to its header.
    pub header: ObjectHeader,
    /// Intrusive link for free lists and GC lists.
    pub next: Option<NonNull<ObjectHeaderExt>>,
    /// Application- or space-specific metadata.
    pub metadata: u64,
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<ObjectHeaderExt>() == 24);

impl ObjectHeaderExt {
    /// Size of the extended header in bytes on 64-bit targets.
    pub const SIZE: usize = std::mem::size_of::<ObjectHeaderExt>();

    /// Wraps `header` (marking it as extended) with no link and the given metadata.
    pub fn new(mut header: ObjectHeader, metadata: u64) -> Self {
        header.insert_flags(HeaderFlags::HAS_EXTENSION);
        ObjectHeaderExt {
            header,
            next: None,
            metadata,
        }
    }
}
