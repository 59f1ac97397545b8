//! Turning `results.json` into judgements and text: the targets of SPEC.md
//! (met or not, from ratios measured in the same run), the comparison with
//! a baseline file, the terminal table and `report.md`.
//!
//! Everything here reads the results JSON only, so a report can be rebuilt
//! from any saved `results.json`.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{format_bytes, format_duration};

fn workloads(results: &Value) -> impl Iterator<Item = &Value> {
    results["workloads"].as_array().into_iter().flatten()
}

fn rows(workload: &Value) -> impl Iterator<Item = &Value> {
    workload["results"].as_array().into_iter().flatten()
}

fn row<'a>(workload: &'a Value, implementation: &str) -> Option<&'a Value> {
    rows(workload).find(|r| r["implementation"] == implementation)
}

fn ratio(workload: &Value, implementation: &str) -> Option<f64> {
    row(workload, implementation)?["ratio"].as_f64()
}

fn target(name: &str, workload: &str, measured: String, met: Option<bool>, note: &str) -> Value {
    json!({ "target": name, "workload": workload, "measured": measured, "met": met, "note": note })
}

/// Every target of SPEC.md that this run measured, met or not.
pub(crate) fn targets(results: &Value) -> Value {
    let quick = results["size"] == "quick";
    let mut out = Vec::new();
    for w in workloads(results) {
        let name = w["name"].as_str().unwrap_or("?");
        if w["not_run"].as_bool() == Some(true) {
            out.push(target(
                "(workload not run)",
                name,
                "not run".into(),
                None,
                "no implementation available (see its section)",
            ));
            continue;
        }
        match w["family"].as_str() {
            Some("collector") => {
                if let Some(r) = ratio(w, "box-glibc") {
                    out.push(target(
                        "faster than Box + glibc malloc",
                        name,
                        format!("Box takes {r:.2}× our time"),
                        Some(r > 1.0),
                        "",
                    ));
                }
                let peers: Vec<(&str, f64)> = ["gc-arena", "gc", "dumpster"]
                    .into_iter()
                    .filter_map(|p| ratio(w, p).map(|r| (p, r)))
                    .collect();
                if !peers.is_empty() {
                    let measured: Vec<String> =
                        peers.iter().map(|(p, r)| format!("{p} {r:.2}×")).collect();
                    out.push(target(
                        "several (≥ 3×) times faster than gc-arena, gc, dumpster",
                        name,
                        measured.join(", "),
                        Some(peers.iter().all(|(_, r)| *r >= 3.0)),
                        "",
                    ));
                }
                minor_pause_target(&mut out, w, name);
            }
            Some("scaling") => scaling_targets(&mut out, w, name),
            Some("server") => {
                minor_pause_target(&mut out, w, name);
                if let Some(gc) = row(w, "morph-gengc").map(|r| &r["gc"]) {
                    let share = gc["steady_gc_share"].as_f64().or(gc["gc_share"].as_f64());
                    if let Some(share) = share {
                        out.push(target(
                            "GC time < 3 % of run time (steady server workload)",
                            name,
                            format!(
                                "{:.1} % of the steady phase ({:.1} % of the whole run)",
                                share * 100.0,
                                gc["gc_share"].as_f64().unwrap_or(0.0) * 100.0
                            ),
                            Some(share < 0.03),
                            if quick {
                                "quick run: a quarter of the 64 MiB live set"
                            } else {
                                ""
                            },
                        ));
                    }
                }
            }
            Some("stalls") => {
                if let Some(r) = row(w, "morph-gengc") {
                    out.push(stall_target(w, r, name));
                }
            }
            Some("large-heap") => {
                minor_pause_target(&mut out, w, name);
                if let Some(r) = row(w, "morph-gengc") {
                    out.push(vm_pause_target(r, name, quick));
                }
            }
            Some("arena") => {
                if let Some(r) = ratio(w, "bumpalo") {
                    out.push(target(
                        "arena: time ≤ bumpalo's",
                        name,
                        format!("bumpalo takes {r:.2}× our time"),
                        Some(r >= 1.0),
                        "",
                    ));
                }
            }
            Some("compiler") => {
                if let Some(r) = ratio(w, "box-glibc") {
                    out.push(target(
                        "compiler: faster than the same parser on Box",
                        name,
                        format!("Box + glibc takes {r:.2}× our time"),
                        Some(r > 1.0),
                        "",
                    ));
                }
                let compiler = row(w, "morph-arena").map(|r| &r["compiler"]);
                if let Some((c, over)) =
                    compiler.and_then(|c| Some((c, c["growth_over_ast"].as_f64()?)))
                {
                    out.push(target(
                        "compiler: peak memory within 10 % of the AST's own bytes",
                        name,
                        format!(
                            "resident growth {} for an AST of {} ({:.3}×)",
                            format_bytes(c["max_rss_growth_bytes"].as_f64().unwrap_or(0.0)),
                            format_bytes(c["max_ast_bytes"].as_f64().unwrap_or(0.0)),
                            over
                        ),
                        Some(over <= 1.10),
                        "growth = VmHWM after parsing − VmRSS before, largest file",
                    ));
                }
            }
            Some("pool") => {
                let glibc = ratio(w, "box-glibc");
                let mimalloc = ratio(w, "box-mimalloc");
                if glibc.is_some() || mimalloc.is_some() {
                    let show = |r: Option<f64>| r.map_or("–".into(), |r| format!("{r:.2}×"));
                    out.push(target(
                        "pool: ≥ 2× faster than glibc malloc, ahead of mimalloc",
                        name,
                        format!("glibc {}, mimalloc {}", show(glibc), show(mimalloc)),
                        Some(glibc.is_none_or(|r| r >= 2.0) && mimalloc.is_none_or(|r| r > 1.0)),
                        "",
                    ));
                }
            }
            _ => {}
        }
    }
    Value::Array(out)
}

