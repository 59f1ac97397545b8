//! `cargo xtask bench --criterion`: run the criterion micro-benchmarks, then
//! turn their estimates into one table of ratios against our
//! implementation, measured in the same run.
//!
//! Convention (see `benches/Cargo.toml`): a criterion group is a workload, a
//! function id is an implementation; ids starting with `morph` are ours. Only
//! estimates written by this run are read, so a stale result never shows up.
//! The table goes to `target/morph-bench/criterion.md` and `criterion.json`,
//! beside the per-process suite's report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::{cargo, root, step};

use super::format_duration as duration;

/// One measured (workload, implementation) pair.
struct Measurement {
    workload: String,
    implementation: String,
    /// Median time per iteration, nanoseconds.
    median_ns: f64,
    /// Median absolute deviation as a fraction of the median.
    spread: f64,
    /// Elements per iteration, when the benchmark declared a throughput.
    elements: Option<f64>,
}

/// Runs criterion (`cargo bench -p morph-benches`), passing `criterion_args`
/// (a name filter, `--quick`), and writes its table.
pub(crate) fn run(criterion_args: &[String]) -> Result<(), String> {
    let started = SystemTime::now();
    // Only the [[bench]] targets: the library and the runner binaries have
    // libtest harnesses that reject criterion options such as `--quick`.
    let mut command_args = vec!["bench", "-p", "morph-benches", "--bench", "*", "--"];
    command_args.extend(criterion_args.iter().map(String::as_str));
    step(
        "criterion micro-benchmarks (bench profile, same run for every implementation)",
        cargo(&command_args),
    )?;

    let measurements = collect(&root().join("target/criterion"), started)?;
    if measurements.is_empty() {
        return Err("bench: no results were written by this run".into());
    }
    let mut table = table(&measurements);
    if let Some(pauses) = pause_summary(&root().join("target/morph-bench/gc_pauses.json"), started)
    {
        table.push_str(&pauses);
    }
    println!("\n{table}");

    let out_dir = root().join("target/morph-bench");
    fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let report = format!(
        "# Morph Memory benchmark report\n\n\
         Criterion micro-benchmarks. Median time per iteration; `ratio` is the implementation's time divided by \
         ours (`morph*`) in the same run: above 1.00 we are faster.\n\n```text\n{table}```\n"
    );
    let report_path = out_dir.join("criterion.md");
    fs::write(&report_path, report).map_err(|e| format!("{}: {e}", report_path.display()))?;
    let json_path = out_dir.join("criterion.json");
    let json = serde_json::to_string_pretty(&to_json(&measurements)).expect("plain data");
    fs::write(&json_path, json).map_err(|e| format!("{}: {e}", json_path.display()))?;
    println!(
        "criterion report: {}\ncriterion results: {}",
        report_path.display(),
        json_path.display()
    );
    Ok(())
}

/// Reads every `benchmark.json` + `new/estimates.json` pair newer than `since`.
fn collect(dir: &Path, since: SystemTime) -> Result<Vec<Measurement>, String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let in_new = path
                .parent()
                .and_then(Path::file_name)
                .is_some_and(|n| n == "new");
            if !(in_new && path.file_name().is_some_and(|n| n == "estimates.json")) {
                continue;
            }
            let fresh = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= since);
            if !fresh {
                continue;
            }
            let new_dir = path.parent().expect("checked above");
            if let Some(m) = read_measurement(&path, &new_dir.join("benchmark.json")) {
                found.push(m);
            }
        }
    }
    found.sort_by(|a, b| {
        (
            &a.workload,
            !a.implementation.starts_with("morph"),
            &a.implementation,
        )
            .cmp(&(
                &b.workload,
                !b.implementation.starts_with("morph"),
                &b.implementation,
            ))
    });
    Ok(found)
}

