//! The compiler: [`Datum`]s to [`Node`] trees, with every variable resolved
//! at compile time.
//!
//! Variables live in one of three places:
//!
//! * **registers** — a variable no closure captures lives in its
//!   activation's slice of the interpreter's value stack (rooted Rust
//!   values), like a local on a VM's stack;
//! * **frames** — a variable a closure captures (reads or assigns it from
//!   another procedure) lives in a managed [`Frame`](super::value::Frame)
//!   object, found `depth` frames up the environment chain;
//! * **globals** — top-level definitions, by number.
//!
//! Which is which is only known once the whole top-level form has been
//! read, so compilation has two passes: the first emits [`Node::Var`]
//! references to bindings and records which bindings are captured; the
//! second ([`Interp::lower`]) assigns registers and frame slots and
//! rewrites every reference.
//!
//! Code stays outside the heap (plain Rust, shared through `Rc`); only
//! quoted data and string/float literals become managed constants.

use std::collections::HashMap;
use std::rc::Rc;

use morph_mem::gc::Mutator;

use super::eval::Interp;
use super::reader::Datum;
use super::value::{Error, ErrorKind, Imm, Val, cons, float, string};

/// A compiled expression.
#[derive(Debug)]
pub enum Node {
    /// A self-evaluating immediate.
    Imm(Imm),
    /// A managed constant (index into the interpreter's constant table).
    Const(u32),
    /// First pass only: a reference to a binding.
    Var { binding: u32, name: u32 },
    /// First pass only: an assignment to a binding.
    SetVar { binding: u32, value: Box<Node> },
    /// A register of the current activation.
    Reg { index: u32, name: u32 },
    /// Assignment to a register.
    SetReg { index: u32, value: Box<Node> },
    /// A frame variable `depth` frames up the environment, at `index`.
    Local { depth: u32, index: u32, name: u32 },
    /// Assignment to a frame variable.
    SetLocal {
        depth: u32,
        index: u32,
        value: Box<Node>,
    },
    /// A global variable.
    Global { index: u32 },
    /// `set!` of a global variable (which must be defined), or a top-level
    /// `define` (which defines it).
    SetGlobal {
        index: u32,
        value: Box<Node>,
        define: bool,
    },
    /// `(if test then else)`.
    If(Box<[Node; 3]>),
    /// A `lambda`: makes a closure of code `self.0` over the current frame.
    Lambda(u32),
    /// `begin`: the value of the last.
    Seq(Box<[Node]>),
    /// A call: the procedure, then the arguments.
    Call(Box<Node>, Box<[Node]>),
    /// First pass only: the bindings of `scope`, the first `inits.len()`
    /// of them initialised from `inits` (evaluated outside the scope).
    Scope {
        scope: u32,
        inits: Box<[Node]>,
        body: Box<Node>,
    },
    /// A block of bindings: a new frame of `frame_size` slots if any
    /// binding is captured, the values of `inits` (evaluated in the
    /// enclosing environment) stored to `targets`, then `body`.
    Let {
        frame_size: u32,
        inits: Box<[Node]>,
        targets: Box<[Location]>,
        body: Box<Node>,
    },
    /// `and`: the first false value, or the last.
    And(Box<[Node]>),
    /// `or`: the first true value, or the last.
    Or(Box<[Node]>),
}

/// Where a `let` stores an initial value.
#[derive(Clone, Copy, Debug)]
pub enum Location {
    /// A register of the current activation.
    Reg(u32),
    /// A slot of the block's new frame.
    Slot(u32),
}

/// A compiled `lambda`.
#[derive(Debug)]
pub struct Lambda {
    /// The name it was defined under (`define`, named `let`), for messages.
    pub name: Rc<str>,
    /// Parameters before the rest parameter.
    pub required: usize,
    /// Whether extra arguments are collected into a list (`(a . rest)`).
    pub rest: bool,
    /// Registers of an activation; the parameters are the first ones.
    pub registers: usize,
    /// Slots of its frame (0: no frame, the body runs in the closure's
    /// environment).
    pub frame_size: usize,
    /// Captured parameters: copied from their register to their frame slot
    /// on entry.
    pub captured_params: Box<[(u32, u32)]>,
    /// The body.
    pub body: Node,
}

