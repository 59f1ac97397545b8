//! Status codes, the per-thread last error, and the boundary every
//! `extern "C"` function runs its body in (no panic unwinds into C).

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{CString, c_char};
use std::panic::{self, AssertUnwindSafe};

use morph_mem::MorphMemError;

/// What a function of the C ABI returns: [`MORPH_OK`] or one of the
/// `MORPH_ERR_*` codes. [`morph_status_message`] names a code;
/// [`morph_last_error_message`] says what went wrong in the last failed
/// call on this thread.
pub type MorphStatus = i32;

/// Success.
pub const MORPH_OK: MorphStatus = 0;
/// A pointer argument that must not be null was null.
pub const MORPH_ERR_NULL: MorphStatus = 1;
/// The handle is not a handle of the expected kind (a context where an
/// arena was expected, a misaligned or foreign pointer).
pub const MORPH_ERR_BAD_HANDLE: MorphStatus = 2;
/// The handle was destroyed.
pub const MORPH_ERR_DESTROYED: MorphStatus = 3;
/// The handle belongs to another thread: handles are used on the thread
/// that created them.
pub const MORPH_ERR_WRONG_THREAD: MorphStatus = 4;
/// The handle is in use: a callback (finalizer, trace function, pressure
/// callback) called back into the context that is running it.
pub const MORPH_ERR_BUSY: MorphStatus = 5;
/// An argument is out of range (unknown flag bits, bad alignment, a
/// reference offset outside its type, …).
pub const MORPH_ERR_INVALID_ARGUMENT: MorphStatus = 6;
/// The configuration was refused (see the message for the field).
pub const MORPH_ERR_CONFIG: MorphStatus = 7;
/// The operation needs a layer the context's mode does not run (the
/// collector in compiler mode, the code cache outside VM mode).
pub const MORPH_ERR_WRONG_MODE: MorphStatus = 8;
/// The system refused memory.
pub const MORPH_ERR_OUT_OF_MEMORY: MorphStatus = 9;
/// The heap bound was reached even after a full collection; nothing
/// reachable was lost.
pub const MORPH_ERR_HEAP_EXHAUSTED: MorphStatus = 10;
/// The request is larger than the layer can serve (a pooled object above
/// the largest size class, an object past the collector's limit).
pub const MORPH_ERR_TOO_LARGE: MorphStatus = 11;
/// A free of a pointer the pool did not hand out, an interior pointer, or
/// a double free; nothing was freed.
pub const MORPH_ERR_BAD_FREE: MorphStatus = 12;
/// `morph_frame_pop` of a frame that is not the innermost one.
pub const MORPH_ERR_FRAME_ORDER: MorphStatus = 13;
/// The heap verifier found a broken invariant (see the message).
pub const MORPH_ERR_VERIFY: MorphStatus = 14;
/// A collection was interrupted (a trace callback's visit failed); the
/// context's heap can no longer be used. Destroy the context.
pub const MORPH_ERR_POISONED: MorphStatus = 15;
/// A type problem: the payload is smaller than its type, or the type
/// registry is full.
pub const MORPH_ERR_TYPE: MorphStatus = 16;
/// A file could not be written.
pub const MORPH_ERR_IO: MorphStatus = 17;
/// A code block is not in the state the operation needs (writing an
/// executable block: W^X), or the handle names no live block.
pub const MORPH_ERR_CODE: MorphStatus = 18;
/// A Rust panic was caught at the boundary (a bug in Morph Memory, or a
/// broken contract); see the message.
pub const MORPH_ERR_PANIC: MorphStatus = 19;

