//! Project automation, run as `cargo xtask <command>` from anywhere in the
//! workspace (see `.cargo/config.toml`).
//!
//! * `cargo xtask ci` — everything CI checks: formatting, clippy with
//!   warnings denied, the C ABI header's staleness check, tests (the C
//!   ABI's C programs under AddressSanitizer among them) and doc tests,
//!   rustdoc warnings, loom model checks, Miri over the unsafe core when
//!   the nightly toolchain has it, and a short run of every fuzz target
//!   when nightly and cargo-fuzz are there.
//! * `cargo xtask bench` — the benchmark suite against peer crates, a summary
//!   table of ratios measured in the same run, and a report under
//!   `target/morph-bench/`.
//! * `cargo xtask fuzz [TARGET] [--time S]` — the cargo-fuzz targets under
//!   `fuzz/` (nightly), each for S seconds; `ci` runs them briefly.
//! * `cargo xtask capi-header [--check]` — regenerate (or, with `--check`,
//!   compare) the C ABI's header with cbindgen; `ci` fails when it is stale.
//!
//! Plain Rust instead of shell scripts, so it runs the same everywhere and
//! needs nothing but cargo.

mod bench;
mod capi;
mod fuzz;

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  ci [--no-miri] [--no-loom] [--no-fuzz]
                                 fmt, clippy, the C header's staleness check, tests (the
                                 C ABI's C programs under ASan among them), doc tests,
                                 rustdoc, loom, Miri, and 10s of each fuzz target
                                 (skipped without nightly or cargo-fuzz)
  bench [--quick|--full] [--only W] [--impl I] [--json] [--baseline FILE [--fail-on-regression]] [--criterion]
                                 workload suite vs peers, one process per run; table +
                                 target/morph-bench/{report.md,results.json,*.svg}
                                 (`cargo xtask bench --help` for every option)
  fuzz [TARGET] [--time S]       build the cargo-fuzz targets (nightly) into target/fuzz,
                                 then fuzz TARGET or each of header, config, stats_json,
                                 pool_free, collector for S seconds (default 60); fails
                                 on a crash (`cargo xtask fuzz --help`, fuzz/README.md)
  capi-header [--check]          regenerate crates/morph-capi/include/morph_mem_v2.h with
                                 cbindgen (installed if missing); --check fails when the
                                 checked-in header is stale (ci runs it)
  help                           this text
";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("capi-header") => capi::run(&args[1..]),
        Some("help" | "-h" | "--help") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (xtask lives one level below it).
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_owned()
}

/// A command to run from the workspace root.
pub(crate) fn cargo(args: &[&str]) -> Command {
    let mut command = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.args(args).current_dir(root());
    command
}

/// Runs one step, printing a header and its duration; fails with the step's name.
pub(crate) fn step(name: &str, mut command: Command) -> Result<(), String> {
    println!("\n==> {name}");
    let started = Instant::now();
    let status = command
        .status()
        .map_err(|e| format!("{name}: could not start: {e}"))?;
    let seconds = started.elapsed().as_secs_f64();
    if status.success() {
        println!("==> {name}: ok ({seconds:.0}s)");
        Ok(())
    } else {
        Err(format!(
            "step `{name}` failed ({status}) after {seconds:.0}s"
        ))
    }
}

/// Crates whose `unsafe` code Miri checks.
const MIRI_CRATES: [&str; 5] = [
    "morph-header",
    "morph-metrics",
    "morph-arena",
    "morph-pool",
    "morph-gengc",
];

/// morph-mem's integration tests that Miri runs (with its unit tests).
const MIRI_FACADE_TESTS: [&str; 3] = ["facade", "callback_panics", "stats_accounting"];

/// Crates with loom model tests (`cfg(loom)`, tests named `loom`).
const LOOM_CRATES: [&str; 2] = ["morph-header", "morph-pool"];

/// The facade's features, each tested alone by `ci`.
const FACADE_FEATURES: [&str; 4] = ["compiler", "runtime", "vm", "server"];