/// Symbol interning.
#[derive(Debug, Default)]
pub struct Symbols {
    names: Vec<Rc<str>>,
    ids: HashMap<Rc<str>, u32>,
}

impl Symbols {
    /// The symbol called `name`.
    pub fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        let name: Rc<str> = name.into();
        self.names.push(Rc::clone(&name));
        self.ids.insert(name, id);
        id
    }

    /// The name of symbol `id`.
    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("?", |n| n)
    }
}

/// A lexical block (a lambda's parameters and defines, or a `let`'s
/// bindings). A `None` name cannot be referenced yet (a named `let`'s
/// procedure while its arguments are compiled).
#[derive(Debug)]
struct ScopeInfo {
    names: Vec<(Option<u32>, u32)>,
    activation: u32,
    frame_size: u32,
}

#[derive(Debug)]
struct Binding {
    scope: u32,
    activation: u32,
    /// Its position among the parameters, for a parameter.
    param: Option<u32>,
    captured: bool,
    register: u32,
    slot: u32,
}

/// A lambda between the two passes.
#[derive(Debug)]
struct Pending {
    name: Rc<str>,
    required: usize,
    rest: bool,
    scope: u32,
    activation: u32,
    body: Option<Node>,
}

/// The compiler's state for one top-level form (activation 0 is the form
/// itself).
#[derive(Debug, Default)]
pub struct Compilation {
    stack: Vec<u32>,
    scopes: Vec<ScopeInfo>,
    bindings: Vec<Binding>,
    registers: Vec<u32>,
    pending: Vec<Pending>,
    /// The code number of `pending[0]`.
    first_code: u32,
}

impl Compilation {
    fn reset(&mut self, first_code: u32) {
        *self = Compilation {
            registers: vec![0],
            first_code,
            ..Compilation::default()
        };
    }

    /// The activation code is compiled into now.
    fn activation(&self) -> u32 {
        self.stack
            .last()
            .map_or(0, |&scope| self.scopes[scope as usize].activation)
    }

    fn push_scope(&mut self, activation: u32) -> u32 {
        self.scopes.push(ScopeInfo {
            names: Vec::new(),
            activation,
            frame_size: 0,
        });
        let scope = (self.scopes.len() - 1) as u32;
        self.stack.push(scope);
        scope
    }

    /// A new binding in the innermost scope.
    fn declare(&mut self, name: Option<u32>, param: Option<u32>) -> u32 {
        let scope = *self.stack.last().expect("inside a scope");
        let binding = self.bindings.len() as u32;
        self.bindings.push(Binding {
            scope,
            activation: self.scopes[scope as usize].activation,
            param,
            captured: false,
            register: 0,
            slot: 0,
        });
        self.scopes[scope as usize].names.push((name, binding));
        binding
    }

    fn lookup(&self, sym: u32) -> Option<u32> {
        self.stack.iter().rev().find_map(|&scope| {
            let names = &self.scopes[scope as usize].names;
            names
                .iter()
                .rev()
                .find(|(name, _)| *name == Some(sym))
                .map(|&(_, binding)| binding)
        })
    }

    /// A use of `binding` here: from another activation, it is captured.
    fn use_binding(&mut self, binding: u32) {
        if self.bindings[binding as usize].activation != self.activation() {
            self.bindings[binding as usize].captured = true;
        }
    }

    /// Gives every binding its register or frame slot.
    fn assign_locations(&mut self) {
        for scope in 0..self.scopes.len() {
            for index in 0..self.scopes[scope].names.len() {
                let binding = self.scopes[scope].names[index].1 as usize;
                let b = &mut self.bindings[binding];
                if let Some(param) = b.param {
                    b.register = param;
                } else if !b.captured {
                    let registers = &mut self.registers[b.activation as usize];
                    b.register = *registers;
                    *registers += 1;
                }
                if b.captured {
                    b.slot = self.scopes[scope].frame_size;
                    self.scopes[scope].frame_size += 1;
                }
            }
        }
    }
}

