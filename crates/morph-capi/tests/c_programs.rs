//! The C test programs under `tests/c/`, compiled with the system C
//! compiler against `libmorph_capi.a` and run under AddressSanitizer
//! (valgrind where ASan cannot run), plus the header compiled as C11 and as
//! C++ with `-Wall -Wextra -Werror -pedantic`.
//!
//! Without a C compiler the tests print a notice and pass, unless
//! `MORPH_CAPI_REQUIRE_CC=1` (set by `cargo xtask ci`), which makes a
//! missing compiler or sanitizer a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// How the programs are checked for memory errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Checker {
    AddressSanitizer,
    Valgrind,
    Nothing,
}

#[derive(Debug)]
struct Toolchain {
    cc: String,
    cxx: Option<String>,
    checker: Checker,
    /// `libmorph_capi.a` of this build.
    staticlib: PathBuf,
    /// Where programs are built.
    out: PathBuf,
}

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn required() -> bool {
    std::env::var_os("MORPH_CAPI_REQUIRE_CC").is_some_and(|v| v == "1")
}

fn works(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The static library cargo built for this test run. Cargo builds every
/// crate type of the library next to the test binary
/// (`target/<profile>/deps/`), and copies it to `target/<profile>/` only
/// for `cargo build`; the copy in `deps/` is the fresh one.
fn staticlib() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe.parent().expect("target/<profile>/deps/<test>");
    [
        deps.join("libmorph_capi.a"),
        deps.join("../libmorph_capi.a"),
    ]
    .into_iter()
    .find(|lib| lib.is_file())
    .unwrap_or_else(|| {
        panic!(
            "libmorph_capi.a is missing next to {}: cargo builds it with the crate's \
                 `staticlib` type",
            exe.display()
        )
    })
}

/// The libraries a Rust static library needs on this platform
/// (`rustc --print native-static-libs`).
fn native_libs() -> &'static [&'static str] {
    if cfg!(target_os = "linux") {
        &[
            "-lgcc_s",
            "-lutil",
            "-lrt",
            "-lpthread",
            "-lm",
            "-ldl",
            "-lc",
        ]
    } else if cfg!(target_os = "macos") {
        &["-lSystem", "-lc", "-lm"]
    } else {
        &["-lpthread", "-lm"]
    }
}

fn toolchain() -> Option<&'static Toolchain> {
    static TOOLCHAIN: OnceLock<Option<Toolchain>> = OnceLock::new();
    TOOLCHAIN
        .get_or_init(|| {
            let env_cc = std::env::var("CC").ok();
            let cc = env_cc
                .into_iter()
                .chain(["cc", "gcc", "clang"].map(String::from))
                .find(|cc| works(cc, &["--version"]))?;
            let cxx = ["c++", "g++", "clang++"]
                .into_iter()
                .find(|cxx| works(cxx, &["--version"]))
                .map(String::from);
            let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("morph-capi-c");
            std::fs::create_dir_all(&out).expect("a directory for the C programs");
            let checker = probe_checker(&cc, &out);
            Some(Toolchain {
                cc,
                cxx,
                checker,
                staticlib: staticlib(),
                out,
            })
        })
        .as_ref()
}

/// ASan if a sanitized program builds and runs here, else valgrind if it is
/// installed, else nothing.
fn probe_checker(cc: &str, out: &Path) -> Checker {
    let source = out.join("probe.c");
    let exe = out.join("probe");
    std::fs::write(
        &source,
        "#include <stdlib.h>\nint main(void) { void *p = malloc(8); free(p); return 0; }\n",
    )
    .expect("writing the probe");
    let built = Command::new(cc)
        .args(["-fsanitize=address", "-o"])
        .arg(&exe)
        .arg(&source)
        .output()
        .is_ok_and(|o| o.status.success());
    if built
        && Command::new(&exe)
            .output()
            .is_ok_and(|o| o.status.success())
    {
        return Checker::AddressSanitizer;
    }
    if works("valgrind", &["--version"]) {
        return Checker::Valgrind;
    }
    Checker::Nothing
}