fn ci(args: &[String]) -> Result<(), String> {
    let mut miri = true;
    let mut loom = true;
    let mut run_fuzz = true;
    for arg in args {
        match arg.as_str() {
            "--no-miri" => miri = false,
            "--no-loom" => loom = false,
            "--no-fuzz" => run_fuzz = false,
            other => return Err(format!("ci: unknown option `{other}`\n\n{USAGE}")),
        }
    }
    let started = Instant::now();

    step("rustfmt", cargo(&["fmt", "--all", "--", "--check"]))?;
    step(
        "clippy (all targets, warnings denied)",
        cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    // The C ABI's header must be what cbindgen generates from the crate.
    capi::run(&["--check".to_owned()])?;
    // Among the tests: morph-capi's C programs, compiled with the system C
    // compiler against the staticlib and run under AddressSanitizer
    // (valgrind where ASan cannot run) — required here, not skipped — and
    // morph-mem's JIT code-cache tests.
    let mut tests = cargo(&["test", "--workspace"]);
    tests.env("MORPH_CAPI_REQUIRE_CC", "1");
    step(
        "tests and doc tests (with the C ABI's C programs under ASan, the code cache)",
        tests,
    )?;
    // Each workload mode of the facade builds and passes its tests alone.
    for feature in FACADE_FEATURES {
        step(
            &format!("morph-mem with only the `{feature}` feature"),
            cargo(&[
                "test",
                "-p",
                "morph-mem",
                "--no-default-features",
                "--features",
                feature,
            ]),
        )?;
    }
    let mut doc = cargo(&["doc", "--workspace", "--no-deps"]);
    doc.env("RUSTDOCFLAGS", "-D warnings");
    step("rustdoc (warnings denied)", doc)?;

    if loom {
        let mut args = vec!["test", "--release", "--target-dir", "target/loom", "--lib"];
        for krate in LOOM_CRATES {
            args.extend(["-p", krate]);
        }
        args.push("loom");
        let mut command = cargo(&args);
        command
            .env("RUSTFLAGS", "--cfg loom")
            .env("LOOM_MAX_PREEMPTIONS", "2");
        step("loom model checks", command)?;
    }

    if miri {
        let available = Command::new("cargo")
            .args(["+nightly", "miri", "--version"])
            .current_dir(root())
            .output()
            .is_ok_and(|o| o.status.success());
        if available {
            let mut args = vec!["+nightly", "miri", "test", "--lib", "--tests"];
            for krate in MIRI_CRATES {
                args.extend(["-p", krate]);
            }
            let mut command = Command::new("cargo");
            command
                .args(&args)
                .current_dir(root())
                .env("MIRIFLAGS", "-Zmiri-strict-provenance");
            step("miri (strict provenance) over the unsafe core", command)?;
            // The facade's dispatcher and facade tests, sized down under
            // `cfg(miri)`; its example-driven tests (a compiler, an
            // interpreter) are too long for Miri and run natively.
            let mut args = vec!["+nightly", "miri", "test", "-p", "morph-mem", "--lib"];
            for test in MIRI_FACADE_TESTS {
                args.extend(["--test", test]);
            }
            let mut command = Command::new("cargo");
            command
                .args(&args)
                .current_dir(root())
                .env("MIRIFLAGS", "-Zmiri-strict-provenance");
            step("miri (strict provenance) over the facade", command)?;
        } else {
            println!(
                "\n==> miri: SKIPPED — `cargo +nightly miri` is not installed \
                 (rustup +nightly component add miri rust-src)"
            );
        }
    }

    if run_fuzz {
        // A smoke run: each target briefly, to catch a regression of a
        // property they check (the long runs are `cargo xtask fuzz`).
        if !fuzz::nightly_available() {
            println!("\n==> fuzz: SKIPPED — the nightly toolchain is not installed");
        } else if !fuzz::cargo_fuzz_available() {
            println!(
                "\n==> fuzz: SKIPPED — `cargo fuzz` is not installed \
                 (cargo install cargo-fuzz --locked)"
            );
        } else {
            fuzz::fuzz(&fuzz::TARGETS, fuzz::CI_SECONDS)?;
        }
    }

    println!(
        "\nxtask ci: all steps passed in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
