//! The front end of a small expression language — lexer, Pratt parser and
//! AST — generic over where the AST lives: in Morph Memory's compiler-mode
//! arena ([`ArenaAlloc`]) or in `Box`es on the global allocator
//! ([`BoxAlloc`]). One parser, one AST shape, one checksum: only the
//! allocation strategy differs, so the two can be compared honestly.
//!
//! Also here: [`generate_program`], a deterministic generator of large
//! source programs, and [`summarize`], a checksum over an AST (node count,
//! the AST's own bytes, a digest of every name, literal and operator).
//!
//! This file is shared: the `compiler` example, its test
//! (`tests/compiler_example.rs`) and the benchmark's compiler workload
//! include it with `#[path]`. So it has no `main`, and it depends on nothing
//! but `std` and `morph_mem`.
//!
//! # The language
//!
//! ```text
//! program = item*
//! item    = "fn" IDENT "(" [IDENT ("," IDENT)*] ")" block
//!         | "let" IDENT "=" expr ";"
//! block   = "{" stmt* [expr] "}"
//! stmt    = "let" IDENT "=" expr ";"
//!         | "return" expr ";"
//!         | expr ";"
//!         | if | block                 (block-like: no ";" needed)
//! expr    = prefix (BINOP prefix)*     (precedence climbing, below)
//! prefix  = ("-" | "!") prefix | postfix
//! postfix = primary ("(" [expr ("," expr)*] ")")*
//! primary = INT | STRING | IDENT | "(" expr ")" | if | block
//! if      = "if" expr block ["else" (block | if)]
//! ```
//!
//! Binary operators, loosest first, all left-associative: `||`; `&&`;
//! `==` `!=`; `<` `<=` `>` `>=`; `+` `-`; `*` `/` `%`. Strings take the
//! escapes `\n` `\t` `\0` `\\` `\"`. Comments run from `//` to the end of the
//! line. Errors carry `line:column` (1-based, columns in characters).

// Each includer uses a different part of this module (the benchmark has no
// use for the S-expression printer, the example none for the token names).
#![allow(dead_code)]

use std::fmt::{self, Write as _};
use std::ops::Deref;
use std::vec::Drain;

use morph_mem::{CompilerArena, MorphMem, MorphMemError, TypeTag};

// ---------------------------------------------------------------------------
// Allocation strategies.
// ---------------------------------------------------------------------------

/// Where the AST lives. The parser builds every node, string and list
/// through this trait, so one parser serves both strategies, and the AST
/// types are generic over it: a child is an `A::Ptr<T>` — `&'a T` in the
/// arena, `Box<T>` on the heap.
///
/// `'a` is how long the AST may live: the arena's borrow for
/// [`ArenaAlloc`], anything for [`BoxAlloc`].
pub trait AstAlloc<'a>: 'a {
    /// An owning or borrowing pointer to one node.
    type Ptr<T: 'a>: Deref<Target = T>;
    /// A string the AST keeps (names, literal text).
    type Str: Deref<Target = str>;
    /// A list of children.
    type List<T: 'a>: Deref<Target = [T]>;

    /// Places one node.
    fn node<T: Node + 'a>(&self, node: T) -> Self::Ptr<T>;
    /// Copies a string into the AST; `owner` is the kind of node that keeps
    /// it (its bytes count under that type).
    fn string(&self, owner: NodeKind, text: &str) -> Self::Str;
    /// Moves the drained items into a list (the parser collects children on
    /// a reused scratch stack, so a list is allocated once, at its length);
    /// `owner` is the kind of node that keeps it, `None` for the program.
    fn list<T: 'a>(&self, owner: Option<NodeKind>, items: Drain<'_, T>) -> Self::List<T>;
}

/// The AST in Morph Memory's compiler-mode arena: every node is bumped into
/// the arena and counted under its registered type; strings and lists are
/// bumped too. Nothing is freed one by one: [`MorphMem::reset`] frees the
/// whole AST at once and keeps the memory for the next file.
#[derive(Clone, Copy, Debug)]
pub struct ArenaAlloc<'a> {
    arena: &'a CompilerArena,
    tags: NodeTags,
}

impl<'a> ArenaAlloc<'a> {
    /// Allocates in `arena`, counting nodes under `tags`.
    pub fn new(arena: &'a CompilerArena, tags: NodeTags) -> Self {
        ArenaAlloc { arena, tags }
    }
}

impl<'a> AstAlloc<'a> for ArenaAlloc<'a> {
    type Ptr<T: 'a> = &'a T;
    type Str = &'a str;
    type List<T: 'a> = &'a [T];

    #[inline]
    fn node<T: Node + 'a>(&self, node: T) -> &'a T {
        self.arena.alloc(self.tags.get(T::KIND), node)
    }

    #[inline]
    fn string(&self, owner: NodeKind, text: &str) -> &'a str {
        self.arena.alloc_str_for(self.tags.get(owner), text)
    }

    #[inline]
    fn list<T: 'a>(&self, owner: Option<NodeKind>, items: Drain<'_, T>) -> &'a [T] {
        let list = self.arena.alloc_slice_fill_iter(items);
        if let Some(owner) = owner {
            self.arena
                .count_bytes(self.tags.get(owner), size_of_val(list));
        }
        list
    }
}

/// The AST in `Box`es on the global allocator, as one would write it without
/// an arena: `Box<T>` children, `Box<str>` strings, `Box<[T]>` lists (exact
/// length, so no spare capacity). Dropping the [`Program`] frees it node by
/// node.
#[derive(Clone, Copy, Debug, Default)]
pub struct BoxAlloc;

impl<'a> AstAlloc<'a> for BoxAlloc {
    type Ptr<T: 'a> = Box<T>;
    type Str = Box<str>;
    type List<T: 'a> = Box<[T]>;

    #[inline]
    fn node<T: Node + 'a>(&self, node: T) -> Box<T> {
        Box::new(node)
    }

    #[inline]
    fn string(&self, _owner: NodeKind, text: &str) -> Box<str> {
        Box::from(text)
    }

    #[inline]
    fn list<T: 'a>(&self, _owner: Option<NodeKind>, items: Drain<'_, T>) -> Box<[T]> {
        items.collect()
    }
}

// ---------------------------------------------------------------------------
// Node kinds and their registered types.
// ---------------------------------------------------------------------------

/// Every kind of node that is allocated on its own. The names are the ones
/// registered with Morph Memory, so they are what the stats report's
/// "Top Types" shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeKind {
    /// A name: a variable, a function, a parameter.
    Identifier,
    /// A binary operation.
    InfixExpr,
    /// A string literal.
    StringLiteral,
    /// An integer literal.
    IntLiteral,
    /// `-x` or `!x`.
    PrefixExpr,
    /// A call.
    CallExpr,
    /// `if … { … } else …`.
    IfExpr,
    /// `{ … }`: statements and an optional value.
    Block,
    /// `let name = value;`
    LetStmt,
    /// `fn name(params) { … }`
    FnDecl,
}

