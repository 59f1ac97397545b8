//! The compiler workload: tokenise and parse a large generated program into
//! an AST, in morph-arena against the same parser on `Box`.
//!
//! HOOK: the lexer and parser are to come from the facade crate's example
//! (`crates/morph-mem/examples/compiler/`, a module generic over the
//! allocation strategy), included here with `#[path]` so there is one copy.
//! That example does not exist yet, so this workload has no implementations:
//! `xtask bench` lists it in the report as not run, and says why. Wiring it
//! in means: include the module, run it once per implementation
//! (`morph-arena`, `box-glibc`, `box-mimalloc`) in [`workload`]'s `run`, and
//! return the AST's node count and a digest of its contents as the checksum.

use super::{Family, Workload};

/// Where the parser will come from.
pub const SOURCE: &str = "crates/morph-mem/examples/compiler/";

/// The compiler workload's catalogue entry (no implementations yet).
#[must_use]
pub fn workload() -> Workload {
    Workload {
        name: "compiler".into(),
        family: Family::Compiler,
        baseline: "morph-arena",
        implementations: Vec::new(),
        left_out: vec![(
            "morph-arena, box-glibc",
            "not wired yet: the shared lexer/parser (crates/morph-mem/examples/compiler/) \
             does not exist in this checkout",
        )],
        quick: "not run".into(),
        full: "not run".into(),
        run: Box::new(|_, _| None),
    }
}
