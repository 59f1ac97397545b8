//! Allocation through `morph_alloc_v2` from C against the Rust safe API, per
//! object, on the same workloads, measured in the same run.
//!
//! ```sh
//! cargo run --release -p morph-capi --example alloc_ratio -- [--rounds N]
//! ```
//!
//! Compiles `examples/bench/alloc.c` with the system C compiler (`-O2`)
//! against this build's `libmorph_capi.a`, then alternates rounds of the C
//! program and of the same workload on `Mutator::alloc` (both on a fresh
//! runtime-preset heap per round, timing only the workload), checks that
//! both compute the same checksum, and prints the medians and their ratio.
//! The target: C within 1.5× of Rust per object.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::ptr::NonNull;
use std::time::Instant;

use morph_mem::gc::{AllocFlags, Gc, Heap, Member, Mutator, ObjectRef, Root, RootSet, Trace};
use morph_mem::header::{SlotVisitor, TypeDescriptor, TypeId, TypeRegistry};
use morph_mem::{MorphMem, MorphMemConfig};

const NODES: i64 = 4_000_000;
const TREE_DEPTH: i32 = 16;
const TREES: i64 = 32;

#[derive(Trace)]
struct Node {
    next: Member<Node>,
    value: i64,
}

#[derive(Trace)]
struct Tree {
    left: Member<Tree>,
    right: Member<Tree>,
    item: i64,
}

fn churn(m: &mut Mutator<'_>) -> i64 {
    let mut checksum = 0;
    for i in 0..NODES {
        let node = m.alloc(Node {
            next: Member::null(),
            value: i,
        });
        checksum += node.get(m).value;
    }
    checksum
}

fn list(m: &mut Mutator<'_>) -> i64 {
    let mut checksum = 0;
    let mut head: Option<Root<'_, Node>> = None;
    for i in 0..NODES {
        let node = m.alloc(Node {
            next: Member::null(),
            value: i,
        });
        node.get(m).next.set(m, head.as_ref().map(|h| h.get(m)));
        checksum += node.get(m).value;
        head = if i % 1000 == 999 { None } else { Some(node) };
    }
    checksum
}

fn make_tree<'gc>(m: &mut Mutator<'gc>, depth: i32) -> Root<'gc, Tree> {
    if depth == 0 {
        return m.alloc(Tree {
            left: Member::null(),
            right: Member::null(),
            item: 0,
        });
    }
    let left = make_tree(m, depth - 1);
    let right = make_tree(m, depth - 1);
    let tree = m.alloc(Tree {
        left: Member::null(),
        right: Member::null(),
        item: i64::from(depth),
    });
    let node = tree.get(m);
    node.left.set(m, Some(left.get(m)));
    node.right.set(m, Some(right.get(m)));
    tree
}

fn count(tree: Option<Gc<'_, Tree>>, m: &Mutator<'_>) -> i64 {
    tree.map_or(0, |t| {
        1 + count(t.left.get(m), m) + count(t.right.get(m), m)
    })
}

fn trees(m: &mut Mutator<'_>) -> i64 {
    let mut checksum = 0;
    for _ in 0..TREES {
        let tree = make_tree(m, TREE_DEPTH);
        checksum += count(Some(tree.get(m)), m);
    }
    checksum
}

// ---- The same workloads on the Rust raw API (`Heap::try_alloc_raw`), the
// ---- path `morph_alloc_v2` takes: this separates the C boundary's cost
// ---- from the raw path's.

/// Reference slots at the start of the payload: `N` of them.
///
/// # Safety
/// As `morph_header::TraceFn`: `object` is a live object whose payload
/// starts with `N` reference slots.
unsafe fn trace_words<const N: usize>(object: NonNull<u8>, visitor: &mut dyn SlotVisitor) {
    for i in 0..N {
        // SAFETY: the first N words of the payload are reference slots.
        visitor.visit_slot(unsafe { object.cast::<*mut u8>().add(i) });
    }
}

/// `{next, value}` and `{left, right, item}` as raw types.
fn raw_types() -> (TypeId, TypeId) {
    static TYPES: std::sync::OnceLock<(TypeId, TypeId)> = std::sync::OnceLock::new();
    *TYPES.get_or_init(|| {
        let registry = TypeRegistry::global();
        let node = TypeDescriptor::new("RawNode", std::alloc::Layout::new::<[u64; 2]>())
            .with_trace(trace_words::<1>);
        let tree = TypeDescriptor::new("RawTree", std::alloc::Layout::new::<[u64; 3]>())
            .with_trace(trace_words::<2>);
        (
            registry.register(node).expect("registry room"),
            registry.register(tree).expect("registry room"),
        )
    })
}

/// A shadow stack of root slots, like the C side's frames.
#[derive(Default)]
struct ShadowStack(Vec<*mut u8>);

// SAFETY: every slot is a vector element reported once, holding null or
// an object this heap returned and the collector has kept current; the
// vector does not change during a collection; nothing here panics.
unsafe impl RootSet for ShadowStack {
    fn visit_roots(&mut self, visitor: &mut dyn SlotVisitor) {
        for slot in &mut self.0 {
            visitor.visit_slot(NonNull::from(slot));
        }
    }
}

