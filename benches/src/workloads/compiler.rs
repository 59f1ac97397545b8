//! The compiler workload: tokenise and parse large generated programs into
//! an AST, in morph-mem's compiler-mode arena (morph-arena underneath)
//! against the same parser building `Box` nodes.
//!
//! The lexer, parser, AST, program generator and checksum are the facade's
//! example front end (`crates/morph-mem/examples/compiler/lang.rs`), included
//! here with `#[path]` so the benchmark and the example are one copy. One
//! parser, generic over where the AST lives: only the allocation strategy
//! differs.
//!
//! A run generates [`CompilerShape::files`] source files one at a time
//! (deterministic, seeds `1..`), and for each parses it, walks the AST for
//! the checksum (node count, the AST's own bytes, a digest of every name,
//! literal and operator) and frees it — one `MorphMem::reset` for the arena,
//! dropping every `Box` otherwise. Generating the source is not part of the
//! measured time; parsing, walking and freeing are. Memory: resident growth
//! while parsing (`VmHWM` after the file − `VmRSS` before it), against the
//! AST's own bytes.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{Family, Outcome, Size, Workload};

#[path = "../../../crates/morph-mem/examples/compiler/lang.rs"]
mod lang;

/// Where the parser comes from.
pub const SOURCE: &str = "crates/morph-mem/examples/compiler/lang.rs";

/// How much a compiler run parses.
#[derive(Clone, Copy, Debug)]
pub struct CompilerShape {
    /// Source files, parsed one after another.
    pub files: u64,
    /// Bytes of source per file.
    pub bytes_per_file: usize,
}

impl CompilerShape {
    /// 4 files of 4 MiB in quick runs, 8 files of 16 MiB in `--full`.
    #[must_use]
    pub fn of(size: Size) -> Self {
        match size {
            Size::Quick => CompilerShape {
                files: 4,
                bytes_per_file: 4 << 20,
            },
            Size::Full => CompilerShape {
                files: 8,
                bytes_per_file: 16 << 20,
            },
        }
    }

    fn describe(self) -> String {
        format!(
            "{} generated files of {} MiB, each tokenised, parsed into an AST, walked and freed \
             (source generation not timed)",
            self.files,
            self.bytes_per_file >> 20
        )
    }
}

/// The compiler workload's catalogue entry.
#[must_use]
pub fn workload() -> Workload {
    Workload {
        name: "compiler".into(),
        family: Family::Compiler,
        baseline: "morph-arena",
        implementations: vec!["morph-arena", "box-glibc", "box-mimalloc"],
        left_out: vec![(
            "bumpalo, typed-arena",
            "the shared parser is written against morph-mem's arena and Box; the arena \
             micro-benchmarks compare bump allocators",
        )],
        quick: CompilerShape::of(Size::Quick).describe(),
        full: CompilerShape::of(Size::Full).describe(),
        full_only: false,
        run: Box::new(run),
    }
}

/// `VmRSS` and `VmHWM` of this process, bytes (Linux).
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// What one file did.
struct FileResult {
    summary: lang::AstSummary,
    /// Resident growth while the AST was alive (peak after − resident before).
    growth: u64,
}

fn run(implementation: &str, size: Size) -> Option<Outcome> {
    let shape = CompilerShape::of(size);
    let mut arena = None;
    match implementation {
        "morph-arena" => {
            let mut mm = morph_mem::MorphMem::new(morph_mem::MorphMemConfig::COMPILER)
                .expect("the compiler preset is valid");
            let tags = lang::NodeTags::register(&mut mm).expect("ten node types fit");
            arena = Some((mm, tags));
        }
        name if name.starts_with("box-") => {}
        _ => return None,
    }
    let mut timed = Duration::ZERO;
    let mut checksum = 0u64;
    let mut nodes = 0u64;
    let mut max_ast_bytes = 0u64;
    let mut max_growth = 0u64;
    let mut source_bytes = 0u64;
    let mut counts = [0u64; lang::NodeKind::COUNT];
    for file in 0..shape.files {
        let source = lang::generate_program(1 + file, shape.bytes_per_file);
        source_bytes += source.len() as u64;
        let (rss_before, _) = memory();
        let started = Instant::now();
        let result = match &mut arena {
            Some((mm, tags)) => {
                let summary = {
                    let alloc = lang::ArenaAlloc::new(mm.arena().expect("compiler mode"), *tags);
                    let program =
                        lang::parse_program(&source, &alloc).expect("generated code parses");
                    lang::summarize(&program)
                };
                let growth = memory().1.saturating_sub(rss_before);
                mm.reset();
                FileResult { summary, growth }
            }
            None => {
                let program =
                    lang::parse_program(&source, &lang::BoxAlloc).expect("generated code parses");
                let summary = lang::summarize(&program);
                let growth = memory().1.saturating_sub(rss_before);
                drop(program);
                FileResult { summary, growth }
            }
        };
        timed += started.elapsed();
        let s = result.summary;
        checksum = checksum
            .wrapping_mul(31)
            .wrapping_add(s.digest ^ s.nodes ^ s.ast_bytes);
        nodes += s.nodes;
        max_ast_bytes = max_ast_bytes.max(s.ast_bytes);
        max_growth = max_growth.max(result.growth);
        for (total, n) in counts.iter_mut().zip(s.counts) {
            *total += n;
        }
    }
    let mut top: Vec<(lang::NodeKind, u64)> = lang::NodeKind::ALL
        .into_iter()
        .map(|k| (k, counts[k as usize]))
        .collect();
    top.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
    let top: Vec<_> = top
        .iter()
        .take(3)
        .map(|(k, n)| json!({ "type": k.name(), "objects": n }))
        .collect();
    let mut outcome = Outcome::new(checksum, nodes);
    // Only parsing, walking and freeing are timed, not generating sources.
    outcome.timed = Some(timed);
    outcome.detail(
        "compiler",
        json!({
            "source_bytes": source_bytes,
            "nodes": nodes,
            "max_ast_bytes": max_ast_bytes,
            "max_rss_growth_bytes": max_growth,
            "growth_over_ast": max_growth as f64 / max_ast_bytes.max(1) as f64,
            "top_types": top,
            "parser": SOURCE,
        }),
    );
    drop(arena);
    Some(outcome)
}
