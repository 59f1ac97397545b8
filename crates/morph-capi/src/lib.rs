//! Morph Memory's C ABI: the seed design's migration path for runtimes
//! written in C.
//!
//! The header is `include/morph_mem_v2.h`, generated from this crate by
//! cbindgen (`cargo xtask capi-header`; CI fails when it is stale). Link
//! `libmorph_capi.a` (or the shared library) built by
//! `cargo build --release -p morph-capi`.
//!
//! | C API | what it is | module |
//! |---|---|---|
//! | `morph_context_create`, `morph_config_preset`, `morph_detect_config` | a context from a preset, the machine, or fields (`MORPH_MEM_MODE` honoured) | [`context`] |
//! | `morph_alloc_v2`, `mph_alloc`, `morph_free` | the dispatcher: arena, pools, nursery, old generation, large objects | [`context`] |
//! | `morph_type_register`, `morph_visit` | C types: size, offset table or trace callback, finalizer | [`types`] |
//! | `morph_frame_push`/`pop`, `morph_root_add`/`remove` | precise roots: a shadow stack and global roots | [`roots`], [`context`] |
//! | `morph_write_barrier`, `morph_write_barrier_inline` | the write barrier, out of line and inline | [`context`], the header |
//! | `morph_collect`, `morph_verify`, `morph_set_stress`, `morph_reset` | collection and debugging aids | [`context`] |
//! | `morph_mem_print_stats`, `morph_mem_dump_stats`, `morph_on_pressure` | statistics (the seed's names) and pressure callbacks | [`report`] |
//! | `morph_arena_*`, `morph_pool_*` | the arena and pools on their own, for C compilers | [`arena`] |
//! | `morph_code_*` | VM mode's JIT code cache (W^X) | [`code`] |
//! | `morph_status_message`, `morph_last_error*` | error codes and messages | [`status`] |
//!
//! # At the boundary
//!
//! * **Handles are checked** where a check is cheap: null, misaligned, a
//!   handle of another kind, a destroyed handle (shells are quarantined, see
//!   `handle.rs`), another thread's handle, and a callback calling back into
//!   the context that runs it. Each is a distinct `MORPH_ERR_*` code.
//! * **No panic crosses into C.** Every function runs its body under
//!   `catch_unwind` and returns `MORPH_ERR_PANIC` (or `MORPH_ERR_POISONED`
//!   when a collection was interrupted) with the panic's message. A panic
//!   raised while C code is on the stack (a visit inside a trace callback)
//!   is held and re-raised once the C frame has returned.
//! * **Raw allocation's contract is kept**: C types' payloads are zeroed,
//!   offset tables are checked at registration and payload sizes at
//!   allocation; trace callbacks, finalizers and root slots are the C
//!   caller's contract, which the header states function by function.
//!
//! ```
//! use morph_capi::*;
//! use std::ptr;
//!
//! // SAFETY: every pointer is a local or a handle these calls returned.
//! unsafe {
//!     let mut ctx = ptr::null_mut();
//!     assert_eq!(morph_context_create_preset(MORPH_MODE_RUNTIME, &mut ctx), MORPH_OK);
//!     let mut roots = [ptr::null_mut(); 1];
//!     let mut frame = MorphFrame { prev: ptr::null_mut(), slots: ptr::null_mut(), count: 0 };
//!     assert_eq!(morph_frame_push(ctx, &mut frame, roots.as_mut_ptr(), 1), MORPH_OK);
//!     roots[0] = morph_alloc_v2(ctx, 64, ptr::null(), MORPH_ALLOC_DEFAULT);
//!     assert!(!roots[0].is_null());
//!     assert_eq!(morph_collect(ctx, MORPH_COLLECT_MINOR), MORPH_OK); // the object moves…
//!     assert!(!roots[0].is_null()); // …and its root follows
//!     assert_eq!(morph_frame_pop(ctx, &mut frame), MORPH_OK);
//!     assert_eq!(morph_context_destroy(ctx), MORPH_OK);
//!     assert_eq!(morph_context_destroy(ctx), MORPH_ERR_DESTROYED);
//! }
//! ```

#![deny(unsafe_op_in_unsafe_fn)]

pub mod arena;
#[cfg(unix)]
pub mod code;
pub mod context;
mod handle;
pub mod report;
pub mod roots;
pub mod status;
pub mod types;

pub use arena::*;
#[cfg(unix)]
pub use code::*;
pub use context::*;
pub use handle::{MorphHandlePrefix, MorphInline};
pub use report::*;
pub use roots::MorphFrame;
pub use status::*;
pub use types::*;

/// Layout constants the header's inline write barrier reads, with the
/// values of `morph-header`'s object header (tests check they agree).
pub mod layout {
    /// Bytes of the header in front of every managed payload.
    pub const MORPH_HEADER_SIZE: usize = 8;
    /// The fewest bytes an object takes, header included (the header's
    /// inline allocation rounds up to this).
    pub const MORPH_MIN_OBJECT_SIZE: usize = 16;
    /// The generation byte's position in the 64-bit header.
    pub const MORPH_HEADER_GENERATION_SHIFT: u32 = 32;
    /// Generation bytes at or above this are old (254) or large (255);
    /// below it, the object is young (in the nursery).
    pub const MORPH_GENERATION_OLD: u32 = 254;
    /// The REMEMBERED flag's position in the 64-bit header: an old object
    /// already in the remembered set needs no barrier call.
    pub const MORPH_HEADER_REMEMBERED_BIT: u32 = 43;
}
pub use layout::*;

#[cfg(test)]
mod tests {
    use super::*;
    use morph_mem::header::{Generation, HeaderFlags, ObjectHeader};

    /// The header's inline barrier decodes headers with these constants:
    /// they must be the object header's real layout.
    #[test]
    fn the_inline_barriers_layout_constants_match_the_object_header() {
        assert_eq!(MORPH_HEADER_SIZE, ObjectHeader::SIZE);
        assert_eq!(MORPH_HEADER_SIZE, morph_mem::gc::HEADER_SIZE);
        assert_eq!(MORPH_MIN_OBJECT_SIZE, morph_mem::gc::MIN_OBJECT_SIZE);
        for payload in [0usize, 1, 8, 9, 16, 100] {
            let inline_size =
                (MORPH_HEADER_SIZE + payload.next_multiple_of(8)).max(MORPH_MIN_OBJECT_SIZE);
            assert_eq!(inline_size, morph_mem::gc::object_size(payload));
        }
        let generation = |h: ObjectHeader| (h.to_bits() >> MORPH_HEADER_GENERATION_SHIFT) & 0xff;
        let remembered = |h: ObjectHeader| (h.to_bits() >> MORPH_HEADER_REMEMBERED_BIT) & 1;
        for (g, young) in [
            (Generation::NURSERY, true),
            (Generation::young(Generation::MAX_YOUNG_AGE).unwrap(), true),
            (Generation::OLD, false),
            (Generation::LARGE, false),
        ] {
            let mut header = ObjectHeader::from_bits(u64::MAX);
            header.set_generation(g);
            assert_eq!(generation(header), u64::from(g.to_byte()));
            assert_eq!(generation(header) < u64::from(MORPH_GENERATION_OLD), young);
            assert_eq!(g.is_young(), young);
        }
        let mut header = ObjectHeader::from_bits(0);
        assert_eq!(remembered(header), 0);
        header.insert_flags(HeaderFlags::REMEMBERED);
        assert_eq!(remembered(header), 1);
        assert_eq!(header.to_bits().count_ones(), 1);
    }
}
