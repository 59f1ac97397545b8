//! `cargo xtask bench`: the workload suite, one process per run.
//!
//! 1. Build the runners once (`cargo build --release -p morph-benches
//!    --bins`): `morph-workload` (system allocator) and
//!    `morph-workload-mimalloc` (the `box-mimalloc` rows).
//! 2. Ask `morph-workload --list` for the suite (workloads, implementations,
//!    baselines), so the list lives in one place.
//! 3. For each workload, run every implementation in its own process,
//!    `--runs` times, interleaved (round 1 of every implementation, then
//!    round 2, ...) so a slow spell of a shared machine does not land on one
//!    implementation. morph-gengc runs with `MORPH_GC_TRACE=1`: its
//!    one-line-per-collection trace on stderr gives every pause by kind.
//! 4. Refuse results whose checksums differ between implementations or runs.
//! 5. Summarise (median, MAD, min–max, ratio to our implementation, peak
//!    RSS, pauses), check the targets of SPEC.md, compare with `--baseline`,
//!    and write `report.md`, `results.json` and SVG plots under
//!    `target/morph-bench/`.
//!
//! `--criterion` also runs the criterion micro-benchmarks (`bench/criterion.rs`);
//! `--studies` the stand-alone studies (`bench/studies.rs`).

mod criterion;
mod machine;
mod progress;
mod report;
mod stats;
mod studies;
mod svg;

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::{Value, json};

use crate::{cargo, root};
use progress::Progress;
use stats::{Collection, mad, median, parse_trace_line, percentile_sorted};

/// The quantiles of the pause curves (the runner's `probe::QUANTILES`).
const QUANTILES: [f64; 17] = [
    0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, 0.9999, 0.99995,
    0.99999, 1.0,
];

/// Runs per point of the scaling curve at most (each point is a workload
/// with every peer; `--runs` can ask for fewer).
const SCALING_RUNS: usize = 3;

/// Default regression threshold: a median more than this much slower than
/// the baseline's (plus both runs' noise) is a regression.
const DEFAULT_THRESHOLD: f64 = 0.10;

pub(crate) const HELP: &str = "\
usage: cargo xtask bench [options]

Runs every workload once per implementation per process, several times, and
reports medians, spreads, peak RSS and ratios to our implementation (same run).

options:
  --quick                 default sizes (3 runs each; a few minutes on 2 cores);
                          the scaling curve (binary-trees@N) up to depth 18
  --full                  target sizes (64 MiB server live set, 1 GiB VM heap; 7 runs);
                          the scaling curve up to depth 21 (3 runs a point)
  --runs N                runs per (workload, implementation)
  --only NAME[,NAME]      workloads by name or prefix (binary-trees, server, pool, arena-small...)
  --impl NAME[,NAME]      implementations (repeatable); the baseline always runs too
  --json                  results.json on stdout (tables go to stderr)
  --baseline FILE         compare with an earlier results.json; flag regressions
  --threshold PCT         regression threshold in percent, beyond noise (default 10)
  --fail-on-regression    exit non-zero when --baseline finds a regression
  --criterion             also run the criterion micro-benchmarks (--only filters them too)
  --studies               also run the stand-alone studies: C ABI allocation, JIT code
                          cache, multi-threaded pools (target/morph-bench/studies.md);
                          `--only studies` runs them alone
  --list                  print the workloads and implementations, run nothing
  --from-results FILE     run nothing: rebuild report.md and the plots from a results.json
";