/// Every status code with its name and a one-line meaning.
const MESSAGES: [(&str, &str); 20] = [
    ("MORPH_OK", "success"),
    ("MORPH_ERR_NULL", "a required pointer argument was null"),
    (
        "MORPH_ERR_BAD_HANDLE",
        "not a handle of the expected kind (wrong kind, misaligned or foreign pointer)",
    ),
    ("MORPH_ERR_DESTROYED", "the handle was destroyed"),
    (
        "MORPH_ERR_WRONG_THREAD",
        "the handle belongs to another thread",
    ),
    (
        "MORPH_ERR_BUSY",
        "the handle is in use: a callback called back into its own context",
    ),
    ("MORPH_ERR_INVALID_ARGUMENT", "an argument is out of range"),
    ("MORPH_ERR_CONFIG", "the configuration was refused"),
    (
        "MORPH_ERR_WRONG_MODE",
        "the operation is not available in the context's mode",
    ),
    ("MORPH_ERR_OUT_OF_MEMORY", "the system refused memory"),
    (
        "MORPH_ERR_HEAP_EXHAUSTED",
        "the heap bound was reached even after a full collection",
    ),
    (
        "MORPH_ERR_TOO_LARGE",
        "the request is too large for the layer",
    ),
    (
        "MORPH_ERR_BAD_FREE",
        "foreign pointer, interior pointer or double free",
    ),
    (
        "MORPH_ERR_FRAME_ORDER",
        "the frame popped is not the innermost one",
    ),
    (
        "MORPH_ERR_VERIFY",
        "the heap verifier found a broken invariant",
    ),
    (
        "MORPH_ERR_POISONED",
        "a collection was interrupted; the heap is unusable",
    ),
    (
        "MORPH_ERR_TYPE",
        "payload smaller than its type, or type registry full",
    ),
    ("MORPH_ERR_IO", "a file could not be written"),
    (
        "MORPH_ERR_CODE",
        "the code block is not in the needed state, or not live",
    ),
    (
        "MORPH_ERR_PANIC",
        "a Rust panic was caught at the C boundary",
    ),
];

/// A failed call: its status and what to tell the user.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: MorphStatus,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(status: MorphStatus, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn null(what: &str) -> Self {
        Failure::new(MORPH_ERR_NULL, format!("{what} is null"))
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Failure::new(MORPH_ERR_INVALID_ARGUMENT, message)
    }

    /// A caught panic.
    fn panic(payload: Box<dyn Any + Send>) -> Self {
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic with a non-text payload".to_owned());
        let status = if text.contains("poisoned") {
            MORPH_ERR_POISONED
        } else {
            MORPH_ERR_PANIC
        };
        Failure::new(status, format!("panic caught at the C boundary: {text}"))
    }

    /// Records the failure as this thread's last error and returns its code.
    #[cold]
    pub(crate) fn record(self) -> MorphStatus {
        let status = self.status;
        let message = CString::new(self.message.replace('\0', " ")).unwrap_or_default();
        LAST_ERROR.with(|last| *last.borrow_mut() = (status, message));
        status
    }
}

impl From<MorphMemError> for Failure {
    fn from(error: MorphMemError) -> Self {
        use morph_mem::gc::GcError;
        use morph_pool::PoolError;
        let status = match &error {
            MorphMemError::Config(_) | MorphMemError::InvalidPressureFraction { .. } => {
                MORPH_ERR_CONFIG
            }
            MorphMemError::WrongMode { .. } => MORPH_ERR_WRONG_MODE,
            MorphMemError::Arena(e) => match e {
                morph_arena::ArenaError::OutOfMemory { .. } => MORPH_ERR_OUT_OF_MEMORY,
                _ => MORPH_ERR_TOO_LARGE,
            },
            MorphMemError::Pool(e) => match e {
                PoolError::TooLarge { .. } => MORPH_ERR_TOO_LARGE,
                PoolError::OutOfMemory { .. } => MORPH_ERR_OUT_OF_MEMORY,
                PoolError::ForeignPointer { .. }
                | PoolError::InteriorPointer { .. }
                | PoolError::DoubleFree { .. }
                | PoolError::NotAllocated { .. } => MORPH_ERR_BAD_FREE,
                _ => MORPH_ERR_INVALID_ARGUMENT,
            },
            MorphMemError::Gc(e) => match e {
                GcError::HeapExhausted { .. } => MORPH_ERR_HEAP_EXHAUSTED,
                GcError::ObjectTooLarge { .. } => MORPH_ERR_TOO_LARGE,
                GcError::OutOfMemory { .. } => MORPH_ERR_OUT_OF_MEMORY,
                GcError::UnknownType { .. } => MORPH_ERR_TYPE,
                GcError::Poisoned => MORPH_ERR_POISONED,
                _ => MORPH_ERR_CONFIG,
            },
            MorphMemError::Stats(_) => MORPH_ERR_IO,
            MorphMemError::Types(_) => MORPH_ERR_TYPE,
            _ => MORPH_ERR_INVALID_ARGUMENT,
        };
        Failure::new(status, error.to_string())
    }
}

thread_local! {
    /// The last failure on this thread: its code and message.
    static LAST_ERROR: RefCell<(MorphStatus, CString)> = RefCell::new((MORPH_OK, CString::default()));
}