fn show(output: &Output) -> String {
    format!(
        "status: {}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Compiles `tests/c/<name>.c` and runs it with `args`; returns its stdout.
/// `None` (with a notice) when there is no C compiler.
fn run_c_program(name: &str, args: &[&str]) -> Option<String> {
    let source = manifest_dir().join("tests/c").join(format!("{name}.c"));
    let exe = build_c_program(&source, name)?;
    Some(run_checked(&exe, name, args, &[]))
}

/// Compiles `source` (C11, warnings as errors, with the sanitizer when it
/// works) against the static library; `None` without a C compiler.
fn build_c_program(source: &Path, name: &str) -> Option<PathBuf> {
    let Some(tc) = toolchain() else {
        assert!(
            !required(),
            "MORPH_CAPI_REQUIRE_CC=1 but no C compiler (cc, gcc, clang or $CC) was found"
        );
        eprintln!("NOTICE: no C compiler found (cc, gcc, clang or $CC): C test `{name}` skipped");
        return None;
    };
    if tc.checker == Checker::Nothing {
        assert!(
            !required(),
            "MORPH_CAPI_REQUIRE_CC=1 but neither AddressSanitizer nor valgrind works here"
        );
        eprintln!("NOTICE: no AddressSanitizer or valgrind: `{name}` runs unchecked");
    }
    let dir = manifest_dir();
    let exe = tc.out.join(name);
    let mut compile = Command::new(&tc.cc);
    compile
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-g",
            "-O1",
        ])
        .arg("-fno-omit-frame-pointer")
        .arg("-I")
        .arg(dir.join("include"))
        .arg("-I")
        .arg(dir.join("tests/c"));
    if tc.checker == Checker::AddressSanitizer {
        compile.arg("-fsanitize=address");
    }
    compile
        .arg(source)
        .arg(&tc.staticlib)
        .args(native_libs())
        .arg("-o")
        .arg(&exe);
    let compiled = compile.output().expect("running the C compiler");
    assert!(
        compiled.status.success(),
        "compiling {} failed\n{}",
        source.display(),
        show(&compiled)
    );
    Some(exe)
}

