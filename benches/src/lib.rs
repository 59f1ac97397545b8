//! Shared helpers for the workload benchmarks.