const KEYWORDS: &[&str] = &[
    "quote", "if", "define", "set!", "lambda", "let", "let*", "letrec", "letrec*", "begin", "cond",
    "and", "or", "when", "unless",
];

fn seq(mut nodes: Vec<Node>) -> Node {
    if nodes.len() == 1 {
        nodes.pop().expect("one node")
    } else {
        Node::Seq(nodes.into_boxed_slice())
    }
}

fn syntax(line: u32, message: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Syntax, format!("line {line}: {message}"))
}

impl Compilation {
    /// Frames between the current environment (the end of `chain`) and
    /// `scope`'s frame.
    fn depth(chain: &[u32], scope: u32) -> u32 {
        let position = chain
            .iter()
            .rposition(|&s| s == scope)
            .expect("a captured binding's frame is on the environment chain");
        (chain.len() - 1 - position) as u32
    }

    fn location(&self, binding: u32) -> Location {
        let b = &self.bindings[binding as usize];
        if b.captured {
            Location::Slot(b.slot)
        } else {
            Location::Reg(b.register)
        }
    }

    fn lower_all(
        &mut self,
        nodes: Box<[Node]>,
        chain: &mut Vec<u32>,
        out: &mut [Option<Lambda>],
    ) -> Box<[Node]> {
        nodes
            .into_vec()
            .into_iter()
            .map(|node| self.lower(node, chain, out))
            .collect()
    }

    /// The second pass: rewrites binding references to registers and frame
    /// addresses. `chain` lists the scopes with frames, outermost first,
    /// that make up the environment at `node`; lowered lambdas go to `out`.
    fn lower(&mut self, node: Node, chain: &mut Vec<u32>, out: &mut [Option<Lambda>]) -> Node {
        match node {
            Node::Var { binding, name } => {
                let b = &self.bindings[binding as usize];
                match self.location(binding) {
                    Location::Slot(index) => Node::Local {
                        depth: Self::depth(chain, b.scope),
                        index,
                        name,
                    },
                    Location::Reg(index) => Node::Reg { index, name },
                }
            }
            Node::SetVar { binding, value } => {
                let value = Box::new(self.lower(*value, chain, out));
                let scope = self.bindings[binding as usize].scope;
                match self.location(binding) {
                    Location::Slot(index) => Node::SetLocal {
                        depth: Self::depth(chain, scope),
                        index,
                        value,
                    },
                    Location::Reg(index) => Node::SetReg { index, value },
                }
            }
            Node::Scope { scope, inits, body } => {
                let inits = self.lower_all(inits, chain, out);
                let info = &self.scopes[scope as usize];
                let frame_size = info.frame_size;
                let targets = info.names[..inits.len()]
                    .iter()
                    .map(|&(_, binding)| self.location(binding))
                    .collect();
                if frame_size > 0 {
                    chain.push(scope);
                }
                let body = Box::new(self.lower(*body, chain, out));
                if frame_size > 0 {
                    chain.pop();
                }
                Node::Let {
                    frame_size,
                    inits,
                    targets,
                    body,
                }
            }
            Node::Lambda(code) => {
                let index = (code - self.first_code) as usize;
                let pending = &mut self.pending[index];
                let body = pending
                    .body
                    .take()
                    .expect("each lambda is created at one place");
                let (scope, activation) = (pending.scope, pending.activation);
                let frame_size = self.scopes[scope as usize].frame_size;
                let mut inner = chain.clone();
                if frame_size > 0 {
                    inner.push(scope);
                }
                let body = self.lower(body, &mut inner, out);
                let captured_params = self.scopes[scope as usize]
                    .names
                    .iter()
                    .filter_map(|&(_, binding)| {
                        let b = &self.bindings[binding as usize];
                        (b.param.is_some() && b.captured).then_some((b.register, b.slot))
                    })
                    .collect();
                let pending = &self.pending[index];
                out[index] = Some(Lambda {
                    name: Rc::clone(&pending.name),
                    required: pending.required,
                    rest: pending.rest,
                    registers: self.registers[activation as usize] as usize,
                    frame_size: frame_size as usize,
                    captured_params,
                    body,
                });
                Node::Lambda(code)
            }
            Node::SetGlobal {
                index,
                value,
                define,
            } => Node::SetGlobal {
                index,
                value: Box::new(self.lower(*value, chain, out)),
                define,
            },
            Node::If(parts) => {
                let [test, then, otherwise] = *parts;
                Node::If(Box::new([
                    self.lower(test, chain, out),
                    self.lower(then, chain, out),
                    self.lower(otherwise, chain, out),
                ]))
            }
            Node::Seq(nodes) => Node::Seq(self.lower_all(nodes, chain, out)),
            Node::And(nodes) => Node::And(self.lower_all(nodes, chain, out)),
            Node::Or(nodes) => Node::Or(self.lower_all(nodes, chain, out)),
            Node::Call(callee, args) => Node::Call(
                Box::new(self.lower(*callee, chain, out)),
                self.lower_all(args, chain, out),
            ),
            leaf => leaf,
        }
    }
}