/// The scaling curve's targets at one point (`binary-trees@N`): faster
/// than `Box` + glibc, peak RSS at most 1.5× its, and at the benchmarks
/// game's depth 21 within 1.2× of `Box` + mimalloc.
fn scaling_targets(out: &mut Vec<Value>, w: &Value, name: &str) {
    if let Some(r) = ratio(w, "box-glibc") {
        out.push(target(
            "scaling: faster than Box + glibc at every depth",
            name,
            format!("Box takes {r:.2}× our time"),
            Some(r > 1.0),
            "",
        ));
    }
    let rss = |implementation: &str| row(w, implementation)?["peak_rss_bytes"].as_f64();
    if let (Some(ours), Some(boxed)) = (rss("morph-gengc"), rss("box-glibc")) {
        let over = ours / boxed.max(1.0);
        out.push(target(
            "scaling: peak RSS ≤ 1.5× Box + glibc's",
            name,
            format!(
                "{} against {} ({over:.2}×)",
                format_bytes(ours),
                format_bytes(boxed)
            ),
            Some(over <= 1.5),
            "",
        ));
    }
    if name.ends_with("@21")
        && let Some(r) = ratio(w, "box-mimalloc")
    {
        out.push(target(
            "scaling: within 1.2× of Box + mimalloc at depth 21",
            name,
            format!("we take {:.2}× Box + mimalloc's time", 1.0 / r),
            Some(1.0 / r <= 1.2),
            "",
        ));
    }
}

