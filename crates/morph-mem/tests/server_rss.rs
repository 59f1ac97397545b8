//! Server mode's bound, measured as the operating system sees it: a workload
//! that keeps trying to grow past the bound never makes the process's peak
//! resident set grow by more than the bound (plus a small allowance for the
//! test's own bookkeeping). Alone in its file, so it is alone in its process.
#![cfg(all(feature = "server", target_os = "linux"))]

use morph_mem::gc::{GcError, Member, Trace};
use morph_mem::{Mode, MorphMem, MorphMemConfig};

const MIB: usize = 1 << 20;

/// A field of `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("procfs");
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} missing"));
    let kib: usize = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

#[derive(Trace)]
struct Small {
    id: u64,
    pad: [u64; 14],
    next: Member<Small>,
}

#[derive(Trace)]
struct Medium {
    id: u64,
    body: [u64; 500],
    next: Member<Medium>,
}

#[test]
#[cfg_attr(
    miri,
    ignore = "reads the process's resident set from /proc, which Miri's isolation forbids"
)]
fn peak_rss_stays_within_the_heap_bound() {
    let bound = 64 * MIB;
    let config = MorphMemConfig::builder(Mode::Server)
        .heap_size_hint(bound)
        .gc_threshold(16 * MIB)
        .build()
        .unwrap();
    // Reset the kernel's peak counter (Linux 4.0+) so the peak is this test's.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let baseline = status_bytes("VmRSS:");

    let mut mm = MorphMem::new(config).unwrap();
    let (smalls, mediums, failures) = mm
        .enter(|m| {
            let smalls = m.alloc(Small {
                id: 0,
                pad: [0; 14],
                next: Member::null(),
            });
            let mediums = m.alloc(Medium {
                id: 0,
                body: [0; 500],
                next: Member::null(),
            });
            let (mut small_count, mut medium_count, mut failures) = (1u64, 1u64, 0u32);
            // About four times the bound's worth of attempts (~620 bytes a round), all kept reachable:
            // the heap must refuse, not grow.
            for round in 0..(4 * bound / 600) as u64 {
                let result = if round % 8 == 0 {
                    m.try_alloc(Medium {
                        id: medium_count,
                        body: [medium_count; 500],
                        next: Member::null(),
                    })
                    .map(|node| {
                        node.get(m).next.set(m, mediums.get(m).next.get(m));
                        mediums.get(m).next.set(m, Some(node.get(m)));
                        medium_count += 1;
                    })
                } else {
                    m.try_alloc(Small {
                        id: small_count,
                        pad: [small_count; 14],
                        next: Member::null(),
                    })
                    .map(|node| {
                        node.get(m).next.set(m, smalls.get(m).next.get(m));
                        smalls.get(m).next.set(m, Some(node.get(m)));
                        small_count += 1;
                    })
                };
                match result {
                    Ok(()) => {}
                    // Each refusal follows a full collection: a few dozen
                    // show the bound holds without making the test slow.
                    Err(GcError::HeapExhausted { .. }) if failures == 40 => break,
                    Err(GcError::HeapExhausted { .. }) => failures += 1,
                    Err(other) => panic!("unexpected error {other}"),
                }
            }
            // Everything that was allocated is still there, intact.
            let mut seen = 0;
            let mut cursor = smalls.get(m).next.get(m);
            while let Some(node) = cursor {
                assert!(node.pad.iter().all(|&p| p == node.id));
                seen += 1;
                cursor = node.next.get(m);
            }
            assert_eq!(seen + 1, small_count);
            (small_count, medium_count, failures)
        })
        .unwrap();

    let peak = status_bytes("VmHWM:");
    let growth = peak.saturating_sub(baseline);
    let stats = mm.stats();
    eprintln!(
        "bound {} MiB: kept {smalls} small + {mediums} medium objects, {failures} refusals; \
         heap reserves {:.1} MiB, peak RSS grew {:.1} MiB",
        bound / MIB,
        stats.heap.heap_bytes as f64 / MIB as f64,
        growth as f64 / MIB as f64
    );
    assert!(failures > 0, "the workload never reached the bound");
    assert!(stats.heap.heap_bytes <= bound as u64);
    // Allowance: metrics, the mark bitmaps and block tables, the test harness.
    assert!(
        growth <= bound + 8 * MIB,
        "peak RSS grew {growth} bytes for a {bound}-byte bound"
    );
}