impl<'gc> Interp<'gc> {
    /// Compiles a top-level form: its code, and the registers it needs.
    pub(super) fn compile_toplevel(
        &mut self,
        m: &mut Mutator<'gc>,
        datum: &Datum,
    ) -> Result<(Node, usize), Error> {
        self.cc.reset(self.lambdas.len() as u32);
        let node = self.compile(m, datum)?;
        self.cc.assign_locations();
        let mut lowered: Vec<Option<Lambda>> = self.cc.pending.iter().map(|_| None).collect();
        let node = self.cc.lower(node, &mut Vec::new(), &mut lowered);
        for lambda in lowered {
            let lambda = lambda.expect("every lambda is lowered where it is created");
            self.lambdas.push(Rc::new(lambda));
        }
        Ok((node, self.cc.registers[0] as usize))
    }

    fn compile(&mut self, m: &mut Mutator<'gc>, datum: &Datum) -> Result<Node, Error> {
        match datum {
            Datum::Int(i) => Ok(Node::Imm(Imm::Int(*i))),
            Datum::Bool(b) => Ok(Node::Imm(Imm::Bool(*b))),
            Datum::Float(_) | Datum::Str(_) => self.constant(m, datum),
            Datum::Sym(name) => Ok(self.reference(m, name)),
            Datum::List(items, tail, line) => {
                if tail.is_some() {
                    return Err(syntax(*line, "a dotted list cannot be evaluated"));
                }
                let Some(head) = items.first() else {
                    return Err(syntax(
                        *line,
                        "`()` cannot be evaluated; write '() for the empty list",
                    ));
                };
                if let Some(keyword) = head.as_sym().filter(|k| self.is_keyword(k)) {
                    return self.special(m, keyword, &items[1..], *line);
                }
                let callee = self.compile(m, head)?;
                let args = self.compile_all(m, &items[1..])?;
                Ok(Node::Call(Box::new(callee), args.into_boxed_slice()))
            }
        }
    }

    fn compile_all(&mut self, m: &mut Mutator<'gc>, data: &[Datum]) -> Result<Vec<Node>, Error> {
        data.iter().map(|d| self.compile(m, d)).collect()
    }

    /// A special-form keyword not shadowed by a local variable.
    fn is_keyword(&mut self, name: &str) -> bool {
        KEYWORDS.contains(&name) && {
            let sym = self.symbols.intern(name);
            self.cc.lookup(sym).is_none()
        }
    }

