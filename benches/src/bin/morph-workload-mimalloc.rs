//! One workload run with mimalloc as the global allocator (the
//! `box-mimalloc` implementations); see `morph_benches::runner`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    morph_benches::runner::main(morph_benches::runner::GlobalAllocator::Mimalloc)
}
