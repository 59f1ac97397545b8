//! Types registered from C: a name, a payload size, where the references
//! are (an offset table or a trace callback) and an optional finalizer.
//!
//! The collector finds an object's functions through the global type
//! registry, whose entries are plain function pointers with no room for
//! per-type data. Every C type therefore registers the same two
//! trampolines (`trace_c_type`, `finalize_c_type`); they read the
//! object's type id from its header (the 8 bytes before every managed
//! payload, `morph_mem::gc::HEADER_SIZE`) and look the C description up in
//! `C_TYPES`, a lock-free table indexed by type id.
//!
//! Why this keeps `MorphMem::alloc_raw`'s contract (the trace and drop
//! functions are sound on the object from allocation on, zeroed at first):
//! * an offset table is checked at registration (each offset 8-aligned,
//!   inside the payload, listed once) and allocation refuses a payload
//!   smaller than the type, so every reported slot is a pointer-sized
//!   field of the object; a zeroed field is null, which the collector
//!   skips; what the program stores there is its contract (null or a live
//!   object of the same context), documented in the header;
//! * a trace callback and a finalizer are C code: their soundness is the C
//!   caller's contract, written in the header (accept a zeroed payload,
//!   report each reference slot once, call nothing on the context).
//!
//! Invariants: a type id found in a managed object's header was returned
//! by this module's registration, which filled its `C_TYPES` entry before
//! returning the handle (so before any object of the type existed); type
//! infos are leaked and immutable.

use std::any::Any;
use std::ffi::{CStr, CString, c_char, c_void};
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use morph_mem::gc::{EdenLoan, HEADER_SIZE, Heap};
use morph_mem::header::{
    MAX_TYPES, ObjectHeader, SlotVisitor, TypeDescriptor, TypeId, TypeRegistry,
};

use crate::status::{Failure, MORPH_ERR_BAD_HANDLE, MORPH_ERR_TYPE, MorphStatus, boundary};

/// Reports the reference slots of one object of a C type to `visitor`,
/// by calling [`morph_visit`] once per slot.
///
/// # Safety
/// The C side's contract, which the header states: accept the object's
/// zeroed payload (before the program wrote it) as well as every value the
/// program writes; report each slot that holds a reference exactly once;
/// report only pointer-sized, 8-aligned fields of the object; call no
/// other function of the library, and keep no pointer to the object or
/// the visitor after returning.
pub type MorphTraceFn = Option<
    unsafe extern "C" fn(object: *mut c_void, visitor: *mut MorphVisitor, user_data: *mut c_void),
>;

/// Cleans up one dead object of a C type, once, before its memory is
/// reused (during a collection or when the context is destroyed).
///
/// # Safety
/// The C side's contract: accept a zeroed payload; read only the object's
/// own bytes (its references may point at dead objects: do not follow
/// them); call no function on the context that is collecting (it answers
/// `MORPH_ERR_BUSY`); keep no pointer to the object.
pub type MorphFinalizeFn =
    Option<unsafe extern "C" fn(object: *mut c_void, user_data: *mut c_void)>;

/// A C type's description, for [`morph_type_register`].
///
/// Either `ref_offsets`/`ref_count` or `trace` say where the references
/// are (not both; neither for a type without references).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MorphTypeDesc {
    /// The type's name, as "Top Types" reports show it (copied).
    pub name: *const c_char,
    /// The payload size in bytes: `morph_alloc_v2` refuses smaller sizes
    /// for this type.
    pub size: usize,
    /// Byte offsets of the reference fields (each a `void*`-sized,
    /// 8-aligned field inside the payload, listed once), or null.
    pub ref_offsets: *const usize,
    /// How many offsets `ref_offsets` holds.
    pub ref_count: usize,
    /// Reports the references instead of an offset table (variable-length
    /// objects, tagged values), or null.
    pub trace: MorphTraceFn,
    /// Runs once on each dead object of the type, or null.
    pub finalize: MorphFinalizeFn,
    /// Passed to `trace` and `finalize` (may be null). Callbacks of objects
    /// of contexts on several threads may run at once with the same value.
    pub user_data: *mut c_void,
}

/// Where a C type's references are.
#[derive(Debug)]
enum References {
    None,
    Offsets(Box<[usize]>),
    Callback(
        unsafe extern "C" fn(
            object: *mut c_void,
            visitor: *mut MorphVisitor,
            user_data: *mut c_void,
        ),
    ),
}