/// What the command line asked for.
#[derive(Debug)]
struct Options {
    full: bool,
    runs: Option<usize>,
    only: Vec<String>,
    implementations: Vec<String>,
    json: bool,
    baseline: Option<PathBuf>,
    threshold: f64,
    fail_on_regression: bool,
    criterion: bool,
    studies: bool,
    list: bool,
    from_results: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        full: false,
        runs: None,
        only: Vec::new(),
        implementations: Vec::new(),
        json: false,
        baseline: None,
        threshold: DEFAULT_THRESHOLD,
        fail_on_regression: false,
        criterion: false,
        studies: false,
        list: false,
        from_results: None,
    };
    let mut args = args.iter();
    let list = |value: &str| -> Vec<String> {
        value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .cloned()
                .ok_or_else(|| format!("bench: {name} needs a value\n\n{HELP}"))
        };
        match arg.as_str() {
            "--quick" => options.full = false,
            "--full" => options.full = true,
            "--runs" => {
                let runs: usize = value("--runs")?
                    .parse()
                    .map_err(|e| format!("bench: --runs: {e}"))?;
                options.runs = Some(runs.max(1));
            }
            "--only" => options.only.extend(list(&value("--only")?)),
            "--impl" => options.implementations.extend(list(&value("--impl")?)),
            "--json" => options.json = true,
            "--baseline" => options.baseline = Some(PathBuf::from(value("--baseline")?)),
            "--threshold" => {
                let percent: f64 = value("--threshold")?
                    .parse()
                    .map_err(|e| format!("bench: --threshold: {e}"))?;
                options.threshold = percent / 100.0;
            }
            "--fail-on-regression" => options.fail_on_regression = true,
            "--criterion" => options.criterion = true,
            "--studies" => options.studies = true,
            "--list" => options.list = true,
            "--from-results" => {
                options.from_results = Some(PathBuf::from(value("--from-results")?))
            }
            other => return Err(format!("bench: unknown option `{other}`\n\n{HELP}")),
        }
    }
    if options.fail_on_regression && options.baseline.is_none() {
        return Err("bench: --fail-on-regression needs --baseline FILE".into());
    }
    Ok(options)
}

/// Where cargo puts build output.
fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root().join(p) })
        .unwrap_or_else(|| root().join("target"))
}

