//! Stats snapshots as JSON: `MorphMemStats::load_stats` / `dump_stats`.
//!
//! The input is used twice:
//! * as a stats file's bytes: loading never panics, agrees with parsing the
//!   same bytes in memory, and whatever loads re-serialises and reloads
//!   equal and renders (text report, Prometheus) without panicking;
//! * as the source of a structured snapshot (`arbitrary`): dumping it and
//!   loading it back gives the same snapshot, and its Prometheus exposition
//!   stays one sample per line whatever the names hold.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use morph_metrics::{
    AllocationStats, GcStats, GenerationalStats, HeapStats, MetricsError, MorphMemStats,
    ObjectStats, PauseSummary, PausesByKind, TypeStats,
};

/// A scratch file of this process (fuzzing jobs run in separate processes),
/// in memory where the machine has a tmpfs: rewriting a file on a disk
/// mounted with `discard` costs milliseconds a run.
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            shm.to_owned()
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("morph-fuzz-stats-{}.json", std::process::id()))
    })
}

#[derive(Arbitrary, Debug)]
struct TypeInput {
    type_id: u32,
    name: String,
    objects: u64,
    bytes: u64,
    live_objects: u64,
    live_bytes: u64,
}

#[derive(Arbitrary, Debug)]
struct StatsInput {
    mode: String,
    uptime_us: u64,
    allocation: [u64; 8],
    gc: [u64; 8],
    object_count: u64,
    by_type: Vec<TypeInput>,
    heap: [u64; 17],
    generational: [u64; 4],
}

impl StatsInput {
    fn build(self) -> MorphMemStats {
        let [a0, a1, a2, a3, a4, a5, a6, a7] = self.allocation;
        let [g0, g1, g2, g3, g4, g5, g6, g7] = self.gc;
        let [
            h0,
            h1,
            h2,
            h3,
            h4,
            h5,
            h6,
            h7,
            h8,
            h9,
            h10,
            h11,
            h12,
            h13,
            h14,
            h15,
            h16,
        ] = self.heap;
        let [y0, y1, y2, y3] = self.generational;
        MorphMemStats {
            mode: self.mode,
            uptime_us: self.uptime_us,
            allocation: AllocationStats {
                total_allocated: a0,
                total_allocated_objects: a1,
                total_freed: a2,
                total_freed_objects: a3,
                current_live: a4,
                current_live_objects: a5,
                peak_live: a6,
                peak_live_objects: a7,
            },
            gc: GcStats {
                gc_count: g0,
                gc_time_us: g1,
                gc_pause_max_us: g2,
                gc_pause_avg_us: g3,
                gc_pause_p50_us: g4,
                gc_pause_p90_us: g5,
                gc_pause_p99_us: g6,
                bytes_reclaimed: g7,
                pauses_by_kind: PausesByKind {
                    minor: PauseSummary {
                        count: g0,
                        total_us: g1,
                        p50_us: g4,
                        p99_us: g6,
                        max_us: g2,
                    },
                    incremental: PauseSummary {
                        count: g5,
                        max_us: g3,
                        ..PauseSummary::default()
                    },
                    ..PausesByKind::default()
                },
            },
            objects: ObjectStats {
                object_count: self.object_count,
                by_type: self
                    .by_type
                    .into_iter()
                    .take(64)
                    .map(|t| TypeStats {
                        type_id: t.type_id,
                        name: t.name,
                        objects: t.objects,
                        bytes: t.bytes,
                        live_objects: t.live_objects,
                        live_bytes: t.live_bytes,
                    })
                    .collect(),
            },
            heap: HeapStats {
                arena_count: h0,
                arena_bytes: h1,
                arena_used_bytes: h2,
                arena_wasted_bytes: h3,
                arena_resets: h4,
                pool_count: h5,
                pool_bytes: h6,
                pool_used_bytes: h7,
                pool_blocks: h8,
                heap_bytes: h9,
                nursery_bytes: h10,
                old_bytes: h11,
                large_bytes: h12,
                large_count: h13,
                code_bytes: h14,
                code_used_bytes: h15,
                code_blocks: h16,
            },
            generational: GenerationalStats {
                young_gc_count: y0,
                old_gc_count: y1,
                promoted_objects: y2,
                promoted_bytes: y3,
            },
        }
    }
}

