//! Placeholder until the collector benchmarks land.
fn main() {}