impl NodeKind {
    /// How many kinds there are.
    pub const COUNT: usize = 10;

    /// Every kind, in declaration order (`kind as usize` indexes it).
    pub const ALL: [NodeKind; NodeKind::COUNT] = [
        NodeKind::Identifier,
        NodeKind::InfixExpr,
        NodeKind::StringLiteral,
        NodeKind::IntLiteral,
        NodeKind::PrefixExpr,
        NodeKind::CallExpr,
        NodeKind::IfExpr,
        NodeKind::Block,
        NodeKind::LetStmt,
        NodeKind::FnDecl,
    ];

    /// The type name registered for this kind.
    pub const fn name(self) -> &'static str {
        match self {
            NodeKind::Identifier => "Identifier",
            NodeKind::InfixExpr => "InfixExpr",
            NodeKind::StringLiteral => "StringLiteral",
            NodeKind::IntLiteral => "IntLiteral",
            NodeKind::PrefixExpr => "PrefixExpr",
            NodeKind::CallExpr => "CallExpr",
            NodeKind::IfExpr => "IfExpr",
            NodeKind::Block => "Block",
            NodeKind::LetStmt => "LetStmt",
            NodeKind::FnDecl => "FnDecl",
        }
    }
}

/// A node type: its kind decides the type tag it is counted under.
pub trait Node {
    /// This type's kind.
    const KIND: NodeKind;
}

/// The [`TypeTag`] of every node kind, registered once per [`MorphMem`].
#[derive(Clone, Copy, Debug)]
pub struct NodeTags([TypeTag; NodeKind::COUNT]);

impl NodeTags {
    /// Registers every node type under its [`NodeKind::name`]. The type
    /// registry is global and append-only: call this once per `MorphMem`,
    /// not per file.
    ///
    /// # Errors
    /// [`MorphMemError::Types`] if the type registry is full.
    pub fn register(mm: &mut MorphMem) -> Result<Self, MorphMemError> {
        // The arena's instantiation of each node: a tag records the size,
        // and `BoxAlloc`'s are the same (a `Box` is as big as a reference).
        type In = ArenaAlloc<'static>;
        let mut tags = Vec::with_capacity(NodeKind::COUNT);
        for kind in NodeKind::ALL {
            let name = kind.name();
            tags.push(match kind {
                NodeKind::Identifier => mm.register_type::<Identifier<'static, In>>(name)?,
                NodeKind::InfixExpr => mm.register_type::<InfixExpr<'static, In>>(name)?,
                NodeKind::StringLiteral => mm.register_type::<StringLiteral<'static, In>>(name)?,
                NodeKind::IntLiteral => mm.register_type::<IntLiteral>(name)?,
                NodeKind::PrefixExpr => mm.register_type::<PrefixExpr<'static, In>>(name)?,
                NodeKind::CallExpr => mm.register_type::<CallExpr<'static, In>>(name)?,
                NodeKind::IfExpr => mm.register_type::<IfExpr<'static, In>>(name)?,
                NodeKind::Block => mm.register_type::<Block<'static, In>>(name)?,
                NodeKind::LetStmt => mm.register_type::<LetStmt<'static, In>>(name)?,
                NodeKind::FnDecl => mm.register_type::<FnDecl<'static, In>>(name)?,
            });
        }
        let tags: [TypeTag; NodeKind::COUNT] = tags.try_into().expect("one tag per kind");
        Ok(NodeTags(tags))
    }

    /// The tag of `kind`.
    #[inline(always)]
    pub fn get(&self, kind: NodeKind) -> TypeTag {
        self.0[kind as usize]
    }
}

// ---------------------------------------------------------------------------
// The AST.
// ---------------------------------------------------------------------------

/// A whole source file.
pub struct Program<'a, A: AstAlloc<'a>> {
    /// Its top-level items, in order.
    pub items: A::List<Item<'a, A>>,
}

