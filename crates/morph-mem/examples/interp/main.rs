//! `interp` — a small Scheme interpreter whose values, closures and
//! environments live in Morph Memory's garbage-collected heap (runtime mode),
//! through the collector's safe API.
//!
//! ```text
//! cargo run --release -p morph-mem --example interp                    # the built-in programs
//! cargo run --release -p morph-mem --example interp -- --bench churn   # one of them
//! cargo run --release -p morph-mem --example interp -- --small         # all, small sizes
//! cargo run --release -p morph-mem --example interp -- program.scm
//! cargo run --release -p morph-mem --example interp -- -e '(map (lambda (x) (* x x)) (iota 5))'
//! MORPH_GC_TRACE=1 cargo run --release -p morph-mem --example interp   # one line per collection
//! ```
//!
//! The built-in programs are binary trees (benchmarks game), a closure-heavy
//! program and a long allocating loop; each prints its result (checked
//! against the value computed in Rust), its time and its collections, and
//! the run ends with the stats report. `MORPH_MEM_MODE` picks another
//! collector mode (`vm`, `server`).

mod lang;
mod programs;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use lang::Interp;
use lang::value::{Imm, Val};
use morph_mem::{MorphMem, MorphMemConfig};
use programs::{Program, Size};

/// Rust stack for the interpreter thread: non-tail calls nest in Rust.
const STACK_BYTES: usize = 1 << 30;
/// Nesting allowed in the interpreted program (well within `STACK_BYTES`).
const MAX_DEPTH: usize = 200_000;

const USAGE: &str = "usage: interp [PROGRAM.scm | -e EXPR] [--bench NAME]... [--small]
  with no program, runs the built-in programs (binary-trees, closures, churn)
  --bench NAME   run only this built-in program (repeatable)
  --small        smaller sizes of the built-in programs (--tiny: tiny ones)
  MORPH_GC_TRACE=1 prints one line per collection; MORPH_MEM_MODE=vm|server picks the mode";

enum Task {
    Source {
        name: String,
        text: String,
        print_value: bool,
    },
    Builtin {
        names: Vec<String>,
        size: Size,
    },
}

fn parse_args() -> Result<Task, String> {
    let mut args = std::env::args().skip(1);
    let mut source = None;
    let mut names = Vec::new();
    let mut size = Size::Full;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-e" => {
                let text = args.next().ok_or("-e needs an expression")?;
                source = Some(Task::Source {
                    name: "-e".into(),
                    text,
                    print_value: true,
                });
            }
            "--bench" => {
                let name = args.next().ok_or("--bench needs a name")?;
                if !programs::NAMES.contains(&name.as_str()) {
                    return Err(format!(
                        "no built-in program `{name}`; choose from {}",
                        programs::NAMES.join(", ")
                    ));
                }
                names.push(name);
            }
            "--small" => size = Size::Small,
            "--tiny" => size = Size::Tiny,
            "-h" | "--help" => return Err(USAGE.into()),
            path if !path.starts_with('-') => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
                source = Some(Task::Source {
                    name: path.into(),
                    text,
                    print_value: false,
                });
            }
            other => return Err(format!("unknown option `{other}`\n{USAGE}")),
        }
    }
    Ok(source.unwrap_or(Task::Builtin { names, size }))
}

