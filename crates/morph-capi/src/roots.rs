//! Precise roots from C: a shadow stack of frames of root slots, and
//! global roots.
//!
//! A C function that holds managed objects across a call that may collect
//! (an allocation, `morph_collect`) keeps them in an array of `void*`
//! slots and pushes a [`MorphFrame`] over it; the collector reads and
//! rewrites those slots (objects move), and the function pops the frame
//! before it returns. Frames live in the C function's own stack frame and
//! are linked through `prev`, like Henderson's shadow stack: pushing and
//! popping are a few stores, no allocation.
//!
//! Invariants this module relies on, which the header states as the C
//! contract and the push/pop checks enforce where cheap:
//! * a pushed frame and its slot array stay valid, unmoved and unmodified
//!   (except for the slot values) until popped, and frames are popped in
//!   reverse order (`morph_frame_pop` checks the order);
//! * every slot and global root holds null or a live managed object of the
//!   context whenever the collector may run;
//! * the stack's `top` and `depth` live in the context's `MorphInline`,
//!   which the header's inline push and pop write between calls; the
//!   library reads and writes them only inside a checked call on the owner
//!   thread (no C code runs then but callbacks, which find the inline paths
//!   closed), through the pointer, holding no reference across C code.

use std::ffi::c_void;
use std::ptr::NonNull;

use morph_mem::RootSet;
use morph_mem::header::SlotVisitor;

use crate::handle::MorphInline;
use crate::status::{Failure, MORPH_ERR_FRAME_ORDER};

/// One frame of the shadow stack: `count` root slots at `slots`.
///
/// Declare it in the C function whose objects it roots and hand it to
/// `morph_frame_push`; the library fills in the fields. They are the
/// library's while the frame is pushed: do not change them (the slot
/// *values* are the program's to read and write).
#[repr(C)]
#[derive(Debug)]
pub struct MorphFrame {
    /// The frame pushed before this one (the library's field).
    pub prev: *mut MorphFrame,
    /// The root slots (the library's field).
    pub slots: *mut *mut c_void,
    /// How many slots (the library's field).
    pub count: usize,
}

/// The roots of one context.
#[derive(Debug)]
pub(crate) struct Roots {
    /// The shadow stack: `top` (the innermost pushed frame, or null) and
    /// `depth` (frames pushed and not popped; a walk visits at most this
    /// many, so a frame corrupted into a cycle cannot loop the collector)
    /// of the context's [`MorphInline`], which the header's inline push
    /// and pop change too, between calls into the library.
    stack: NonNull<MorphInline>,
    /// Global root slots, each once.
    globals: Vec<NonNull<*mut u8>>,
    /// Scratch space of a collection: every slot, sorted and deduplicated
    /// (a slot both in a frame and global is still reported once).
    scratch: Vec<NonNull<*mut u8>>,
}