/// Runs a program built by [`build_c_program`] under the memory checker
/// with `env` (and no inherited Morph variables); fails on a non-zero exit
/// or a checker report. Returns its stdout.
fn run_checked(exe: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let tc = toolchain().expect("built with a toolchain");
    let mut run = if tc.checker == Checker::Valgrind {
        let mut valgrind = Command::new("valgrind");
        valgrind
            .args([
                "--error-exitcode=99",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite",
                "-q",
            ])
            .arg(exe);
        valgrind
    } else {
        Command::new(exe)
    };
    run.args(args)
        .env(
            "ASAN_OPTIONS",
            "detect_leaks=1:abort_on_error=0:exitcode=99",
        )
        .env_remove("MORPH_MEM_MODE")
        .env_remove("MORPH_MEM_V2")
        .env_remove("MORPH_GC_STRESS")
        .envs(env.iter().copied());
    let output = run.output().expect("running the C program");
    assert!(
        output.status.success(),
        "C program {name} {env:?} failed (checker: {:?})\n{}",
        tc.checker,
        show(&output)
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    println!(
        "--- {name} {env:?} ({:?})\n{stdout}{}",
        tc.checker,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The example interpreter prints the same results under the V1 allocator
/// and under Morph Memory in compiler mode, runtime mode and stress mode:
/// the seed's migration path, step by step.
#[test]
fn the_example_interpreter_gives_the_same_results_at_every_migration_step() {
    let source = manifest_dir().join("examples/interp/interp.c");
    let Some(exe) = build_c_program(&source, "interp") else {
        return;
    };
    let expected = "332833500\n6765\n(0 1 1 2 3 5 8 13 21 34 55 89 144 233 377)\n332833500\n";
    let steps: [&[(&str, &str)]; 4] = [
        &[],
        &[("MORPH_MEM_V2", "1"), ("MORPH_MEM_MODE", "compiler")],
        &[("MORPH_MEM_V2", "1")],
        &[("MORPH_MEM_V2", "1"), ("MORPH_GC_STRESS", "200")],
    ];
    for env in steps {
        assert_eq!(run_checked(&exe, "interp", &[], env), expected, "{env:?}");
    }
    let with_stats = run_checked(&exe, "interp", &["--stats"], &[("MORPH_MEM_V2", "1")]);
    assert!(
        with_stats.contains("Top Types:") && with_stats.contains("Cons"),
        "{with_stats}"
    );
}

#[test]
fn a_linked_list_survives_collections_in_stress_mode() {
    if let Some(out) = run_c_program("linked_list", &[]) {
        assert!(out.contains("linked list: 20000 nodes"), "{out}");
    }
}

#[test]
fn binary_trees_survive_collections_in_stress_mode() {
    if let Some(out) = run_c_program("binary_tree", &[]) {
        assert!(out.contains("MORPH_ERR_BUSY"), "{out}");
        assert!(
            out.contains("finalized after destroy: 28631 of 28631"),
            "{out}"
        );
    }
}

/// The header's inline allocation and frame paths keep every object and
/// count it, and hand every case they must not take to the checked
/// functions (`tests/c/inline_paths.c`).
#[test]
fn the_inline_paths_allocate_and_refuse_what_the_functions_refuse() {
    let Some(out) = run_c_program("inline_paths", &[]) else {
        return;
    };
    if cfg!(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    )) {
        assert!(out.contains("a list of 1000000 nodes"), "{out}");
        for (case, status) in [
            ("another thread", "MORPH_ERR_WRONG_THREAD"),
            ("a finalizer", "MORPH_ERR_BUSY"),
        ] {
            let line = out.lines().find(|l| l.contains(case)).unwrap_or_default();
            assert_eq!(line.matches(status).count(), 2, "{out}");
        }
        assert!(out.contains("destroyed: MORPH_ERR_DESTROYED"), "{out}");
    }
}

#[test]
fn a_pinned_buffer_handed_to_c_code_never_moves() {
    if let Some(out) = run_c_program("pinned_buffer", &[]) {
        assert!(out.contains("a default object moved"), "{out}");
    }
}

#[test]
fn v1_code_compiles_through_the_compatibility_macro() {
    if let Some(out) = run_c_program("compat_macro", &[]) {
        assert!(out.contains("compat: ok"), "{out}");
    }
}

#[test]
fn the_stats_report_prints_and_dumps_json() {
    let Some(tc) = toolchain() else {
        run_c_program("stats_dump", &[]); // prints the notice
        return;
    };
    let path = tc.out.join("stats.json");
    let _ = std::fs::remove_file(&path);
    let out = run_c_program("stats_dump", &[path.to_str().expect("a UTF-8 path")])
        .expect("a toolchain was found");
    for section in [
        "=== Morph Memory Statistics ===",
        "Mode: RUNTIME",
        "Allocations:",
        "Breakdown:",
        "GC:",
        "Top Types:",
        "Identifier",
        "InfixExpr",
    ] {
        assert!(out.contains(section), "missing {section:?} in\n{out}");
    }
    let stats =
        morph_mem::metrics::MorphMemStats::load_stats(&path).expect("the dumped JSON loads");
    assert_eq!(stats.mode, "RUNTIME");
    assert_eq!(stats.allocation.total_allocated_objects, 450_000);
    let names: Vec<_> = stats
        .top_types(2)
        .into_iter()
        .map(|t| t.name.clone())
        .collect();
    assert_eq!(names, ["Identifier", "InfixExpr"]);
}

#[test]
fn jit_code_from_c_runs_and_is_write_protected() {
    if let Some(out) = run_c_program("code_cache", &[]) {
        if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
            assert!(out.contains("JIT code returned 42"), "{out}");
        }
        assert!(out.contains("W^X"), "{out}");
        assert!(out.contains("Code:"), "{out}");
    }
}

/// Every helper of the header, used once, so both languages compile them.
const HEADER_USE: &str = r#"
#include "morph_mem_v2.h"
#include "morph_mem_v2.h" /* twice: the include guards hold */

typedef struct Pair { void *first; void *second; } Pair;

int use_header(MorphContext *ctx, Pair *pair, void *value) {
    void *slots[2] = {0, 0};
    MorphFrame frame;
    MorphMemConfig config = morph_detect_config();
    MorphStatus status = MORPH_PUSH_ROOTS(ctx, &frame, slots);
    slots[0] = mph_alloc(ctx, sizeof(Pair), 0);
    MORPH_STORE(ctx, pair, first, value);
    morph_write_barrier_inline(ctx, pair, value);
    (void)config;
    return status == MORPH_OK ? (int)morph_frame_pop(ctx, &frame) : (int)status;
}
"#;

#[test]
fn the_header_compiles_as_c11_and_cpp_without_warnings() {
    let Some(tc) = toolchain() else {
        assert!(!required(), "MORPH_CAPI_REQUIRE_CC=1 but no C compiler");
        eprintln!("NOTICE: no C compiler found: the header check is skipped");
        return;
    };
    let include = manifest_dir().join("include");
    let mut compilers = vec![(tc.cc.as_str(), "c", "-std=c11")];
    match &tc.cxx {
        Some(cxx) => {
            compilers.push((cxx.as_str(), "cpp", "-std=c++11"));
            compilers.push((cxx.as_str(), "cpp", "-std=c++17"));
        }
        None => {
            assert!(!required(), "MORPH_CAPI_REQUIRE_CC=1 but no C++ compiler");
            eprintln!("NOTICE: no C++ compiler found: the header is checked as C only");
        }
    }
    for (compiler, extension, standard) in compilers {
        let source = tc.out.join(format!("header_use.{extension}"));
        std::fs::write(&source, HEADER_USE).expect("writing the header check");
        let output = Command::new(compiler)
            .args([
                standard,
                "-Wall",
                "-Wextra",
                "-Werror",
                "-pedantic",
                "-c",
                "-o",
            ])
            .arg(tc.out.join(format!("header_use_{extension}.o")))
            .arg("-I")
            .arg(&include)
            .arg(&source)
            .output()
            .expect("running the compiler");
        assert!(
            output.status.success(),
            "morph_mem_v2.h does not compile cleanly with {compiler} {standard}\n{}",
            show(&output)
        );
    }
}