/// The first fields of a registered type, as the header's inline
/// `morph_alloc_v2` reads them. Read-only for C.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MorphTypePrefix {
    /// `MORPH_TYPE_MAGIC` in every type handle.
    pub magic: u64,
    /// The header word of a young object of this type with an empty
    /// payload: or-ing in the payload size gives an object's header
    /// (`morph_gengc::EdenLoan::header_bits`).
    pub young_header: u64,
    /// The registered payload size.
    pub size: usize,
    /// The type's place among the C types inline allocation may place (a
    /// context loads the first `MorphInline::types_loaded` of them), or
    /// `UINT32_MAX` for a type that never takes the inline path (one with
    /// a finalizer, whose young objects must be registered).
    pub inline_seq: u32,
}

/// The magic word of every type handle (`MorphTypePrefix::magic`).
/// (The bytes "MORPHTYP", little-endian.)
pub const MORPH_TYPE_MAGIC: u64 = 0x5059_5448_5052_4F4D;
const _: () = assert!(MORPH_TYPE_MAGIC == u64::from_le_bytes(*b"MORPHTYP"));

/// A registered C type: the handle `morph_alloc_v2` takes. Lives until the
/// process ends (the registry is append-only). Its first bytes are a
/// `MorphTypePrefix`.
#[repr(C)]
pub struct MorphTypeInfo {
    prefix: MorphTypePrefix,
    id: TypeId,
    references: References,
    finalize: MorphFinalizeFn,
    user_data: *mut c_void,
    name: CString,
}

impl std::fmt::Debug for MorphTypeInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MorphTypeInfo")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("size", &self.prefix.size)
            .field("references", &self.references)
            .finish_non_exhaustive()
    }
}

// SAFETY: type infos are immutable after registration; `user_data` is only
// handed back to the C callbacks, whose header contract says they may run
// on several threads at once.
unsafe impl Sync for MorphTypeInfo {}
// SAFETY: as above.
unsafe impl Send for MorphTypeInfo {}

impl MorphTypeInfo {
    /// The type's id in the global registry.
    pub(crate) fn id(&self) -> TypeId {
        self.id
    }

    /// The registered payload size.
    pub(crate) fn size(&self) -> usize {
        self.prefix.size
    }

    /// The type behind a C pointer: null means the built-in untyped
    /// `bytes` type.
    ///
    /// # Safety
    /// `ty` is null or a pointer `morph_type_register` returned (other
    /// pointers are read as a type info, undefined unless readable).
    #[inline]
    pub(crate) unsafe fn check(ty: *const MorphTypeInfo) -> Result<&'static Self, Failure> {
        if ty.is_null() {
            return bytes_type();
        }
        if !ty.is_aligned() {
            return Err(bad_type());
        }
        // SAFETY: caller contract: a leaked, immutable type info.
        let info: &'static MorphTypeInfo = unsafe { &*ty };
        if info.prefix.magic != MORPH_TYPE_MAGIC {
            return Err(bad_type());
        }
        Ok(info)
    }
}

fn bad_type() -> Failure {
    Failure::new(
        MORPH_ERR_BAD_HANDLE,
        "not a type handle from morph_type_register",
    )
}

/// The untyped type of `morph_alloc_v2(ctx, size, NULL, flags)`: no
/// references, no finalizer, counted as "bytes".
fn bytes_type() -> Result<&'static MorphTypeInfo, Failure> {
    static BYTES: OnceLock<Result<&'static MorphTypeInfo, String>> = OnceLock::new();
    BYTES
        .get_or_init(|| {
            register(
                c"bytes".to_owned(),
                0,
                References::None,
                None,
                std::ptr::null_mut(),
            )
            .map_err(|f| f.message)
        })
        .clone()
        .map_err(|message| Failure::new(MORPH_ERR_TYPE, message))
}

const SEGMENT: usize = 256;
const SEGMENTS: usize = MAX_TYPES.div_ceil(SEGMENT);

/// C type infos by type-id index: segments made on first use, each slot
/// written once, read without a lock by the trampolines.
struct CTypes {
    segments: [OnceLock<Box<[AtomicPtr<MorphTypeInfo>; SEGMENT]>>; SEGMENTS],
}

static C_TYPES: CTypes = CTypes {
    segments: [const { OnceLock::new() }; SEGMENTS],
};