/// A top-level item.
pub enum Item<'a, A: AstAlloc<'a>> {
    /// `fn name(params) { … }`
    Fn(A::Ptr<FnDecl<'a, A>>),
    /// `let name = value;` at the top level.
    Let(A::Ptr<LetStmt<'a, A>>),
}

/// `fn name(params) { … }`
pub struct FnDecl<'a, A: AstAlloc<'a>> {
    /// The function's name.
    pub name: A::Ptr<Identifier<'a, A>>,
    /// Its parameters' names.
    pub params: A::List<A::Ptr<Identifier<'a, A>>>,
    /// Its body.
    pub body: A::Ptr<Block<'a, A>>,
}

/// `let name = value;`
pub struct LetStmt<'a, A: AstAlloc<'a>> {
    /// The bound name.
    pub name: A::Ptr<Identifier<'a, A>>,
    /// The value.
    pub value: Expr<'a, A>,
}

/// `{ stmts… value }`
pub struct Block<'a, A: AstAlloc<'a>> {
    /// The statements.
    pub stmts: A::List<Stmt<'a, A>>,
    /// The final expression without `;`, the block's value.
    pub value: Option<Expr<'a, A>>,
}

/// A statement inside a block.
pub enum Stmt<'a, A: AstAlloc<'a>> {
    /// `let name = value;`
    Let(A::Ptr<LetStmt<'a, A>>),
    /// `return value;`
    Return(Expr<'a, A>),
    /// `expr;` (or a block-like expression on its own).
    Expr(Expr<'a, A>),
}

/// An expression: a kind and a pointer to its node (16 bytes).
pub enum Expr<'a, A: AstAlloc<'a>> {
    /// A name.
    Ident(A::Ptr<Identifier<'a, A>>),
    /// An integer literal.
    Int(A::Ptr<IntLiteral>),
    /// A string literal.
    Str(A::Ptr<StringLiteral<'a, A>>),
    /// A binary operation.
    Infix(A::Ptr<InfixExpr<'a, A>>),
    /// A unary operation.
    Prefix(A::Ptr<PrefixExpr<'a, A>>),
    /// A call.
    Call(A::Ptr<CallExpr<'a, A>>),
    /// `if … else …`
    If(A::Ptr<IfExpr<'a, A>>),
    /// `{ … }`
    Block(A::Ptr<Block<'a, A>>),
}

/// A name, with where it appears.
pub struct Identifier<'a, A: AstAlloc<'a>> {
    /// The name.
    pub name: A::Str,
    /// Byte offset of its first character in the source (saturating).
    pub offset: u32,
}

/// An integer literal.
pub struct IntLiteral {
    /// Its value.
    pub value: i64,
}

/// A string literal, escapes resolved.
pub struct StringLiteral<'a, A: AstAlloc<'a>> {
    /// Its value.
    pub value: A::Str,
}

/// `left op right`
pub struct InfixExpr<'a, A: AstAlloc<'a>> {
    /// The operator.
    pub op: BinOp,
    /// The left operand.
    pub left: Expr<'a, A>,
    /// The right operand.
    pub right: Expr<'a, A>,
}

/// `op operand`
pub struct PrefixExpr<'a, A: AstAlloc<'a>> {
    /// The operator.
    pub op: UnOp,
    /// The operand.
    pub operand: Expr<'a, A>,
}

/// `callee(args…)`
pub struct CallExpr<'a, A: AstAlloc<'a>> {
    /// What is called.
    pub callee: Expr<'a, A>,
    /// The arguments.
    pub args: A::List<Expr<'a, A>>,
}

/// `if cond { … } else …`
pub struct IfExpr<'a, A: AstAlloc<'a>> {
    /// The condition.
    pub cond: Expr<'a, A>,
    /// The block run when it holds.
    pub then_branch: A::Ptr<Block<'a, A>>,
    /// `else { … }` (an [`Expr::Block`]) or `else if …` (an [`Expr::If`]).
    pub else_branch: Option<Expr<'a, A>>,
}

macro_rules! node_kinds {
    ($($ty:ident => $kind:ident),* $(,)?) => {$(
        impl<'a, A: AstAlloc<'a>> Node for $ty<'a, A> {
            const KIND: NodeKind = NodeKind::$kind;
        }
    )*};
}

node_kinds! {
    Identifier => Identifier,
    InfixExpr => InfixExpr,
    StringLiteral => StringLiteral,
    PrefixExpr => PrefixExpr,
    CallExpr => CallExpr,
    IfExpr => IfExpr,
    Block => Block,
    LetStmt => LetStmt,
    FnDecl => FnDecl,
}

impl Node for IntLiteral {
    const KIND: NodeKind = NodeKind::IntLiteral;
}

/// A binary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `||`
    Or,
    /// `&&`
    And,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
}

impl BinOp {
    /// How tightly it binds: higher binds tighter.
    pub const fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And => 2,
            BinOp::Eq | BinOp::Ne => 3,
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 4,
            BinOp::Add | BinOp::Sub => 5,
            BinOp::Mul | BinOp::Div | BinOp::Rem => 6,
        }
    }

    /// Its spelling.
    pub const fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "||",
            BinOp::And => "&&",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
        }
    }
}

/// A unary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnOp {
    /// `-`
    Neg,
    /// `!`
    Not,
}

impl UnOp {
    /// Its spelling.
    pub const fn symbol(self) -> &'static str {
        match self {
            UnOp::Neg => "-",
            UnOp::Not => "!",
        }
    }
}

// ---------------------------------------------------------------------------
// Errors.
// ---------------------------------------------------------------------------

/// A lexical or syntax error, with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// What is wrong.
    pub message: String,
}

impl ParseError {
    /// An error at byte `offset` of `source`.
    fn at(source: &str, offset: usize, message: String) -> Self {
        let (line, column) = line_column(source, offset);
        ParseError {
            line,
            column,
            message,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for ParseError {}

/// The 1-based line and column (in characters) of byte `offset`. Only
/// errors need it, so it rescans rather than have the lexer count lines.
fn line_column(source: &str, offset: usize) -> (u32, u32) {
    let offset = offset.min(source.len());
    let before = &source.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    // `offset` is always at a token boundary, which is a char boundary.
    let column = source[line_start..offset].chars().count() + 1;
    let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    (clamp(line), clamp(column))
}

// ---------------------------------------------------------------------------
// The lexer.
// ---------------------------------------------------------------------------

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// A name.
    Ident,
    /// Decimal digits.
    Int,
    /// `"…"`
    Str,
    /// `fn`
    Fn,
    /// `let`
    Let,
    /// `if`
    If,
    /// `else`
    Else,
    /// `return`
    Return,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `,`
    Comma,
    /// `;`
    Semi,
    /// `=`
    Assign,
    /// `!`
    Bang,
    /// A binary operator (`-` is one too; it doubles as prefix negation).
    Op(BinOp),
    /// The end of the source.
    Eof,
}

impl TokenKind {
    /// How an error message names it.
    pub fn describe(self) -> &'static str {
        match self {
            TokenKind::Ident => "identifier",
            TokenKind::Int => "integer literal",
            TokenKind::Str => "string literal",
            TokenKind::Fn => "`fn`",
            TokenKind::Let => "`let`",
            TokenKind::If => "`if`",
            TokenKind::Else => "`else`",
            TokenKind::Return => "`return`",
            TokenKind::LParen => "`(`",
            TokenKind::RParen => "`)`",
            TokenKind::LBrace => "`{`",
            TokenKind::RBrace => "`}`",
            TokenKind::Comma => "`,`",
            TokenKind::Semi => "`;`",
            TokenKind::Assign => "`=`",
            TokenKind::Bang => "`!`",
            TokenKind::Op(op) => match op {
                BinOp::Or => "`||`",
                BinOp::And => "`&&`",
                BinOp::Eq => "`==`",
                BinOp::Ne => "`!=`",
                BinOp::Lt => "`<`",
                BinOp::Le => "`<=`",
                BinOp::Gt => "`>`",
                BinOp::Ge => "`>=`",
                BinOp::Add => "`+`",
                BinOp::Sub => "`-`",
                BinOp::Mul => "`*`",
                BinOp::Div => "`/`",
                BinOp::Rem => "`%`",
            },
            TokenKind::Eof => "end of input",
        }
    }
}

/// One token: its kind and where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    /// What it is.
    pub kind: TokenKind,
    /// Byte offset of its first byte.
    pub start: usize,
    /// Byte offset just past its last byte.
    pub end: usize,
    /// For a string literal: whether it contains a `\` escape (so the
    /// parser copies the common escape-free literal in one go).
    pub escaped: bool,
}

/// Turns source text into tokens on demand: no token vector, so parsing a
/// file needs memory for the AST and nothing else of its size.
#[derive(Clone, Debug)]
pub struct Lexer<'s> {
    source: &'s str,
    pos: usize,
}

impl<'s> Lexer<'s> {
    /// A lexer at the start of `source`.
    pub fn new(source: &'s str) -> Self {
        Lexer { source, pos: 0 }
    }

    /// The next token ([`TokenKind::Eof`] at the end, for ever).
    ///
    /// # Errors
    /// An unterminated string literal, or a character the language does
    /// not use.
    pub fn next_token(&mut self) -> Result<Token, ParseError> {
        let bytes = self.source.as_bytes();
        let mut pos = self.pos;
        // Whitespace and comments.
        loop {
            match bytes.get(pos) {
                Some(b' ' | b'\n' | b'\t' | b'\r') => pos += 1,
                Some(b'/') if bytes.get(pos + 1) == Some(&b'/') => {
                    pos += 2;
                    while pos < bytes.len() && bytes[pos] != b'\n' {
                        pos += 1;
                    }
                }
                _ => break,
            }
        }
        let start = pos;
        let Some(&first) = bytes.get(pos) else {
            self.pos = pos;
            return Ok(Token {
                kind: TokenKind::Eof,
                start,
                end: start,
                escaped: false,
            });
        };
        pos += 1;
        let mut escaped = false;
        let next_is = |pos: usize, b: u8| bytes.get(pos) == Some(&b);
        let kind = match first {
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                while pos < bytes.len()
                    && (bytes[pos].is_ascii_alphanumeric() || bytes[pos] == b'_')
                {
                    pos += 1;
                }
                match &bytes[start..pos] {
                    b"fn" => TokenKind::Fn,
                    b"let" => TokenKind::Let,
                    b"if" => TokenKind::If,
                    b"else" => TokenKind::Else,
                    b"return" => TokenKind::Return,
                    _ => TokenKind::Ident,
                }
            }
            b'0'..=b'9' => {
                while pos < bytes.len() && bytes[pos].is_ascii_digit() {
                    pos += 1;
                }
                TokenKind::Int
            }
            b'"' => {
                loop {
                    match bytes.get(pos) {
                        None | Some(b'\n') => {
                            return Err(ParseError::at(
                                self.source,
                                start,
                                "unterminated string literal (missing closing `\"` on this line)"
                                    .into(),
                            ));
                        }
                        Some(b'"') => break,
                        Some(b'\\') => {
                            escaped = true;
                            pos += 2;
                        }
                        Some(_) => pos += 1,
                    }
                }
                pos += 1;
                TokenKind::Str
            }
            b'(' => TokenKind::LParen,
            b')' => TokenKind::RParen,
            b'{' => TokenKind::LBrace,
            b'}' => TokenKind::RBrace,
            b',' => TokenKind::Comma,
            b';' => TokenKind::Semi,
            b'+' => TokenKind::Op(BinOp::Add),
            b'-' => TokenKind::Op(BinOp::Sub),
            b'*' => TokenKind::Op(BinOp::Mul),
            b'/' => TokenKind::Op(BinOp::Div),
            b'%' => TokenKind::Op(BinOp::Rem),
            b'=' if next_is(pos, b'=') => {
                pos += 1;
                TokenKind::Op(BinOp::Eq)
            }
            b'=' => TokenKind::Assign,
            b'!' if next_is(pos, b'=') => {
                pos += 1;
                TokenKind::Op(BinOp::Ne)
            }
            b'!' => TokenKind::Bang,
            b'<' if next_is(pos, b'=') => {
                pos += 1;
                TokenKind::Op(BinOp::Le)
            }
            b'<' => TokenKind::Op(BinOp::Lt),
            b'>' if next_is(pos, b'=') => {
                pos += 1;
                TokenKind::Op(BinOp::Ge)
            }
            b'>' => TokenKind::Op(BinOp::Gt),
            b'&' if next_is(pos, b'&') => {
                pos += 1;
                TokenKind::Op(BinOp::And)
            }
            b'|' if next_is(pos, b'|') => {
                pos += 1;
                TokenKind::Op(BinOp::Or)
            }
            _ => {
                let c = self.source[start..].chars().next().unwrap_or('?');
                return Err(ParseError::at(
                    self.source,
                    start,
                    format!("unexpected character `{}`", c.escape_debug()),
                ));
            }
        };
        self.pos = pos;
        Ok(Token {
            kind,
            start,
            end: pos,
            escaped,
        })
    }
}

// ---------------------------------------------------------------------------
// The parser.
// ---------------------------------------------------------------------------

/// How deeply expressions and blocks may nest. It bounds the recursion of
/// the parser, of [`summarize`] and of dropping a `Box` AST.
pub const MAX_NESTING: u32 = 256;

/// Parses a whole file into an AST placed by `alloc`.
///
/// # Errors
/// The first lexical or syntax error, with its line and column.
pub fn parse_program<'a, A: AstAlloc<'a>>(
    source: &str,
    alloc: &A,
) -> Result<Program<'a, A>, ParseError> {
    let mut parser = Parser::new(source, alloc)?;
    parser.program()
}