/// A raw allocation of `words` zeroed words of type `ty`.
fn raw_alloc(heap: &mut Heap, ty: TypeId, words: usize, roots: &mut ShadowStack) -> ObjectRef {
    // SAFETY: the types' trace functions report only their leading slots,
    // null in the zeroed payload and afterwards null or objects of this
    // heap; the shadow stack keeps `RootSet`'s contract.
    unsafe { heap.try_alloc_raw(words * 8, ty, AllocFlags::DEFAULT, roots) }
        .expect("room in the heap")
}

/// Word `i` of an object's payload.
fn word(obj: ObjectRef, i: usize) -> *mut u64 {
    obj.as_ptr().cast::<u64>().as_ptr().wrapping_add(i)
}

/// Stores `value` into reference word `i` of `owner`, with the barrier.
fn store(heap: &mut Heap, owner: ObjectRef, i: usize, value: *mut u8) {
    // SAFETY: word `i` is a reference slot inside `owner`'s payload.
    unsafe { word(owner, i).cast::<*mut u8>().write(value) };
    if let Some(value) = NonNull::new(value) {
        // SAFETY: `value` is a live object of this heap (callers).
        let value = unsafe { ObjectRef::from_payload(value) };
        // SAFETY: `owner` is a live object of this heap (callers).
        unsafe { heap.write_barrier(owner, value) };
    }
}

fn churn_raw(heap: &mut Heap) -> i64 {
    let (node, _) = raw_types();
    let mut roots = ShadowStack::default();
    let mut checksum = 0;
    for i in 0..NODES {
        let obj = raw_alloc(heap, node, 2, &mut roots);
        // SAFETY: word 1 is the node's value.
        unsafe { word(obj, 1).write(i as u64) };
        // SAFETY: as above.
        checksum += unsafe { word(obj, 1).read() } as i64;
    }
    checksum
}

fn list_raw(heap: &mut Heap) -> i64 {
    let (node, _) = raw_types();
    let mut roots = ShadowStack(vec![std::ptr::null_mut()]);
    let mut checksum = 0;
    for i in 0..NODES {
        let obj = raw_alloc(heap, node, 2, &mut roots);
        // SAFETY: word 1 is the node's value.
        unsafe { word(obj, 1).write(i as u64) };
        store(heap, obj, 0, roots.0[0]);
        // SAFETY: as above.
        checksum += unsafe { word(obj, 1).read() } as i64;
        roots.0[0] = if i % 1000 == 999 {
            std::ptr::null_mut()
        } else {
            obj.as_ptr().as_ptr()
        };
    }
    checksum
}

fn make_tree_raw(heap: &mut Heap, roots: &mut ShadowStack, depth: i32) -> ObjectRef {
    let (_, tree) = raw_types();
    if depth == 0 {
        return raw_alloc(heap, tree, 3, roots);
    }
    let base = roots.0.len();
    roots.0.extend([std::ptr::null_mut(); 2]);
    roots.0[base] = make_tree_raw(heap, roots, depth - 1).as_ptr().as_ptr();
    roots.0[base + 1] = make_tree_raw(heap, roots, depth - 1).as_ptr().as_ptr();
    let obj = raw_alloc(heap, tree, 3, roots);
    // SAFETY: word 2 is the tree's item.
    unsafe { word(obj, 2).write(depth as u64) };
    let (left, right) = (roots.0[base], roots.0[base + 1]);
    store(heap, obj, 0, left);
    store(heap, obj, 1, right);
    roots.0.truncate(base);
    obj
}

fn count_raw(tree: *mut u8) -> i64 {
    let Some(tree) = NonNull::new(tree) else {
        return 0;
    };
    let words = tree.cast::<*mut u8>().as_ptr();
    // SAFETY: a live tree's first word is its left child...
    let left = unsafe { words.read() };
    // SAFETY: ...and its second word its right child.
    let right = unsafe { words.wrapping_add(1).read() };
    1 + count_raw(left) + count_raw(right)
}

fn trees_raw(heap: &mut Heap) -> i64 {
    let mut roots = ShadowStack::default();
    let mut checksum = 0;
    for _ in 0..TREES {
        let tree = make_tree_raw(heap, &mut roots, TREE_DEPTH);
        checksum += count_raw(tree.as_ptr().as_ptr());
    }
    checksum
}

/// One raw Rust round: (objects, nanoseconds, checksum).
fn raw_round(workload: &str) -> (i64, u128, i64) {
    let mut mm = MorphMem::new(MorphMemConfig::RUNTIME).expect("a runtime heap");
    let heap = mm.heap().expect("runtime mode has a heap");
    let started = Instant::now();
    let (objects, checksum) = match workload {
        "churn" => (NODES, churn_raw(heap)),
        "list" => (NODES, list_raw(heap)),
        _ => (TREES * ((1 << (TREE_DEPTH + 1)) - 1), trees_raw(heap)),
    };
    (objects, started.elapsed().as_nanos(), checksum)
}