impl CTypes {
    fn insert(&self, id: TypeId, info: &'static MorphTypeInfo) {
        let index = id.index();
        let segment = self.segments[index / SEGMENT]
            .get_or_init(|| Box::new(std::array::from_fn(|_| AtomicPtr::default())));
        segment[index % SEGMENT].store(std::ptr::from_ref(info).cast_mut(), Ordering::Release);
    }

    #[inline]
    fn get(&self, id: TypeId) -> Option<&'static MorphTypeInfo> {
        let index = id.index();
        let ptr =
            self.segments.get(index / SEGMENT)?.get()?[index % SEGMENT].load(Ordering::Acquire);
        // SAFETY: non-null entries are leaked, immutable type infos.
        unsafe { ptr.as_ref() }
    }
}

/// The C description of a managed object of a C type.
///
/// # Safety
/// `object` is the payload of a live managed object (its header is the 8
/// bytes before it, in the same block).
#[inline]
unsafe fn c_type_of(object: NonNull<u8>) -> Option<&'static MorphTypeInfo> {
    // SAFETY: caller contract: the header lies HEADER_SIZE bytes before the
    // payload, inside the object's block.
    let header = unsafe { object.byte_sub(HEADER_SIZE) };
    // SAFETY: as above; headers are 8-aligned 64-bit words.
    let header = unsafe { header.cast::<u64>().read() };
    let info = C_TYPES.get(ObjectHeader::from_bits(header).type_id());
    debug_assert!(
        info.is_some(),
        "an object of a C type without its description"
    );
    info
}

/// What [`morph_visit`] receives: the collector's visitor, for the length of
/// one trace callback. Opaque: C sees only pointers to it.
pub struct MorphVisitor {
    _opaque: [u64; 0],
    _not_send_sync_unpin: std::marker::PhantomData<(*mut u8, std::marker::PhantomPinned)>,
}

impl std::fmt::Debug for MorphVisitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MorphVisitor")
    }
}

/// The state behind a `MorphVisitor*`.
struct VisitorState<'v> {
    /// [`VISITOR_MAGIC`] while the trace callback runs, 0 after.
    magic: u64,
    visitor: &'v mut dyn SlotVisitor,
    /// A panic out of the collector's visitor, re-raised once the C
    /// callback has returned (it must not unwind through C frames).
    panic: Option<Box<dyn Any + Send>>,
}

const VISITOR_MAGIC: u64 = u64::from_le_bytes(*b"MORPHVIS");

/// The trace function of every C type: the offset table, or the C
/// callback through [`morph_visit`].
///
/// # Safety
/// As `morph_header::TraceFn`: `object` is a live object of a C type.
unsafe fn trace_c_type(object: NonNull<u8>, visitor: &mut dyn SlotVisitor) {
    // SAFETY: caller contract.
    let Some(info) = (unsafe { c_type_of(object) }) else {
        return;
    };
    match &info.references {
        References::None => {}
        References::Offsets(offsets) => {
            for &offset in offsets {
                // SAFETY: registration checked `offset + 8 <= size` and
                // allocation `size <= payload`: the field is inside the object.
                let slot = unsafe { object.byte_add(offset) };
                visitor.visit_slot(slot.cast());
            }
        }
        &References::Callback(trace) => {
            let mut state = VisitorState {
                magic: VISITOR_MAGIC,
                visitor,
                panic: None,
            };
            let handle = std::ptr::from_mut(&mut state).cast::<MorphVisitor>();
            // SAFETY: the C callback's contract (see `MorphTraceFn`); the
            // visitor pointer is valid for the call.
            unsafe { trace(object.as_ptr().cast(), handle, info.user_data) };
            state.magic = 0;
            if let Some(payload) = state.panic {
                panic::resume_unwind(payload);
            }
        }
    }
}

/// The drop function of C types with a finalizer.
///
/// # Safety
/// As `morph_header::DropFn`: `object` is a dead object of a C type, never
/// used again.
unsafe fn finalize_c_type(object: NonNull<u8>) {
    // SAFETY: caller contract.
    if let Some(info) = unsafe { c_type_of(object) }
        && let Some(finalize) = info.finalize
    {
        // SAFETY: the C finalizer's contract (see `MorphFinalizeFn`).
        unsafe { finalize(object.as_ptr().cast(), info.user_data) };
    }
}

