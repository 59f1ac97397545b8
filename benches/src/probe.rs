//! What a workload process measures about itself: peak and current resident
//! memory, step latencies, and samples of memory over time.
//!
//! Everything here is read from the operating system or the clock while the
//! workload runs; nothing is estimated.

use std::time::{Duration, Instant};

use morph_metrics::PauseHistogram;
use serde_json::{Value, json};

/// Peak resident set size of this process image so far, in bytes.
///
/// On Linux this is `VmHWM` from `/proc/self/status`: the high-water mark of
/// this program's own address space. `getrusage(RUSAGE_SELF).ru_maxrss` is
/// the fallback elsewhere, but it is not used first because Linux carries it
/// across `execve`: a runner started by a parent with a 200 MiB heap reports
/// at least 200 MiB however little it touched itself (measured: a pool run
/// reported 7.5 MiB — xtask's own size — under xtask, 2.8 MiB from a shell).
/// Both figures go into the result line ([`rusage_max_rss_bytes`]).
#[must_use]
pub fn peak_rss_bytes() -> u64 {
    high_water_mark_bytes().unwrap_or_else(rusage_max_rss_bytes)
}

/// `VmHWM` from `/proc/self/status`, if the file exists.
fn high_water_mark_bytes() -> Option<u64> {
    status_kib("VmHWM:").map(|kib| kib * 1024)
}

/// `getrusage(RUSAGE_SELF).ru_maxrss` in bytes (Linux reports KiB); includes
/// whatever a parent process had resident when this one was started.
#[must_use]
pub fn rusage_max_rss_bytes() -> u64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `getrusage` writes one `rusage` into the pointer, which points
    // at a live, properly aligned `MaybeUninit<rusage>` of the right size;
    // RUSAGE_SELF is a valid `who` for every process.
    let status = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if status != 0 {
        return 0;
    }
    // SAFETY: `getrusage` returned 0, so it initialised the whole struct
    // (and the zeroed start already made every field a valid integer).
    let usage = unsafe { usage.assume_init() };
    u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024
}

/// Current resident set size in bytes (`VmRSS` from `/proc/self/status`,
/// Linux); `None` where that file does not exist.
#[must_use]
pub fn current_rss_bytes() -> Option<u64> {
    status_kib("VmRSS:").map(|kib| kib * 1024)
}

/// A `Vm*:` line of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The quantiles at which latency and pause distributions are reported:
/// dense in the tail, like an HdrHistogram percentile plot.
pub const QUANTILES: [f64; 17] = [
    0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, 0.9999, 0.99995,
    0.99999, 1.0,
];

/// A latency distribution as JSON: count, total, p50/p90/p99/max in
/// microseconds, and the curve at [`QUANTILES`] for plots.
#[must_use]
pub fn distribution_json(histogram: &PauseHistogram) -> Value {
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let curve: Vec<Value> = QUANTILES
        .iter()
        .map(|&q| json!([q, us(histogram.percentile(q))]))
        .collect();
    json!({
        "count": histogram.count(),
        "total_us": us(histogram.total()),
        "mean_us": us(histogram.mean()),
        "p50_us": us(histogram.percentile(0.50)),
        "p90_us": us(histogram.percentile(0.90)),
        "p99_us": us(histogram.percentile(0.99)),
        "max_us": us(histogram.max()),
        "curve": curve,
    })
}

/// Times the steps of a steady-state loop: one histogram entry per step.
///
/// Two clock reads per step (about 40 ns on Linux's vDSO clock), the same
/// for every implementation, so the comparison stays fair.
#[derive(Debug, Default)]
pub struct StepTimer {
    histogram: PauseHistogram,
}

impl StepTimer {
    /// An empty timer.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs one step and records how long it took.
    #[inline]
    pub fn time<R>(&mut self, step: impl FnOnce() -> R) -> R {
        let started = Instant::now();
        let result = step();
        self.histogram.record(started.elapsed());
        result
    }

    /// Records an already measured duration (a pause timed elsewhere).
    #[inline]
    pub fn record(&mut self, duration: Duration) {
        self.histogram.record(duration);
    }

    /// The distribution recorded so far.
    #[must_use]
    pub fn histogram(&self) -> &PauseHistogram {
        &self.histogram
    }
}

/// Memory over time: a sample every `every` steps of a loop, so the cost is
/// bounded (about [`SAMPLES`] reads of `/proc/self/status` per run).
#[derive(Debug)]
pub struct MemorySeries {
    started: Instant,
    every: u64,
    samples: Vec<Value>,
}

/// Samples a series aims for.
pub const SAMPLES: u64 = 200;

impl MemorySeries {
    /// A series for a loop of `steps` steps, timed from `started`.
    #[must_use]
    pub fn new(started: Instant, steps: u64) -> Self {
        Self {
            started,
            every: (steps / SAMPLES).max(1),
            samples: Vec::with_capacity(SAMPLES as usize + 2),
        }
    }

    /// Whether step `step` is one to sample.
    #[inline]
    #[must_use]
    pub fn due(&self, step: u64) -> bool {
        step.is_multiple_of(self.every)
    }

    /// Records a sample now: resident memory, and the managed heap's
    /// reserved and used bytes where the implementation has one.
    pub fn sample(&mut self, heap: Option<(u64, u64)>) {
        let t_ms = self.started.elapsed().as_secs_f64() * 1e3;
        let rss = current_rss_bytes().unwrap_or(0);
        let sample = match heap {
            Some((reserved, used)) => json!({
                "t_ms": t_ms, "rss": rss, "heap_reserved": reserved, "heap_used": used
            }),
            None => json!({ "t_ms": t_ms, "rss": rss }),
        };
        self.samples.push(sample);
    }

    /// The samples as a JSON array.
    #[must_use]
    pub fn into_json(self) -> Value {
        Value::Array(self.samples)
    }
}
