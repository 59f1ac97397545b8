//! The workload suite of `cargo xtask bench`, and the README's code examples
//! compiled and run as doc tests.
//!
//! - [`workloads`]: every workload and implementation (binary-trees,
//!   GCBench, server churn, large-heap VM, arena and pool micro-benchmarks),
//!   each computing a checksum from its data.
//! - [`runner`]: the command line of the `morph-workload` binaries, which run
//!   one (workload, implementation, size) per process and print one JSON line.
//! - [`probe`]: what a run measures about itself (peak RSS, latencies,
//!   memory over time).
//! - [`pool`]: the pool workload shared with the criterion benches.
//!
//! The criterion benches in `benches/` call the same workload code, so a
//! micro-benchmark and a per-process run measure one implementation. This
//! library depends on no benchmark harness.

pub mod pool;
pub mod probe;
pub mod runner;
pub mod workloads;

/// The README's examples, run by `cargo test` so the quick start stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