/// The scaling curve as one table: a row per depth, the time ratio
/// (peer ÷ ours) and peak RSS of every implementation.
fn scaling_table(out: &mut String, results: &Value) {
    let points: Vec<&Value> = workloads(results)
        .filter(|w| w["family"] == "scaling" && w["not_run"] != true)
        .collect();
    let Some(first) = points.first() else {
        return;
    };
    let implementations: Vec<&str> = rows(first)
        .filter_map(|r| r["implementation"].as_str())
        .collect();
    let _ = writeln!(
        out,
        "## Scaling curve\n\nbinary-trees at each depth, one process per run: our median \
         time and peak RSS, then each peer's time as a ratio to ours (above 1.00 we are \
         faster) and its peak RSS.\n"
    );
    let _ = write!(out, "| depth |");
    for i in &implementations {
        let _ = write!(out, " {i} |");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "|---|{}", "---|".repeat(implementations.len()));
    for w in points {
        let depth = w["name"]
            .as_str()
            .and_then(|n| n.rsplit('@').next())
            .unwrap_or("?");
        let _ = write!(out, "| {depth} |");
        for i in &implementations {
            let cell = match row(w, i) {
                Some(r) if *i == "morph-gengc" => format!(
                    "{} ({})",
                    format_duration(r["median_ns"].as_f64().unwrap_or(0.0)),
                    format_bytes(r["peak_rss_bytes"].as_f64().unwrap_or(0.0))
                ),
                Some(r) => format!(
                    "{:.2} ({})",
                    r["ratio"].as_f64().unwrap_or(0.0),
                    format_bytes(r["peak_rss_bytes"].as_f64().unwrap_or(0.0))
                ),
                None => "–".into(),
            };
            let _ = write!(out, " {cell} |");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out);
}

/// The VM-mode pause target, judged on each kind of collection.
///
/// A run has a few major collections among hundreds of minor ones, so the
/// p99 of all pauses can fall below every major pause and call the target
/// met while each major stops the program for tens of milliseconds. The
/// target holds only if the p99 of all pauses and the p99 of the major
/// pauses (where there were any) are both under 2 ms.
fn vm_pause_target(ours: &Value, name: &str, quick: bool) -> Value {
    let gc = &ours["gc"];
    let all = gc["stats_pauses"]["p99_us"].as_f64().unwrap_or(0.0);
    let majors = gc["major"]["count"].as_u64().unwrap_or(0);
    let major = (majors > 0).then(|| gc["major"]["p99_us"].as_f64().unwrap_or(0.0));
    let live = ours["live_bytes_nominal"].as_f64().unwrap_or(0.0);
    let major_text = major.map_or("no major collection".to_owned(), |p99| {
        format!("major p99 {} over {majors} (all runs)", us(p99))
    });
    target(
        "VM mode: pause p99 < 2 ms with 1 GiB live",
        name,
        format!(
            "p99 {} (all collections), {major_text}, max {}, ~{} live",
            us(all),
            us(gc["stats_pauses"]["max_us"].as_f64().unwrap_or(0.0)),
            format_bytes(live)
        ),
        Some(all < 2000.0 && major.is_none_or(|p99| p99 < 2000.0)),
        if quick {
            "quick run: ~256 MiB live, not 1 GiB; run --full for the stated size"
        } else {
            ""
        },
    )
}

/// Minor-pause p99 of morph-gengc in `w` (steady phase where there is one).
fn minor_pause_target(out: &mut Vec<Value>, w: &Value, name: &str) {
    let Some(gc) = row(w, "morph-gengc").map(|r| &r["gc"]) else {
        return;
    };
    if gc["traced"].as_bool() != Some(true) {
        return;
    }
    let (dist, phase) = if gc["steady_minor"]["count"].as_u64().unwrap_or(0) > 0 {
        (&gc["steady_minor"], "steady phase")
    } else {
        (&gc["minor"], "whole run")
    };
    let Some(p99) = dist["p99_us"].as_f64() else {
        return;
    };
    if dist["count"].as_u64().unwrap_or(0) == 0 {
        return;
    }
    out.push(target(
        "minor-collection pause p99 < 1 ms",
        name,
        format!(
            "p99 {} over {} minor pauses ({phase}, all runs), max {}{}",
            us(p99),
            dist["count"],
            us(dist["max_us"].as_f64().unwrap_or(0.0)),
            tail_copied(&dist["tail"]),
        ),
        Some(p99 < 1000.0),
        "",
    ));
}

/// What the minor pauses at or above the p99 copied, as `; the 3 ≥ p99
/// copied 2.0 MiB–2.5 MiB each (98–100 % of the young generation survived)`;
/// empty when the run's trace did not say.
fn tail_copied(tail: &Value) -> String {
    let (Some(count), Some(lo), Some(hi), Some(s_lo), Some(s_hi)) = (
        tail["count"].as_u64(),
        tail["copied_min_bytes"].as_f64(),
        tail["copied_max_bytes"].as_f64(),
        tail["survival_min"].as_f64(),
        tail["survival_max"].as_f64(),
    ) else {
        return String::new();
    };
    let range = |lo: String, hi: String| if lo == hi { lo } else { format!("{lo}–{hi}") };
    let copied = range(format_bytes(lo), format_bytes(hi));
    let survival = range(
        format!("{:.0}", s_lo * 100.0),
        format!("{:.0}", s_hi * 100.0),
    );
    let each = if count == 1 { "" } else { " each" };
    format!(
        "; the {count} ≥ p99 copied {copied}{each} ({survival} % of the young generation survived)"
    )
}

/// Compares every (workload, implementation) median with `baseline`'s. A
/// row of ours is a regression when it is slower by more than `threshold`
/// plus the noise of both runs (their relative MADs added).
pub(crate) fn compare(baseline: &Value, current: &Value, threshold: f64) -> Vec<Value> {
    let mut found = Vec::new();
    if baseline["size"] != current["size"] {
        found.push(json!({
            "note": format!(
                "baseline is a {} run, this is a {} run: sizes differ, nothing compared",
                baseline["size"], current["size"]
            ),
            "regression": false,
        }));
        return found;
    }
    for w in workloads(current) {
        let Some(old_w) = workloads(baseline).find(|b| b["name"] == w["name"]) else {
            continue;
        };
        for r in rows(w) {
            let implementation = r["implementation"].as_str().unwrap_or("?");
            let Some(old) = row(old_w, implementation) else {
                continue;
            };
            let (Some(new_ns), Some(old_ns)) = (r["median_ns"].as_f64(), old["median_ns"].as_f64())
            else {
                continue;
            };
            let change = new_ns / old_ns - 1.0;
            let noise = (r["mad_pct"].as_f64().unwrap_or(0.0)
                + old["mad_pct"].as_f64().unwrap_or(0.0))
                / 100.0;
            let ours = implementation.starts_with("morph");
            found.push(json!({
                "workload": w["name"],
                "implementation": implementation,
                "ours": ours,
                "old_ns": old_ns,
                "new_ns": new_ns,
                "change_pct": change * 100.0,
                "noise_pct": noise * 100.0,
                "threshold_pct": threshold * 100.0,
                "regression": ours && change > threshold + noise,
                "improvement": ours && -change > threshold + noise,
            }));
        }
    }
    found
}

fn us(value: f64) -> String {
    if value >= 1000.0 {
        format!("{:.2} ms", value / 1000.0)
    } else if value >= 100.0 {
        format!("{value:.0} µs")
    } else if value >= 10.0 {
        format!("{value:.1} µs")
    } else {
        format!("{value:.2} µs")
    }
}

fn pct(value: f64) -> String {
    format!("{value:.1}%")
}

/// The table printed at the end of a run.
pub(crate) fn terminal(results: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<21} {:<14} {:>10} {:>6} {:>21} {:>6} {:>10}  notes",
        "workload", "implementation", "median", "MAD", "min–max", "ratio", "peak RSS"
    );
    let _ = writeln!(out, "{}", "-".repeat(112));
    for w in workloads(results) {
        let name = w["name"].as_str().unwrap_or("?");
        if w["not_run"].as_bool() == Some(true) {
            let _ = writeln!(out, "{name:<21} not run (see report.md)");
            continue;
        }
        for (i, r) in rows(w).enumerate() {
            let shown = if i == 0 { name } else { "" };
            let f = |k: &str| r[k].as_f64().unwrap_or(0.0);
            let ratio = r["ratio"]
                .as_f64()
                .map_or("-".into(), |x| format!("{x:.2}"));
            let _ = writeln!(
                out,
                "{shown:<21} {:<14} {:>10} {:>6} {:>21} {:>6} {:>10}  {}",
                r["implementation"].as_str().unwrap_or("?"),
                format_duration(f("median_ns")),
                pct(f("mad_pct")),
                format!(
                    "{}–{}",
                    format_duration(f("min_ns")),
                    format_duration(f("max_ns"))
                ),
                ratio,
                format_bytes(f("peak_rss_bytes")),
                notes(r)
            );
        }
    }
    let _ = writeln!(
        out,
        "\nratio = implementation's median ÷ ours (same run): above 1.00 we are faster.\n\ntargets ({}, {} runs each):",
        results["size"].as_str().unwrap_or("?"),
        results["runs"]
    );
    for t in results["targets"].as_array().into_iter().flatten() {
        let mark = match t["met"].as_bool() {
            Some(true) => "met    ",
            Some(false) => "NOT MET",
            None => "n/a    ",
        };
        let _ = writeln!(
            out,
            "  [{mark}] {:<20} {} — {}",
            t["workload"].as_str().unwrap_or("?"),
            t["target"].as_str().unwrap_or("?"),
            t["measured"].as_str().unwrap_or("?")
        );
    }
    if let Some(found) = results["baseline"]["comparison"].as_array() {
        let flagged: Vec<&Value> = found.iter().filter(|r| r["regression"] == true).collect();
        let _ = writeln!(
            out,
            "\nagainst {}: {} regression(s) of ours beyond {}% + noise",
            results["baseline"]["file"].as_str().unwrap_or("?"),
            flagged.len(),
            found
                .iter()
                .find_map(|r| r["threshold_pct"].as_f64())
                .unwrap_or(0.0)
        );
        for r in flagged {
            let _ = writeln!(
                out,
                "  REGRESSION {} / {}: {:+.1}% (noise {:.1}%)",
                r["workload"].as_str().unwrap_or("?"),
                r["implementation"].as_str().unwrap_or("?"),
                r["change_pct"].as_f64().unwrap_or(0.0),
                r["noise_pct"].as_f64().unwrap_or(0.0)
            );
        }
        for r in found.iter().filter(|r| r["note"].is_string()) {
            let _ = writeln!(out, "  {}", r["note"].as_str().unwrap_or(""));
        }
    }
    out
}

