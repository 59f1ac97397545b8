//! The JIT code cache: machine code written, made executable, called,
//! discarded and its space reused; W^X enforced by the API and by the MMU.

#![cfg(all(feature = "vm", unix))]

use morph_mem::{
    CodeBlock, CodeCache, CodeCacheConfig, CodeCacheError, CodeState, Mode, MorphMem,
    MorphMemConfig,
};

/// A host function `extern "C" fn() -> u32` returning 42, or `None` where
/// the test has no encoding for the architecture.
fn return_42() -> Option<&'static [u8]> {
    if cfg!(target_arch = "x86_64") {
        // mov eax, 42 ; ret
        Some(&[0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3])
    } else if cfg!(target_arch = "aarch64") {
        // movz w0, #42 ; ret
        Some(&[0x40, 0x05, 0x80, 0x52, 0xc0, 0x03, 0x5f, 0xd6])
    } else {
        None
    }
}

fn small_config() -> CodeCacheConfig {
    CodeCacheConfig {
        capacity: 1 << 20,
        ..CodeCacheConfig::default()
    }
}

fn small_cache() -> CodeCache {
    CodeCache::new(small_config()).expect("a 1 MiB code cache")
}

/// Calls the code at `entry` as `extern "C" fn() -> u32`.
///
/// # Safety
/// `entry` is the start of an executable block holding such a function.
unsafe fn call(entry: std::ptr::NonNull<u8>) -> u32 {
    // SAFETY: caller contract: the bytes are a function of this signature.
    let f: extern "C" fn() -> u32 = unsafe { std::mem::transmute(entry.as_ptr()) };
    f()
}

#[test]
#[cfg_attr(
    miri,
    ignore = "reserves the cache with MAP_NORESERVE and flips pages with mprotect: Miri supports neither"
)]
fn a_jit_function_runs_then_is_discarded_and_its_space_reused() {
    let mut cache = small_cache();
    let block = cache.alloc(4096).unwrap();
    let code = return_42().unwrap_or(&[0]);
    cache.write(block, 0, code).unwrap();
    let entry = cache.make_executable(block).unwrap();
    assert_eq!(cache.state(block).unwrap(), CodeState::Executable);
    assert_eq!(cache.entry(block).unwrap(), entry);
    if return_42().is_some() {
        // SAFETY: the block holds `return_42`'s function and is executable.
        assert_eq!(unsafe { call(entry) }, 42);
    } else {
        eprintln!("no machine code for this architecture: the call is skipped");
    }
    assert_eq!(cache.stats().executable_blocks, 1);

    cache.discard(block).unwrap();
    assert!(matches!(
        cache.entry(block),
        Err(CodeCacheError::UnknownBlock { .. })
    ));
    assert_eq!(cache.stats().used_bytes, 0);

    // The space comes back, fresh: zeroed and writable.
    let again = cache.alloc(4096).unwrap();
    assert_ne!(again, block, "a new handle, not the discarded one");
    let bytes = cache.writable(again).unwrap();
    assert_eq!(
        bytes.as_ptr(),
        entry.as_ptr(),
        "the discarded space is reused"
    );
    assert!(bytes.iter().all(|&b| b == 0), "reused space is zeroed");
    // A different function in the same place runs the new code.
    if cfg!(target_arch = "x86_64") {
        cache
            .write(again, 0, &[0xb8, 0x07, 0x00, 0x00, 0x00, 0xc3])
            .unwrap();
        let entry = cache.make_executable(again).unwrap();
        // SAFETY: `mov eax, 7; ret`, executable.
        assert_eq!(unsafe { call(entry) }, 7);
    }
    let stats = cache.stats();
    assert_eq!((stats.allocations, stats.discards, stats.blocks), (2, 1, 1));
}

#[test]
#[cfg_attr(
    miri,
    ignore = "reserves the cache with MAP_NORESERVE and flips pages with mprotect: Miri supports neither"
)]
fn the_write_api_refuses_executable_code() {
    let mut cache = small_cache();
    let block = cache.alloc(100).unwrap();
    cache.write(block, 0, &[0xc3]).unwrap();
    cache.make_executable(block).unwrap();
    assert!(matches!(
        cache.write(block, 0, &[0x90]),
        Err(CodeCacheError::NotWritable { .. })
    ));
    assert!(matches!(
        cache.writable(block),
        Err(CodeCacheError::NotWritable { .. })
    ));
    // Making it executable again is harmless; it never becomes writable.
    cache.make_executable(block).unwrap();
    assert_eq!(cache.state(block).unwrap(), CodeState::Executable);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "reserves the cache with MAP_NORESERVE and flips pages with mprotect: Miri supports neither"
)]
fn handles_of_discarded_blocks_and_other_caches_are_refused() {
    let mut cache = small_cache();
    let mut other = small_cache();
    let block = cache.alloc(1).unwrap();
    assert!(matches!(
        other.make_executable(block),
        Err(CodeCacheError::UnknownBlock { .. })
    ));
    cache.discard(block).unwrap();
    let reused = cache.alloc(1).unwrap();
    // The same slot, a new generation: the old handle stays dead.
    assert!(matches!(
        cache.discard(block),
        Err(CodeCacheError::UnknownBlock { .. })
    ));
    assert!(cache.discard(reused).is_ok());
    // Any bits are a safe handle to try.
    assert!(cache.state(CodeBlock::from_bits([u32::MAX; 3])).is_err());
}

