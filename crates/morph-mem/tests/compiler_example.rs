//! The compiler example's front end (`examples/compiler/lang.rs`): the same
//! parser on the arena and on `Box` builds the same AST, reports errors with
//! their position, and in the arena frees everything at reset and reuses the
//! memory for the next file.
#![cfg(feature = "compiler")]

#[path = "../examples/compiler/lang.rs"]
mod lang;

use lang::{
    ArenaAlloc, AstSummary, BoxAlloc, NodeKind, NodeTags, ParseError, generate_program,
    parse_program, summarize, to_sexpr,
};
use morph_mem::{MorphMem, MorphMemConfig};

fn compiler_mode() -> MorphMem {
    MorphMem::new(MorphMemConfig {
        enable_metrics: true,
        ..MorphMemConfig::COMPILER
    })
    .expect("the compiler preset is valid")
}

/// Parses `source` both ways; checks both give the same AST and returns its
/// S-expression form, or the error (which must also be the same).
fn parse_both(source: &str) -> Result<String, ParseError> {
    let mut mm = compiler_mode();
    let tags = NodeTags::register(&mut mm).unwrap();
    let in_arena = {
        let alloc = ArenaAlloc::new(mm.arena().unwrap(), tags);
        parse_program(source, &alloc).map(|p| (to_sexpr(&p), summarize(&p)))
    };
    let in_boxes = parse_program(source, &BoxAlloc).map(|p| (to_sexpr(&p), summarize(&p)));
    assert_eq!(in_arena, in_boxes, "arena and Box disagree on {source:?}");
    in_arena.map(|(sexpr, _)| sexpr)
}

#[track_caller]
fn assert_ast(source: &str, expected: &str) {
    match parse_both(source) {
        Ok(sexpr) => assert_eq!(sexpr, expected, "source: {source:?}"),
        Err(e) => panic!("{source:?} did not parse: {e}"),
    }
}

#[track_caller]
fn assert_error(source: &str, expected: &str) {
    match parse_both(source) {
        Ok(sexpr) => panic!("{source:?} parsed as {sexpr}, expected the error {expected}"),
        Err(e) => assert_eq!(e.to_string(), expected, "source: {source:?}"),
    }
}

#[test]
fn operators_bind_by_precedence_and_associate_left() {
    assert_ast("let x = 1 + 2 * y;", "(let x (+ 1 (* 2 y)))");
    assert_ast("let z = a - b - c;", "(let z (- (- a b) c))");
    assert_ast(
        "let p = a || b && c == d < e + f * -g;",
        "(let p (|| a (&& b (== c (< d (+ e (* f (- g))))))))",
    );
    assert_ast(
        "// a comment\nlet q = (a + b) % !c; // trailing\n",
        "(let q (% (+ a b) (! c)))",
    );
}

#[test]
fn functions_calls_strings_and_blocks_build_the_expected_ast() {
    assert_ast(
        "fn add(a, b) { return a + b; }",
        "(fn add (a b) (block (return (+ a b))))",
    );
    assert_ast(
        r#"fn main() { print("hi\n", f(x)(y)); "d\"one" }"#,
        r#"(fn main () (block (expr (call print "hi\n" (call (call f x) y))) "d\"one"))"#,
    );
    assert_ast(
        "fn f(n) { if n < 2 { n } else if n > 10 { 10 } else { f(n - 1) } }",
        "(fn f (n) (block (if (< n 2) (block n) (if (> n 10) (block 10) (block (call f (- n 1)))))))",
    );
    // Block-like statements need no `;`; the last expression is the value.
    assert_ast(
        "fn g() { if c { a(); } b(); { 1 } }\nlet k = 0;",
        "(fn g () (block (expr (if c (block (expr (call a))))) (expr (call b)) (block 1)))\n(let k 0)",
    );
}

#[test]
fn errors_name_the_problem_and_its_line_and_column() {
    assert_error(
        "let s = \"abc;\nlet t = 1;",
        "1:9: unterminated string literal (missing closing `\"` on this line)",
    );
    assert_error(
        "fn f() {\n    let x = (1 + 2;\n}",
        "2:19: expected `)`, found `;`",
    );
    assert_error("let = 5;", "1:5: expected identifier, found `=`");
    assert_error(
        "fn f() { x y }",
        "1:12: expected `;` or `}` after the expression, found identifier `y`",
    );
    assert_error("fn f() { 1 + }", "1:14: expected an expression, found `}`");
    assert_error("fn f() {", "1:9: expected `}`, found end of input");
    assert_error(
        "1;",
        "1:1: expected `fn` or `let`, found integer literal `1`",
    );
    // Columns count characters, not bytes.
    assert_error("let s = \"é\" @", "1:13: unexpected character `@`");
    assert_error(
        "let n = 99999999999999999999;",
        "1:9: integer literal `99999999999999999999` does not fit in 64 bits",
    );
    assert_error(
        r#"let s = "a\q";"#,
        r"1:11: unknown escape `\q` in string literal",
    );
    let deep = format!("let d = {}1{};", "(".repeat(300), ")".repeat(300));
    let err = parse_both(&deep).unwrap_err();
    assert!(err.message.contains("nesting deeper than 256"), "{err}");
}

