//! The command line of the workload binaries (`morph-workload`,
//! `morph-workload-mimalloc`): run one (workload, implementation, size) in
//! this process and print one JSON line, or list the suite.
//!
//! ```text
//! morph-workload --list
//! morph-workload WORKLOAD IMPLEMENTATION [--full]
//! ```
//!
//! The line holds the wall time of the workload (setup, work and freeing
//! everything, not process start-up), its checksum, the process's peak RSS
//! (`VmHWM`, with `getrusage`'s `ru_maxrss` beside it; see
//! [`crate::probe::peak_rss_bytes`]), and the workload's details (collector statistics, latency
//! distributions, memory over time). The binaries differ only in their
//! global allocator, so `box-glibc` runs in one and `box-mimalloc` in the
//! other; everything else runs in `morph-workload`.

use std::process::ExitCode;
use std::time::Instant;

use serde_json::{Value, json};

use crate::probe::{peak_rss_bytes, rusage_max_rss_bytes};
use crate::workloads::{Size, catalogue};

/// The global allocator of the calling binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GlobalAllocator {
    /// The system allocator (glibc malloc).
    System,
    /// mimalloc.
    Mimalloc,
}

impl GlobalAllocator {
    fn name(self) -> &'static str {
        match self {
            GlobalAllocator::System => "system (glibc malloc)",
            GlobalAllocator::Mimalloc => "mimalloc",
        }
    }

    /// Whether `implementation` belongs in a binary with this allocator.
    fn runs(self, implementation: &str) -> bool {
        let wants_mimalloc = implementation.ends_with("-mimalloc");
        wants_mimalloc == (self == GlobalAllocator::Mimalloc)
    }
}

const USAGE: &str = "usage: morph-workload --list | WORKLOAD IMPLEMENTATION [--full]";

/// The whole `main` of a workload binary.
pub fn main(allocator: GlobalAllocator) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(allocator, &args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("morph-workload: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(allocator: GlobalAllocator, args: &[String]) -> Result<Value, String> {
    if args.iter().any(|a| a == "--list") {
        let list: Vec<Value> = catalogue().iter().map(|w| w.to_json()).collect();
        return Ok(Value::Array(list));
    }
    let mut size = Size::Quick;
    let mut positional = Vec::new();
    for arg in args {
        match arg.as_str() {
            "--full" => size = Size::Full,
            "--quick" => size = Size::Quick,
            flag if flag.starts_with('-') => {
                return Err(format!("unknown option `{flag}`\n{USAGE}"));
            }
            name => positional.push(name),
        }
    }
    let [workload_name, implementation] = positional[..] else {
        return Err(USAGE.into());
    };
    let workloads = catalogue();
    let workload = workloads
        .iter()
        .find(|w| w.name == workload_name)
        .ok_or_else(|| format!("unknown workload `{workload_name}` (see --list)"))?;
    if !workload.implementations.contains(&implementation) {
        return Err(format!(
            "workload `{workload_name}` has no implementation `{implementation}` (it has: {})",
            workload.implementations.join(", ")
        ));
    }
    if !allocator.runs(implementation) {
        return Err(format!(
            "`{implementation}` does not run in a binary whose allocator is {}",
            allocator.name()
        ));
    }
    let started = Instant::now();
    let outcome = (workload.run)(implementation, size)
        .ok_or_else(|| format!("`{workload_name}` could not run `{implementation}`"))?;
    let wall = outcome.timed.unwrap_or_else(|| started.elapsed());
    let peak_rss = peak_rss_bytes();
    let wall_ns = wall.as_nanos() as f64;
    let mut line = json!({
        "workload": workload_name,
        "implementation": implementation,
        "size": size.name(),
        "allocator": allocator.name(),
        "wall_ns": wall_ns,
        "timed": if outcome.timed.is_some() { "part of the run (see the workload)" } else { "whole workload" },
        "checksum": outcome.checksum,
        "elements": outcome.elements,
        "peak_rss_bytes": peak_rss,
        "rusage_max_rss_bytes": rusage_max_rss_bytes(),
    });
    let map = line.as_object_mut().expect("built as an object");
    if let Some(gc_time_us) = outcome
        .details
        .get("gc")
        .and_then(|gc| gc["gc_time_us"].as_f64())
    {
        map.insert("gc_share".into(), json!(gc_time_us * 1e3 / wall_ns));
    }
    map.extend(outcome.details);
    Ok(line)
}
