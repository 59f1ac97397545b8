//! Placeholder until the pool_mimalloc benchmarks land.
fn main() {}
