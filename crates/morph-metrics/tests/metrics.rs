//! Behaviour of recording, percentiles and the three report formats.

use std::time::Duration;

use morph_header::{TypeDescriptor, TypeId, TypeRegistry};
use morph_metrics::{
    CollectionEvent, CollectionKind, Metrics, MetricsError, MorphMemStats, NoMetrics,
    PauseHistogram, Recorder, StatsSource,
};

/// A tiny deterministic generator so data sets are reproducible.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn exact_percentile(sorted: &[u64], q: f64) -> u64 {
    // Nearest rank: the smallest value with at least q of the data at or below it.
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[test]
fn percentiles_are_within_a_tenth_of_a_percent_of_exact_ranks() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut pauses = PauseHistogram::new();
    let mut values = Vec::new();
    for _ in 0..if cfg!(miri) { 500 } else { 50_000 } {
        // Log-uniform between 1 µs and ~67 ms: pauses span orders of magnitude.
        let exponent = 10 + rng.next() % 16;
        let ns = (1u64 << exponent) + rng.next() % (1u64 << exponent);
        values.push(ns);
        pauses.record(Duration::from_nanos(ns));
    }
    values.sort_unstable();
    for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
        let exact = exact_percentile(&values, q) as f64;
        let estimate = pauses.percentile(q).as_nanos() as f64;
        let error = (estimate - exact).abs() / exact;
        assert!(
            error <= 0.001,
            "q={q}: exact {exact} ns, estimate {estimate} ns, error {error}"
        );
    }
    assert_eq!(pauses.max().as_nanos() as u64, *values.last().unwrap());
    assert_eq!(pauses.count(), values.len() as u64);
    let total: u64 = values.iter().sum();
    assert_eq!(pauses.total(), Duration::from_nanos(total));
    assert_eq!(
        pauses.mean(),
        Duration::from_nanos(total / values.len() as u64)
    );
}

/// Few pauses are kept one by one (exact percentiles); past 64 they go into
/// buckets. Either way, and merged in any combination, the figures agree
/// with the exact ones.
#[test]
fn pauses_keep_their_figures_from_exact_to_bucketed_and_merged() {
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let values: Vec<u64> = (0..300)
        .map(|_| {
            let exponent = 10 + rng.next() % 16;
            (1u64 << exponent) + rng.next() % (1u64 << exponent)
        })
        .collect();
    let check = |pauses: &PauseHistogram, values: &[u64], exact: bool| {
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        for q in [0.0, 0.5, 0.9, 0.99, 1.0] {
            let expected = exact_percentile(&sorted, q) as f64;
            let got = pauses.percentile(q).as_nanos() as f64;
            if exact {
                assert_eq!(got, expected, "q={q}, {} pauses", values.len());
            } else {
                assert!((got - expected).abs() / expected <= 0.001, "q={q}");
            }
        }
        assert_eq!(pauses.count(), values.len() as u64);
        assert_eq!(pauses.total(), Duration::from_nanos(values.iter().sum()));
        assert_eq!(pauses.max().as_nanos() as u64, sorted[sorted.len() - 1]);
        assert_eq!(
            pauses.buckets().map(|(_, n)| n).sum::<u64>(),
            values.len() as u64
        );
    };
    let record = |values: &[u64]| {
        let mut pauses = PauseHistogram::new();
        for &ns in values {
            pauses.record(Duration::from_nanos(ns));
        }
        pauses
    };
    check(&record(&values[..64]), &values[..64], true);
    // Merges: exact into exact (staying exact, or outgrowing it), exact
    // into bucketed, bucketed into exact and into empty. (Under Miri, only
    // the exact forms: a set of buckets takes a minute to make and walk
    // there, and this crate has no unsafe code for Miri to check.)
    let merges: &[(usize, usize, bool)] = if cfg!(miri) {
        &[(10, 50, true)]
    } else {
        &[
            (10, 50, true),
            (40, 40, false),
            (200, 20, false),
            (20, 200, false),
            (0, 200, false),
        ]
    };
    for &(a, b, exact) in merges {
        let (left, right) = (&values[..a], &values[a..a + b]);
        let mut merged = record(left);
        merged.merge(&record(right));
        check(&merged, &values[..a + b], exact);
    }
    if !cfg!(miri) {
        check(&record(&values[..65]), &values[..65], false);
        check(&record(&values), &values, false);
    }
}