    fn reference(&mut self, m: &mut Mutator<'gc>, name: &str) -> Node {
        let sym = self.symbols.intern(name);
        match self.cc.lookup(sym) {
            Some(binding) => {
                self.cc.use_binding(binding);
                Node::Var { binding, name: sym }
            }
            None => Node::Global {
                index: self.global_index(m, sym),
            },
        }
    }

    fn constant(&mut self, m: &mut Mutator<'gc>, datum: &Datum) -> Result<Node, Error> {
        let value = self.datum_value(m, datum);
        match value {
            Val::Imm(imm) => Ok(Node::Imm(imm)),
            obj => {
                self.constants.push(obj);
                Ok(Node::Const((self.constants.len() - 1) as u32))
            }
        }
    }

    /// The runtime value of quoted data.
    pub(super) fn datum_value(&mut self, m: &mut Mutator<'gc>, datum: &Datum) -> Val<'gc> {
        match datum {
            Datum::Int(i) => Val::Imm(Imm::Int(*i)),
            Datum::Bool(b) => Val::bool(*b),
            Datum::Float(f) => float(m, *f),
            Datum::Str(s) => string(m, s),
            Datum::Sym(s) => Val::Imm(Imm::Sym(self.symbols.intern(s))),
            Datum::List(items, tail, _) => {
                let mut list = match tail {
                    Some(tail) => self.datum_value(m, tail),
                    None => Val::NIL,
                };
                for item in items.iter().rev() {
                    let item = self.datum_value(m, item);
                    list = cons(m, &item, &list);
                }
                list
            }
        }
    }

    fn special(
        &mut self,
        m: &mut Mutator<'gc>,
        keyword: &str,
        args: &[Datum],
        line: u32,
    ) -> Result<Node, Error> {
        match keyword {
            "quote" => match args {
                [datum] => self.constant(m, datum),
                _ => Err(syntax(line, "`quote` takes one datum")),
            },
            "if" => match args {
                [test, then] | [test, then, _] => {
                    let otherwise = match args.get(2) {
                        Some(e) => self.compile(m, e)?,
                        None => Node::Imm(Imm::Unspecified),
                    };
                    Ok(Node::If(Box::new([
                        self.compile(m, test)?,
                        self.compile(m, then)?,
                        otherwise,
                    ])))
                }
                _ => Err(syntax(
                    line,
                    "`if` takes a test, a consequent and an optional alternative",
                )),
            },
            "define" => self.define(m, args, line),
            "set!" => match args {
                [Datum::Sym(name), value] => {
                    let value = Box::new(self.compile(m, value)?);
                    let sym = self.symbols.intern(name);
                    Ok(match self.cc.lookup(sym) {
                        Some(binding) => {
                            self.cc.use_binding(binding);
                            Node::SetVar { binding, value }
                        }
                        None => Node::SetGlobal {
                            index: self.global_index(m, sym),
                            value,
                            define: false,
                        },
                    })
                }
                _ => Err(syntax(line, "`set!` takes a variable and a value")),
            },
            "lambda" => match args {
                [params, body @ ..] => self.lambda(m, "lambda".into(), params, body, line),
                _ => Err(syntax(line, "`lambda` needs parameters and a body")),
            },
            "begin" => {
                if args.is_empty() {
                    return Ok(Node::Imm(Imm::Unspecified));
                }
                Ok(seq(self.compile_all(m, args)?))
            }
            "let" => match args {
                [Datum::Sym(name), bindings, body @ ..] => {
                    self.named_let(m, name, bindings, body, line)
                }
                [bindings, body @ ..] => self.let_form(m, bindings, body, line),
                _ => Err(syntax(line, "`let` needs bindings and a body")),
            },
            "let*" | "letrec" | "letrec*" => match args {
                [bindings, body @ ..] => {
                    self.sequential_let(m, keyword != "let*", bindings, body, line)
                }
                _ => Err(syntax(
                    line,
                    format!("`{keyword}` needs bindings and a body"),
                )),
            },
            "cond" => self.cond(m, args, line),
            "and" | "or" => {
                let nodes = self.compile_all(m, args)?;
                Ok(match (keyword, nodes.len()) {
                    ("and", 0) => Node::Imm(Imm::Bool(true)),
                    (_, 0) => Node::Imm(Imm::Bool(false)),
                    (_, 1) => seq(nodes),
                    ("and", _) => Node::And(nodes.into_boxed_slice()),
                    _ => Node::Or(nodes.into_boxed_slice()),
                })
            }
            "when" | "unless" => match args {
                [test, body @ ..] if !body.is_empty() => {
                    let test = self.compile(m, test)?;
                    let body = seq(self.compile_all(m, body)?);
                    let nothing = Node::Imm(Imm::Unspecified);
                    Ok(Node::If(Box::new(if keyword == "when" {
                        [test, body, nothing]
                    } else {
                        [test, nothing, body]
                    })))
                }
                _ => Err(syntax(line, format!("`{keyword}` needs a test and a body"))),
            },
            _ => unreachable!("every keyword has a case"),
        }
    }

    fn define(&mut self, m: &mut Mutator<'gc>, args: &[Datum], line: u32) -> Result<Node, Error> {
        let (name, value) = match args {
            // (define (name . params) body...)
            [Datum::List(signature, rest, _), body @ ..] if !signature.is_empty() => {
                let Some(name) = signature[0].as_sym() else {
                    return Err(syntax(line, "`define` needs a name"));
                };
                let params = Datum::List(signature[1..].to_vec(), rest.clone(), line);
                (name, self.lambda(m, name.into(), &params, body, line)?)
            }
            [Datum::Sym(name), value] => (name.as_str(), self.named_value(m, name, value)?),
            _ => {
                return Err(syntax(
                    line,
                    "`define` takes a name and a value, or (name params...) and a body",
                ));
            }
        };
        let sym = self.symbols.intern(name);
        let value = Box::new(value);
        let Some(&scope) = self.cc.stack.last() else {
            return Ok(Node::SetGlobal {
                index: self.global_index(m, sym),
                value,
                define: true,
            });
        };
        let declared = self.cc.scopes[scope as usize]
            .names
            .iter()
            .rev()
            .find(|(n, _)| *n == Some(sym))
            .map(|&(_, binding)| binding);
        match declared {
            Some(binding) => Ok(Node::SetVar { binding, value }),
            None => Err(syntax(
                line,
                format!(
                    "`define` of `{name}` is only allowed at the top level or directly in a body"
                ),
            )),
        }
    }

    /// A value being bound to `name`: lambdas are named after it.
    fn named_value(
        &mut self,
        m: &mut Mutator<'gc>,
        name: &str,
        value: &Datum,
    ) -> Result<Node, Error> {
        if let Datum::List(items, None, line) = value
            && let [head, params, body @ ..] = items.as_slice()
            && head.as_sym() == Some("lambda")
            && self.is_keyword("lambda")
        {
            return self.lambda(m, name.into(), params, body, *line);
        }
        self.compile(m, value)
    }

    fn lambda(
        &mut self,
        m: &mut Mutator<'gc>,
        name: Rc<str>,
        params: &Datum,
        body: &[Datum],
        line: u32,
    ) -> Result<Node, Error> {
        let (fixed, rest): (&[Datum], Option<&Datum>) = match params {
            Datum::Sym(_) => (&[], Some(params)),
            Datum::List(items, tail, _) => (items, tail.as_deref()),
            _ => return Err(syntax(line, "lambda parameters must be a list of symbols")),
        };
        let mut names = Vec::new();
        for param in fixed.iter().chain(rest) {
            let Some(param) = param.as_sym() else {
                return Err(syntax(line, "lambda parameters must be symbols"));
            };
            let sym = self.symbols.intern(param);
            if names.contains(&sym) {
                return Err(syntax(line, format!("parameter `{param}` appears twice")));
            }
            names.push(sym);
        }
        self.cc.registers.push(names.len() as u32);
        let activation = (self.cc.registers.len() - 1) as u32;
        let scope = self.cc.push_scope(activation);
        for (position, &sym) in names.iter().enumerate() {
            self.cc.declare(Some(sym), Some(position as u32));
        }
        let code = self.cc.first_code + self.cc.pending.len() as u32;
        self.cc.pending.push(Pending {
            name,
            required: fixed.len(),
            rest: rest.is_some(),
            scope,
            activation,
            body: None,
        });
        let body = self.body(m, body, line);
        self.cc.stack.pop();
        let index = (code - self.cc.first_code) as usize;
        self.cc.pending[index].body = Some(body?);
        Ok(Node::Lambda(code))
    }

    /// A body in the innermost scope: its defines become bindings of it.
    fn body(&mut self, m: &mut Mutator<'gc>, forms: &[Datum], line: u32) -> Result<Node, Error> {
        if forms.is_empty() {
            return Err(syntax(line, "empty body"));
        }
        self.declare_defines(forms);
        Ok(seq(self.compile_all(m, forms)?))
    }

    fn declare_defines(&mut self, forms: &[Datum]) {
        for form in forms {
            let Some([head, target, ..]) = form.as_list() else {
                continue;
            };
            match head.as_sym() {
                Some("define") if self.is_keyword("define") => {
                    let name = match target {
                        Datum::Sym(name) => name,
                        Datum::List(items, _, _) => match items.first() {
                            Some(Datum::Sym(name)) => name,
                            _ => continue,
                        },
                        _ => continue,
                    };
                    let sym = self.symbols.intern(name);
                    let scope = *self.cc.stack.last().expect("inside a body");
                    let names = &self.cc.scopes[scope as usize].names;
                    if !names.iter().any(|(n, _)| *n == Some(sym)) {
                        self.cc.declare(Some(sym), None);
                    }
                }
                Some("begin") if self.is_keyword("begin") => {
                    let items = form.as_list().expect("a list");
                    self.declare_defines(&items[1..]);
                }
                _ => {}
            }
        }
    }

    /// `(name value)` pairs of a binding list.
    fn bindings<'d>(
        &mut self,
        bindings: &'d Datum,
        line: u32,
    ) -> Result<Vec<(u32, &'d Datum)>, Error> {
        let Some(items) = bindings.as_list() else {
            return Err(syntax(line, "bindings must be a list of (name value)"));
        };
        items
            .iter()
            .map(|binding| match binding.as_list() {
                Some([Datum::Sym(name), value]) => Ok((self.symbols.intern(name), value)),
                _ => Err(syntax(line, "each binding must be (name value)")),
            })
            .collect()
    }