/// Source size under Miri, which parses some 30 bytes a second: an item or
/// two (a generated program overshoots its size by up to an item).
const MIRI_SOURCE: usize = 1024;

#[test]
fn generated_programs_parse_to_the_same_ast_both_ways() {
    let size = if cfg!(miri) { MIRI_SOURCE } else { 64 * 1024 };
    for seed in 0..3 {
        let source = generate_program(seed, size);
        assert!(source.len() >= size && source.len() < size + 16 * 1024);
        assert_eq!(
            source,
            generate_program(seed, size),
            "the generator is deterministic"
        );
        let sexpr = parse_both(&source).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert!(
            sexpr.lines().count() > 20 * size / (64 * 1024),
            "one line per item"
        );
    }
    assert_ne!(generate_program(1, 4096), generate_program(2, 4096));
}

#[test]
fn arena_reset_frees_the_ast_and_reuses_its_chunks() {
    let mut mm = compiler_mode();
    let tags = NodeTags::register(&mut mm).unwrap();
    // About 4 MiB of AST: a few chunks, all within the arena's retention.
    // (Under Miri, part of one chunk: reset and reuse are still checked.)
    let source = generate_program(42, if cfg!(miri) { MIRI_SOURCE } else { 1 << 20 });

    let parse = |mm: &MorphMem| -> AstSummary {
        let alloc = ArenaAlloc::new(mm.arena().unwrap(), tags);
        summarize(&parse_program(&source, &alloc).unwrap())
    };
    let first = parse(&mm);
    let after_first = mm.arena().unwrap().stats();
    assert!(after_first.chunks > 1 || cfg!(miri), "{after_first:?}");
    mm.reset();
    let after_reset = mm.arena().unwrap().stats();
    assert_eq!(after_reset.used_bytes, 0);
    assert_eq!(
        after_reset.free_chunks, after_first.chunks,
        "every chunk kept"
    );

    let second = parse(&mm);
    let after_second = mm.arena().unwrap().stats();
    assert_eq!(first, second);
    assert_eq!(
        after_second.chunks, after_first.chunks,
        "no new chunk for the second file"
    );
    assert_eq!(after_second.reserved_bytes, after_first.reserved_bytes);
    mm.reset();

    // The stats count every node once per parse, under its registered name.
    let stats = mm.stats();
    assert_eq!(stats.allocation.current_live_objects, 0);
    assert_eq!(stats.allocation.total_allocated_objects, 2 * first.nodes);
    for kind in NodeKind::ALL {
        let by_type = stats
            .objects
            .by_type
            .iter()
            .find(|t| t.name == kind.name())
            .unwrap_or_else(|| panic!("{} not in the stats", kind.name()));
        assert_eq!(
            by_type.objects,
            2 * first.counts[kind as usize],
            "{}",
            kind.name()
        );
    }
}

#[test]
fn top_types_are_identifier_infix_expr_and_string_literal() {
    let mut mm = compiler_mode();
    let tags = NodeTags::register(&mut mm).unwrap();
    let source = generate_program(7, if cfg!(miri) { MIRI_SOURCE } else { 256 * 1024 });
    let summary = lang::parse_in_arena(&mm, tags, &source).unwrap();
    mm.reset();

    let stats = mm.stats();
    let top: Vec<&str> = stats.top_types(3).iter().map(|t| t.name.as_str()).collect();
    assert_eq!(top, ["Identifier", "InfixExpr", "StringLiteral"]);
    let report = stats.report();
    assert!(report.contains("Mode: COMPILER"), "{report}");
    assert!(report.contains("1. Identifier"), "{report}");

    let boxed = lang::parse_in_boxes(&source).unwrap();
    assert_eq!(summary, boxed);
    let top_kinds: Vec<NodeKind> = boxed.top_kinds().iter().take(3).map(|k| k.0).collect();
    assert_eq!(
        top_kinds,
        [
            NodeKind::Identifier,
            NodeKind::InfixExpr,
            NodeKind::StringLiteral
        ]
    );
}

#[cfg(feature = "runtime")]
#[test]
fn the_arena_is_refused_outside_compiler_mode_with_the_reason() {
    let mm = MorphMem::new(MorphMemConfig::RUNTIME).unwrap();
    let mut compiler = compiler_mode();
    let tags = NodeTags::register(&mut compiler).unwrap();
    let err = lang::parse_in_arena(&mm, tags, "let x = 1;").unwrap_err();
    assert_eq!(
        err.to_string(),
        "the arena is not available in RUNTIME mode"
    );
}