/// Short collector / latency notes for a row.
fn notes(r: &Value) -> String {
    let mut parts = Vec::new();
    let gc = &r["gc"];
    if !gc.is_null() {
        let share = gc["steady_gc_share"].as_f64().or(gc["gc_share"].as_f64());
        if let Some(share) = share {
            parts.push(format!("GC {}", pct(share * 100.0)));
        }
        if gc["minor"]["count"].as_u64().unwrap_or(0) > 0 {
            parts.push(format!(
                "minor p99 {}",
                us(gc["minor"]["p99_us"].as_f64().unwrap_or(0.0))
            ));
        }
        if gc["major"]["count"].as_u64().unwrap_or(0) > 0 {
            parts.push(format!(
                "major max {}",
                us(gc["major"]["max_us"].as_f64().unwrap_or(0.0))
            ));
        }
    }
    if let Some(p99) = r["step_latency"]["p99_us"].as_f64() {
        parts.push(format!(
            "request p99 {} max {}",
            us(p99),
            us(r["step_latency"]["max_us_all_runs"].as_f64().unwrap_or(0.0))
        ));
    }
    parts.join(" · ")
}

/// `report.md`.
pub(crate) fn markdown(results: &Value, plots: &[String]) -> String {
    let mut out = String::new();
    let m = &results["machine"];
    let _ = writeln!(out, "# Morph Memory benchmark report\n");
    let _ = writeln!(
        out,
        "Measured {} on {} ({} logical CPUs, {} GiB RAM, {} {}); load average {} before, {} after. \
         Size: **{}**, {} runs per (workload, implementation), each in its own process, \
         interleaved. Command: `{}`; total {:.0} s including a {:.0} s build.\n",
        results["date"].as_str().unwrap_or("?"),
        m["cpu"].as_str().unwrap_or("?"),
        m["logical_cpus"],
        m["memory_gib"],
        m["os"].as_str().unwrap_or("?"),
        m["arch"].as_str().unwrap_or("?"),
        results["load_average"]["before"],
        results["load_average"]["after"],
        results["size"].as_str().unwrap_or("?"),
        results["runs"],
        results["command"].as_str().unwrap_or("?"),
        results["total_seconds"].as_f64().unwrap_or(0.0),
        results["build_seconds"].as_f64().unwrap_or(0.0),
    );
    let _ = writeln!(
        out,
        "How to read: **median** is the median wall time of the runs (the workload only, not \
         process start-up); **MAD** the median absolute deviation as a share of the median; \
         **min–max** the fastest and slowest run; **ratio** the implementation's median ÷ ours \
         (`morph-*`) in this same run — above 1.00 we are faster; **peak RSS** the median over \
         runs of the process's resident high-water mark (`VmHWM`; `ru_maxrss` is kept in \
         results.json but includes the parent's size on Linux). Every implementation of a workload \
         computed the same checksum (checked). See `docs/BENCHMARKS.md`.\n"
    );

    let _ = writeln!(out, "## Targets (SPEC.md)\n");
    let _ = writeln!(
        out,
        "| target | workload | measured | met |\n|---|---|---|---|"
    );
    for t in results["targets"].as_array().into_iter().flatten() {
        let met = match t["met"].as_bool() {
            Some(true) => "✅ met",
            Some(false) => "❌ **not met**",
            None => "– not run",
        };
        let note = t["note"].as_str().filter(|n| !n.is_empty());
        let _ = writeln!(
            out,
            "| {} | `{}` | {}{} | {met} |",
            t["target"].as_str().unwrap_or("?"),
            t["workload"].as_str().unwrap_or("?"),
            t["measured"].as_str().unwrap_or("?"),
            note.map_or(String::new(), |n| format!(" ({n})"))
        );
    }

    let _ = writeln!(out);
    scaling_table(&mut out, results);
    let _ = writeln!(out, "## Results\n");
    for w in workloads(results) {
        let name = w["name"].as_str().unwrap_or("?");
        let _ = writeln!(out, "### `{name}`\n");
        let _ = writeln!(out, "{}.\n", w["description"].as_str().unwrap_or(""));
        if w["not_run"].as_bool() == Some(true) {
            for l in w["left_out"].as_array().into_iter().flatten() {
                let _ = writeln!(
                    out,
                    "Not run — {}: {}.\n",
                    l["implementation"].as_str().unwrap_or("?"),
                    l["why"].as_str().unwrap_or("?")
                );
            }
            continue;
        }
        let _ = writeln!(
            out,
            "| implementation | median | MAD | min–max | ratio | peak RSS | per object | notes |\n\
             |---|---|---|---|---|---|---|---|"
        );
        for r in rows(w) {
            let f = |k: &str| r[k].as_f64().unwrap_or(0.0);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {}–{} | {} | {} | {} | {} |",
                r["implementation"].as_str().unwrap_or("?"),
                format_duration(f("median_ns")),
                pct(f("mad_pct")),
                format_duration(f("min_ns")),
                format_duration(f("max_ns")),
                r["ratio"]
                    .as_f64()
                    .map_or("-".into(), |x| format!("{x:.2}")),
                format_bytes(f("peak_rss_bytes")),
                r["per_element_ns"]
                    .as_f64()
                    .map_or("-".into(), format_duration),
                notes(r)
            );
        }
        let _ = writeln!(
            out,
            "\nChecksum `{}` for every implementation and run.",
            w["checksum"]
        );
        for l in w["left_out"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "Not run: {} — {}.",
                l["implementation"].as_str().unwrap_or("?"),
                l["why"].as_str().unwrap_or("?")
            );
        }
        let _ = writeln!(out);
        match w["family"].as_str() {
            Some("server") => server_details(&mut out, w),
            Some("large-heap") => large_heap_details(&mut out, w),
            Some("stalls") => stall_details(&mut out, w),
            Some("compiler") => compiler_details(&mut out, w),
            Some("vm-objects") => vm_objects_details(&mut out, w),
            _ => {}
        }
        collector_details(&mut out, w);
    }

    if !plots.is_empty() {
        let _ = writeln!(out, "## Plots\n");
        for p in plots {
            let _ = writeln!(out, "![{p}]({p})\n");
        }
    }

    if let Some(found) = results["baseline"]["comparison"].as_array() {
        let _ = writeln!(
            out,
            "## Against the baseline `{}`\n",
            results["baseline"]["file"].as_str().unwrap_or("?")
        );
        for r in found.iter().filter(|r| r["note"].is_string()) {
            let _ = writeln!(out, "{}\n", r["note"].as_str().unwrap_or(""));
        }
        let _ = writeln!(
            out,
            "| workload | implementation | before | now | change | noise | verdict |\n|---|---|---|---|---|---|---|"
        );
        for r in found.iter().filter(|r| r["workload"].is_string()) {
            let verdict = if r["regression"] == true {
                "**regression**"
            } else if r["improvement"] == true {
                "faster"
            } else if r["ours"] == true {
                "within noise"
            } else {
                "(peer)"
            };
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {:+.1}% | ±{:.1}% | {verdict} |",
                r["workload"].as_str().unwrap_or("?"),
                r["implementation"].as_str().unwrap_or("?"),
                format_duration(r["old_ns"].as_f64().unwrap_or(0.0)),
                format_duration(r["new_ns"].as_f64().unwrap_or(0.0)),
                r["change_pct"].as_f64().unwrap_or(0.0),
                r["noise_pct"].as_f64().unwrap_or(0.0)
            );
        }
        let _ = writeln!(out);
    }
    out
}