/// Registers a type in the global registry and the C table.
fn register(
    name: CString,
    size: usize,
    references: References,
    finalize: MorphFinalizeFn,
    user_data: *mut c_void,
) -> Result<&'static MorphTypeInfo, Failure> {
    let layout = std::alloc::Layout::from_size_align(size, 8)
        .map_err(|_| Failure::invalid(format!("type size {size} is too large")))?;
    let mut descriptor = TypeDescriptor::new(name.to_string_lossy().into_owned(), layout);
    if !matches!(references, References::None) {
        descriptor = descriptor.with_trace(trace_c_type);
    }
    if finalize.is_some() {
        descriptor = descriptor.with_drop(finalize_c_type);
    }
    let id = TypeRegistry::global()
        .register(descriptor)
        .map_err(|e| Failure::new(MORPH_ERR_TYPE, format!("type registry: {e}")))?;
    // Held while the type's place among the inline types is chosen and
    // taken, so places are dense and in order.
    let mut inline = INLINE_TYPES.lock().unwrap_or_else(|e| e.into_inner());
    let inline_seq = match finalize {
        None => u32::try_from(inline.len()).unwrap_or(u32::MAX),
        Some(_) => u32::MAX,
    };
    let info: &'static MorphTypeInfo = Box::leak(Box::new(MorphTypeInfo {
        prefix: MorphTypePrefix {
            magic: MORPH_TYPE_MAGIC,
            young_header: EdenLoan::header_bits(id),
            size,
            inline_seq,
        },
        id,
        references,
        finalize,
        user_data,
        name,
    }));
    C_TYPES.insert(id, info);
    if inline_seq != u32::MAX {
        inline.push(info);
        INLINE_COUNT.store(inline_seq + 1, Ordering::Release);
    }
    Ok(info)
}

/// The C types inline allocation may place, in `inline_seq` order.
static INLINE_TYPES: Mutex<Vec<&'static MorphTypeInfo>> = Mutex::new(Vec::new());
/// `INLINE_TYPES.len()`, read without the lock by every context's return
/// from a call.
static INLINE_COUNT: AtomicU32 = AtomicU32::new(0);

/// Loads into `heap` the inline types after the first `loaded`, and returns
/// how many are loaded now (a context's `MorphInline::types_loaded`).
#[inline]
pub(crate) fn load_inline_types(heap: &mut Heap, loaded: u32) -> u32 {
    if INLINE_COUNT.load(Ordering::Acquire) == loaded {
        return loaded;
    }
    load_new_inline_types(heap, loaded)
}

#[cold]
fn load_new_inline_types(heap: &mut Heap, loaded: u32) -> u32 {
    let types = INLINE_TYPES.lock().unwrap_or_else(|e| e.into_inner());
    let mut count = loaded;
    for info in types.iter().skip(loaded as usize) {
        if heap.preload_type(info.id).is_err() {
            break;
        }
        count += 1;
    }
    count
}

/// Registers a type described from C and stores its handle in `*out`.
/// Types are process-wide (any context may allocate them) and live until
/// the process ends; register each once.
///
/// Checked: `desc`, `out` and `desc->name` non-null; not both an offset
/// table and a trace callback; `ref_offsets` non-null when `ref_count > 0`;
/// every offset a multiple of 8 with `offset + 8 <= size`, none twice.
///
/// # Safety
/// `desc` is null or points to a readable `MorphTypeDesc` whose `name` is
/// null or a NUL-terminated string and whose `ref_offsets` is null or
/// holds `ref_count` values; `out` is null or writable. The callbacks keep
/// the contracts of `MorphTraceFn` and `MorphFinalizeFn`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_type_register(
    desc: *const MorphTypeDesc,
    out: *mut *const MorphTypeInfo,
) -> MorphStatus {
    boundary(|| {
        // SAFETY: caller contract: null or readable.
        let desc = unsafe { desc.as_ref() }.ok_or_else(|| Failure::null("desc"))?;
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        if desc.name.is_null() {
            return Err(Failure::null("desc->name"));
        }
        // SAFETY: caller contract: a NUL-terminated string.
        let name = unsafe { CStr::from_ptr(desc.name) }.to_owned();
        let references = match (desc.ref_count, desc.trace) {
            (0, None) => References::None,
            (0, Some(trace)) => References::Callback(trace),
            (_, Some(_)) => {
                return Err(Failure::invalid(
                    "give either ref_offsets or trace, not both",
                ));
            }
            (count, None) => {
                if desc.ref_offsets.is_null() {
                    return Err(Failure::null("desc->ref_offsets (with ref_count > 0)"));
                }
                // SAFETY: caller contract: `ref_count` readable values.
                let offsets = unsafe { std::slice::from_raw_parts(desc.ref_offsets, count) };
                References::Offsets(check_offsets(offsets, desc.size)?)
            }
        };
        let info = register(name, desc.size, references, desc.finalize, desc.user_data)?;
        // SAFETY: `out` is non-null and writable (caller contract).
        unsafe { out.write(info) };
        Ok(())
    })
}

