//! A compiler front end in Morph Memory's compiler mode.
//!
//! Generates N source files of M MiB (deterministic), parses each into an
//! AST, checks it, and frees it before the next file: in the arena with one
//! `MorphMem::reset` (the default), or node by node as `Box`es (`--box`).
//! It prints per-file parse time and throughput, the AST's own bytes, the
//! process's peak RSS against its RSS before parsing and, for the arena, the
//! stats report.
//!
//! ```text
//! cargo run --release -p morph-mem --example compiler -- [--box | --compare] [--files N] [--mb M]
//! ```
//!
//! `--compare` parses every file both ways in one process (alternating which
//! goes first) and prints the time ratio; its RSS mixes both, so measure
//! memory with separate runs. `MORPH_MEM_MODE` is honoured: forcing a mode
//! without an arena is refused with the reason.

mod lang;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use lang::{AstSummary, BoxAlloc, NodeTags, generate_program_into, parse_program, summarize};
use morph_mem::{MorphMem, MorphMemConfig};

const MIB: f64 = 1024.0 * 1024.0;

/// Which allocation strategies to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Strategy {
    Arena,
    Box,
    Compare,
}

#[derive(Debug)]
struct Options {
    strategy: Strategy,
    files: usize,
    bytes_per_file: usize,
    seed: u64,
    metrics: bool,
}

const USAGE: &str = "\
usage: compiler [--box | --compare] [--files N] [--mb M] [--seed S] [--no-metrics]

  --box        parse into Box nodes on the global allocator instead of the arena
  --compare    parse each file both ways in one process; print the time ratio
  --files N    number of files (default 4)
  --mb M       size of each file in MiB, fractions allowed (default 16)
  --seed S     generator seed (default 1)
  --no-metrics do not count arena allocations per type (no Top Types)

