//! The evaluator: walks [`Node`] trees. Variables no closure captures
//! live in registers — a slice of the interpreter's value stack per active
//! call; captured ones live in managed [`Frame`]s chained through their
//! `parent` members (the environment).
//!
//! Rooting discipline: every value the evaluator holds — in a Rust local, an
//! argument array or a register — is a [`Val`] (objects rooted); every
//! managed reference read out of the heap is either used before the next
//! allocation or rooted by [`Slot::load`]. Calls in tail position do not
//! grow the Rust stack (the callee's body replaces the current expression
//! and its registers the caller's), so loops written as tail-recursive
//! procedures run in constant space; other calls nest, up to
//! [`Interp::max_depth`].

use std::collections::HashMap;
use std::rc::Rc;

use morph_mem::gc::{Gc, Mutator, Root};

use super::builtins;
use super::compile::{Compilation, Lambda, Location, Node, Symbols};
use super::reader::read_all;
use super::value::{
    Error, ErrorKind, FRAME_SLOTS, Frame, GLOBAL_CHUNK, GlobalChunk, Imm, Obj, ObjInit, Slot, Val,
    list,
};

/// An interpreter session: the compiler's tables, the global variables,
/// the constants and the register stack, inside one
/// [`Heap::enter`](morph_mem::gc::Heap::enter).
pub struct Interp<'gc> {
    pub(super) symbols: Symbols,
    pub(super) cc: Compilation,
    pub(super) lambdas: Vec<Rc<Lambda>>,
    pub(super) constants: Vec<Val<'gc>>,
    globals: Vec<Root<'gc, GlobalChunk>>,
    global_names: Vec<u32>,
    global_numbers: HashMap<u32, u32>,
    toplevel: Root<'gc, Frame>,
    /// The registers of every active call, innermost last.
    stack: Vec<Val<'gc>>,
    /// Text written by `display`, `write` and `newline`, until taken.
    pub output: String,
    /// Print output to standard output as it is written, instead of
    /// keeping it in [`output`](Self::output).
    pub echo: bool,
    depth: usize,
    /// How deeply non-tail calls may nest before evaluation stops with an
    /// [`ErrorKind::Depth`] error (the Rust stack must have room for it).
    pub max_depth: usize,
}

impl std::fmt::Debug for Interp<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interp")
            .field("globals", &self.global_names.len())
            .field("lambdas", &self.lambdas.len())
            .finish_non_exhaustive()
    }
}

/// What [`Interp::step`] leaves to do.
enum Step<'gc> {
    /// The expression's value.
    Done(Val<'gc>),
    /// A call of a closure whose arguments are on the stack from `.2` on:
    /// run its body in (a frame under) the closure's environment `.1`.
    Call(Rc<Lambda>, Root<'gc, Frame>, usize),
}

/// The current environment, borrowed from the caller until a `let` or a
/// tail call replaces it.
enum Env<'e, 'gc> {
    Borrowed(&'e Root<'gc, Frame>),
    Owned(Root<'gc, Frame>),
}

impl<'gc> Env<'_, 'gc> {
    #[inline]
    fn get(&self) -> &Root<'gc, Frame> {
        match self {
            Env::Borrowed(frame) => frame,
            Env::Owned(frame) => frame,
        }
    }
}

/// How a call's procedure was found.
enum Callee<'gc> {
    Builtin(u32),
    /// A closure's code and (rooted) environment.
    Closure(u32, Root<'gc, Frame>),
    NotProcedure(Val<'gc>),
}

/// A frame of `size` slots (more frame objects chained when it exceeds one).
fn alloc_frame<'gc>(m: &mut Mutator<'gc>, size: usize) -> Root<'gc, Frame> {
    let frame = m.alloc(Frame::new());
    if size > FRAME_SLOTS {
        let mut last = frame.clone();
        for _ in 1..size.div_ceil(FRAME_SLOTS) {
            let more = m.alloc(Frame::new());
            last.get(m).more.set(m, Some(more.get(m)));
            last = more;
        }
    }
    frame
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The error for calling `name` with `got` arguments.
pub fn arity_error(name: &str, required: usize, rest: bool, got: usize) -> Error {
    let at_least = if rest { "at least " } else { "" };
    Error::new(
        ErrorKind::Arity,
        format!(
            "`{name}` expects {at_least}{required} argument{}, got {got}",
            plural(required)
        ),
    )
}