fn read_measurement(estimates: &Path, benchmark: &Path) -> Option<Measurement> {
    let estimates: Value = serde_json::from_str(&fs::read_to_string(estimates).ok()?).ok()?;
    let benchmark: Value = serde_json::from_str(&fs::read_to_string(benchmark).ok()?).ok()?;
    let median_ns = estimates["median"]["point_estimate"].as_f64()?;
    let mad = estimates["median_abs_dev"]["point_estimate"]
        .as_f64()
        .unwrap_or(0.0);
    Some(Measurement {
        workload: benchmark["group_id"].as_str()?.to_owned(),
        implementation: benchmark["function_id"].as_str().unwrap_or("?").to_owned(),
        median_ns,
        spread: if median_ns > 0.0 {
            mad / median_ns
        } else {
            0.0
        },
        elements: benchmark["throughput"]["Elements"].as_f64(),
    })
}

fn by_workload(measurements: &[Measurement]) -> BTreeMap<&str, Vec<&Measurement>> {
    let mut groups: BTreeMap<&str, Vec<&Measurement>> = BTreeMap::new();
    for m in measurements {
        groups.entry(&m.workload).or_default().push(m);
    }
    groups
}

/// Time of our implementation in the same workload, if there is one.
fn ours(group: &[&Measurement]) -> Option<f64> {
    group
        .iter()
        .find(|m| m.implementation.starts_with("morph"))
        .map(|m| m.median_ns)
}

fn table(measurements: &[Measurement]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<26} {:<20} {:>12} {:>7} {:>12} {:>7}",
        "workload", "implementation", "median", "±", "per element", "ratio"
    );
    let _ = writeln!(out, "{}", "-".repeat(89));
    for (workload, group) in by_workload(measurements) {
        let reference = ours(&group);
        for (i, m) in group.iter().enumerate() {
            let name = if i == 0 { workload } else { "" };
            let per_element = m.elements.map_or("-".into(), |n| duration(m.median_ns / n));
            let ratio = reference.map_or("-".into(), |r| format!("{:.2}", m.median_ns / r));
            let _ = writeln!(
                out,
                "{:<26} {:<20} {:>12} {:>6.1}% {:>12} {:>7}",
                name,
                m.implementation,
                duration(m.median_ns),
                m.spread * 100.0,
                per_element,
                ratio
            );
        }
    }
    out
}

/// The collector's pause percentiles from the `gc_pauses` workload, if this
/// run wrote them.
fn pause_summary(path: &Path, since: SystemTime) -> Option<String> {
    let fresh = fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t >= since);
    if !fresh {
        return None;
    }
    let stats: Value = serde_json::from_str(&fs::read_to_string(path).ok()?).ok()?;
    let gc = &stats["gc"];
    let share = 100.0 * gc["gc_time_us"].as_f64()? / stats["uptime_us"].as_f64()?.max(1.0);
    Some(format!(
        "\ngc_pauses (minor+major, default 2 MiB nursery): {} collections, p50 {} µs, p90 {} µs, \
         p99 {} µs, max {} µs; GC {share:.2}% of run time\n",
        gc["gc_count"],
        gc["gc_pause_p50_us"],
        gc["gc_pause_p90_us"],
        gc["gc_pause_p99_us"],
        gc["gc_pause_max_us"]
    ))
}

fn to_json(measurements: &[Measurement]) -> Value {
    let workloads: Vec<Value> = by_workload(measurements)
        .into_iter()
        .map(|(workload, group)| {
            let reference = ours(&group);
            let rows: Vec<Value> = group
                .iter()
                .map(|m| {
                    json!({
                        "implementation": m.implementation,
                        "median_ns": m.median_ns,
                        "spread": m.spread,
                        "elements": m.elements,
                        "ratio_to_morph": reference.map(|r| m.median_ns / r),
                    })
                })
                .collect();
            json!({ "workload": workload, "results": rows })
        })
        .collect();
    json!({ "workloads": workloads })
}