/// A recursive-descent parser with precedence climbing for binary
/// operators, one token of lookahead.
struct Parser<'s, 'x, 'a, A: AstAlloc<'a>> {
    source: &'s str,
    lexer: Lexer<'s>,
    /// The current (not yet consumed) token.
    tok: Token,
    alloc: &'x A,
    depth: u32,
    // Scratch stacks: children are pushed here and moved into one list of
    // exactly their number when their parent is done.
    items: Vec<Item<'a, A>>,
    stmts: Vec<Stmt<'a, A>>,
    exprs: Vec<Expr<'a, A>>,
    params: Vec<A::Ptr<Identifier<'a, A>>>,
    /// Scratch for string literals with escapes.
    unescaped: String,
}

type PResult<T> = Result<T, ParseError>;

impl<'s, 'x, 'a, A: AstAlloc<'a>> Parser<'s, 'x, 'a, A> {
    fn new(source: &'s str, alloc: &'x A) -> PResult<Self> {
        let mut lexer = Lexer::new(source);
        let tok = lexer.next_token()?;
        Ok(Parser {
            source,
            lexer,
            tok,
            alloc,
            depth: 0,
            items: Vec::new(),
            stmts: Vec::new(),
            exprs: Vec::new(),
            params: Vec::new(),
            unescaped: String::new(),
        })
    }

    // --- Tokens --------------------------------------------------------

    #[inline]
    fn advance(&mut self) -> PResult<Token> {
        let tok = self.tok;
        self.tok = self.lexer.next_token()?;
        Ok(tok)
    }

    #[inline]
    fn eat(&mut self, kind: TokenKind) -> PResult<bool> {
        if self.tok.kind == kind {
            self.advance()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    #[inline]
    fn expect(&mut self, kind: TokenKind) -> PResult<Token> {
        if self.tok.kind == kind {
            self.advance()
        } else {
            Err(self.unexpected(kind.describe()))
        }
    }

    /// "expected X, found Y" at the current token.
    #[cold]
    fn unexpected(&self, expected: &str) -> ParseError {
        let found = match self.tok.kind {
            TokenKind::Ident | TokenKind::Int => format!(
                "{} `{}`",
                self.tok.kind.describe(),
                &self.source[self.tok.start..self.tok.end]
            ),
            other => other.describe().to_owned(),
        };
        ParseError::at(
            self.source,
            self.tok.start,
            format!("expected {expected}, found {found}"),
        )
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(ParseError::at(
                self.source,
                self.tok.start,
                format!("nesting deeper than {MAX_NESTING} levels"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    // --- Items and statements -------------------------------------------

    fn program(&mut self) -> PResult<Program<'a, A>> {
        while self.tok.kind != TokenKind::Eof {
            let item = match self.tok.kind {
                TokenKind::Fn => Item::Fn(self.fn_decl()?),
                TokenKind::Let => Item::Let(self.let_stmt()?),
                _ => return Err(self.unexpected("`fn` or `let`")),
            };
            self.items.push(item);
        }
        let items = self.alloc.list(None, self.items.drain(..));
        Ok(Program { items })
    }

    fn ident(&mut self) -> PResult<A::Ptr<Identifier<'a, A>>> {
        let tok = self.expect(TokenKind::Ident)?;
        let name = self
            .alloc
            .string(NodeKind::Identifier, &self.source[tok.start..tok.end]);
        Ok(self.alloc.node(Identifier {
            name,
            offset: u32::try_from(tok.start).unwrap_or(u32::MAX),
        }))
    }

    fn fn_decl(&mut self) -> PResult<A::Ptr<FnDecl<'a, A>>> {
        self.expect(TokenKind::Fn)?;
        let name = self.ident()?;
        self.expect(TokenKind::LParen)?;
        let base = self.params.len();
        if self.tok.kind != TokenKind::RParen {
            loop {
                let param = self.ident()?;
                self.params.push(param);
                if !self.eat(TokenKind::Comma)? {
                    break;
                }
            }
        }
        self.expect(TokenKind::RParen)?;
        let params = self
            .alloc
            .list(Some(NodeKind::FnDecl), self.params.drain(base..));
        let body = self.block()?;
        Ok(self.alloc.node(FnDecl { name, params, body }))
    }

    fn let_stmt(&mut self) -> PResult<A::Ptr<LetStmt<'a, A>>> {
        self.expect(TokenKind::Let)?;
        let name = self.ident()?;
        self.expect(TokenKind::Assign)?;
        let value = self.expr()?;
        self.expect(TokenKind::Semi)?;
        Ok(self.alloc.node(LetStmt { name, value }))
    }

    fn block(&mut self) -> PResult<A::Ptr<Block<'a, A>>> {
        self.enter()?;
        self.expect(TokenKind::LBrace)?;
        let base = self.stmts.len();
        let mut value = None;
        loop {
            match self.tok.kind {
                TokenKind::RBrace => break,
                TokenKind::Eof => return Err(self.unexpected("`}`")),
                TokenKind::Let => {
                    let stmt = self.let_stmt()?;
                    self.stmts.push(Stmt::Let(stmt));
                }
                TokenKind::Return => {
                    self.advance()?;
                    let value = self.expr()?;
                    self.expect(TokenKind::Semi)?;
                    self.stmts.push(Stmt::Return(value));
                }
                // A block-like expression at the start of a statement ends
                // there, as in Rust: `if c { … } -x;` is two statements.
                TokenKind::If | TokenKind::LBrace => {
                    let expr = self.block_like()?;
                    if self.tok.kind == TokenKind::RBrace {
                        value = Some(expr);
                        break;
                    }
                    self.eat(TokenKind::Semi)?;
                    self.stmts.push(Stmt::Expr(expr));
                }
                _ => {
                    let expr = self.expr()?;
                    if self.tok.kind == TokenKind::RBrace {
                        value = Some(expr);
                        break;
                    }
                    if !self.eat(TokenKind::Semi)? {
                        return Err(self.unexpected("`;` or `}` after the expression"));
                    }
                    self.stmts.push(Stmt::Expr(expr));
                }
            }
        }
        self.expect(TokenKind::RBrace)?;
        let stmts = self
            .alloc
            .list(Some(NodeKind::Block), self.stmts.drain(base..));
        self.leave();
        Ok(self.alloc.node(Block { stmts, value }))
    }

    // --- Expressions ------------------------------------------------------

    fn expr(&mut self) -> PResult<Expr<'a, A>> {
        self.binary(1)
    }

    /// Precedence climbing: operands and operators binding at least as
    /// tightly as `min_precedence`.
    fn binary(&mut self, min_precedence: u8) -> PResult<Expr<'a, A>> {
        self.enter()?;
        let mut left = self.prefix()?;
        while let TokenKind::Op(op) = self.tok.kind {
            let precedence = op.precedence();
            if precedence < min_precedence {
                break;
            }
            self.advance()?;
            // Left-associative: the right operand binds strictly tighter.
            let right = self.binary(precedence + 1)?;
            left = Expr::Infix(self.alloc.node(InfixExpr { op, left, right }));
        }
        self.leave();
        Ok(left)
    }

    fn prefix(&mut self) -> PResult<Expr<'a, A>> {
        let op = match self.tok.kind {
            TokenKind::Op(BinOp::Sub) => UnOp::Neg,
            TokenKind::Bang => UnOp::Not,
            _ => return self.postfix(),
        };
        self.advance()?;
        self.enter()?;
        let operand = self.prefix()?;
        self.leave();
        Ok(Expr::Prefix(self.alloc.node(PrefixExpr { op, operand })))
    }

    fn postfix(&mut self) -> PResult<Expr<'a, A>> {
        let mut expr = self.primary()?;
        while self.tok.kind == TokenKind::LParen {
            self.advance()?;
            let base = self.exprs.len();
            if self.tok.kind != TokenKind::RParen {
                loop {
                    let arg = self.expr()?;
                    self.exprs.push(arg);
                    if !self.eat(TokenKind::Comma)? {
                        break;
                    }
                }
            }
            self.expect(TokenKind::RParen)?;
            let args = self
                .alloc
                .list(Some(NodeKind::CallExpr), self.exprs.drain(base..));
            expr = Expr::Call(self.alloc.node(CallExpr { callee: expr, args }));
        }
        Ok(expr)
    }

    fn primary(&mut self) -> PResult<Expr<'a, A>> {
        match self.tok.kind {
            TokenKind::Ident => Ok(Expr::Ident(self.ident()?)),
            TokenKind::Int => {
                let tok = self.advance()?;
                let text = &self.source[tok.start..tok.end];
                let value = text.parse::<i64>().map_err(|_| {
                    ParseError::at(
                        self.source,
                        tok.start,
                        format!("integer literal `{text}` does not fit in 64 bits"),
                    )
                })?;
                Ok(Expr::Int(self.alloc.node(IntLiteral { value })))
            }
            TokenKind::Str => {
                let tok = self.advance()?;
                let value = self.string_value(tok)?;
                Ok(Expr::Str(self.alloc.node(StringLiteral { value })))
            }
            TokenKind::LParen => {
                self.advance()?;
                let expr = self.expr()?;
                self.expect(TokenKind::RParen)?;
                Ok(expr)
            }
            TokenKind::If | TokenKind::LBrace => self.block_like(),
            _ => Err(self.unexpected("an expression")),
        }
    }

    /// `if …` or `{ … }`.
    fn block_like(&mut self) -> PResult<Expr<'a, A>> {
        if self.tok.kind == TokenKind::LBrace {
            return Ok(Expr::Block(self.block()?));
        }
        self.enter()?;
        self.expect(TokenKind::If)?;
        let cond = self.expr()?;
        let then_branch = self.block()?;
        let else_branch = if self.eat(TokenKind::Else)? {
            match self.tok.kind {
                TokenKind::If | TokenKind::LBrace => Some(self.block_like()?),
                _ => return Err(self.unexpected("`{` or `if` after `else`")),
            }
        } else {
            None
        };
        self.leave();
        Ok(Expr::If(self.alloc.node(IfExpr {
            cond,
            then_branch,
            else_branch,
        })))
    }

    /// The value of a string literal token, escapes resolved.
    fn string_value(&mut self, tok: Token) -> PResult<A::Str> {
        let body = &self.source[tok.start + 1..tok.end - 1];
        if !tok.escaped {
            return Ok(self.alloc.string(NodeKind::StringLiteral, body));
        }
        self.unescaped.clear();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                self.unescaped.push(c);
                continue;
            }
            let resolved = match chars.next() {
                Some((_, 'n')) => '\n',
                Some((_, 't')) => '\t',
                Some((_, '0')) => '\0',
                Some((_, '\\')) => '\\',
                Some((_, '"')) => '"',
                other => {
                    let shown = other.map_or(String::new(), |(_, c)| c.escape_debug().to_string());
                    return Err(ParseError::at(
                        self.source,
                        tok.start + 1 + i,
                        format!("unknown escape `\\{shown}` in string literal"),
                    ));
                }
            };
            self.unescaped.push(resolved);
        }
        Ok(self.alloc.string(NodeKind::StringLiteral, &self.unescaped))
    }
}