fn check_arity(lambda: &Lambda, args: usize) -> Result<(), Error> {
    if args < lambda.required || (!lambda.rest && args > lambda.required) {
        return Err(arity_error(
            &lambda.name,
            lambda.required,
            lambda.rest,
            args,
        ));
    }
    Ok(())
}

impl<'gc> Interp<'gc> {
    /// A session with the builtins defined.
    pub fn new(m: &mut Mutator<'gc>) -> Interp<'gc> {
        let mut interp = Interp {
            symbols: Symbols::default(),
            cc: Compilation::default(),
            lambdas: Vec::new(),
            constants: Vec::new(),
            globals: Vec::new(),
            global_names: Vec::new(),
            global_numbers: HashMap::new(),
            toplevel: m.alloc(Frame::new()),
            stack: Vec::new(),
            output: String::new(),
            echo: false,
            depth: 0,
            max_depth: 10_000,
        };
        for (id, builtin) in builtins::ALL.iter().enumerate() {
            let sym = interp.symbols.intern(builtin.name);
            let index = interp.global_index(m, sym);
            interp
                .global_slot(m, index)
                .store(m, &Val::Imm(Imm::Builtin(id as u32)));
        }
        interp
    }

    /// Reads, compiles and evaluates every form of `source`; the value of
    /// the last one.
    pub fn run(&mut self, m: &mut Mutator<'gc>, source: &str) -> Result<Val<'gc>, Error> {
        let forms = read_all(source)?;
        let toplevel = self.toplevel.clone();
        let mut last = Val::UNSPECIFIED;
        for form in &forms {
            let (node, registers) = self.compile_toplevel(m, form)?;
            self.depth = 0;
            self.stack.clear();
            self.stack.resize(registers, Val::UNDEFINED);
            let result = self.eval(m, &node, &toplevel, 0);
            self.stack.clear();
            last = result?;
        }
        Ok(last)
    }

    /// With [`echo`](Self::echo) on, prints and clears the output.
    pub(super) fn flush_if_echoing(&mut self) {
        if self.echo {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(self.output.as_bytes());
            self.output.clear();
        }
    }

    /// Takes the text the program has written so far.
    #[allow(dead_code, reason = "the example echoes; tests take the output")]
    pub fn take_output(&mut self) -> String {
        std::mem::take(&mut self.output)
    }

    /// The number of global `sym`, made on first use.
    pub(super) fn global_index(&mut self, m: &mut Mutator<'gc>, sym: u32) -> u32 {
        if let Some(&index) = self.global_numbers.get(&sym) {
            return index;
        }
        let index = self.global_names.len() as u32;
        self.global_names.push(sym);
        self.global_numbers.insert(sym, index);
        if index as usize >= self.globals.len() * GLOBAL_CHUNK {
            self.globals.push(m.alloc(GlobalChunk::new()));
        }
        index
    }

    fn global_slot<'a>(&self, m: &'a Mutator<'gc>, index: u32) -> &'a Slot {
        let chunk = self.globals[index as usize / GLOBAL_CHUNK].get(m).get_ref();
        &chunk.slots[index as usize % GLOBAL_CHUNK]
    }

    /// The value of a global variable, or an error if it has none.
    pub fn global(&self, m: &Mutator<'gc>, index: u32) -> Result<Val<'gc>, Error> {
        let slot = self.global_slot(m, index);
        if slot.is_undefined() {
            let name = self.symbols.name(self.global_names[index as usize]);
            return Err(Error::new(
                ErrorKind::Unbound,
                format!("`{name}` is not defined"),
            ));
        }
        Ok(slot.load(m))
    }

    /// The slot of a frame variable.
    #[inline]
    fn local_slot<'a>(
        m: &'a Mutator<'gc>,
        env: &Root<'gc, Frame>,
        depth: u32,
        index: u32,
    ) -> &'a Slot {
        let mut frame = env.get(m).get_ref();
        for _ in 0..depth {
            frame = frame
                .parent
                .get(m)
                .expect("the compiler resolved the variable to an enclosing frame")
                .get_ref();
        }
        frame.slot(m, index as usize)
    }

    /// The value of register `index` of the call whose registers start at
    /// `base`; an error naming `name` if it is not defined yet.
    #[inline]
    fn register(&self, base: usize, index: u32, name: u32) -> Result<Val<'gc>, Error> {
        match &self.stack[base + index as usize] {
            Val::Imm(Imm::Undefined) => Err(self.used_before_definition(name)),
            value => Ok(value.clone()),
        }
    }