fn server_details(out: &mut String, w: &Value) {
    let _ = writeln!(
        out,
        "Request latency (each steady-phase step timed; typical run's distribution, worst \
         request over all runs), and the collector's own pauses where it reports them:\n"
    );
    let _ = writeln!(
        out,
        "| implementation | request p50 | p90 | p99 | max (all runs) | collector pauses | GC share |\n|---|---|---|---|---|---|---|"
    );
    for r in rows(w) {
        let l = &r["step_latency"];
        let f = |k: &str| l[k].as_f64().unwrap_or(0.0);
        let (pauses, share) = if !r["gc"].is_null() {
            let gc = &r["gc"];
            (
                format!(
                    "minor p50 {} / p99 {} / max {} ({}); major max {} ({})",
                    us(gc["steady_minor"]["p50_us"].as_f64().unwrap_or(0.0)),
                    us(gc["steady_minor"]["p99_us"].as_f64().unwrap_or(0.0)),
                    us(gc["steady_minor"]["max_us"].as_f64().unwrap_or(0.0)),
                    gc["steady_minor"]["count"],
                    us(gc["major"]["max_us"].as_f64().unwrap_or(0.0)),
                    gc["major"]["count"]
                ),
                format!(
                    "{} steady, {} whole run",
                    pct(gc["steady_gc_share"].as_f64().unwrap_or(0.0) * 100.0),
                    pct(gc["gc_share"].as_f64().unwrap_or(0.0) * 100.0)
                ),
            )
        } else if !r["collector_pauses"].is_null() {
            let c = &r["collector_pauses"];
            let p = &c["pauses"];
            let total = c["gc_time_us"].as_f64().unwrap_or(0.0);
            let wall_us = r["median_ns"].as_f64().unwrap_or(1.0) / 1e3;
            (
                format!(
                    "`collect_debt` p50 {} / p99 {} / max {} ({})",
                    us(p["p50_us"].as_f64().unwrap_or(0.0)),
                    us(p["p99_us"].as_f64().unwrap_or(0.0)),
                    us(p["max_us"].as_f64().unwrap_or(0.0)),
                    p["count"]
                ),
                format!("{} whole run", pct(100.0 * total / wall_us)),
            )
        } else {
            (
                "inside allocation / drop: only in request latency".into(),
                "–".into(),
            )
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {pauses} | {share} |",
            r["implementation"].as_str().unwrap_or("?"),
            us(f("p50_us")),
            us(f("p90_us")),
            us(f("p99_us")),
            us(f("max_us_all_runs")),
        );
    }
    let _ = writeln!(out);
}