/// Every offset 8-aligned, inside `size`, and listed once; sorted, so the
/// trace visits fields in address order.
fn check_offsets(offsets: &[usize], size: usize) -> Result<Box<[usize]>, Failure> {
    let mut sorted = offsets.to_vec();
    sorted.sort_unstable();
    for pair in sorted.windows(2) {
        if pair[0] == pair[1] {
            return Err(Failure::invalid(format!(
                "reference offset {} is listed twice",
                pair[0]
            )));
        }
    }
    if let Some(&bad) = sorted
        .iter()
        .find(|&&o| !o.is_multiple_of(8) || o.checked_add(8).is_none_or(|end| end > size))
    {
        return Err(Failure::invalid(format!(
            "reference offset {bad} is not an 8-aligned pointer field inside the {size}-byte payload"
        )));
    }
    Ok(sorted.into_boxed_slice())
}

/// The type's id in the process-wide registry (as the stats report's
/// per-type entries show it), or `UINT32_MAX` for a bad handle.
///
/// # Safety
/// `ty` is null or a handle from `morph_type_register`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_type_id(ty: *const MorphTypeInfo) -> u32 {
    // SAFETY: caller contract.
    match unsafe { MorphTypeInfo::check(ty) } {
        Ok(info) => info.id.get(),
        Err(failure) => {
            failure.record();
            u32::MAX
        }
    }
}

/// The type's registered payload size, or 0 for a bad handle (or the
/// untyped `bytes` type, which NULL names).
///
/// # Safety
/// `ty` is null or a handle from `morph_type_register`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_type_size(ty: *const MorphTypeInfo) -> usize {
    // SAFETY: caller contract.
    unsafe { MorphTypeInfo::check(ty) }.map_or(0, |info| info.size())
}

/// The type's name (valid for the life of the process), or null for a bad
/// handle.
///
/// # Safety
/// `ty` is null or a handle from `morph_type_register`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_type_name(ty: *const MorphTypeInfo) -> *const c_char {
    // SAFETY: caller contract.
    unsafe { MorphTypeInfo::check(ty) }.map_or(std::ptr::null(), |info| info.name.as_ptr())
}

/// Reports one reference slot of the object being traced: call it from a
/// trace callback, once per reference field, with the field's address. The
/// collector may rewrite the field (the object it refers to moved).
///
/// A null `visitor`, a null or misaligned `slot`, and a visitor whose
/// trace callback has returned are ignored.
///
/// # Safety
/// Called only from inside the `MorphTraceFn` that received `visitor`, with
/// `slot` the address of a reference field of that callback's object,
/// holding null or a live object of the same context.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn morph_visit(visitor: *mut MorphVisitor, slot: *mut *mut c_void) {
    let Some(slot) = NonNull::new(slot).filter(|s| s.is_aligned()) else {
        return;
    };
    // SAFETY: caller contract: the pointer a running trace callback got,
    // which points at the trampoline's `VisitorState`.
    let Some(state) = (unsafe { visitor.cast::<VisitorState<'_>>().as_mut() }) else {
        return;
    };
    if state.magic != VISITOR_MAGIC || state.panic.is_some() {
        return;
    }
    let visited = panic::catch_unwind(AssertUnwindSafe(|| state.visitor.visit_slot(slot.cast())));
    if let Err(payload) = visited {
        state.panic = Some(payload);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_tables_are_checked() {
        assert!(check_offsets(&[0, 8], 16).is_ok());
        assert_eq!(&*check_offsets(&[8, 0], 16).unwrap(), &[0, 8]);
        for (offsets, size) in [
            (&[0, 0][..], 16),
            (&[4][..], 16),
            (&[16][..], 16),
            (&[9][..], 24),
            (&[usize::MAX - 7][..], usize::MAX),
        ] {
            let failure = check_offsets(offsets, size).unwrap_err();
            assert_eq!(failure.status, crate::status::MORPH_ERR_INVALID_ARGUMENT);
        }
    }
}
