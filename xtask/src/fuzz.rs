//! `cargo xtask fuzz [TARGET] [--time S]`: the cargo-fuzz targets under
//! `fuzz/` (libFuzzer, nightly), and the short smoke run `cargo xtask ci`
//! makes of them.
//!
//! The targets build once (`cargo fuzz build`, all of them) into
//! `target/fuzz`, apart from the main build cache: their flags (sanitizer,
//! coverage instrumentation, `--cfg fuzzing`) differ from every other
//! build. Each run reads the checked-in seeds in `fuzz/corpus/TARGET` and
//! the inputs of bugs found before in `fuzz/regressions/TARGET`, and writes
//! what it discovers to `target/fuzz/corpus/TARGET`, so the working tree
//! stays clean and the next run starts from where this one stopped.
//! A crash leaves its input in `fuzz/artifacts/TARGET/`; see
//! `fuzz/README.md` for reproducing and minimising it.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::root;

/// Every fuzz target (`fuzz/fuzz_targets/NAME.rs`).
pub(crate) const TARGETS: [&str; 5] = ["header", "config", "stats_json", "pool_free", "collector"];

/// Seconds each target runs unless `--time` says otherwise.
const DEFAULT_SECONDS: u64 = 60;

/// Seconds each target runs in `cargo xtask ci`: about a minute in all.
pub(crate) const CI_SECONDS: u64 = 10;

/// `cargo xtask fuzz [TARGET] [--time S]`.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut target = None;
    let mut seconds = DEFAULT_SECONDS;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--time" => {
                let value = args
                    .next()
                    .ok_or("fuzz: --time needs a number of seconds")?;
                seconds = value
                    .parse()
                    .ok()
                    .filter(|&s| s > 0)
                    .ok_or_else(|| format!("fuzz: --time {value}: not a positive number"))?;
            }
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            name if !name.starts_with('-') && target.is_none() => {
                if !TARGETS.contains(&name) {
                    return Err(format!(
                        "fuzz: unknown target `{name}`; the targets are {}",
                        TARGETS.join(", ")
                    ));
                }
                target = Some(name.to_owned());
            }
            other => return Err(format!("fuzz: unexpected argument `{other}`\n\n{USAGE}")),
        }
    }
    if !nightly_available() {
        return Err(
            "fuzz: the nightly toolchain is missing (rustup toolchain install nightly)".into(),
        );
    }
    if !cargo_fuzz_available() {
        crate::step(
            "install cargo-fuzz",
            cargo_plain(&["install", "cargo-fuzz", "--locked"]),
        )?;
    }
    let targets: Vec<&str> = match &target {
        Some(name) => vec![name.as_str()],
        None => TARGETS.to_vec(),
    };
    fuzz(&targets, seconds)
}

const USAGE: &str = "\
usage: cargo xtask fuzz [TARGET] [--time S]

Builds the cargo-fuzz targets under fuzz/ (nightly, AddressSanitizer,
target dir target/fuzz), then fuzzes TARGET, or every target in turn, for
S seconds each (default 60). Seeds come from fuzz/corpus/TARGET and
the inputs of past bugs from fuzz/regressions/TARGET; new inputs go to
target/fuzz/corpus/TARGET. Installs cargo-fuzz if it is
missing. Fails if any target finds a crash (its input is saved under
fuzz/artifacts/TARGET/).

targets: header, config, stats_json, pool_free, collector
";

/// Whether `cargo +nightly` works.
pub(crate) fn nightly_available() -> bool {
    succeeds(&["+nightly", "--version"])
}

/// Whether `cargo fuzz` is installed.
pub(crate) fn cargo_fuzz_available() -> bool {
    succeeds(&["fuzz", "--version"])
}

fn succeeds(args: &[&str]) -> bool {
    cargo_plain(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `cargo` through the rustup proxy (which understands `+nightly`), run
/// from the workspace root.
fn cargo_plain(args: &[&str]) -> Command {
    let mut command = Command::new("cargo");
    command.args(args).current_dir(root());
    command
}

/// Where fuzz builds, discovered inputs and logs go.
fn fuzz_dir() -> PathBuf {
    root().join("target").join("fuzz")
}

/// Builds every target once, then fuzzes each of `targets` for `seconds`.
/// Fails if any found a crash (after running the others).
pub(crate) fn fuzz(targets: &[&str], seconds: u64) -> Result<(), String> {
    let started = Instant::now();
    let target_dir = fuzz_dir();
    let target_dir_arg = target_dir.to_string_lossy().into_owned();
    crate::step(
        "fuzz: build every target (cargo +nightly fuzz build)",
        cargo_plain(&["+nightly", "fuzz", "build", "--target-dir", &target_dir_arg]),
    )?;

    let mut results = Vec::new();
    for &target in targets {
        results.push(fuzz_one(target, seconds, &target_dir)?);
    }

    println!(
        "\n==> fuzz summary ({seconds}s per target; {:.0}s in all, build included)",
        started.elapsed().as_secs_f64()
    );
    println!(
        "  {:<11} {:>6} {:>10} {:>6} {:>7}  result",
        "target", "secs", "execs", "cov", "ft"
    );
    for r in &results {
        println!(
            "  {:<11} {:>6.0} {:>10} {:>6} {:>7}  {}",
            r.target,
            r.seconds,
            r.stat("execs"),
            r.stat("cov"),
            r.stat("ft"),
            match (r.crashed, r.build_failed) {
                (false, _) => "ok",
                (true, false) => "CRASH",
                (true, true) => "BUILD FAILED",
            }
        );
    }
    let crashed: Vec<&str> = results
        .iter()
        .filter(|r| r.crashed)
        .map(|r| r.target)
        .collect();
    if crashed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "fuzz: {} failed: a crash saves its input under fuzz/artifacts/ \
             (fuzz/README.md says how to reproduce and minimise it)",
            crashed.join(", ")
        ))
    }
}