// ---------------------------------------------------------------------------
// The checksum.
// ---------------------------------------------------------------------------

/// What [`summarize`] found in an AST: enough to tell two ASTs apart and to
/// make sure no parsing work is optimised away.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AstSummary {
    /// Nodes allocated on their own (every [`NodeKind`]).
    pub nodes: u64,
    /// Nodes per kind, indexed by `kind as usize`.
    pub counts: [u64; NodeKind::COUNT],
    /// The AST's own bytes: every node's size, every list's elements and
    /// every string's bytes. Allocator overhead (headers, padding, unused
    /// capacity) is not in it.
    pub ast_bytes: u64,
    /// A hash over the structure, every name, literal and operator.
    pub digest: u64,
}

impl AstSummary {
    /// The kinds with most nodes, most first (ties: declaration order).
    pub fn top_kinds(&self) -> Vec<(NodeKind, u64)> {
        let mut kinds: Vec<(NodeKind, u64)> = NodeKind::ALL
            .into_iter()
            .map(|k| (k, self.counts[k as usize]))
            .collect();
        kinds.sort_by_key(|&(_, count)| std::cmp::Reverse(count));
        kinds
    }

    #[inline]
    fn node<T: Node>(&mut self) {
        self.nodes += 1;
        self.counts[T::KIND as usize] += 1;
        self.ast_bytes += size_of::<T>() as u64;
        self.mix(T::KIND as u64);
    }

