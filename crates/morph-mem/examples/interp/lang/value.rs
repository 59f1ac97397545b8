//! Runtime values: immediates packed into one word, and the managed objects
//! (pairs, closures, boxed floats, strings, environment frames, the global
//! table) that live in the collected heap.
//!
//! Two representations of the same value:
//!
//! * [`Slot`] — a value stored *inside* a managed object: a [`Member`] for an
//!   object reference plus a word for an immediate. Slots are mutated in
//!   place (`set!`, `set-car!`), through the member's write barrier.
//! * [`Val`] — a value held by the evaluator (Rust locals, argument arrays):
//!   an immediate, or a [`Root`] to an object. A collection can run at any
//!   allocation and move young objects, so every object the evaluator holds
//!   across an allocation must be rooted; `Val` makes that the only option.

use std::cell::Cell;
use std::fmt;

use morph_mem::gc::{Gc, Member, Mutator, Root, Trace};

/// The smallest integer a fixnum holds (61-bit two's complement).
pub const FIXNUM_MIN: i64 = -(1 << 60);
/// The largest integer a fixnum holds.
pub const FIXNUM_MAX: i64 = (1 << 60) - 1;

/// A value that needs no heap object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Imm {
    /// A variable declared but not yet given a value (zeroed memory reads
    /// as this, so fresh frames and global slots start undefined).
    Undefined,
    /// The empty list `()`.
    Nil,
    /// `#t` or `#f`.
    Bool(bool),
    /// An integer in `FIXNUM_MIN..=FIXNUM_MAX`.
    Int(i64),
    /// An interned symbol.
    Sym(u32),
    /// A procedure implemented in Rust (index into the builtin table).
    Builtin(u32),
    /// What `set!`, `define` and `display` return.
    Unspecified,
}

const TAG_MASK: u64 = 0b111;
const TAG_INT: u64 = 1;
const TAG_SYM: u64 = 2;
const TAG_BUILTIN: u64 = 3;
const TAG_SPECIAL: u64 = 4;

impl Imm {
    /// The immediate as a word: a 3-bit tag below the payload. 0 is
    /// [`Imm::Undefined`].
    pub fn encode(self) -> u64 {
        match self {
            Imm::Undefined => 0,
            Imm::Int(i) => ((i as u64) << 3) | TAG_INT,
            Imm::Sym(s) => (u64::from(s) << 3) | TAG_SYM,
            Imm::Builtin(b) => (u64::from(b) << 3) | TAG_BUILTIN,
            Imm::Nil => TAG_SPECIAL,
            Imm::Bool(false) => (1 << 3) | TAG_SPECIAL,
            Imm::Bool(true) => (2 << 3) | TAG_SPECIAL,
            Imm::Unspecified => (3 << 3) | TAG_SPECIAL,
        }
    }

    /// The inverse of [`encode`](Self::encode).
    pub fn decode(bits: u64) -> Imm {
        match bits & TAG_MASK {
            TAG_INT => Imm::Int((bits as i64) >> 3),
            TAG_SYM => Imm::Sym((bits >> 3) as u32),
            TAG_BUILTIN => Imm::Builtin((bits >> 3) as u32),
            TAG_SPECIAL => match bits >> 3 {
                0 => Imm::Nil,
                1 => Imm::Bool(false),
                2 => Imm::Bool(true),
                _ => Imm::Unspecified,
            },
            _ => Imm::Undefined,
        }
    }
}

/// A value stored in a managed object. 16 bytes: an object reference, or
/// (when that is null) an encoded [`Imm`].
#[derive(Trace)]
pub struct Slot {
    obj: Member<Obj>,
    imm: Cell<u64>,
}

impl Slot {
    /// An undefined slot.
    pub const fn empty() -> Slot {
        Slot {
            obj: Member::null(),
            imm: Cell::new(0),
        }
    }

    /// A slot for a new object's field: holds `value` if it is immediate;
    /// an object value must be [`fill`](Self::fill)ed once the containing
    /// object is allocated (a member can only be set inside the heap).
    pub fn holding(value: &Val<'_>) -> Slot {
        match value {
            Val::Imm(imm) => Slot {
                obj: Member::null(),
                imm: Cell::new(imm.encode()),
            },
            Val::Obj(_) => Slot::empty(),
        }
    }

