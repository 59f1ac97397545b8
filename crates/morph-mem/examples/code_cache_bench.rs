//! The cost of a JIT code block's life in the code cache — allocate 4 KiB,
//! write a function, make it executable, discard it — against the raw
//! system calls a JIT would make without it, measured in the same run:
//!
//! * `mmap/mprotect/munmap`: map a fresh read-write page, write, `mprotect`
//!   it read-execute, unmap it (the "raw mmap/mprotect pair" per block);
//! * `mprotect x2 (reused page)`: one mapping kept for the whole run, each
//!   block flipped read-write, written, flipped read-execute — the least a
//!   W^X JIT can do per block, with no allocation and no release.
//!
//! ```sh
//! cargo run --release -p morph-mem --example code_cache_bench -- [--blocks N] [--rounds R]
//! ```

use std::time::Instant;

use morph_mem::{CodeCache, CodeCacheConfig};

/// `mov eax, 42; ret` on x86_64; any bytes elsewhere (nothing is called).
const CODE: [u8; 6] = [0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3];
const BLOCK: usize = 4096;

fn code_cache(blocks: usize) -> f64 {
    let mut cache = CodeCache::new(CodeCacheConfig {
        capacity: 16 << 20,
        ..CodeCacheConfig::default()
    })
    .expect("a code cache");
    let started = Instant::now();
    for _ in 0..blocks {
        let block = cache.alloc(BLOCK).expect("room");
        cache.write(block, 0, &CODE).expect("writable");
        let entry = cache.make_executable(block).expect("executable");
        std::hint::black_box(entry);
        cache.discard(block).expect("live");
    }
    started.elapsed().as_nanos() as f64 / blocks as f64
}

fn check(result: libc::c_int, what: &str) {
    assert_eq!(result, 0, "{what}: {}", std::io::Error::last_os_error());
}

fn raw_mmap(blocks: usize) -> f64 {
    let started = Instant::now();
    for _ in 0..blocks {
        // SAFETY: an anonymous private mapping; no existing memory is touched.
        let page = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                BLOCK,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(page, libc::MAP_FAILED);
        // SAFETY: the fresh page is read-write and BLOCK bytes long.
        unsafe { std::ptr::copy_nonoverlapping(CODE.as_ptr(), page.cast::<u8>(), CODE.len()) };
        // SAFETY: the page is this loop's own mapping.
        check(
            unsafe { libc::mprotect(page, BLOCK, libc::PROT_READ | libc::PROT_EXEC) },
            "mprotect",
        );
        std::hint::black_box(page);
        // SAFETY: unmapping this loop's own mapping, unused afterwards.
        check(unsafe { libc::munmap(page, BLOCK) }, "munmap");
    }
    started.elapsed().as_nanos() as f64 / blocks as f64
}

fn raw_reused_page(blocks: usize) -> f64 {
    // SAFETY: an anonymous private mapping; no existing memory is touched.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            BLOCK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(page, libc::MAP_FAILED);
    let started = Instant::now();
    for _ in 0..blocks {
        // SAFETY: the page is this function's own mapping.
        check(
            unsafe { libc::mprotect(page, BLOCK, libc::PROT_READ | libc::PROT_WRITE) },
            "mprotect",
        );
        // SAFETY: the page is read-write and BLOCK bytes long.
        unsafe { std::ptr::copy_nonoverlapping(CODE.as_ptr(), page.cast::<u8>(), CODE.len()) };
        // SAFETY: as above.
        check(
            unsafe { libc::mprotect(page, BLOCK, libc::PROT_READ | libc::PROT_EXEC) },
            "mprotect",
        );
        std::hint::black_box(page);
    }
    let elapsed = started.elapsed().as_nanos() as f64 / blocks as f64;
    // SAFETY: unmapping this function's own mapping, unused afterwards.
    check(unsafe { libc::munmap(page, BLOCK) }, "munmap");
    elapsed
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let blocks = flag("--blocks", 20_000);
    let rounds = flag("--rounds", 9);
    let mut results: [Vec<f64>; 3] = Default::default();
    for _ in 0..rounds {
        results[0].push(code_cache(blocks));
        results[1].push(raw_mmap(blocks));
        results[2].push(raw_reused_page(blocks));
    }
    for r in &mut results {
        r.sort_by(f64::total_cmp);
    }
    println!(
        "4 KiB code block: allocate + write + make executable + discard, {blocks} blocks x \
         {rounds} interleaved rounds (fastest round, median in brackets)"
    );
    let ours = results[0][0];
    for (name, r) in [
        ("code cache", &results[0]),
        ("raw mmap/mprotect/munmap", &results[1]),
        ("raw mprotect x2 (reused page)", &results[2]),
    ] {
        println!(
            "  {name:<30} {:>8.0} ns [{:>6.0}]  code cache / this = {:.2}x",
            r[0],
            r[r.len() / 2],
            ours / r[0]
        );
    }
}