/// One Rust round: (objects, nanoseconds, checksum).
fn rust_round(workload: &str) -> (i64, u128, i64) {
    let mut mm = MorphMem::new(MorphMemConfig::RUNTIME).expect("a runtime heap");
    mm.enter(|m| {
        let started = Instant::now();
        let (objects, checksum) = match workload {
            "churn" => (NODES, churn(m)),
            "list" => (NODES, list(m)),
            _ => (TREES * ((1 << (TREE_DEPTH + 1)) - 1), trees(m)),
        };
        (objects, started.elapsed().as_nanos(), checksum)
    })
    .expect("runtime mode has a heap")
}

/// One C round: (objects, nanoseconds, checksum).
fn c_round(exe: &Path, workload: &str) -> (i64, u128, i64) {
    let output = Command::new(exe)
        .args([workload, "1"])
        .env_remove("MORPH_MEM_MODE")
        .env_remove("MORPH_GC_STRESS")
        .output()
        .expect("running the C benchmark");
    assert!(
        output.status.success(),
        "C benchmark failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields.len(), 4, "unexpected output {line:?}");
    (
        fields[1].parse().expect("objects"),
        fields[2].parse().expect("nanoseconds"),
        fields[3].parse().expect("checksum"),
    )
}

fn build_c(profile_dir: &Path) -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Cargo builds every crate type of the library into `deps/` (and
    // copies it up a level only for `cargo build`).
    let lib = [
        profile_dir.join("deps/libmorph_capi.a"),
        profile_dir.join("libmorph_capi.a"),
    ]
    .into_iter()
    .find(|lib| lib.is_file())
    .expect("libmorph_capi.a in target/<profile>/deps: build with cargo first");
    let exe = profile_dir.join("examples").join("alloc_c");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(crate_dir.join("include"))
        .arg(crate_dir.join("examples/bench/alloc.c"))
        .arg(&lib)
        .args([
            "-lpthread",
            "-ldl",
            "-lm",
            "-lrt",
            "-lgcc_s",
            "-lutil",
            "-lc",
            "-o",
        ])
        .arg(&exe)
        .status()
        .expect("running the C compiler");
    assert!(status.success(), "compiling the C benchmark failed");
    exe
}

/// The fastest round: on a shared machine the least disturbed one (other
/// processes only ever add time), and the median, for the spread.
fn best_and_median(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    (values[0], values[values.len() / 2])
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .and_then(|r| r.parse().ok())
        .unwrap_or(9usize);
    // `--side safe|raw WORKLOAD`: one round of one Rust side alone, for
    // profilers (`perf stat -e instructions`); the C side alone is the
    // `alloc_c` program this example builds.
    if let Some(i) = args.iter().position(|a| a == "--side") {
        let workload = args.get(i + 2).map_or("churn", String::as_str);
        let (objects, ns, checksum) = match args.get(i + 1).map(String::as_str) {
            Some("raw") => raw_round(workload),
            _ => rust_round(workload),
        };
        println!("{workload} {objects} {ns} {checksum}");
        return;
    }
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; run with --release for meaningful figures");
    }
    let exe_path = std::env::current_exe().expect("the example's path");
    let profile_dir = exe_path
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/examples/alloc_ratio");
    let c_exe = build_c(profile_dir);

    println!(
        "allocation per object over {rounds} interleaved rounds (runtime preset, fresh heap per \
         round): fastest round, median in brackets"
    );
    println!(
        "{:<8} {:>16} {:>16} {:>16} {:>12} {:>11}  target (C/Rust safe <= 1.5x)",
        "workload", "C ns/object", "Rust safe", "Rust raw", "C/Rust safe", "C/Rust raw"
    );
    let mut worst: f64 = 0.0;
    for workload in ["churn", "list", "trees"] {
        let (mut c_ns, mut safe_ns, mut raw_ns) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let (objects, ns, c_sum) = c_round(&c_exe, workload);
            c_ns.push(ns as f64 / objects as f64);
            let (objects, ns, safe_sum) = rust_round(workload);
            safe_ns.push(ns as f64 / objects as f64);
            let (objects, ns, raw_sum) = raw_round(workload);
            raw_ns.push(ns as f64 / objects as f64);
            assert_eq!(c_sum, safe_sum, "{workload}: C and Rust disagree");
            assert_eq!(raw_sum, safe_sum, "{workload}: raw and safe Rust disagree");
        }
        let (c, c_med) = best_and_median(c_ns);
        let (safe, safe_med) = best_and_median(safe_ns);
        let (raw, raw_med) = best_and_median(raw_ns);
        let ratio = c / safe;
        worst = worst.max(ratio);
        println!(
            "{workload:<8} {:>16} {:>16} {:>16} {ratio:>11.2}x {:>10.2}x  {}",
            format!("{c:.1} [{c_med:.1}]"),
            format!("{safe:.1} [{safe_med:.1}]"),
            format!("{raw:.1} [{raw_med:.1}]"),
            c / raw,
            if ratio <= 1.5 { "met" } else { "MISSED" }
        );
    }
    println!("worst C/Rust safe ratio: {worst:.2}x (target <= 1.5x)");
}