    #[inline]
    fn list<T>(&mut self, list: &[T]) {
        self.ast_bytes += size_of_val(list) as u64;
        self.mix(list.len() as u64);
    }

    #[inline]
    fn text(&mut self, text: &str) {
        self.ast_bytes += text.len() as u64;
        let mut chunks = text.as_bytes().chunks_exact(8);
        for chunk in &mut chunks {
            self.mix(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let mut tail = [0_u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.mix(u64::from_le_bytes(tail) ^ ((text.len() as u64) << 56));
    }

    /// One step of an Fx-style hash: cheap, and order-sensitive.
    #[inline]
    fn mix(&mut self, value: u64) {
        self.digest = (self.digest.rotate_left(5) ^ value).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

/// Walks the whole AST: node counts, the AST's own bytes and a digest. Two
/// ASTs of the same source have the same summary whatever their allocator.
pub fn summarize<'a, A: AstAlloc<'a>>(program: &Program<'a, A>) -> AstSummary {
    let mut sum = AstSummary::default();
    sum.list(&program.items);
    for item in program.items.iter() {
        match item {
            Item::Fn(f) => fn_decl(&mut sum, f),
            Item::Let(l) => let_stmt(&mut sum, l),
        }
    }
    return sum;

    fn ident<'a, A: AstAlloc<'a>>(sum: &mut AstSummary, id: &Identifier<'a, A>) {
        sum.node::<Identifier<'a, A>>();
        sum.text(&id.name);
        sum.mix(u64::from(id.offset));
    }

    fn fn_decl<'a, A: AstAlloc<'a>>(sum: &mut AstSummary, f: &FnDecl<'a, A>) {
        sum.node::<FnDecl<'a, A>>();
        ident(sum, &f.name);
        sum.list(&f.params);
        for p in f.params.iter() {
            ident(sum, p);
        }
        block(sum, &f.body);
    }

    fn let_stmt<'a, A: AstAlloc<'a>>(sum: &mut AstSummary, l: &LetStmt<'a, A>) {
        sum.node::<LetStmt<'a, A>>();
        ident(sum, &l.name);
        expr(sum, &l.value);
    }

    fn block<'a, A: AstAlloc<'a>>(sum: &mut AstSummary, b: &Block<'a, A>) {
        sum.node::<Block<'a, A>>();
        sum.list(&b.stmts);
        for s in b.stmts.iter() {
            match s {
                Stmt::Let(l) => let_stmt(sum, l),
                Stmt::Return(e) => {
                    sum.mix(0x5e7);
                    expr(sum, e);
                }
                Stmt::Expr(e) => expr(sum, e),
            }
        }
        if let Some(v) = &b.value {
            sum.mix(0xa1e);
            expr(sum, v);
        }
    }

    fn expr<'a, A: AstAlloc<'a>>(sum: &mut AstSummary, e: &Expr<'a, A>) {
        match e {
            Expr::Ident(id) => ident(sum, id),
            Expr::Int(i) => {
                sum.node::<IntLiteral>();
                sum.mix(i.value as u64);
            }
            Expr::Str(s) => {
                sum.node::<StringLiteral<'a, A>>();
                sum.text(&s.value);
            }
            Expr::Infix(i) => {
                sum.node::<InfixExpr<'a, A>>();
                sum.mix(i.op as u64);
                expr(sum, &i.left);
                expr(sum, &i.right);
            }
            Expr::Prefix(p) => {
                sum.node::<PrefixExpr<'a, A>>();
                sum.mix(p.op as u64);
                expr(sum, &p.operand);
            }
            Expr::Call(c) => {
                sum.node::<CallExpr<'a, A>>();
                expr(sum, &c.callee);
                sum.list(&c.args);
                for a in c.args.iter() {
                    expr(sum, a);
                }
            }
            Expr::If(i) => {
                sum.node::<IfExpr<'a, A>>();
                expr(sum, &i.cond);
                block(sum, &i.then_branch);
                if let Some(e) = &i.else_branch {
                    expr(sum, e);
                }
            }
            Expr::Block(b) => block(sum, b),
        }
    }
}

// ---------------------------------------------------------------------------
// S-expressions, for tests and `Debug`.
// ---------------------------------------------------------------------------

/// The AST as S-expressions, one item per line: `(fn f (a b) (block …))`,
/// `(let x (+ 1 (* 2 y)))`, `(call f a)`, `(if c (block …) (block …))`.
/// In a block, statements print as `(let …)`, `(return e)` or `(expr e)`,
/// and the block's value prints bare, last.
pub fn to_sexpr<'a, A: AstAlloc<'a>>(program: &Program<'a, A>) -> String {
    let mut out = String::new();
    for (i, item) in program.items.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = write!(out, "{item:?}");
    }
    out
}

impl<'a, A: AstAlloc<'a>> fmt::Debug for Program<'a, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_sexpr(self))
    }
}

impl<'a, A: AstAlloc<'a>> fmt::Debug for Item<'a, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Fn(decl) => write!(f, "{:?}", &**decl),
            Item::Let(l) => write!(f, "{:?}", &**l),
        }
    }
}