    /// Runs `inside` in a new scope of the current activation; the scope
    /// is closed even on error.
    fn in_scope<T>(
        &mut self,
        inside: impl FnOnce(&mut Self, u32) -> Result<T, Error>,
    ) -> Result<(u32, T), Error> {
        let scope = self.cc.push_scope(self.cc.activation());
        let result = inside(self, scope);
        self.cc.stack.pop();
        Ok((scope, result?))
    }

    fn let_form(
        &mut self,
        m: &mut Mutator<'gc>,
        bindings: &Datum,
        body: &[Datum],
        line: u32,
    ) -> Result<Node, Error> {
        let bindings = self.bindings(bindings, line)?;
        let mut inits = Vec::with_capacity(bindings.len());
        for (index, &(sym, value)) in bindings.iter().enumerate() {
            if bindings[..index].iter().any(|&(s, _)| s == sym) {
                let name = self.symbols.name(sym);
                return Err(syntax(line, format!("`{name}` is bound twice")));
            }
            inits.push(self.compile(m, value)?);
        }
        let (scope, body) = self.in_scope(|this, _| {
            for &(sym, _) in &bindings {
                this.cc.declare(Some(sym), None);
            }
            this.body(m, body, line)
        })?;
        Ok(Node::Scope {
            scope,
            inits: inits.into_boxed_slice(),
            body: Box::new(body),
        })
    }