/// Prints a line of the human-readable output: stdout normally, stderr when
/// stdout carries JSON.
macro_rules! say {
    ($json:expr, $($arg:tt)*) => {
        if $json { eprintln!($($arg)*) } else { println!($($arg)*) }
    };
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{HELP}");
        return Ok(());
    }
    let options = parse(args)?;
    if let Some(path) = &options.from_results {
        return rebuild_report(path, options.json);
    }
    if options.only == ["studies"] {
        return studies::run(options.full);
    }
    let started = Instant::now();
    let load_before = machine::load_average();

    // Build once; cargo's own output goes to stderr.
    eprintln!("==> building the workload runners (release)");
    let build_started = Instant::now();
    let status = cargo(&["build", "--release", "-p", "morph-benches", "--bins"])
        .status()
        .map_err(|e| format!("bench: could not start cargo: {e}"))?;
    if !status.success() {
        return Err(format!(
            "bench: building the workload runners failed ({status})"
        ));
    }
    let build_seconds = build_started.elapsed().as_secs_f64();
    eprintln!("==> built in {build_seconds:.0}s");

    let bin_dir = target_dir().join("release");
    let runner = Runner {
        system: bin_dir.join("morph-workload"),
        mimalloc: bin_dir.join("morph-workload-mimalloc"),
        full: options.full,
    };
    let catalogue = runner.list()?;
    if options.list {
        for w in &catalogue {
            say!(
                options.json,
                "{:<22} {}",
                w["name"].as_str().unwrap_or("?"),
                strings(&w["implementations"]).join(", ")
            );
        }
        return Ok(());
    }
    let mut selected = select(&catalogue, &options.only)?;
    // The deep end of the scaling curve takes minutes a run for the slower
    // peers: only `--full` runs it, or naming it.
    selected.retain(|w| {
        options.full || w["full_only"] != true || options.only.iter().any(|o| w["name"] == *o)
    });
    let runs = options.runs.unwrap_or(if options.full { 7 } else { 3 });

    let mut workloads = Vec::new();
    for spec in selected {
        // A curve has many points: three runs each, unless asked for fewer.
        let runs = if spec["family"] == "scaling" {
            runs.min(SCALING_RUNS)
        } else {
            runs
        };
        workloads.push(run_workload(&runner, spec, &options, runs)?);
    }

    let out_dir = target_dir().join("morph-bench");
    fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let mut results = json!({
        "schema": 1,
        "date": machine::utc_now(),
        "machine": machine::describe(),
        "load_average": { "before": load_before, "after": machine::load_average() },
        "size": if options.full { "full" } else { "quick" },
        "runs": runs,
        "command": format!("cargo xtask bench {}", args.join(" ")).trim_end().to_owned(),
        "build_seconds": build_seconds,
        "workloads": workloads,
    });
    results["targets"] = report::targets(&results);
    let regressions = match &options.baseline {
        Some(path) => {
            let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let baseline: Value = serde_json::from_str(&text)
                .map_err(|e| format!("{}: not a results.json: {e}", path.display()))?;
            let found = report::compare(&baseline, &results, options.threshold);
            results["baseline"] =
                json!({ "file": path.display().to_string(), "comparison": found });
            Some(found)
        }
        None => None,
    };
    results["total_seconds"] = json!(started.elapsed().as_secs_f64());

    let plots = svg::write_all(&results, &out_dir)?;
    let markdown = report::markdown(&results, &plots);
    let report_path = out_dir.join("report.md");
    fs::write(&report_path, markdown).map_err(|e| format!("{}: {e}", report_path.display()))?;
    let json_text = serde_json::to_string_pretty(&results).expect("plain data");
    let json_path = out_dir.join("results.json");
    fs::write(&json_path, &json_text).map_err(|e| format!("{}: {e}", json_path.display()))?;

    say!(options.json, "\n{}", report::terminal(&results));
    say!(
        options.json,
        "report:  {}\nresults: {}\nplots:   {}\ntotal:   {:.0}s (build {build_seconds:.0}s)",
        report_path.display(),
        json_path.display(),
        plots.join(", "),
        started.elapsed().as_secs_f64()
    );
    if options.json {
        println!("{json_text}");
    }

    if options.criterion {
        let mut criterion_args = Vec::new();
        if !options.full {
            criterion_args.push("--quick".to_owned());
        }
        // Criterion groups are named like the workloads with `_` for `-`
        // (`pool_lifo_32`, `gc_binary_trees`); its filter is a regex.
        if !options.only.is_empty() {
            let names: Vec<String> = options.only.iter().map(|n| n.replace('-', "_")).collect();
            criterion_args.push(names.join("|"));
        }
        criterion::run(&criterion_args)?;
    }
    if options.studies {
        studies::run(options.full)?;
    }

    if let Some(found) = regressions {
        let flagged = found
            .iter()
            .filter(|r| r["regression"].as_bool() == Some(true))
            .count();
        if flagged > 0 && options.fail_on_regression {
            return Err(format!(
                "bench: {flagged} regression(s) against the baseline (see report.md)"
            ));
        }
    }
    Ok(())
}

/// `--from-results`: report.md, the plots and the targets again from a saved
/// results.json (after a change to the report code, or for an old run).
fn rebuild_report(path: &Path, json: bool) -> Result<(), String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut results: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a results.json: {e}", path.display()))?;
    results["targets"] = report::targets(&results);
    let out_dir = target_dir().join("morph-bench");
    fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let plots = svg::write_all(&results, &out_dir)?;
    let report_path = out_dir.join("report.md");
    fs::write(&report_path, report::markdown(&results, &plots))
        .map_err(|e| format!("{}: {e}", report_path.display()))?;
    say!(json, "{}", report::terminal(&results));
    say!(
        json,
        "report rebuilt from {}: {}",
        path.display(),
        report_path.display()
    );
    Ok(())
}

/// The two runner binaries and the size flag.
struct Runner {
    system: PathBuf,
    mimalloc: PathBuf,
    full: bool,
}