impl<'a, A: AstAlloc<'a>> fmt::Debug for FnDecl<'a, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(fn {:?} (", &*self.name)?;
        for (i, p) in self.params.iter().enumerate() {
            let sep = if i > 0 { " " } else { "" };
            write!(f, "{sep}{:?}", &**p)?;
        }
        write!(f, ") {:?})", &*self.body)
    }
}

impl<'a, A: AstAlloc<'a>> fmt::Debug for LetStmt<'a, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(let {:?} {:?})", &*self.name, self.value)
    }
}

impl<'a, A: AstAlloc<'a>> fmt::Debug for Block<'a, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(block")?;
        for s in self.stmts.iter() {
            write!(f, " {s:?}")?;
        }
        if let Some(v) = &self.value {
            write!(f, " {v:?}")?;
        }
        f.write_str(")")
    }
}

impl<'a, A: AstAlloc<'a>> fmt::Debug for Stmt<'a, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stmt::Let(l) => write!(f, "{:?}", &**l),
            Stmt::Return(e) => write!(f, "(return {e:?})"),
            Stmt::Expr(e) => write!(f, "(expr {e:?})"),
        }
    }
}

impl<'a, A: AstAlloc<'a>> fmt::Debug for Expr<'a, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Ident(id) => write!(f, "{:?}", &**id),
            Expr::Int(i) => write!(f, "{:?}", &**i),
            Expr::Str(s) => write!(f, "{:?}", &**s),
            Expr::Infix(i) => write!(f, "{:?}", &**i),
            Expr::Prefix(p) => write!(f, "{:?}", &**p),
            Expr::Call(c) => write!(f, "{:?}", &**c),
            Expr::If(i) => write!(f, "{:?}", &**i),
            Expr::Block(b) => write!(f, "{:?}", &**b),
        }
    }
}

impl<'a, A: AstAlloc<'a>> fmt::Debug for Identifier<'a, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl fmt::Debug for IntLiteral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.value)
    }
}

impl<'a, A: AstAlloc<'a>> fmt::Debug for StringLiteral<'a, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.value)
    }
}

impl<'a, A: AstAlloc<'a>> fmt::Debug for InfixExpr<'a, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({} {:?} {:?})", self.op.symbol(), self.left, self.right)
    }
}

impl<'a, A: AstAlloc<'a>> fmt::Debug for PrefixExpr<'a, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({} {:?})", self.op.symbol(), self.operand)
    }
}

impl<'a, A: AstAlloc<'a>> fmt::Debug for CallExpr<'a, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(call {:?}", self.callee)?;
        for a in self.args.iter() {
            write!(f, " {a:?}")?;
        }
        f.write_str(")")
    }
}

impl<'a, A: AstAlloc<'a>> fmt::Debug for IfExpr<'a, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(if {:?} {:?}", self.cond, &*self.then_branch)?;
        if let Some(e) = &self.else_branch {
            write!(f, " {e:?}")?;
        }
        f.write_str(")")
    }
}

// ---------------------------------------------------------------------------
// The program generator.
// ---------------------------------------------------------------------------

/// A deterministic source program of about `target_bytes` bytes (it stops
/// after the item that reaches the target), the same for the same `seed`.
///
/// Functions of two to a dozen statements — `let` bindings of arithmetic,
/// comparisons and string concatenations, calls with string messages,
/// `if`/`else`, `return` — with a few top-level constants and comments. The
/// mix makes `Identifier` the most frequent node, then `InfixExpr`, then
/// `StringLiteral`, as in the seed design's example report.
pub fn generate_program(seed: u64, target_bytes: usize) -> String {
    let mut out = String::new();
    generate_program_into(seed, target_bytes, &mut out);
    out
}

/// [`generate_program`] into `out` (cleared first), reusing its buffer: a
/// front end reading file after file into one buffer never returns it to
/// the allocator, so the allocator cannot scatter the next file's text
/// (with glibc, a freed 16 MiB buffer raises the mmap threshold, and the
/// next one lands in the brk heap, where its pages stay resident).
pub fn generate_program_into(seed: u64, target_bytes: usize, out: &mut String) {
    out.clear();
    out.reserve(target_bytes + 64 * 1024);
    let mut generator = Generator::new(seed, std::mem::take(out));
    while generator.out.len() < target_bytes {
        generator.item();
    }
    *out = generator.out;
}

/// SplitMix64: small, fast, and the same on every platform.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n small: the modulo bias does not matter here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with `percent` % probability.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const SYLLABLES: &[&str] = &[
    "acc", "arg", "buf", "cache", "count", "data", "delta", "elem", "entry", "flag", "frame",
    "hash", "head", "idx", "item", "key", "len", "limit", "list", "map", "max", "min", "name",
    "node", "offset", "pos", "ptr", "queue", "range", "ref", "res", "row", "scope", "size", "slot",
    "span", "state", "sum", "tail", "temp", "token", "total", "tree", "type", "val", "value",
    "width", "x", "y", "z",
];

/// Words of string literals and comments.
const WORDS: &str = "\
error warning value out of range expected found the a in unexpected token \
missing argument for function cannot be null index too large done ok failed to \
open file parse line column with type mismatch at offset loading module hello \
world";

/// Distinct names a generated program draws from. (Fewer under Miri, where
/// making 4096 took 27 s, longer than parsing the small programs its tests
/// generate.)
const GENERATED_NAMES: usize = if cfg!(miri) { 256 } else { 4096 };

struct Generator {
    rng: Rng,
    out: String,
    /// Names used for variables, parameters and functions.
    names: Vec<String>,
    /// [`WORDS`], split.
    words: Vec<&'static str>,
    indent: usize,
}