    /// Completes [`holding`](Self::holding): stores the object part, if any.
    #[inline]
    pub fn fill<'gc>(&self, m: &Mutator<'gc>, value: &Val<'gc>) {
        if let Val::Obj(root) = value {
            self.obj.set(m, Some(root.get(m)));
        }
    }

    /// Whether the slot has never been given a value.
    #[inline]
    pub fn is_undefined(&self) -> bool {
        self.obj.is_null() && self.imm.get() == 0
    }

    /// The value, rooted so it survives allocations.
    #[inline]
    pub fn load<'gc>(&self, m: &Mutator<'gc>) -> Val<'gc> {
        match self.obj.get(m) {
            Some(obj) => Val::Obj(m.root(obj)),
            None => Val::Imm(Imm::decode(self.imm.get())),
        }
    }

    /// The value's object, for reading without rooting (valid while `m` is
    /// borrowed).
    #[inline]
    pub fn object<'a>(&self, m: &'a Mutator<'_>) -> Option<Gc<'a, Obj>> {
        self.obj.get(m)
    }

    /// The immediate, if the slot does not hold an object.
    #[inline]
    pub fn immediate(&self) -> Option<Imm> {
        self.obj.is_null().then(|| Imm::decode(self.imm.get()))
    }

    /// Replaces the value (with the write barrier for objects).
    #[inline]
    pub fn store<'gc>(&self, m: &Mutator<'gc>, value: &Val<'gc>) {
        match value {
            Val::Imm(imm) => {
                if !self.obj.is_null() {
                    self.obj.set(m, None);
                }
                self.imm.set(imm.encode());
            }
            Val::Obj(root) => self.obj.set(m, Some(root.get(m))),
        }
    }
}

/// Every managed value that is not an immediate. `#[trace(init)]` gives
/// it `ObjInit`, to allocate a closure or string with its member filled in.
#[derive(Trace)]
#[trace(init)]
pub enum Obj {
    /// A cons cell: `(car . cdr)`.
    Pair(Slot, Slot),
    /// A procedure written in the language: its code (an index into the
    /// interpreter's lambda table — code lives outside the heap) and the
    /// environment it closes over.
    Closure {
        /// Index of the lambda in the interpreter's code table.
        code: u32,
        /// The frame the lambda was evaluated in.
        env: Member<Frame>,
    },
    /// An inexact number.
    Float(f64),
    /// A string. The text is its own (finalizable) object, so that `Obj`
    /// itself needs no drop and pairs stay cheap to allocate and collect.
    Str(Member<Text>),
}

/// The characters of a string.
#[derive(Trace)]
pub struct Text {
    /// The text (immutable).
    pub text: Box<str>,
}

/// Slots per frame object; bigger frames chain more objects through `more`.
pub const FRAME_SLOTS: usize = 4;

/// One activation's variables: parameters, then `let` bindings and internal
/// defines, addressed by index at compile time. Variables past
/// [`FRAME_SLOTS`] continue in the `more` chain.
#[derive(Trace)]
pub struct Frame {
    /// The lexically enclosing frame.
    pub parent: Member<Frame>,
    /// Slots `FRAME_SLOTS..` of this frame.
    pub more: Member<Frame>,
    /// Slots `0..FRAME_SLOTS`.
    pub slots: [Slot; FRAME_SLOTS],
}

impl Frame {
    /// A frame object with every slot undefined.
    pub fn new() -> Frame {
        Frame {
            parent: Member::null(),
            more: Member::null(),
            slots: [const { Slot::empty() }; FRAME_SLOTS],
        }
    }

    /// Slot `index`, following the `more` chain.
    #[inline]
    pub fn slot<'a>(&'a self, m: &'a Mutator<'_>, index: usize) -> &'a Slot {
        let mut frame = self;
        let mut index = index;
        while index >= FRAME_SLOTS {
            frame = frame
                .more
                .get(m)
                .expect("frames are allocated with every slot the compiler assigned")
                .get_ref();
            index -= FRAME_SLOTS;
        }
        &frame.slots[index]
    }
}

/// Global variables per chunk of the global table.
pub const GLOBAL_CHUNK: usize = 256;

/// A chunk of the global table (global variables are numbered at compile
/// time; the interpreter roots one chunk per 256 of them).
#[derive(Trace)]
pub struct GlobalChunk {
    /// The variables' values.
    pub slots: [Slot; GLOBAL_CHUNK],
}

impl GlobalChunk {
    /// A chunk with every variable undefined.
    pub fn new() -> GlobalChunk {
        GlobalChunk {
            slots: [const { Slot::empty() }; GLOBAL_CHUNK],
        }
    }
}

/// A value held by the evaluator: an immediate, or a rooted object.
#[derive(Clone, Debug)]
pub enum Val<'gc> {
    /// A value without a heap object.
    Imm(Imm),
    /// A heap object; the root keeps it alive and follows it when it moves.
    Obj(Root<'gc, Obj>),
}