fn main() -> ExitCode {
    let task = match parse_args() {
        Ok(task) => task,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    // The heap is single-threaded: it is made and used on this thread.
    let thread = std::thread::Builder::new()
        .name("interp".into())
        .stack_size(STACK_BYTES)
        .spawn(move || run(task));
    match thread.map(|t| t.join()) {
        Ok(Ok(Ok(()))) => ExitCode::SUCCESS,
        Ok(Ok(Err(message))) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
        _ => ExitCode::FAILURE,
    }
}

fn run(task: Task) -> Result<(), String> {
    let mut mm = MorphMem::from_env(MorphMemConfig::RUNTIME).map_err(|e| e.to_string())?;
    match task {
        Task::Source {
            name,
            text,
            print_value,
        } => {
            let outcome = mm
                .enter(|m| {
                    let mut interp = Interp::new(m);
                    interp.echo = true;
                    interp.max_depth = MAX_DEPTH;
                    match interp.run(m, &text) {
                        Ok(Val::Imm(Imm::Unspecified)) => Ok(None),
                        Ok(value) => Ok(Some(interp.show(m, &value))),
                        Err(error) => Err(format!("{name}: {error}")),
                    }
                })
                .map_err(|e| e.to_string())?;
            match outcome {
                Ok(Some(value)) if print_value => println!("{value}"),
                Ok(_) => {}
                Err(message) => return Err(message),
            }
            if std::env::var_os("MORPH_GC_TRACE").is_some() {
                mm.print_stats();
            }
            Ok(())
        }
        Task::Builtin { names, size } => run_builtin(&mut mm, &names, size),
    }
}

/// The CPU time this thread has run, where Linux reports it
/// (`/proc/thread-self/schedstat`): on a shared machine it says more than
/// the wall-clock time.
fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// Collections and GC time of one program, from stats before and after.
struct Measured {
    name: &'static str,
    time: Duration,
    cpu: Option<Duration>,
    collections: u64,
    minor: u64,
    major: u64,
    gc_time: Duration,
}

fn seconds(time: Option<Duration>) -> String {
    time.map_or_else(|| "?".into(), |t| format!("{:.3}", t.as_secs_f64()))
}

fn run_builtin(mm: &mut MorphMem, names: &[String], size: Size) -> Result<(), String> {
    let programs: Vec<Program> = programs::all(size)
        .into_iter()
        .filter(|p| names.is_empty() || names.iter().any(|n| n == p.name))
        .collect();
    let mut measured = Vec::new();
    let mut failed = false;
    for program in &programs {
        println!("== {}: {}", program.name, program.title);
        let before = mm.stats();
        let cpu_start = thread_cpu_time();
        let start = Instant::now();
        let outcome = mm
            .enter(|m| {
                let mut interp = Interp::new(m);
                interp.echo = true;
                interp.max_depth = MAX_DEPTH;
                let value = interp.run(m, &program.source)?;
                Ok::<String, lang::Error>(interp.show(m, &value))
            })
            .map_err(|e| e.to_string())?;
        let time = start.elapsed();
        let cpu = thread_cpu_time()
            .zip(cpu_start)
            .map(|(end, start)| end - start);
        let after = mm.stats();
        let result = outcome.map_err(|e| format!("{}: {e}", program.name))?;
        let ok = result == program.expected.to_string();
        failed |= !ok;
        let run = Measured {
            name: program.name,
            time,
            cpu,
            collections: after.gc.gc_count - before.gc.gc_count,
            minor: after.generational.young_gc_count - before.generational.young_gc_count,
            major: after.generational.old_gc_count - before.generational.old_gc_count,
            gc_time: Duration::from_micros(after.gc.gc_time_us - before.gc.gc_time_us),
        };
        println!(
            "result: {result} ({})",
            if ok {
                "as expected".to_string()
            } else {
                format!("WRONG: expected {}", program.expected)
            }
        );
        println!(
            "time: {:.3} s (CPU {}); collections: {} ({} minor, {} major); GC time {:.1} ms ({:.1} % of the run)\n",
            run.time.as_secs_f64(),
            seconds(run.cpu),
            run.collections,
            run.minor,
            run.major,
            run.gc_time.as_secs_f64() * 1e3,
            100.0 * run.gc_time.as_secs_f64() / run.time.as_secs_f64(),
        );
        measured.push(run);
    }
    println!(
        "{:<14} {:>10} {:>10} {:>12} {:>12} {:>8}",
        "program", "time (s)", "CPU (s)", "collections", "GC (ms)", "GC %"
    );
    for run in &measured {
        println!(
            "{:<14} {:>10.3} {:>10} {:>12} {:>12.1} {:>8.1}",
            run.name,
            run.time.as_secs_f64(),
            seconds(run.cpu),
            run.collections,
            run.gc_time.as_secs_f64() * 1e3,
            100.0 * run.gc_time.as_secs_f64() / run.time.as_secs_f64(),
        );
    }
    println!();
    mm.print_stats();
    if failed {
        return Err("a built-in program produced a wrong result".into());
    }
    Ok(())
}