/// Renders `stats` every way a loaded snapshot is shown; checks the
/// Prometheus text's shape.
fn render(stats: &MorphMemStats) {
    let report = stats.report();
    assert!(report.starts_with("=== Morph Memory Statistics ===\n"));
    assert_eq!(report, stats.to_string());
    // Shares of the reserved total are percentages. (Read off the
    // Breakdown lines, which only a name with a line break could fake.)
    let one_line_names =
        !stats.mode.contains('\n') && stats.objects.by_type.iter().all(|t| !t.name.contains('\n'));
    let breakdown = report.lines().filter(|l| {
        l.starts_with("  Arena:")
            || l.starts_with("  Pool:")
            || l.starts_with("  Heap:")
            || l.starts_with("  Code:")
    });
    for line in breakdown.filter(|_| one_line_names) {
        let share: u64 = line
            .split('%')
            .next()
            .and_then(|s| s.split_whitespace().last())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no share in {line:?}"));
        assert!(share <= 100, "share above 100% in {line:?}");
    }
    let _ = stats.top_types(morph_metrics::TOP_TYPES);
    let text = stats.to_prometheus();
    assert!(text.ends_with('\n'));
    let mut samples = 0;
    for line in text.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        // `name{labels} value`: the value is the text after the last space,
        // and label values never break the line.
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("sample line without a value: {line:?}"));
        assert!(
            value.parse::<f64>().is_ok(),
            "sample value {value:?} in {line:?}"
        );
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "metric name {name:?} in {line:?}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "unterminated labels in {line:?}");
        }
        samples += 1;
    }
    // A fixed set of series, plus a few per type: a name with a newline
    // that leaked would change the count.
    let (fixed, per_type) = *SERIES.get_or_init(|| {
        let count = |stats: &MorphMemStats| {
            stats
                .to_prometheus()
                .lines()
                .filter(|l| !l.starts_with('#'))
                .count()
        };
        let mut one = MorphMemStats::default();
        one.objects.by_type.push(TypeStats::default());
        let fixed = count(&MorphMemStats::default());
        (fixed, count(&one) - fixed)
    });
    assert!(per_type > 0);
    assert_eq!(samples, fixed + per_type * stats.objects.by_type.len());
}

/// Sample lines of an empty snapshot, and those each type adds.
static SERIES: OnceLock<(usize, usize)> = OnceLock::new();

/// Removes the scratch file when a run ends, however it ends.
struct Cleanup(&'static PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0);
    }
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    let _cleanup = Cleanup(path);

    // 1. The bytes as a stats file.
    std::fs::write(path, data).expect("write the scratch file");
    let loaded = MorphMemStats::load_stats(path);
    let parsed = serde_json::from_slice::<MorphMemStats>(data);
    match (&loaded, &parsed) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "load_stats and from_slice disagree"),
        (Err(MetricsError::Serialize { .. }), Err(_)) => {}
        (a, b) => panic!("load_stats: {a:?}, from_slice: {b:?}"),
    }
    if let Err(error) = &loaded {
        let _ = error.to_string();
    }
    if let Ok(stats) = loaded {
        let json = stats.to_json();
        let again: MorphMemStats = serde_json::from_str(&json).expect("to_json output reloads");
        assert_eq!(again, stats, "a loaded snapshot does not round-trip");
        render(&stats);
    }

    // 2. A structured snapshot from the same bytes.
    let mut u = Unstructured::new(data);
    let Ok(input) = StatsInput::arbitrary(&mut u) else {
        return;
    };
    let stats = input.build();
    stats.dump_stats(path).expect("dump a snapshot");
    let back = MorphMemStats::load_stats(path).expect("load what dump_stats wrote");
    assert_eq!(back, stats, "dump_stats/load_stats round trip");
    assert_eq!(
        serde_json::from_str::<MorphMemStats>(&stats.to_json()).expect("to_json reloads"),
        stats
    );
    render(&stats);
});