#[test]
fn an_empty_histogram_reports_zero() {
    let pauses = PauseHistogram::new();
    assert_eq!(pauses.percentile(0.99), Duration::ZERO);
    assert_eq!(
        (pauses.max(), pauses.mean(), pauses.count()),
        (Duration::ZERO, Duration::ZERO, 0)
    );
}

#[test]
fn live_and_peak_follow_allocations_and_frees() {
    let ty = TypeId::new(200).unwrap(); // beyond the preallocated table
    let mut m = Metrics::new();
    for _ in 0..10 {
        m.record_alloc(ty, 100);
    }
    for _ in 0..4 {
        m.record_free(ty, 100);
    }
    m.record_alloc(ty, 50);
    let s = m.snapshot(&TypeRegistry::new());
    let a = &s.allocation;
    assert_eq!((a.total_allocated_objects, a.total_allocated), (11, 1050));
    assert_eq!((a.total_freed_objects, a.total_freed), (4, 400));
    assert_eq!((a.current_live_objects, a.current_live), (7, 650));
    assert_eq!((a.peak_live_objects, a.peak_live), (10, 1000));
    assert_eq!(s.objects.by_type.len(), 1);
    let t = &s.objects.by_type[0];
    assert_eq!(
        (t.type_id, t.objects, t.live_objects, t.live_bytes),
        (200, 11, 7, 650)
    );
    assert_eq!(t.name, "<unregistered>");

    m.record_reset();
    let s = m.snapshot(&TypeRegistry::new());
    assert_eq!(
        (s.allocation.current_live, s.allocation.peak_live),
        (0, 1000)
    );
    assert_eq!(s.objects.by_type[0].live_objects, 0);
}

#[test]
fn collections_feed_counts_pauses_and_promotion() {
    let mut m = Metrics::new();
    for (i, kind) in [
        CollectionKind::Minor,
        CollectionKind::Minor,
        CollectionKind::Major,
    ]
    .into_iter()
    .enumerate()
    {
        m.record_collection(&CollectionEvent {
            kind,
            pause: Duration::from_micros(100 * (i as u64 + 1)),
            bytes_before: 1000,
            bytes_after: 400,
            promoted_objects: 3,
            promoted_bytes: 96,
        });
    }
    let s = m.snapshot(&TypeRegistry::new());
    assert_eq!(
        (
            s.gc.gc_count,
            s.generational.young_gc_count,
            s.generational.old_gc_count
        ),
        (3, 2, 1)
    );
    assert_eq!(
        (s.gc.gc_time_us, s.gc.gc_pause_max_us, s.gc.gc_pause_avg_us),
        (600, 300, 200)
    );
    assert_eq!((s.gc.gc_pause_p50_us, s.gc.gc_pause_p99_us), (200, 300));
    assert_eq!(
        (
            s.generational.promoted_objects,
            s.generational.promoted_bytes
        ),
        (9, 288)
    );
    // Each minor moved 96 of its 600 bytes to the old generation: freed
    // are the other 504; the major freed all 600.
    assert_eq!(s.gc.bytes_reclaimed, 2 * 504 + 600);
}

/// A minor collection that promotes everything it finds frees nothing:
/// the reclaimed total stays within what was allocated and is not live.
#[test]
fn promotion_is_not_reclaimed() {
    let ty = TypeId::new(1).unwrap();
    let mut m = Metrics::new();
    for _ in 0..1000 {
        m.record_alloc(ty, 24);
    }
    // Everything survives: the nursery empties into the old generation.
    m.record_collection(&CollectionEvent {
        kind: CollectionKind::Minor,
        pause: Duration::from_micros(10),
        bytes_before: 24_000,
        bytes_after: 0,
        promoted_objects: 1000,
        promoted_bytes: 24_000,
    });
    m.record_live(1000, 24_000);
    // A major collection finds half of it dead.
    m.record_collection(&CollectionEvent {
        kind: CollectionKind::Major,
        pause: Duration::from_micros(10),
        bytes_before: 24_000,
        bytes_after: 12_000,
        promoted_objects: 0,
        promoted_bytes: 0,
    });
    m.record_live(500, 12_000);
    let s = m.snapshot(&TypeRegistry::new());
    let a = &s.allocation;
    assert_eq!(s.gc.bytes_reclaimed, 12_000);
    assert_eq!(a.total_freed, s.gc.bytes_reclaimed);
    assert!(a.current_live <= a.total_allocated);
    assert_eq!((a.current_live, a.peak_live), (12_000, 24_000));
}

