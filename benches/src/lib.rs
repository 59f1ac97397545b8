//! Shared helpers for the workload benchmarks, and the README's code
//! examples compiled and run as doc tests.

/// The README's examples, run by `cargo test` so the quick start stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