/// Runs the body of an `extern "C"` function that returns a status:
/// failures are recorded as the thread's last error, and a panic is caught
/// and turned into [`MORPH_ERR_PANIC`] (or [`MORPH_ERR_POISONED`]) instead
/// of unwinding into C.
#[inline]
pub(crate) fn boundary(body: impl FnOnce() -> Result<(), Failure>) -> MorphStatus {
    match panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => MORPH_OK,
        Ok(Err(failure)) => failure.record(),
        Err(payload) => Failure::panic(payload).record(),
    }
}

/// [`boundary`] for functions that return a pointer: null on failure.
#[inline]
pub(crate) fn boundary_ptr<T>(body: impl FnOnce() -> Result<*mut T, Failure>) -> *mut T {
    match panic::catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(ptr)) => ptr,
        Ok(Err(failure)) => {
            failure.record();
            std::ptr::null_mut()
        }
        Err(payload) => {
            Failure::panic(payload).record();
            std::ptr::null_mut()
        }
    }
}

/// The name and meaning of a status code, as a static string
/// (`"MORPH_ERR_NULL: a required pointer argument was null"`); an unknown
/// code gives `"unknown status code"`. Never null.
#[unsafe(no_mangle)]
pub extern "C" fn morph_status_message(status: MorphStatus) -> *const c_char {
    static TEXTS: std::sync::OnceLock<Vec<CString>> = std::sync::OnceLock::new();
    static UNKNOWN: &std::ffi::CStr = c"unknown status code";
    let texts = TEXTS.get_or_init(|| {
        MESSAGES
            .iter()
            .map(|(name, meaning)| CString::new(format!("{name}: {meaning}")).unwrap_or_default())
            .collect()
    });
    usize::try_from(status)
        .ok()
        .and_then(|i| texts.get(i))
        .map_or(UNKNOWN.as_ptr(), |text| text.as_ptr())
}

/// The status of the last failed call on this thread ([`MORPH_OK`] if none
/// failed yet). Successful calls do not reset it: check a call's own
/// result first (a status, or a null pointer), then ask why.
#[unsafe(no_mangle)]
pub extern "C" fn morph_last_error() -> MorphStatus {
    LAST_ERROR.with(|last| last.borrow().0)
}

/// What went wrong in the last failed call on this thread, in words
/// (`""` if none failed). The string stays valid until the next call that
/// fails on this thread; copy it to keep it. Never null.
#[unsafe(no_mangle)]
pub extern "C" fn morph_last_error_message() -> *const c_char {
    LAST_ERROR.with(|last| last.borrow().1.as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_message_named_after_it() {
        let codes = [
            MORPH_OK,
            MORPH_ERR_NULL,
            MORPH_ERR_BAD_HANDLE,
            MORPH_ERR_DESTROYED,
            MORPH_ERR_WRONG_THREAD,
            MORPH_ERR_BUSY,
            MORPH_ERR_INVALID_ARGUMENT,
            MORPH_ERR_CONFIG,
            MORPH_ERR_WRONG_MODE,
            MORPH_ERR_OUT_OF_MEMORY,
            MORPH_ERR_HEAP_EXHAUSTED,
            MORPH_ERR_TOO_LARGE,
            MORPH_ERR_BAD_FREE,
            MORPH_ERR_FRAME_ORDER,
            MORPH_ERR_VERIFY,
            MORPH_ERR_POISONED,
            MORPH_ERR_TYPE,
            MORPH_ERR_IO,
            MORPH_ERR_CODE,
            MORPH_ERR_PANIC,
        ];
        for (i, code) in codes.into_iter().enumerate() {
            assert_eq!(code as usize, i);
            // SAFETY: the function returns a static NUL-terminated string.
            let text = unsafe { std::ffi::CStr::from_ptr(morph_status_message(code)) };
            assert!(text.to_str().unwrap().starts_with(MESSAGES[i].0));
        }
        // SAFETY: as above.
        let unknown = unsafe { std::ffi::CStr::from_ptr(morph_status_message(-3)) };
        assert_eq!(unknown.to_str().unwrap(), "unknown status code");
    }

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        let status = boundary(|| panic!("boom"));
        assert_eq!(status, MORPH_ERR_PANIC);
        assert_eq!(morph_last_error(), MORPH_ERR_PANIC);
        // SAFETY: the message is a NUL-terminated string of this thread.
        let message = unsafe { std::ffi::CStr::from_ptr(morph_last_error_message()) };
        assert!(message.to_str().unwrap().contains("boom"));
    }
}