impl Roots {
    /// The roots of the context whose inline-path state `stack` is (it
    /// outlives the context: handle shells are never freed).
    pub(crate) fn new(stack: NonNull<MorphInline>) -> Self {
        Roots {
            stack,
            globals: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// The context's inline-path state, where the stack lives (the
    /// context lends eden through it too).
    pub(crate) fn inline_paths(&self) -> NonNull<MorphInline> {
        self.stack
    }

    /// The innermost pushed frame and the number pushed.
    fn stack(&self) -> (Option<NonNull<MorphFrame>>, usize) {
        // SAFETY: `stack` points into a never-freed shell; this runs on
        // the owner thread inside a checked call, when no C code runs and
        // no reference to it is held (the module's invariants).
        let inline = unsafe { self.stack.read() };
        (NonNull::new(inline.top), inline.depth)
    }

    /// Sets the innermost pushed frame and the number pushed.
    fn set_stack(&mut self, top: Option<NonNull<MorphFrame>>, depth: usize) {
        // SAFETY: as in `stack`; the reference ends here.
        let inline = unsafe { &mut *self.stack.as_ptr() };
        inline.top = top.map_or(std::ptr::null_mut(), NonNull::as_ptr);
        inline.depth = depth;
    }

    /// Pushes `frame` over `count` slots at `slots`.
    ///
    /// # Safety
    /// `frame` is writable and, with `slots` (`count` pointer-sized
    /// slots), stays valid until popped (the module's contract).
    pub(crate) unsafe fn push(
        &mut self,
        frame: *mut MorphFrame,
        slots: *mut *mut c_void,
        count: usize,
    ) -> Result<(), Failure> {
        let frame = NonNull::new(frame).ok_or_else(|| Failure::null("frame"))?;
        if !frame.is_aligned() {
            return Err(Failure::invalid("the frame is misaligned"));
        }
        if count > 0 && slots.is_null() {
            return Err(Failure::null("slots (with count > 0)"));
        }
        if !slots.is_aligned() || count > isize::MAX as usize / size_of::<*mut c_void>() {
            return Err(Failure::invalid(
                "the slot array is misaligned or impossibly long",
            ));
        }
        let (top, depth) = self.stack();
        if top == Some(frame) {
            return Err(Failure::invalid("the frame is already the innermost one"));
        }
        let prev = top.map_or(std::ptr::null_mut(), NonNull::as_ptr);
        // SAFETY: `frame` is non-null, aligned and writable (caller contract).
        unsafe {
            frame.write(MorphFrame { prev, slots, count });
        }
        self.set_stack(Some(frame), depth + 1);
        Ok(())
    }

    /// Pops `frame`, which must be the innermost one.
    pub(crate) fn pop(&mut self, frame: *mut MorphFrame) -> Result<(), Failure> {
        let frame = NonNull::new(frame).ok_or_else(|| Failure::null("frame"))?;
        match self.stack() {
            (Some(top), depth) if top == frame => {
                // SAFETY: the innermost pushed frame is valid until popped
                // (push's contract).
                let prev = unsafe { frame.read() }.prev;
                self.set_stack(NonNull::new(prev), depth.saturating_sub(1));
                Ok(())
            }
            _ => Err(Failure::new(
                MORPH_ERR_FRAME_ORDER,
                "the frame popped is not the innermost pushed frame (pop in reverse push order)",
            )),
        }
    }

    /// Frames pushed and not popped.
    pub(crate) fn depth(&self) -> usize {
        self.stack().1
    }

    /// Adds a global root slot.
    pub(crate) fn add_global(&mut self, slot: *mut *mut c_void) -> Result<(), Failure> {
        let slot = NonNull::new(slot).ok_or_else(|| Failure::null("slot"))?;
        if !slot.is_aligned() {
            return Err(Failure::invalid("the root slot is misaligned"));
        }
        let slot = slot.cast::<*mut u8>();
        if self.globals.contains(&slot) {
            return Err(Failure::invalid("the slot is already a global root"));
        }
        self.globals.push(slot);
        Ok(())
    }

    /// Removes a global root slot.
    pub(crate) fn remove_global(&mut self, slot: *mut *mut c_void) -> Result<(), Failure> {
        let slot = NonNull::new(slot).ok_or_else(|| Failure::null("slot"))?;
        let index = self
            .globals
            .iter()
            .position(|&s| s == slot.cast())
            .ok_or_else(|| Failure::invalid("the slot is not a global root"))?;
        self.globals.swap_remove(index);
        Ok(())
    }

    /// The roots as the collector sees them.
    pub(crate) fn root_set(&mut self) -> CRoots<'_> {
        CRoots(self)
    }
}

/// The C roots of a context, for one allocation or collection.
pub(crate) struct CRoots<'r>(&'r mut Roots);

impl std::fmt::Debug for CRoots<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CRoots").field(&self.0.depth()).finish()
    }
}

// SAFETY: every slot reported is a pushed frame's slot or a global root:
// valid, aligned, writable pointer-sized locations for the whole call (the
// module's C contract, checked at push where cheap), holding null or a live
// object of this context (the C contract); sorting and deduplication
// report each once. Nothing here panics except an allocation failure of
// the scratch vector, which aborts.
unsafe impl RootSet for CRoots<'_> {
    fn visit_roots(&mut self, visitor: &mut dyn SlotVisitor) {
        let roots = &mut *self.0;
        let mut scratch = std::mem::take(&mut roots.scratch);
        scratch.clear();
        let (mut frame, depth) = roots.stack();
        for _ in 0..depth {
            let Some(current) = frame else { break };
            // SAFETY: pushed frames are valid until popped (C contract).
            let MorphFrame { prev, slots, count } = unsafe { current.read() };
            if let Some(slots) = NonNull::new(slots.cast::<*mut u8>()) {
                for i in 0..count {
                    // SAFETY: `count` slots lie at `slots` (checked at push
                    // to fit the address space).
                    scratch.push(unsafe { slots.add(i) });
                }
            }
            frame = NonNull::new(prev);
        }
        scratch.extend_from_slice(&roots.globals);
        scratch.sort_unstable();
        scratch.dedup();
        for &slot in &scratch {
            visitor.visit_slot(slot);
        }
        roots.scratch = scratch;
    }
}
