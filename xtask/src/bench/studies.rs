//! `cargo xtask bench --studies`: the studies that are programs of their
//! own rather than workloads of the suite, each comparing against its peer
//! in the same run:
//! * `morph_alloc_v2` from C against the Rust safe and raw APIs
//!   (`morph-capi`'s `alloc_ratio` example; target: C within 1.5× of the
//!   safe API per object);
//! * the JIT code cache against raw `mmap`/`mprotect` (`morph-mem`'s
//!   `code_cache_bench` example);
//! * the multi-threaded pools against glibc, mimalloc, `SyncPool` and
//!   sharded-slab (`benches/benches/pool_threads.rs`, one process per run).
//!
//! Each prints its own table; they are collected, in order, into
//! `target/morph-bench/studies.md`.

use std::fs;
use std::process::Command;
use std::time::Instant;

use crate::{cargo, root};

/// Runs every study (`full`: more rounds) and writes `studies.md`.
pub(crate) fn run(full: bool) -> Result<(), String> {
    let rounds = if full { "15" } else { "5" };
    let runs = if full { "7" } else { "3" };
    let studies: [(&str, Command); 3] = [
        (
            "C ABI allocation: morph_alloc_v2 from C against the Rust APIs",
            cargo(&[
                "run",
                "--release",
                "-p",
                "morph-capi",
                "--example",
                "alloc_ratio",
                "--",
                "--rounds",
                rounds,
            ]),
        ),
        (
            "JIT code cache: a 4 KiB block's life against raw system calls",
            cargo(&[
                "run",
                "--release",
                "-p",
                "morph-mem",
                "--example",
                "code_cache_bench",
                "--",
                "--rounds",
                rounds,
            ]),
        ),
        (
            "Multi-threaded pools: churn, producer/consumer, random lifetimes",
            cargo(&[
                "bench",
                "-p",
                "morph-benches",
                "--bench",
                "pool_threads",
                "--",
                "--runs",
                runs,
            ]),
        ),
    ];
    let mut report = String::from("# Studies\n\nOne program each; ratios are within its run.\n");
    for (title, mut command) in studies {
        println!("\n==> study: {title}");
        let started = Instant::now();
        let output = command
            .output()
            .map_err(|e| format!("study `{title}`: could not start: {e}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "study `{title}` failed\n{stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        print!("{stdout}");
        println!(
            "==> study: {title}: ok ({:.0}s)",
            started.elapsed().as_secs_f64()
        );
        report.push_str(&format!("\n## {title}\n\n```text\n{}```\n", stdout));
    }
    let out_dir = root().join("target/morph-bench");
    fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let path = out_dir.join("studies.md");
    fs::write(&path, report).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("studies: {}", path.display());
    Ok(())
}
