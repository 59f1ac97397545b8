//! Declares `cfg(collector)`: on when any collector mode (runtime, vm,
//! server) is compiled in, so the code has one name for "the GC is here".

fn main() {
    println!("cargo::rustc-check-cfg=cfg(collector)");
    let collector = ["RUNTIME", "VM", "SERVER"]
        .iter()
        .any(|f| std::env::var_os(format!("CARGO_FEATURE_{f}")).is_some());
    if collector {
        println!("cargo::rustc-cfg=collector");
    }
}