fn compiler_details(out: &mut String, w: &Value) {
    let _ = writeln!(
        out,
        "Memory while an AST is alive (largest file; growth = `VmHWM` after parsing − `VmRSS` \
         before it) and the most allocated node types:\n\n\
         | implementation | AST's own bytes | resident growth | growth ÷ AST | top types |\n\
         |---|---|---|---|---|"
    );
    for r in rows(w) {
        let c = &r["compiler"];
        let top: Vec<String> = c["top_types"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| format!("{} {}", t["type"].as_str().unwrap_or("?"), t["objects"]))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.3} | {} |",
            r["implementation"].as_str().unwrap_or("?"),
            format_bytes(c["max_ast_bytes"].as_f64().unwrap_or(0.0)),
            format_bytes(c["max_rss_growth_bytes"].as_f64().unwrap_or(0.0)),
            c["growth_over_ast"].as_f64().unwrap_or(0.0),
            top.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "\nTimed: tokenising, parsing, walking and freeing; generating the sources is not timed.\n"
    );
}

fn large_heap_details(out: &mut String, w: &Value) {
    let _ = writeln!(
        out,
        "| implementation | build phase | mutate phase | peak RSS |\n|---|---|---|---|"
    );
    for r in rows(w) {
        let p = &r["phases_ms"];
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            r["implementation"].as_str().unwrap_or("?"),
            format_duration(p["build"].as_f64().unwrap_or(0.0) * 1e6),
            format_duration(p["mutate"].as_f64().unwrap_or(0.0) * 1e6),
            format_bytes(r["peak_rss_bytes"].as_f64().unwrap_or(0.0))
        );
    }
    let _ = writeln!(
        out,
        "\nStalls as the program sees them: the time of each batch of steps ({} mutation \
         steps, {} build steps), whatever happened inside it (median run):\n\n\
         | implementation | phase | p50 | p99 | p99.9 | max |\n|---|---|---|---|---|---|",
        rows(w)
            .next()
            .map_or(Value::Null, |r| r["stalls"]["mutate_batch"].clone()),
        rows(w)
            .next()
            .map_or(Value::Null, |r| r["stalls"]["build_batch"].clone()),
    );
    for r in rows(w) {
        for phase in ["build", "mutate"] {
            let d = &r["stalls"][phase];
            if d.is_null() {
                continue;
            }
            let _ = writeln!(
                out,
                "| {} | {phase} | {} |",
                r["implementation"].as_str().unwrap_or("?"),
                stall_cells(d, d["max_us"].as_f64().unwrap_or(0.0)),
            );
        }
    }
    let _ = writeln!(out);
}

