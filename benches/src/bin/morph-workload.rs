//! One workload run on the system allocator; see `morph_benches::runner`.

fn main() -> std::process::ExitCode {
    morph_benches::runner::main(morph_benches::runner::GlobalAllocator::System)
}