#[test]
fn merging_recorders_adds_their_counts() {
    let ty = TypeId::new(1).unwrap();
    let mut a = Metrics::new();
    let mut b = Metrics::new();
    a.record_alloc(ty, 10);
    b.record_alloc(ty, 20);
    b.record_alloc(TypeId::new(300).unwrap(), 30);
    b.record_collection(&CollectionEvent {
        kind: CollectionKind::Minor,
        pause: Duration::from_micros(42),
        bytes_before: 0,
        bytes_after: 0,
        promoted_objects: 0,
        promoted_bytes: 0,
    });
    a.merge(&b);
    let s = a.snapshot(&TypeRegistry::new());
    assert_eq!(
        (s.allocation.total_allocated, s.objects.by_type.len()),
        (60, 2)
    );
    assert_eq!((s.gc.gc_count, s.gc.gc_pause_max_us), (1, 42));
}

#[test]
fn metrics_off_is_a_zero_sized_no_op() {
    assert_eq!(std::mem::size_of::<NoMetrics>(), 0);
    let mut off = NoMetrics;
    off.record_alloc(TypeId::new(0).unwrap(), 1);
    off.record_reset();
    const { assert!(!NoMetrics::ENABLED) };
}

/// A deterministic compiler-mode snapshot: what the design document's
/// example report describes.
fn compiler_snapshot() -> MorphMemStats {
    let registry = TypeRegistry::new();
    let ident = registry
        .register(TypeDescriptor::of::<[u8; 24]>("Identifier"))
        .unwrap();
    let infix = registry
        .register(TypeDescriptor::of::<[u8; 40]>("InfixExpr"))
        .unwrap();
    let string = registry
        .register(TypeDescriptor::of::<[u8; 32]>("StringLiteral"))
        .unwrap();
    let mut m = Metrics::with_mode("COMPILER");
    for (ty, count, bytes) in [
        (ident, 45_231, 280),
        (infix, 23_145, 800),
        (string, 15_678, 1_700),
    ] {
        for _ in 0..count {
            m.record_alloc(ty, bytes);
        }
    }
    for _ in 0..8_000 {
        m.record_free(string, 1_700);
    }
    let mut stats = m.snapshot(&registry);
    stats.uptime_us = 2_500_000;

    struct ArenaFigures;
    impl StatsSource for ArenaFigures {
        fn report_into(&self, stats: &mut MorphMemStats) {
            stats.heap.arena_count += 119;
            stats.heap.arena_bytes += 119 * (2 << 20);
            stats.heap.arena_used_bytes += 230 << 20;
        }
    }
    struct PoolFigures;
    impl StatsSource for PoolFigures {
        fn report_into(&self, stats: &mut MorphMemStats) {
            stats.heap.pool_count += 4;
            stats.heap.pool_bytes += 8 << 20;
        }
    }
    ArenaFigures.report_into(&mut stats);
    PoolFigures.report_into(&mut stats);
    stats.heap.heap_bytes = 2 << 20;
    stats
}

fn runtime_snapshot() -> MorphMemStats {
    let registry = TypeRegistry::new();
    let cons = registry
        .register(TypeDescriptor::of::<[u8; 16]>("Cons"))
        .unwrap();
    let closure = registry
        .register(TypeDescriptor::of::<[u8; 48]>("Closure"))
        .unwrap();
    let mut m = Metrics::with_mode("RUNTIME");
    for i in 0..3_000u64 {
        m.record_alloc(
            if i % 3 == 0 { closure } else { cons },
            if i % 3 == 0 { 56 } else { 24 },
        );
    }
    for i in 0..40u64 {
        m.record_collection(&CollectionEvent {
            kind: if i % 10 == 9 {
                CollectionKind::Major
            } else {
                CollectionKind::Minor
            },
            pause: Duration::from_micros(150 + 20 * i),
            bytes_before: 2 << 20,
            bytes_after: 256 << 10,
            promoted_objects: 100,
            promoted_bytes: 3_200,
        });
    }
    let mut stats = m.snapshot(&registry);
    stats.uptime_us = 1_200_000;
    stats.heap.heap_bytes = 34 << 20;
    stats.heap.nursery_bytes = 2 << 20;
    stats.heap.old_bytes = 32 << 20;
    stats
}