    /// `let*` (each init sees the ones before) and `letrec`/`letrec*`
    /// (each sees all): one scope, filled in order.
    fn sequential_let(
        &mut self,
        m: &mut Mutator<'gc>,
        recursive: bool,
        bindings: &Datum,
        body: &[Datum],
        line: u32,
    ) -> Result<Node, Error> {
        let bindings = self.bindings(bindings, line)?;
        let (scope, body) = self.in_scope(|this, _| {
            let mut declared = Vec::with_capacity(bindings.len());
            if recursive {
                for &(sym, _) in &bindings {
                    declared.push(this.cc.declare(Some(sym), None));
                }
            }
            let mut nodes = Vec::with_capacity(bindings.len() + 1);
            for (index, &(sym, value)) in bindings.iter().enumerate() {
                let name = this.symbols.name(sym).to_owned();
                let value = this.named_value(m, &name, value)?;
                let binding = if recursive {
                    declared[index]
                } else {
                    this.cc.declare(Some(sym), None)
                };
                nodes.push(Node::SetVar {
                    binding,
                    value: Box::new(value),
                });
            }
            nodes.push(this.body(m, body, line)?);
            Ok(seq(nodes))
        })?;
        Ok(Node::Scope {
            scope,
            inits: Box::new([]),
            body: Box::new(body),
        })
    }

