//! Placeholder until the arena benchmarks land.
fn main() {}