impl<'gc> Val<'gc> {
    /// `()`.
    pub const NIL: Val<'gc> = Val::Imm(Imm::Nil);
    /// A variable without a value yet.
    pub const UNDEFINED: Val<'gc> = Val::Imm(Imm::Undefined);
    /// The unspecified value.
    pub const UNSPECIFIED: Val<'gc> = Val::Imm(Imm::Unspecified);

    /// A boolean.
    pub fn bool(b: bool) -> Val<'gc> {
        Val::Imm(Imm::Bool(b))
    }

    /// An integer, or an overflow error if it does not fit a fixnum.
    pub fn int(i: i64) -> Result<Val<'gc>, Error> {
        if (FIXNUM_MIN..=FIXNUM_MAX).contains(&i) {
            Ok(Val::Imm(Imm::Int(i)))
        } else {
            Err(Error::new(
                ErrorKind::Range,
                format!("integer overflow: {i} does not fit in 61 bits"),
            ))
        }
    }

    /// Everything but `#f` is true.
    #[inline]
    pub fn is_true(&self) -> bool {
        !matches!(self, Val::Imm(Imm::Bool(false)))
    }

    /// The object, if this is one (valid while `m` is borrowed).
    #[inline]
    pub fn object<'a>(&self, m: &'a Mutator<'gc>) -> Option<&'a Obj> {
        match self {
            Val::Obj(root) => Some(root.get(m).get_ref()),
            Val::Imm(_) => None,
        }
    }
}

/// What went wrong, for callers that react to the kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed source text or special form.
    Syntax,
    /// A variable read before it was defined.
    Unbound,
    /// A procedure called with the wrong number of arguments.
    Arity,
    /// An argument of the wrong type, or calling a non-procedure.
    Type,
    /// Division by zero, integer overflow, an index out of range.
    Range,
    /// Recursion deeper than the interpreter's limit.
    Depth,
    /// `(error ...)` called by the program.
    User,
    /// The heap verifier found a broken invariant (a bug, not a user error).
    Heap,
}

/// An error of the reader, the compiler or the evaluator. Boxed, so that
/// results stay small on the evaluator's hot path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(Box<(ErrorKind, String)>);

impl Error {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error(Box::new((kind, message.into())))
    }

    /// What kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.0.0
    }

    /// What happened, for the user.
    pub fn message(&self) -> &str {
        &self.0.1
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind() {
            ErrorKind::Syntax => "syntax error",
            ErrorKind::Unbound => "unbound variable",
            ErrorKind::Arity => "wrong number of arguments",
            ErrorKind::Type => "type error",
            ErrorKind::Range => "range error",
            ErrorKind::Depth => "recursion too deep",
            ErrorKind::User => "error",
            ErrorKind::Heap => "heap verification failed",
        };
        write!(f, "{kind}: {}", self.message())
    }
}

impl std::error::Error for Error {}

/// A new pair `(car . cdr)`.
#[inline]
pub fn cons<'gc>(m: &mut Mutator<'gc>, car: &Val<'gc>, cdr: &Val<'gc>) -> Val<'gc> {
    let pair = m.alloc(Obj::Pair(Slot::holding(car), Slot::holding(cdr)));
    if let Obj::Pair(a, d) = pair.get(m).get_ref() {
        a.fill(m, car);
        d.fill(m, cdr);
    }
    Val::Obj(pair)
}

/// A list of `items`.
pub fn list<'gc>(m: &mut Mutator<'gc>, items: &[Val<'gc>]) -> Val<'gc> {
    let mut list = Val::NIL;
    for item in items.iter().rev() {
        list = cons(m, item, &list);
    }
    list
}

/// A boxed float.
pub fn float<'gc>(m: &mut Mutator<'gc>, value: f64) -> Val<'gc> {
    Val::Obj(m.alloc(Obj::Float(value)))
}

/// A new string.
pub fn string<'gc>(m: &mut Mutator<'gc>, text: &str) -> Val<'gc> {
    let text = m.alloc(Text { text: text.into() });
    Val::Obj(m.alloc_init(ObjInit::Str(Some(&text))))
}

/// The car and cdr of a pair value (valid while `m` is borrowed).
#[inline]
pub fn pair<'a, 'gc>(m: &'a Mutator<'gc>, value: &Val<'gc>) -> Option<(&'a Slot, &'a Slot)> {
    match value.object(m)? {
        Obj::Pair(car, cdr) => Some((car, cdr)),
        _ => None,
    }
}