    /// `(let name ((var init)...) body...)`: a local procedure `name`
    /// called at once with the inits.
    fn named_let(
        &mut self,
        m: &mut Mutator<'gc>,
        name: &str,
        bindings: &Datum,
        body: &[Datum],
        line: u32,
    ) -> Result<Node, Error> {
        let bindings = self.bindings(bindings, line)?;
        let sym = self.symbols.intern(name);
        let (scope, body) = self.in_scope(|this, scope| {
            // The procedure's binding exists while the inits are compiled,
            // but they cannot name it: they belong outside its scope.
            let binding = this.cc.declare(None, None);
            let mut args = Vec::with_capacity(bindings.len());
            for &(_, value) in &bindings {
                args.push(this.compile(m, value)?);
            }
            this.cc.scopes[scope as usize].names[0].0 = Some(sym);
            let params = Datum::List(
                bindings
                    .iter()
                    .map(|&(s, _)| Datum::Sym(this.symbols.name(s).to_owned()))
                    .collect(),
                None,
                line,
            );
            let procedure = this.lambda(m, name.into(), &params, body, line)?;
            this.cc.use_binding(binding);
            Ok(Node::Seq(Box::new([
                Node::SetVar {
                    binding,
                    value: Box::new(procedure),
                },
                Node::Call(
                    Box::new(Node::Var { binding, name: sym }),
                    args.into_boxed_slice(),
                ),
            ])))
        })?;
        Ok(Node::Scope {
            scope,
            inits: Box::new([]),
            body: Box::new(body),
        })
    }

    fn cond(&mut self, m: &mut Mutator<'gc>, clauses: &[Datum], line: u32) -> Result<Node, Error> {
        let Some((clause, rest)) = clauses.split_first() else {
            return Ok(Node::Imm(Imm::Unspecified));
        };
        let Some([test, body @ ..]) = clause.as_list() else {
            return Err(syntax(line, "each `cond` clause must be (test body...)"));
        };
        if test.as_sym() == Some("else") {
            if !rest.is_empty() || body.is_empty() {
                return Err(syntax(
                    line,
                    "`else` must be the last `cond` clause and have a body",
                ));
            }
            return Ok(seq(self.compile_all(m, body)?));
        }
        let test = self.compile(m, test)?;
        let otherwise = self.cond(m, rest, line)?;
        if body.is_empty() {
            return Ok(Node::Or(Box::new([test, otherwise])));
        }
        let then = seq(self.compile_all(m, body)?);
        Ok(Node::If(Box::new([test, then, otherwise])))
    }
}
