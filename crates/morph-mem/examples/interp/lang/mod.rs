//! A small Scheme whose runtime values live in Morph Memory's collected
//! heap, through the collector's safe API.
//!
//! * [`reader`] — text to S-expressions (plain Rust data);
//! * [`compile`] — S-expressions to expression trees with every variable
//!   resolved at compile time: to a register if no closure captures it, to
//!   a (frame depth, slot) address if one does, or to a global number;
//! * [`eval`] — a tree-walking evaluator with proper tail calls; captured
//!   variables live in chains of managed frames (the environments),
//!   registers in a stack of rooted values;
//! * [`value`] — immediates, managed objects, and the rooted values the
//!   evaluator holds;
//! * [`builtins`], [`print`] — the library and the printer.
//!
//! Code (source, trees, lambda tables) lives outside the heap; pairs,
//! closures, frames, strings, floats and globals live inside it, and the
//! register stack holds [`Root`](morph_mem::gc::Root)s into it.

pub mod builtins;
pub mod compile;
pub mod eval;
pub mod print;
pub mod reader;
pub mod value;

pub use eval::Interp;
pub use value::Error;