fn check_golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("MORPH_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with MORPH_BLESS=1 to create)", path.display()));
    assert_eq!(actual, expected, "report differs from {}", path.display());
}

#[test]
#[cfg_attr(miri, ignore = "reads golden files from disk")]
fn compiler_report_matches_the_golden_layout() {
    check_golden("compiler_report.txt", &compiler_snapshot().report());
}

#[test]
#[cfg_attr(miri, ignore = "reads golden files from disk")]
fn runtime_report_matches_the_golden_layout() {
    check_golden("runtime_report.txt", &runtime_snapshot().report());
}

#[test]
#[cfg_attr(miri, ignore = "reads golden files from disk")]
fn prometheus_exposition_matches_the_golden_text() {
    check_golden(
        "runtime_prometheus.txt",
        &runtime_snapshot().to_prometheus(),
    );
}

#[test]
fn top_types_rank_by_object_count() {
    let stats = compiler_snapshot();
    let names: Vec<_> = stats.top_types(3).iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["Identifier", "InfixExpr", "StringLiteral"]);
}

#[test]
#[cfg_attr(miri, ignore = "file system access")]
fn json_dump_round_trips_through_a_file() {
    let stats = runtime_snapshot();
    let path = std::env::temp_dir().join(format!("morph-stats-{}.json", std::process::id()));
    stats.dump_stats(&path).unwrap();
    let loaded = MorphMemStats::load_stats(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(loaded, stats);
    let text = stats.to_json();
    assert!(text.contains("\"gc_pause_p99_us\""));
    assert_eq!(serde_json::from_str::<MorphMemStats>(&text).unwrap(), stats);
}

#[test]
#[cfg_attr(miri, ignore = "file system access")]
fn unwritable_and_invalid_stats_files_are_clear_errors() {
    let stats = MorphMemStats::default();
    let dir = std::env::temp_dir();
    // A directory cannot be opened as a file for writing.
    let err = stats.dump_stats(&dir).unwrap_err();
    assert!(matches!(err, MetricsError::Io { .. }));
    assert!(err.to_string().contains(&dir.display().to_string()));

    let garbage = dir.join(format!("morph-not-stats-{}.json", std::process::id()));
    std::fs::write(&garbage, "{\"mode\": 3}").unwrap();
    let err = MorphMemStats::load_stats(&garbage).unwrap_err();
    std::fs::remove_file(&garbage).unwrap();
    assert!(matches!(err, MetricsError::Serialize { .. }), "{err}");
    assert!(err.to_string().contains("not a valid stats snapshot"));
}

#[test]
fn prometheus_text_is_well_formed_and_escapes_labels() {
    let mut stats = runtime_snapshot();
    stats.objects.by_type[0].name = "we\"ird\\type\nname".into();
    let text = stats.to_prometheus();
    assert!(
        text.contains(r#"{type="we\"ird\\type\nname"}"#),
        "label not escaped:\n{text}"
    );
    let mut declared = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap();
            assert!(
                declared.insert(name.to_owned()),
                "family {name} declared twice"
            );
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let name = series.split('{').next().unwrap();
        let family = name.trim_end_matches("_sum").trim_end_matches("_count");
        assert!(
            declared.contains(name) || declared.contains(family),
            "sample {name} before its # TYPE line"
        );
    }
}

/// Found by the `stats_json` fuzz target: a loaded stats file may hold any
/// counts, and the report's reserved total overflowed.
#[test]
fn a_report_of_counts_near_u64_max_does_not_overflow() {
    let mut stats = compiler_snapshot();
    stats.heap.arena_bytes = u64::MAX;
    stats.heap.pool_bytes = 1;
    let report = stats.report();
    assert!(report.contains("Breakdown:"), "{report}");
    assert!(report.contains("Arena: 100%"), "{report}");
}