/// The stall target of issue 16: from the program's side, every operation
/// under 2 ms and the p99 under 0.5 ms, with the peers' figures beside.
fn stall_target(w: &Value, ours: &Value, name: &str) -> Value {
    let d = &ours["stalls"];
    let (p99, max) = (d["p99_us"].as_f64().unwrap_or(0.0), worst_stall(d));
    let peers: Vec<String> = ["morph-gengc-stw", "gc-arena", "box-glibc"]
        .iter()
        .filter_map(|peer| {
            let max = worst_stall(&row(w, peer)?["stalls"]);
            Some(format!("{peer} max {}", us(max)))
        })
        .collect();
    target(
        "stalls: every operation < 2 ms, p99 < 0.5 ms",
        name,
        format!(
            "p99 {}, p99.9 {}, max {} ({})",
            us(p99),
            us(curve_at(d, 0.999)),
            us(max),
            peers.join(", ")
        ),
        Some(max < 2000.0 && p99 < 500.0),
        "",
    )
}

/// The longest stall of any run (of the typical run if not recorded).
fn worst_stall(d: &Value) -> f64 {
    d["max_us_all_runs"]
        .as_f64()
        .or(d["max_us"].as_f64())
        .unwrap_or(0.0)
}

/// Each implementation's stall distribution and memory.
fn stall_details(out: &mut String, w: &Value) {
    let _ = writeln!(
        out,
        "Every operation timed from the program's side (percentiles of the median run; \
         max over all runs):\n\n\
         | implementation | p50 | p99 | p99.9 | max | peak RSS | live |\n\
         |---|---|---|---|---|---|---|"
    );
    for r in rows(w) {
        let d = &r["stalls"];
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            r["implementation"].as_str().unwrap_or("?"),
            stall_cells(d, worst_stall(d)),
            format_bytes(r["peak_rss_bytes"].as_f64().unwrap_or(0.0)),
            format_bytes(r["live_bytes_nominal"].as_f64().unwrap_or(0.0)),
        );
    }
    let _ = writeln!(out);
}

/// The mutation-heavy VM workload: each implementation's stalls per batch
/// of operations, its rebuild rounds (timed on their own) and the share of
/// the run its collector reported.
fn vm_objects_details(out: &mut String, w: &Value) {
    let _ = writeln!(
        out,
        "Stalls as the program sees them: the time of each batch of {} operations, whatever \
         happened inside it (percentiles of the median run; max over all runs); rebuild rounds \
         are timed on their own:\n\n\
         | implementation | p50 | p99 | p99.9 | max | rebuild round p50 / max | collector time | peak RSS |\n\
         |---|---|---|---|---|---|---|---|",
        rows(w)
            .next()
            .map_or(Value::Null, |r| r["stalls"]["batch_ops"].clone())
    );
    for r in rows(w) {
        let d = &r["stalls"];
        let rebuild = &d["rebuild_rounds"];
        let collector = if !r["gc"].is_null() {
            format!(
                "{} (GC)",
                pct(r["gc"]["gc_share"].as_f64().unwrap_or(0.0) * 100.0)
            )
        } else if !r["collector_pauses"].is_null() {
            let total_us = r["collector_pauses"]["gc_time_us"].as_f64().unwrap_or(0.0);
            let wall_us = r["median_ns"].as_f64().unwrap_or(1.0) / 1e3;
            format!("{} (`collect_debt`)", pct(100.0 * total_us / wall_us))
        } else {
            "–".into()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} / {} | {collector} | {} |",
            r["implementation"].as_str().unwrap_or("?"),
            stall_cells(d, worst_stall(d)),
            us(rebuild["p50_us"].as_f64().unwrap_or(0.0)),
            us(rebuild["max_us"].as_f64().unwrap_or(0.0)),
            format_bytes(r["peak_rss_bytes"].as_f64().unwrap_or(0.0)),
        );
    }
    let _ = writeln!(out);
}

/// A stall distribution's p50, p99 and p99.9 cells, then `max`: the
/// middle of a stall table's row.
fn stall_cells(d: &Value, max: f64) -> String {
    format!(
        "{} | {} | {} | {}",
        us(d["p50_us"].as_f64().unwrap_or(0.0)),
        us(d["p99_us"].as_f64().unwrap_or(0.0)),
        us(curve_at(d, 0.999)),
        us(max),
    )
}

/// The value of a distribution's curve at quantile `q` (0 if absent).
fn curve_at(d: &Value, q: f64) -> f64 {
    d["curve"]
        .as_array()
        .and_then(|points| {
            points
                .iter()
                .find(|p| p[0].as_f64() == Some(q))
                .and_then(|p| p[1].as_f64())
        })
        .unwrap_or(0.0)
}