impl Generator {
    fn new(seed: u64, out: String) -> Self {
        let mut rng = Rng(seed ^ 0x6d6f_7270_685f_6d65);
        let names = (0..GENERATED_NAMES)
            .map(|i| {
                let parts = 1 + rng.below(3);
                let mut name = String::new();
                for p in 0..parts {
                    if p > 0 {
                        name.push('_');
                    }
                    let syllable: &&str = rng.pick(SYLLABLES);
                    name.push_str(syllable);
                }
                if i % 3 == 0 {
                    name.push_str(&rng.below(100).to_string());
                }
                name
            })
            .collect();
        Generator {
            rng,
            // Reserved for the whole file by the caller: no doubling, so the
            // source costs its own size and no more.
            out,
            names,
            words: WORDS.split_whitespace().collect(),
            indent: 0,
        }
    }

    fn name(&mut self) {
        let i = self.rng.below(self.names.len() as u64) as usize;
        self.out.push_str(&self.names[i]);
    }

    fn word(&mut self) -> &'static str {
        let i = self.rng.below(self.words.len() as u64) as usize;
        self.words[i]
    }

    fn newline(&mut self) {
        self.out.push('\n');
        for _ in 0..self.indent {
            self.out.push_str("    ");
        }
    }

    fn item(&mut self) {
        match self.rng.below(100) {
            0..=7 => {
                self.out.push_str("let ");
                self.name();
                self.out.push_str(" = ");
                self.expr(0);
                self.out.push(';');
            }
            8..=11 => {
                self.out.push_str("// ");
                for _ in 0..1 + self.rng.below(8) {
                    let word = self.word();
                    self.out.push_str(word);
                    self.out.push(' ');
                }
            }
            _ => self.function(),
        }
        self.out.push('\n');
    }

    fn function(&mut self) {
        self.out.push_str("fn ");
        self.name();
        self.out.push('(');
        for i in 0..self.rng.below(4) {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.name();
        }
        self.out.push_str(") ");
        let statements = 2 + self.rng.below(10);
        self.block(statements, true);
        self.out.push('\n');
    }

    /// `{ statements… }`, with a `return` or a trailing value at the end of
    /// a function body.
    fn block(&mut self, statements: u64, tail: bool) {
        self.out.push('{');
        self.indent += 1;
        for _ in 0..statements {
            self.newline();
            self.statement();
        }
        if tail {
            self.newline();
            if self.rng.chance(50) {
                self.out.push_str("return ");
                self.expr(0);
                self.out.push(';');
            } else {
                self.expr(0);
            }
        }
        self.indent -= 1;
        self.newline();
        self.out.push('}');
    }

    fn statement(&mut self) {
        match self.rng.below(100) {
            0..=59 => {
                self.out.push_str("let ");
                self.name();
                self.out.push_str(" = ");
                self.expr(0);
                self.out.push(';');
            }
            60..=84 => {
                // A call for its effect, usually with a message.
                self.name();
                self.out.push('(');
                self.string();
                for _ in 0..self.rng.below(3) {
                    self.out.push_str(", ");
                    self.expr(1);
                }
                self.out.push_str(");");
            }
            85..=94 if self.indent < 4 => {
                self.out.push_str("if ");
                self.expr(1);
                self.out.push(' ');
                let statements = 1 + self.rng.below(3);
                self.block(statements, false);
                if self.rng.chance(50) {
                    self.out.push_str(" else ");
                    let statements = 1 + self.rng.below(3);
                    self.block(statements, false);
                }
            }
            _ => {
                self.out.push_str("// ");
                for _ in 0..1 + self.rng.below(6) {
                    let word = self.word();
                    self.out.push_str(word);
                    self.out.push(' ');
                }
            }
        }
    }

    /// `term (op term)*`: valid whatever the operators' precedence.
    fn expr(&mut self, depth: u32) {
        let terms = if depth >= 2 {
            1 + self.rng.below(2)
        } else {
            1 + self.rng.below(4)
        };
        self.term(depth);
        for _ in 1..terms {
            let op = *self.rng.pick(&[
                BinOp::Add,
                BinOp::Add,
                BinOp::Add,
                BinOp::Sub,
                BinOp::Mul,
                BinOp::Div,
                BinOp::Rem,
                BinOp::Lt,
                BinOp::Ge,
                BinOp::Eq,
                BinOp::Ne,
                BinOp::And,
                BinOp::Or,
            ]);
            self.out.push(' ');
            self.out.push_str(op.symbol());
            self.out.push(' ');
            self.term(depth);
        }
    }

    fn term(&mut self, depth: u32) {
        let roll = if depth >= 3 {
            self.rng.below(80)
        } else {
            self.rng.below(100)
        };
        match roll {
            0..=49 => self.name(),
            50..=67 => self.string(),
            68..=79 => {
                let digits = 4 * (1 + self.rng.below(4));
                let value = self.rng.below(1 << digits);
                self.out.push_str(&value.to_string());
            }
            80..=89 => {
                self.name();
                self.out.push('(');
                for i in 0..self.rng.below(4) {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.expr(depth + 1);
                }
                self.out.push(')');
            }
            90..=95 => {
                self.out.push('(');
                self.expr(depth + 1);
                self.out.push(')');
            }
            _ => {
                self.out.push(if self.rng.chance(50) { '-' } else { '!' });
                self.term(depth + 1);
            }
        }
    }

    fn string(&mut self) {
        self.out.push('"');
        for i in 0..1 + self.rng.below(5) {
            if i > 0 {
                self.out.push(' ');
            }
            let word = self.word();
            self.out.push_str(word);
        }
        match self.rng.below(20) {
            0 => self.out.push_str("\\n"),
            1 => self.out.push_str(": \\\"%s\\\""),
            2 => self.out.push_str(" (\u{e9}t\u{e9})"),
            _ => {}
        }
        self.out.push('"');
    }
}

/// Parses `source` into the arena of `mm` (compiler mode) and returns the
/// summary; the AST is freed by the caller's next [`MorphMem::reset`].
///
/// # Errors
/// The parse error, or [`MorphMemError::WrongMode`] outside compiler mode
/// (in the error's message).
pub fn parse_in_arena(
    mm: &MorphMem,
    tags: NodeTags,
    source: &str,
) -> Result<AstSummary, Box<dyn std::error::Error>> {
    let alloc = ArenaAlloc::new(mm.arena()?, tags);
    let program = parse_program(source, &alloc)?;
    Ok(summarize(&program))
}

/// Parses `source` into `Box`es, summarises and drops the AST.
///
/// # Errors
/// The parse error.
pub fn parse_in_boxes(source: &str) -> Result<AstSummary, ParseError> {
    let program = parse_program(source, &BoxAlloc)?;
    Ok(summarize(&program))
}