/// One finished run of one implementation.
struct RunRecord {
    line: Value,
    collections: Vec<Collection>,
}

impl Runner {
    fn binary(&self, implementation: &str) -> &Path {
        if implementation.ends_with("-mimalloc") {
            &self.mimalloc
        } else {
            &self.system
        }
    }

    fn list(&self) -> Result<Vec<Value>, String> {
        let output = Command::new(&self.system)
            .arg("--list")
            .output()
            .map_err(|e| format!("{}: {e}", self.system.display()))?;
        if !output.status.success() {
            return Err(format!(
                "morph-workload --list failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let list: Value = serde_json::from_slice(&output.stdout)
            .map_err(|e| format!("morph-workload --list: {e}"))?;
        Ok(list.as_array().cloned().unwrap_or_default())
    }

    /// Runs one (workload, implementation) in a fresh process.
    fn run(&self, workload: &str, implementation: &str) -> Result<RunRecord, String> {
        let mut command = Command::new(self.binary(implementation));
        command.args([workload, implementation]);
        if self.full {
            command.arg("--full");
        }
        // Ours traces every collection (kind, pause) to stderr; peers ignore it.
        if implementation.starts_with("morph-gengc") {
            command.env("MORPH_GC_TRACE", "1");
        } else {
            command.env_remove("MORPH_GC_TRACE");
        }
        let output = command
            .output()
            .map_err(|e| format!("{workload}/{implementation}: could not start: {e}"))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(format!(
                "{workload}/{implementation} failed ({}):\n{}",
                output.status,
                tail.join("\n")
            ));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let last = stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        let line: Value = serde_json::from_str(last)
            .map_err(|e| format!("{workload}/{implementation}: bad result line ({e}): {last}"))?;
        let collections = stderr.lines().filter_map(parse_trace_line).collect();
        Ok(RunRecord { line, collections })
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The workloads `--only` names (exactly, or by prefix); all without it.
fn select<'a>(catalogue: &'a [Value], only: &[String]) -> Result<Vec<&'a Value>, String> {
    if only.is_empty() {
        return Ok(catalogue.iter().collect());
    }
    let names: Vec<&str> = catalogue
        .iter()
        .filter_map(|w| w["name"].as_str())
        .collect();
    let mut selected = Vec::new();
    for wanted in only {
        let exact: Vec<&Value> = catalogue.iter().filter(|w| w["name"] == **wanted).collect();
        let matched = if exact.is_empty() {
            catalogue
                .iter()
                .filter(|w| {
                    w["name"]
                        .as_str()
                        .is_some_and(|n| n.starts_with(wanted.as_str()))
                })
                .collect()
        } else {
            exact
        };
        if matched.is_empty() {
            return Err(format!(
                "bench: no workload named `{wanted}`; there are: {}",
                names.join(", ")
            ));
        }
        for w in matched {
            if !selected.iter().any(|s: &&Value| std::ptr::eq(*s, w)) {
                selected.push(w);
            }
        }
    }
    Ok(selected)
}

/// Runs every selected implementation of one workload `runs` times,
/// interleaved, checks the checksums, and summarises.
fn run_workload(
    runner: &Runner,
    spec: &Value,
    options: &Options,
    runs: usize,
) -> Result<Value, String> {
    let name = spec["name"].as_str().unwrap_or("?");
    let baseline = spec["baseline"].as_str().unwrap_or("");
    let available = strings(&spec["implementations"]);
    let implementations: Vec<String> = available
        .iter()
        .filter(|i| {
            options.implementations.is_empty()
                || *i == baseline
                || options.implementations.contains(i)
        })
        .cloned()
        .collect();
    let mut entry = json!({
        "name": name,
        "family": spec["family"],
        "baseline": baseline,
        "description": if options.full { &spec["full"] } else { &spec["quick"] },
        "left_out": spec["left_out"],
    });
    if implementations.is_empty() {
        eprintln!("{name}: not run (no implementation available; see the report)");
        entry["results"] = json!([]);
        entry["not_run"] = json!(true);
        return Ok(entry);
    }

    let mut records: Vec<Vec<RunRecord>> = implementations.iter().map(|_| Vec::new()).collect();
    let mut progress = Progress::start(name, runs * implementations.len(), implementations.len());
    for round in 1..=runs {
        for (i, implementation) in implementations.iter().enumerate() {
            progress.running(implementation, round, runs);
            let record = runner.run(name, implementation)?;
            records[i].push(record);
            progress.finished_one();
        }
    }

    // Same data, same checksum: anything else means an implementation does
    // different work, and its time means nothing.
    let mut checksums: Vec<(String, Vec<u64>)> = Vec::new();
    for (implementation, runs) in implementations.iter().zip(&records) {
        let sums = runs
            .iter()
            .map(|r| r.line["checksum"].as_u64().unwrap_or(0))
            .collect();
        checksums.push((implementation.clone(), sums));
    }
    let reference = checksums[0].1[0];
    if checksums
        .iter()
        .any(|(_, sums)| sums.iter().any(|&s| s != reference))
    {
        let detail: Vec<String> = checksums
            .iter()
            .map(|(implementation, sums)| format!("  {implementation}: {sums:?}"))
            .collect();
        return Err(format!(
            "bench: CHECKSUM MISMATCH in `{name}`: the implementations did not compute the same \
             result, so their times are not comparable:\n{}",
            detail.join("\n")
        ));
    }

    let mut results: Vec<Value> = implementations
        .iter()
        .zip(&records)
        .map(|(implementation, runs)| summarise(implementation, runs))
        .collect();
    let reference_ns = results
        .iter()
        .find(|r| r["implementation"] == baseline)
        .and_then(|r| r["median_ns"].as_f64());
    for r in &mut results {
        if let (Some(reference), Some(median)) = (reference_ns, r["median_ns"].as_f64()) {
            r["ratio"] = json!(median / reference);
        }
    }
    let fastest = results
        .iter()
        .min_by(|a, b| {
            let t = |r: &Value| r["median_ns"].as_f64().unwrap_or(f64::MAX);
            t(a).total_cmp(&t(b))
        })
        .and_then(|r| r["implementation"].as_str())
        .unwrap_or("?")
        .to_owned();
    progress.finish(&format!("checksum {reference} ✓ · fastest {fastest}"));
    entry["checksum"] = json!(reference);
    entry["results"] = Value::Array(results);
    Ok(entry)
}

/// Index of the run whose wall time is the median (the lower middle for an
/// even count): the run whose series and curves the report shows.
fn median_run(runs: &[RunRecord]) -> usize {
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by(|&a, &b| wall(&runs[a]).total_cmp(&wall(&runs[b])));
    order[(runs.len() - 1) / 2]
}

fn wall(run: &RunRecord) -> f64 {
    run.line["wall_ns"].as_f64().unwrap_or(0.0)
}

/// Median, spread and peak RSS of one implementation's runs, and its
/// collector and latency figures.
fn summarise(implementation: &str, runs: &[RunRecord]) -> Value {
    let walls: Vec<f64> = runs.iter().map(wall).collect();
    let rss: Vec<f64> = runs
        .iter()
        .map(|r| r.line["peak_rss_bytes"].as_f64().unwrap_or(0.0))
        .collect();
    let median_ns = median(&walls);
    let min_ns = walls.iter().copied().fold(f64::MAX, f64::min);
    let max_ns = walls.iter().copied().fold(0.0, f64::max);
    let mad_ns = mad(&walls);
    let typical = &runs[median_run(runs)].line;
    let elements = typical["elements"].as_f64().unwrap_or(0.0);
    let mut summary = json!({
        "implementation": implementation,
        "runs": runs.len(),
        "wall_ns": walls,
        "median_ns": median_ns,
        "min_ns": min_ns,
        "max_ns": max_ns,
        "mad_ns": mad_ns,
        "mad_pct": 100.0 * mad_ns / median_ns.max(1.0),
        "range_pct": 100.0 * (max_ns - min_ns) / median_ns.max(1.0),
        "peak_rss_bytes": median(&rss),
        "peak_rss_max_bytes": rss.iter().copied().fold(0.0, f64::max),
        "elements": elements,
        "per_element_ns": if elements > 0.0 { json!(median_ns / elements) } else { Value::Null },
    });
    for key in [
        "phases_ms",
        "memory_series",
        "live_bytes_nominal",
        "collector_pauses",
        "compiler",
        "stalls",
    ] {
        if !typical[key].is_null() {
            summary[key] = typical[key].clone();
        }
    }
    if typical["stalls"]["max_us"].is_number() {
        // The longest stall of any run, not just the typical one's.
        let worst = runs
            .iter()
            .filter_map(|r| r.line["stalls"]["max_us"].as_f64())
            .fold(0.0, f64::max);
        summary["stalls"]["max_us_all_runs"] = json!(worst);
    }
    if !typical["step_latency"].is_null() {
        let mut latency = typical["step_latency"].clone();
        // The worst request of any run, not just the typical one.
        let worst = runs
            .iter()
            .filter_map(|r| r.line["step_latency"]["max_us"].as_f64())
            .fold(0.0, f64::max);
        latency["max_us_all_runs"] = json!(worst);
        summary["step_latency"] = latency;
    }
    let traced = &runs[median_run(runs)].collections;
    if !traced.is_empty() {
        // Every pause of the typical run, for the pause timeline plot:
        // [seconds, microseconds, kind].
        let timeline: Vec<Value> = traced
            .iter()
            .map(|c| {
                let kind = if c.major {
                    "major"
                } else if c.step {
                    "step"
                } else {
                    "minor"
                };
                json!([c.at_s, c.pause_us, kind])
            })
            .collect();
        summary["pause_timeline"] = Value::Array(timeline);
    }
    if !typical["gc"].is_null() {
        summary["gc"] = collector_summary(runs);
    }
    summary
}

/// morph-gengc's collections over all runs: pause percentiles by kind from
/// the trace (pooled over runs), GC share of the whole run (median, from
/// `Heap::stats()`), and of the steady phase where the workload has one.
fn collector_summary(runs: &[RunRecord]) -> Value {
    let shares: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.line["gc_share"].as_f64())
        .collect();
    let per_run =
        |f: &dyn Fn(&RunRecord) -> f64| -> f64 { median(&runs.iter().map(f).collect::<Vec<_>>()) };
    let mut minor: Vec<&Collection> = Vec::new();
    let mut major: Vec<f64> = Vec::new();
    let mut steps: Vec<f64> = Vec::new();
    let mut steady_shares = Vec::new();
    let mut steady_minor: Vec<&Collection> = Vec::new();
    for run in runs {
        for c in &run.collections {
            if c.major {
                major.push(c.pause_us);
            } else if c.step {
                steps.push(c.pause_us);
            } else {
                minor.push(c);
            }
        }
        let start_ms = run.line["steady_from_heap_start_ms"].as_f64();
        let phases = &run.line["phases_ms"];
        let steady_ms = phases["steady"].as_f64().or(phases["mutate"].as_f64());
        if let (Some(start_ms), Some(steady_ms)) = (start_ms, steady_ms) {
            let steady: Vec<&Collection> = run
                .collections
                .iter()
                .filter(|c| c.at_s * 1e3 >= start_ms)
                .collect();
            let gc_us: f64 = steady.iter().map(|c| c.pause_us).sum();
            steady_shares.push(gc_us / (steady_ms * 1e3).max(1.0));
            steady_minor.extend(steady.iter().filter(|c| !c.major && !c.step));
        }
    }
    let traced = runs.iter().any(|r| !r.collections.is_empty());
    let mut summary = json!({
        "minor_collections": per_run(&|r| r.line["gc"]["minor_collections"].as_f64().unwrap_or(0.0)),
        "major_collections": per_run(&|r| r.line["gc"]["major_collections"].as_f64().unwrap_or(0.0)),
        "gc_time_us": per_run(&|r| r.line["gc"]["gc_time_us"].as_f64().unwrap_or(0.0)),
        "gc_share": median(&shares),
        "stats_pauses": runs[median_run(runs)].line["gc"]["pauses"].clone(),
        "traced": traced,
        "minor": minor_distribution(&minor),
        "major": distribution(&mut major),
        "step": distribution(&mut steps),
    });
    if traced {
        // Minimum mutator utilisation over the run, for the worst run.
        let mut mmus = serde_json::Map::new();
        for (name, window_us) in MMU_WINDOWS {
            let worst = runs
                .iter()
                .map(|run| {
                    let pauses: Vec<(f64, f64)> = run
                        .collections
                        .iter()
                        .map(|c| (c.at_s * 1e6, c.pause_us))
                        .collect();
                    stats::mmu(&pauses, window_us)
                })
                .fold(1.0, f64::min);
            mmus.insert(name.to_owned(), json!(worst));
        }
        summary["mmu"] = Value::Object(mmus);
    }
    if !steady_shares.is_empty() {
        summary["steady_gc_share"] = json!(median(&steady_shares));
        summary["steady_minor"] = minor_distribution(&steady_minor);
    }
    summary
}

/// The windows of the minimum mutator utilisation figures.
const MMU_WINDOWS: [(&str, f64); 3] = [("1ms", 1e3), ("10ms", 1e4), ("100ms", 1e5)];

/// [`distribution`] of minor pauses, with what the pauses at or above the
/// p99 copied (`tail`): a long pause that copied a whole eden of survivors
/// says something else about the collector than one that copied little.
fn minor_distribution(minors: &[&Collection]) -> Value {
    let mut pauses: Vec<f64> = minors.iter().map(|c| c.pause_us).collect();
    let mut summary = distribution(&mut pauses);
    let p99 = summary["p99_us"].as_f64().unwrap_or(0.0);
    let tail: Vec<&&Collection> = minors.iter().filter(|c| c.pause_us >= p99).collect();
    if !tail.is_empty() {
        let copied = tail.iter().map(|c| c.copied_bytes as f64);
        let survival = tail
            .iter()
            .map(|c| c.copied_bytes as f64 / c.young_before_bytes.max(1) as f64);
        summary["tail"] = json!({
            "count": tail.len(),
            "copied_min_bytes": copied.clone().fold(f64::INFINITY, f64::min),
            "copied_max_bytes": copied.fold(0.0, f64::max),
            "survival_min": survival.clone().fold(f64::INFINITY, f64::min),
            "survival_max": survival.fold(0.0, f64::max),
        });
    }
    summary
}

/// Count, percentiles and curve of pooled pauses (microseconds).
fn distribution(values: &mut [f64]) -> Value {
    values.sort_by(f64::total_cmp);
    let curve: Vec<Value> = QUANTILES
        .iter()
        .map(|&q| json!([q, percentile_sorted(values, q)]))
        .collect();
    json!({
        "count": values.len(),
        "total_us": values.iter().sum::<f64>(),
        "p50_us": percentile_sorted(values, 0.50),
        "p90_us": percentile_sorted(values, 0.90),
        "p99_us": percentile_sorted(values, 0.99),
        "max_us": values.last().copied().unwrap_or(0.0),
        "curve": curve,
    })
}

/// `1.23 ms`-style durations.
pub(crate) fn format_duration(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.2} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// `12.3 MiB`-style sizes.
pub(crate) fn format_bytes(bytes: f64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes >= 1024.0 * MIB {
        format!("{:.2} GiB", bytes / (1024.0 * MIB))
    } else {
        format!("{:.1} MiB", bytes / MIB)
    }
}