/// What one target's run found.
struct Outcome<'a> {
    target: &'a str,
    seconds: f64,
    crashed: bool,
    /// The run failed before fuzzing: `cargo fuzz run` could not rebuild.
    build_failed: bool,
    /// libFuzzer's last status line: `#N DONE cov: C ft: F corp: ...`.
    status: Option<String>,
}

impl Outcome<'_> {
    /// A figure from the status line (`execs` is its `#N`).
    fn stat(&self, name: &str) -> String {
        let Some(line) = &self.status else {
            return "-".into();
        };
        let mut words = line.split_whitespace();
        if name == "execs" {
            return words
                .next()
                .map_or("-".into(), |w| w.trim_start_matches('#').to_owned());
        }
        let key = format!("{name}:");
        words
            .by_ref()
            .skip_while(|w| *w != key)
            .nth(1)
            .unwrap_or("-")
            .to_owned()
    }
}

fn fuzz_one<'a>(target: &'a str, seconds: u64, target_dir: &Path) -> Result<Outcome<'a>, String> {
    let seeds = root().join("fuzz").join("corpus").join(target);
    let regressions = root().join("fuzz").join("regressions").join(target);
    let found = target_dir.join("corpus").join(target);
    let logs = target_dir.join("logs");
    for dir in [&seeds, &found, &logs] {
        fs::create_dir_all(dir).map_err(|e| format!("fuzz: create {}: {e}", dir.display()))?;
    }
    let log_path = logs.join(format!("{target}.log"));
    let log =
        File::create(&log_path).map_err(|e| format!("fuzz: create {}: {e}", log_path.display()))?;
    let log_err = log
        .try_clone()
        .map_err(|e| format!("fuzz: {}: {e}", log_path.display()))?;

    println!(
        "\n==> fuzz {target} for {seconds}s (log: {})",
        log_path.display()
    );
    // New inputs go to the first directory; the seeds and the inputs of
    // past bugs are only read (every run replays them first).
    let mut corpora = vec![found, seeds];
    if regressions.is_dir() {
        corpora.push(regressions);
    }
    let corpora: Vec<String> = corpora
        .iter()
        .map(|d| d.to_string_lossy().into_owned())
        .collect();
    let target_dir_arg = target_dir.to_string_lossy();
    let max_time = format!("-max_total_time={seconds}");
    let mut args = vec!["+nightly", "fuzz", "run", target];
    args.extend(corpora.iter().map(String::as_str));
    args.extend([
        "--target-dir",
        &target_dir_arg,
        "--",
        &max_time,
        // One input running this long is a hang, and a finding.
        "-timeout=60",
        "-print_final_stats=1",
    ]);
    let started = Instant::now();
    let status = cargo_plain(&args)
        .stdout(log)
        .stderr(log_err)
        .status()
        .map_err(|e| format!("fuzz {target}: could not start: {e}"))?;
    let elapsed = started.elapsed().as_secs_f64();

    let text = fs::read_to_string(&log_path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let status_line = lines
        .iter()
        .rev()
        .find(|l| l.starts_with('#') && l.contains(" cov: "))
        .map(|l| (*l).to_owned());
    let outcome = Outcome {
        target,
        seconds: elapsed,
        crashed: !status.success(),
        build_failed: !status.success() && text.contains("failed to build fuzz script"),
        status: status_line,
    };
    if outcome.crashed {
        // The finding: from the first error line on (the panic, the stack,
        // the saved input and how to reproduce it).
        let first = lines
            .iter()
            .position(|l| {
                l.contains("panicked at")
                    || l.contains("ERROR: libFuzzer")
                    || l.contains("ERROR: AddressSanitizer")
                    || l.starts_with("error")
            })
            .unwrap_or(lines.len().saturating_sub(40));
        for line in lines.iter().skip(first).take(150) {
            println!("    {line}");
        }
        let what = if outcome.build_failed {
            "BUILD FAILED"
        } else {
            "CRASH"
        };
        println!("==> fuzz {target}: {what} after {elapsed:.0}s ({status})");
    } else {
        println!(
            "==> fuzz {target}: ok ({elapsed:.0}s; {} runs, cov {}, ft {})",
            outcome.stat("execs"),
            outcome.stat("cov"),
            outcome.stat("ft")
        );
    }
    Ok(outcome)
}