    fn used_before_definition(&self, name: u32) -> Error {
        let name = self.symbols.name(name);
        Error::new(
            ErrorKind::Unbound,
            format!("`{name}` is used before its definition"),
        )
    }

    /// Evaluates `node` in the environment `env`, with the current call's
    /// registers from `base` on.
    pub(super) fn eval(
        &mut self,
        m: &mut Mutator<'gc>,
        node: &Node,
        env: &Root<'gc, Frame>,
        base: usize,
    ) -> Result<Val<'gc>, Error> {
        match node {
            Node::Imm(imm) => Ok(Val::Imm(*imm)),
            Node::Reg { index, name } => self.register(base, *index, *name),
            Node::Call(callee, args) => match self.call(m, callee, args, env, base)? {
                Step::Done(value) => Ok(value),
                Step::Call(lambda, closure_env, args_at) => {
                    self.activate(m, lambda, closure_env, args_at)
                }
            },
            Node::If(_) | Node::Seq(_) | Node::Let { .. } | Node::And(_) | Node::Or(_) => self
                .nested(m, |this, m| {
                    this.run_to_end(m, node, Env::Borrowed(env), base)
                }),
            _ => self.simple(m, node, env, base),
        }
    }

    /// Runs `f` as a nested evaluation, counted against
    /// [`max_depth`](Self::max_depth).
    #[inline]
    fn nested(
        &mut self,
        m: &mut Mutator<'gc>,
        f: impl FnOnce(&mut Self, &mut Mutator<'gc>) -> Result<Val<'gc>, Error>,
    ) -> Result<Val<'gc>, Error> {
        if self.depth >= self.max_depth {
            return Err(Error::new(
                ErrorKind::Depth,
                format!("more than {} nested calls", self.max_depth),
            ));
        }
        self.depth += 1;
        let result = f(self, m);
        self.depth -= 1;
        result
    }

    /// Runs a closure call whose arguments are on the stack from `base` on,
    /// and pops its registers.
    #[inline]
    fn activate(
        &mut self,
        m: &mut Mutator<'gc>,
        lambda: Rc<Lambda>,
        closure_env: Root<'gc, Frame>,
        base: usize,
    ) -> Result<Val<'gc>, Error> {
        let result = self.nested(m, |this, m| {
            let env = this.enter(m, &lambda, closure_env, base);
            this.run_to_end(m, &lambda.body, Env::Owned(env), base)
        });
        self.stack.truncate(base);
        result
    }

    /// Sets up a call's registers (arguments at `base..`) and frame; the
    /// environment its body runs in.
    #[inline]
    fn enter(
        &mut self,
        m: &mut Mutator<'gc>,
        lambda: &Lambda,
        closure_env: Root<'gc, Frame>,
        base: usize,
    ) -> Root<'gc, Frame> {
        if lambda.rest {
            let extra: Vec<Val<'gc>> = self.stack.drain(base + lambda.required..).collect();
            let rest = list(m, &extra);
            self.stack.push(rest);
        }
        self.stack.resize(base + lambda.registers, Val::UNDEFINED);
        if lambda.frame_size == 0 {
            return closure_env;
        }
        let frame = alloc_frame(m, lambda.frame_size);
        frame.get(m).parent.set(m, Some(closure_env.get(m)));
        for &(register, slot) in &lambda.captured_params {
            let value = &self.stack[base + register as usize];
            frame.get(m).slot(m, slot as usize).store(m, value);
        }
        frame
    }

    #[inline]
    fn run_to_end(
        &mut self,
        m: &mut Mutator<'gc>,
        node: &Node,
        env: Env<'_, 'gc>,
        base: usize,
    ) -> Result<Val<'gc>, Error> {
        let mut step = self.step(m, node, env, base)?;
        loop {
            match step {
                Step::Done(value) => return Ok(value),
                Step::Call(lambda, closure_env, args_at) => {
                    // A tail call: the callee's arguments replace our registers.
                    self.stack.drain(base..args_at);
                    let env = self.enter(m, &lambda, closure_env, base);
                    step = self.step(m, &lambda.body, Env::Owned(env), base)?;
                }
            }
        }
    }

    /// Evaluates `node` up to a call in tail position.
    fn step(
        &mut self,
        m: &mut Mutator<'gc>,
        mut node: &Node,
        mut env: Env<'_, 'gc>,
        base: usize,
    ) -> Result<Step<'gc>, Error> {
        loop {
            match node {
                Node::If(parts) => {
                    let [test, then, otherwise] = &**parts;
                    node = if self.eval(m, test, env.get(), base)?.is_true() {
                        then
                    } else {
                        otherwise
                    };
                }
                Node::Seq(nodes) => {
                    let (last, first) = nodes.split_last().expect("sequences are not empty");
                    for node in first {
                        self.eval(m, node, env.get(), base)?;
                    }
                    node = last;
                }
                Node::Let {
                    frame_size,
                    inits,
                    targets,
                    body,
                } => {
                    let frame = (*frame_size > 0).then(|| {
                        let frame = alloc_frame(m, *frame_size as usize);
                        frame.get(m).parent.set(m, Some(env.get().get(m)));
                        frame
                    });
                    for (init, target) in inits.iter().zip(targets) {
                        let value = self.eval(m, init, env.get(), base)?;
                        match (target, &frame) {
                            (Location::Reg(index), _) => self.stack[base + *index as usize] = value,
                            (Location::Slot(index), Some(frame)) => {
                                frame.get(m).slot(m, *index as usize).store(m, &value);
                            }
                            (Location::Slot(_), None) => unreachable!("slot targets have a frame"),
                        }
                    }
                    if let Some(frame) = frame {
                        env = Env::Owned(frame);
                    }
                    node = body;
                }
                Node::And(nodes) | Node::Or(nodes) => {
                    let and = matches!(node, Node::And(_));
                    let (last, first) = nodes.split_last().expect("at least two operands");
                    for node in first {
                        let value = self.eval(m, node, env.get(), base)?;
                        if value.is_true() != and {
                            return Ok(Step::Done(value));
                        }
                    }
                    node = last;
                }
                Node::Call(callee, args) => return self.call(m, callee, args, env.get(), base),
                _ => return self.simple(m, node, env.get(), base).map(Step::Done),
            }
        }
    }

    /// The expressions that neither nest nor call.
    fn simple(
        &mut self,
        m: &mut Mutator<'gc>,
        node: &Node,
        env: &Root<'gc, Frame>,
        base: usize,
    ) -> Result<Val<'gc>, Error> {
        match node {
            Node::Imm(imm) => Ok(Val::Imm(*imm)),
            Node::Const(index) => Ok(self.constants[*index as usize].clone()),
            Node::Reg { index, name } => self.register(base, *index, *name),
            Node::SetReg { index, value } => {
                let value = self.eval(m, value, env, base)?;
                self.stack[base + *index as usize] = value;
                Ok(Val::UNSPECIFIED)
            }
            Node::Local { depth, index, name } => {
                let slot = Self::local_slot(m, env, *depth, *index);
                if slot.is_undefined() {
                    return Err(self.used_before_definition(*name));
                }
                Ok(slot.load(m))
            }
            Node::Global { index } => self.global(m, *index),
            Node::SetLocal {
                depth,
                index,
                value,
            } => {
                let value = self.eval(m, value, env, base)?;
                Self::local_slot(m, env, *depth, *index).store(m, &value);
                Ok(Val::UNSPECIFIED)
            }
            Node::SetGlobal {
                index,
                value,
                define,
            } => {
                let value = self.eval(m, value, env, base)?;
                let slot = self.global_slot(m, *index);
                if !define && slot.is_undefined() {
                    let name = self.symbols.name(self.global_names[*index as usize]);
                    return Err(Error::new(
                        ErrorKind::Unbound,
                        format!("`set!` of `{name}`, which is not defined"),
                    ));
                }
                slot.store(m, &value);
                Ok(Val::UNSPECIFIED)
            }
            Node::Lambda(code) => {
                let closure = m.alloc_init(ObjInit::Closure {
                    code: *code,
                    env: Some(env),
                });
                Ok(Val::Obj(closure))
            }
            Node::Var { .. } | Node::SetVar { .. } | Node::Scope { .. } => {
                unreachable!("first-pass nodes are lowered before evaluation")
            }
            _ => self.eval(m, node, env, base),
        }
    }

    /// The slot a frame or global variable reference reads, without
    /// reading it.
    #[inline]
    fn variable_slot<'a>(
        &self,
        m: &'a Mutator<'gc>,
        node: &Node,
        env: &Root<'gc, Frame>,
    ) -> Option<&'a Slot> {
        match node {
            Node::Local { depth, index, .. } => Some(Self::local_slot(m, env, *depth, *index)),
            Node::Global { index } => Some(self.global_slot(m, *index)),
            _ => None,
        }
    }

    /// A closure's environment, rooted. Rooting an old object checks that
    /// it belongs to the heap (a table lookup), so the common cases — the
    /// current environment (a loop calling itself) and the top level (a
    /// global procedure) — reuse a root we hold.
    #[inline]
    fn closure_env(
        &self,
        m: &Mutator<'gc>,
        closure: &Obj,
        current: &Root<'gc, Frame>,
    ) -> Root<'gc, Frame> {
        let env = match closure {
            Obj::Closure { env, .. } => env.get(m),
            _ => None,
        };
        match env {
            Some(env) if Gc::ptr_eq(env, current.get(m)) => current.clone(),
            Some(env) if Gc::ptr_eq(env, self.toplevel.get(m)) => self.toplevel.clone(),
            Some(env) => m.root(env),
            None => self.toplevel.clone(),
        }
    }

    /// What a call's procedure expression denotes.
    #[inline]
    fn callee(
        &mut self,
        m: &mut Mutator<'gc>,
        callee: &Node,
        env: &Root<'gc, Frame>,
        base: usize,
    ) -> Result<Callee<'gc>, Error> {
        // A procedure in a frame or global variable (the usual case) is
        // looked at in place, without rooting it.
        if let Some(slot) = self.variable_slot(m, callee, env)
            && !slot.is_undefined()
        {
            return Ok(
                match (slot.immediate(), slot.object(m).map(|o| o.get_ref())) {
                    (Some(Imm::Builtin(id)), _) => Callee::Builtin(id),
                    (_, Some(closure @ Obj::Closure { code, .. })) => {
                        Callee::Closure(*code, self.closure_env(m, closure, env))
                    }
                    _ => Callee::NotProcedure(slot.load(m)),
                },
            );
        }
        let value = self.eval(m, callee, env, base)?;
        Ok(match (&value, value.object(m)) {
            (Val::Imm(Imm::Builtin(id)), _) => Callee::Builtin(*id),
            (_, Some(closure @ Obj::Closure { code, .. })) => {
                Callee::Closure(*code, self.closure_env(m, closure, env))
            }
            _ => Callee::NotProcedure(value),
        })
    }

    /// Evaluates a call: a builtin to the end; a closure up to running its
    /// body (its arguments pushed on the stack).
    fn call(
        &mut self,
        m: &mut Mutator<'gc>,
        callee: &Node,
        args: &[Node],
        env: &Root<'gc, Frame>,
        base: usize,
    ) -> Result<Step<'gc>, Error> {
        match self.callee(m, callee, env, base)? {
            Callee::Builtin(id) => {
                let value = if let [arg] = args {
                    let value = self.eval(m, arg, env, base)?;
                    match builtins::fast1(m, id, &value) {
                        Some(result) => result?,
                        None => builtins::call(self, m, id, std::slice::from_ref(&value))?,
                    }
                } else if let [a, b] = args {
                    let a = self.eval(m, a, env, base)?;
                    let b = self.eval(m, b, env, base)?;
                    match builtins::fast2(m, id, &a, &b) {
                        Some(result) => result?,
                        None => builtins::call(self, m, id, &[a, b])?,
                    }
                } else if args.len() <= 3 {
                    let mut values = [Val::UNSPECIFIED, Val::UNSPECIFIED, Val::UNSPECIFIED];
                    for (value, arg) in values.iter_mut().zip(args) {
                        *value = self.eval(m, arg, env, base)?;
                    }
                    builtins::call(self, m, id, &values[..args.len()])?
                } else {
                    let mut values = Vec::with_capacity(args.len());
                    for arg in args {
                        values.push(self.eval(m, arg, env, base)?);
                    }
                    builtins::call(self, m, id, &values)?
                };
                Ok(Step::Done(value))
            }
            Callee::Closure(code, closure_env) => {
                let lambda = Rc::clone(&self.lambdas[code as usize]);
                check_arity(&lambda, args.len())?;
                let args_at = self.stack.len();
                for arg in args {
                    let value = self.eval(m, arg, env, base)?;
                    self.stack.push(value);
                }
                Ok(Step::Call(lambda, closure_env, args_at))
            }
            Callee::NotProcedure(value) => Err(self.not_a_procedure(m, &value)),
        }
    }

    fn not_a_procedure(&self, m: &Mutator<'gc>, value: &Val<'gc>) -> Error {
        Error::new(
            ErrorKind::Type,
            format!("`{}` is not a procedure", self.show(m, value)),
        )
    }

    /// Calls `procedure` with `args` (for builtins such as `map`).
    pub fn apply(
        &mut self,
        m: &mut Mutator<'gc>,
        procedure: &Val<'gc>,
        args: &[Val<'gc>],
    ) -> Result<Val<'gc>, Error> {
        let (code, closure_env) = match (procedure, procedure.object(m)) {
            (Val::Imm(Imm::Builtin(id)), _) => return builtins::call(self, m, *id, args),
            (_, Some(closure @ Obj::Closure { code, .. })) => {
                let toplevel = self.toplevel.clone();
                (*code, self.closure_env(m, closure, &toplevel))
            }
            _ => return Err(self.not_a_procedure(m, procedure)),
        };
        let lambda = Rc::clone(&self.lambdas[code as usize]);
        check_arity(&lambda, args.len())?;
        let base = self.stack.len();
        self.stack.extend_from_slice(args);
        self.activate(m, lambda, closure_env, base)
    }

    /// The name of symbol `sym`.
    pub fn symbol_name(&self, sym: u32) -> &str {
        self.symbols.name(sym)
    }

    /// The symbol called `name`.
    pub fn intern(&mut self, name: &str) -> u32 {
        self.symbols.intern(name)
    }

    /// The name of a closure's lambda.
    pub fn lambda_name(&self, code: u32) -> &str {
        &self.lambdas[code as usize].name
    }
}