/// morph-gengc's pauses by kind, for any workload it ran.
fn collector_details(out: &mut String, w: &Value) {
    let Some(gc) = row(w, "morph-gengc").map(|r| &r["gc"]) else {
        return;
    };
    if gc.is_null() {
        return;
    }
    let _ = writeln!(
        out,
        "morph-gengc collections (pauses from its trace, pooled over all runs; counts and GC \
         time per run, median):\n\n\
         | kind | per run | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|"
    );
    for (kind, key, count_key) in [
        ("minor", "minor", "minor_collections"),
        (
            "major (or an incremental cycle's finish)",
            "major",
            "major_collections",
        ),
        ("incremental cycle start or marking step", "step", ""),
    ] {
        let d = &gc[key];
        if key == "step" && d["count"].as_u64().unwrap_or(0) == 0 {
            continue;
        }
        let empty = d["count"].as_u64().unwrap_or(0) == 0;
        let f = |k: &str| {
            if empty {
                "–".to_owned()
            } else {
                us(d[k].as_f64().unwrap_or(0.0))
            }
        };
        let _ = writeln!(
            out,
            "| {kind} | {} | {} | {} | {} | {} |",
            if count_key.is_empty() {
                format!("{} (all runs)", d["count"])
            } else {
                gc[count_key].to_string()
            },
            f("p50_us"),
            f("p90_us"),
            f("p99_us"),
            f("max_us")
        );
    }
    if let Some(mmu) = gc["mmu"].as_object() {
        let figures: Vec<String> = ["1ms", "10ms", "100ms"]
            .iter()
            .filter_map(|window| {
                let u = mmu.get(*window)?.as_f64()?;
                Some(format!("{window} {}", pct(u * 100.0)))
            })
            .collect();
        let _ = writeln!(
            out,
            "\nMinimum mutator utilisation (worst run; every pause of the trace): {}.",
            figures.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "\nGC time {} per run, {} of the run{}.\n",
        us(gc["gc_time_us"].as_f64().unwrap_or(0.0)),
        pct(gc["gc_share"].as_f64().unwrap_or(0.0) * 100.0),
        gc["steady_gc_share"]
            .as_f64()
            .map_or(String::new(), |s| format!(
                " ({} of the steady phase)",
                pct(s * 100.0)
            ))
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn large_heap_row(all_p99_us: f64, majors: &[f64]) -> Value {
        let max = majors.iter().copied().fold(all_p99_us, f64::max);
        json!({
            "implementation": "morph-gengc",
            "live_bytes_nominal": 268_435_456.0,
            "gc": {
                "stats_pauses": { "p99_us": all_p99_us, "max_us": max },
                "major": {
                    "count": majors.len(),
                    "p99_us": majors.iter().copied().fold(0.0, f64::max),
                },
            },
        })
    }

    #[test]
    fn the_minor_pause_target_says_what_its_longest_pauses_copied() {
        let workload = json!({ "results": [{
            "implementation": "morph-gengc",
            "gc": {
                "traced": true,
                "minor": {
                    "count": 264, "p99_us": 1_004.0, "max_us": 1_171.0,
                    "tail": {
                        "count": 3,
                        "copied_min_bytes": 2_097_152.0, "copied_max_bytes": 2_620_416.0,
                        "survival_min": 0.995, "survival_max": 1.0,
                    },
                },
            },
        }]});
        let mut out = Vec::new();
        minor_pause_target(&mut out, &workload, "gcbench");
        assert_eq!(out[0]["met"], json!(false));
        let measured = out[0]["measured"].as_str().unwrap();
        assert!(
            measured.ends_with(
                "; the 3 ≥ p99 copied 2.0 MiB–2.5 MiB each (100 % of the young generation survived)"
            ),
            "{measured}"
        );
    }

    #[test]
    fn the_vm_target_fails_on_long_majors_hidden_below_the_overall_p99() {
        let judged = vm_pause_target(&large_heap_row(1_300.0, &[55_000.0, 80_000.0]), "vm", true);
        assert_eq!(judged["met"], json!(false), "{judged}");
        assert!(
            judged["measured"]
                .as_str()
                .unwrap()
                .contains("major p99 80.00 ms over 2")
        );
    }

    #[test]
    fn the_vm_target_is_met_when_every_kind_of_pause_is_short() {
        let judged = vm_pause_target(&large_heap_row(1_300.0, &[1_800.0]), "vm", true);
        assert_eq!(judged["met"], json!(true), "{judged}");
        let judged = vm_pause_target(&large_heap_row(1_300.0, &[]), "vm", true);
        assert_eq!(judged["met"], json!(true), "{judged}");
        assert!(
            judged["measured"]
                .as_str()
                .unwrap()
                .contains("no major collection")
        );
        let judged = vm_pause_target(&large_heap_row(2_300.0, &[]), "vm", true);
        assert_eq!(judged["met"], json!(false), "{judged}");
    }
}