/// The MMU's side of W^X: a raw store into executable code faults. Runs
/// in a child process (this test binary, re-run for one test) so the fault
/// kills only the child.
#[test]
#[cfg_attr(
    miri,
    ignore = "re-runs the test binary as a child process, which faults on purpose"
)]
fn a_raw_store_into_executable_code_faults() {
    use std::os::unix::process::ExitStatusExt;

    const CHILD: &str = "MORPH_CODE_CACHE_RAW_STORE_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let mut cache = small_cache();
        let block = cache.alloc(1).unwrap();
        cache.write(block, 0, &[0xc3]).unwrap();
        let entry = cache.make_executable(block).unwrap();
        // SAFETY: none: this store is meant to fault (the page is read +
        // execute), which kills this child process before it returns.
        unsafe { entry.as_ptr().write_volatile(0x90) };
        // Not reached when W^X holds.
        std::process::exit(0);
    }
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_raw_store_into_executable_code_faults",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .expect("the test binary re-runs itself")
        .status;
    // SIGSEGV (11), or SIGBUS on some systems (7 on Linux, 10 on macOS).
    assert!(
        matches!(status.signal(), Some(11 | 7 | 10)),
        "the store into executable code did not fault: {status:?}"
    );
}

#[test]
#[cfg_attr(
    miri,
    ignore = "reserves the cache with MAP_NORESERVE and flips pages with mprotect: Miri supports neither"
)]
fn code_cache_usage_appears_in_the_stats_report() {
    let mut mm = MorphMem::new(MorphMemConfig::VM).unwrap();
    let cache = mm.code_cache().unwrap();
    let page = cache.page_size();
    let a = cache.alloc(3 * page).unwrap();
    let b = cache.alloc(1).unwrap();
    cache.make_executable(b).unwrap();
    let stats = mm.stats();
    assert_eq!(stats.heap.code_blocks, 2);
    assert_eq!(stats.heap.code_used_bytes, 4 * page as u64);
    assert_eq!(
        stats.heap.code_bytes,
        CodeCacheConfig::DEFAULT_CAPACITY as u64
    );
    let report = stats.report();
    assert!(
        report.contains("  Code:") && report.contains("2 blocks"),
        "{report}"
    );
    assert!(stats.to_prometheus().contains(&format!(
        "morph_mem_space_used_bytes{{space=\"code\"}} {}",
        4 * page
    )));
    mm.code_cache().unwrap().discard(a).unwrap();
    assert_eq!(mm.stats().heap.code_blocks, 1);
}

#[test]
fn the_code_cache_belongs_to_vm_mode() {
    for mode in [Mode::Runtime, Mode::Server, Mode::Compiler] {
        if !mode.is_compiled() {
            continue;
        }
        let mut mm = MorphMem::new(mode.preset()).unwrap();
        assert!(matches!(
            mm.code_cache(),
            Err(CodeCacheError::WrongMode { .. })
        ));
        assert_eq!(mm.stats().heap.code_bytes, 0);
        assert!(!mm.stats().report().contains("Code:"));
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "reserves the cache with MAP_NORESERVE and flips pages with mprotect: Miri supports neither"
)]
fn an_icache_flush_hook_sees_each_block_made_executable() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static FLUSHED: AtomicUsize = AtomicUsize::new(0);
    fn count(_start: std::ptr::NonNull<u8>, len: usize) {
        FLUSHED.fetch_add(len, Ordering::Relaxed);
    }
    let mut cache = CodeCache::new(CodeCacheConfig {
        icache_flush: Some(count),
        ..small_config()
    })
    .unwrap();
    let block = cache.alloc(10).unwrap();
    cache.make_executable(block).unwrap();
    cache.make_executable(block).unwrap(); // already executable: no second flush
    assert_eq!(FLUSHED.load(Ordering::Relaxed), cache.page_size());
}

#[test]
#[cfg_attr(
    miri,
    ignore = "reserves the cache with MAP_NORESERVE and flips pages with mprotect: Miri supports neither"
)]
fn reused_space_is_zeroed_whether_it_was_retained_or_released() {
    for retained_bytes in [0, 1 << 20] {
        let mut cache = CodeCache::new(CodeCacheConfig {
            retained_bytes,
            ..small_config()
        })
        .unwrap();
        let page = cache.page_size();
        let first = cache.alloc(2 * page).unwrap();
        cache.writable(first).unwrap().fill(0xcc);
        cache.make_executable(first).unwrap();
        cache.discard(first).unwrap();
        let kept = cache.stats().retained_bytes;
        assert_eq!(kept, if retained_bytes > 0 { 2 * page } else { 0 });
        // A larger block over the old one and fresh space: all zero.
        let second = cache.alloc(3 * page).unwrap();
        assert!(cache.writable(second).unwrap().iter().all(|&b| b == 0));
        assert_eq!(cache.stats().retained_bytes, 0);
    }
}