MORPH_MEM_MODE may name the mode; this example needs `compiler`.";

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        strategy: Strategy::Arena,
        files: 4,
        bytes_per_file: 16 << 20,
        seed: 1,
        metrics: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--box" => options.strategy = Strategy::Box,
            "--no-metrics" => options.metrics = false,
            "--compare" => options.strategy = Strategy::Compare,
            "--files" => {
                let v = value("--files")?;
                options.files =
                    v.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                        format!("--files wants a positive whole number, not `{v}`")
                    })?;
            }
            "--mb" => {
                let v = value("--mb")?;
                let mb: f64 = v
                    .parse()
                    .ok()
                    .filter(|&m: &f64| m > 0.0 && m <= 4096.0)
                    .ok_or_else(|| {
                        format!("--mb wants a size in MiB above 0 and at most 4096, not `{v}`")
                    })?;
                options.bytes_per_file = (mb * MIB) as usize;
            }
            "--seed" => {
                let v = value("--seed")?;
                options.seed = v
                    .parse()
                    .map_err(|_| format!("--seed wants a whole number, not `{v}`"))?;
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            if message.is_empty() {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What one strategy did over all files.
#[derive(Debug, Default)]
struct Totals {
    parse: Duration,
    free: Duration,
    source_bytes: usize,
    /// The largest file's AST's own bytes.
    max_ast_bytes: u64,
    summaries: Vec<AstSummary>,
}

impl Totals {
    fn add(&mut self, source: &str, run: &FileRun) {
        self.parse += run.parse;
        self.free += run.free;
        self.source_bytes += source.len();
        self.max_ast_bytes = self.max_ast_bytes.max(run.summary.ast_bytes);
        self.summaries.push(run.summary);
    }

    fn print(&self, label: &str) {
        println!(
            "{label}: {:.1} MiB parsed in {} ({:.1} MiB/s); freeing the ASTs took {}",
            self.source_bytes as f64 / MIB,
            ms(self.parse),
            self.source_bytes as f64 / MIB / self.parse.as_secs_f64(),
            ms(self.free),
        );
    }
}

fn run(options: &Options) -> Result<(), Box<dyn std::error::Error>> {
    let mut mm = None;
    let mut tags = None;
    if options.strategy != Strategy::Box {
        let config = MorphMemConfig {
            enable_metrics: options.metrics,
            ..MorphMemConfig::COMPILER
        };
        let mut m = MorphMem::from_env(config)?;
        if let Err(e) = m.arena() {
            return Err(format!(
                "{e}: this example builds its AST in the compiler-mode arena; \
                 unset MORPH_MEM_MODE or set it to `compiler`"
            )
            .into());
        }
        tags = Some(NodeTags::register(&mut m)?);
        mm = Some(m);
    }

    println!(
        "compiler example: {} file(s) of {:.1} MiB, seed {}, {}",
        options.files,
        options.bytes_per_file as f64 / MIB,
        options.seed,
        match options.strategy {
            Strategy::Arena => "AST in the morph-mem arena (compiler mode)",
            Strategy::Box => "AST in Box nodes on the global allocator",
            Strategy::Compare => "AST in the arena and in Box nodes, both per file",
        }
    );

    let mut arena_totals = Totals::default();
    let mut box_totals = Totals::default();
    let mut baseline = None;
    let mut source = String::new();
    for file in 0..options.files {
        // The previous file's AST is gone and its text is overwritten: one
        // source at a time, in one reused buffer.
        generate_program_into(
            options.seed.wrapping_add(file as u64),
            options.bytes_per_file,
            &mut source,
        );
        baseline.get_or_insert_with(Memory::now);
        let label = format!("file {}/{}", file + 1, options.files);
        let arena_first = file % 2 == 0;
        for pass in 0..2 {
            let use_arena = match options.strategy {
                Strategy::Arena => pass == 0,
                Strategy::Box => pass == 1,
                Strategy::Compare => (pass == 0) == arena_first,
            };
            let run_this = match options.strategy {
                Strategy::Arena => pass == 0,
                Strategy::Box => pass == 0,
                Strategy::Compare => true,
            };
            if !run_this {
                continue;
            }
            if use_arena {
                let mm = mm.as_mut().expect("the arena is set up unless --box");
                let tags = tags.expect("registered with the arena");
                let run = parse_arena(mm, tags, &source)?;
                run.print(&label, "arena", &source);
                arena_totals.add(&source, &run);
            } else {
                let run = parse_box(&source)?;
                run.print(&label, "box  ", &source);
                box_totals.add(&source, &run);
            }
        }
    }

    println!();
    let baseline = baseline.unwrap_or_else(Memory::now);
    let end = Memory::now();
    if !arena_totals.summaries.is_empty() {
        arena_totals.print("arena");
    }
    if !box_totals.summaries.is_empty() {
        box_totals.print("box  ");
    }
    if options.strategy == Strategy::Compare {
        if arena_totals.summaries != box_totals.summaries {
            return Err("the arena and Box ASTs differ: a parser bug".into());
        }
        println!(
            "same ASTs both ways; arena parse time / box parse time = {:.3} \
             (parse + free: {:.3})",
            arena_totals.parse.as_secs_f64() / box_totals.parse.as_secs_f64(),
            (arena_totals.parse + arena_totals.free).as_secs_f64()
                / (box_totals.parse + box_totals.free).as_secs_f64()
        );
    }

    let ast = arena_totals.max_ast_bytes.max(box_totals.max_ast_bytes);
    match (baseline.rss, end.peak) {
        (Some(base), Some(peak)) => {
            let grown = peak.saturating_sub(base);
            println!(
                "memory: RSS before parsing {:.1} MiB (one file's source held), peak RSS {:.1} MiB; \
                 peak - before = {:.1} MiB = {:.3}x the largest AST's own bytes ({:.1} MiB)",
                base as f64 / MIB,
                peak as f64 / MIB,
                grown as f64 / MIB,
                grown as f64 / ast as f64,
                ast as f64 / MIB,
            );
            if options.strategy == Strategy::Compare {
                println!(
                    "        (--compare holds both strategies' memory: measure RSS with separate runs)"
                );
            }
        }
        _ => println!("memory: RSS not available (no /proc/self/status)"),
    }

    if let Some(mm) = &mm {
        let arena = mm.arena()?.stats();
        println!(
            "arena after the last reset: {} chunks kept ({:.1} MiB) for the next file, {} resets",
            arena.chunks,
            arena.reserved_bytes as f64 / MIB,
            arena.resets
        );
        println!();
        mm.print_stats();
    }
    Ok(())
}

/// What parsing one file did.
#[derive(Debug)]
struct FileRun {
    parse: Duration,
    /// Freeing the AST: one reset, or dropping every `Box`.
    free: Duration,
    summary: AstSummary,
    /// Resident memory with the AST still alive.
    rss: Option<u64>,
    /// For the arena: its figures with the AST still alive.
    arena: Option<morph_mem::arena::ArenaStats>,
}

impl FileRun {
    fn print(&self, label: &str, how: &str, source: &str) {
        let s = &self.summary;
        println!(
            "{label} {how}: {:.1} MiB parsed in {} ({:.1} MiB/s), freed in {}; {} nodes, \
             AST's own bytes {:.1} MiB, checksum {:016x}; RSS {}",
            source.len() as f64 / MIB,
            ms(self.parse),
            source.len() as f64 / MIB / self.parse.as_secs_f64(),
            ms(self.free),
            thousands(s.nodes),
            s.ast_bytes as f64 / MIB,
            s.digest,
            self.rss
                .map_or("n/a".into(), |b| format!("{:.1} MiB", b as f64 / MIB)),
        );
        if let Some(arena) = &self.arena {
            println!(
                "    arena: {:.1} MiB used (the AST's bytes + {:.1}% alignment padding) \
                 of {:.1} MiB in {} chunks",
                arena.used_bytes as f64 / MIB,
                100.0 * (arena.used_bytes as f64 / s.ast_bytes as f64 - 1.0),
                arena.reserved_bytes as f64 / MIB,
                arena.chunks,
            );
        }
    }
}

/// Parses into the arena, checks, resets.
fn parse_arena(
    mm: &mut MorphMem,
    tags: NodeTags,
    source: &str,
) -> Result<FileRun, Box<dyn std::error::Error>> {
    let (parse, summary) = {
        let alloc = lang::ArenaAlloc::new(mm.arena()?, tags);
        let start = Instant::now();
        let program = parse_program(source, &alloc)?;
        let parse = start.elapsed();
        (parse, summarize(&program))
    };
    let rss = Memory::now().rss;
    let arena = Some(mm.arena()?.stats());
    let start = Instant::now();
    mm.reset();
    Ok(FileRun {
        parse,
        free: start.elapsed(),
        summary,
        rss,
        arena,
    })
}

/// Parses into `Box`es, checks, drops.
fn parse_box(source: &str) -> Result<FileRun, lang::ParseError> {
    let start = Instant::now();
    let program = parse_program(source, &BoxAlloc)?;
    let parse = start.elapsed();
    let summary = summarize(&program);
    let rss = Memory::now().rss;
    let start = Instant::now();
    drop(program);
    Ok(FileRun {
        parse,
        free: start.elapsed(),
        summary,
        rss,
        arena: None,
    })
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The process's resident memory, from `/proc/self/status` (Linux).
#[derive(Clone, Copy, Debug)]
struct Memory {
    /// Resident now (VmRSS), bytes.
    rss: Option<u64>,
    /// Resident at most, since the start (VmHWM), bytes.
    peak: Option<u64>,
}

impl Memory {
    fn now() -> Memory {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().strip_suffix("kB"))
                .and_then(|kib| kib.trim().parse::<u64>().ok())
                .map(|kib| kib * 1024)
        };
        Memory {
            rss: field("VmRSS:"),
            peak: field("VmHWM:"),
        }
    }
}
