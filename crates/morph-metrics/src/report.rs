//! Reports: the text report, JSON dumps and Prometheus text exposition.

use std::fmt::{self, Write as _};
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;

use crate::{MetricsError, MorphMemStats, TypeStats};

/// How many types the "Top Types" section lists.
pub const TOP_TYPES: usize = 10;

impl MorphMemStats {
    /// Writes the text report in the design document's layout
    /// (Allocations / Breakdown / GC / Top Types).
    ///
    /// ```
    /// use morph_metrics::MorphMemStats;
    ///
    /// let mut stats = MorphMemStats::default();
    /// stats.mode = "COMPILER".into();
    /// let report = stats.report();
    /// assert!(report.starts_with("=== Morph Memory Statistics ===\nMode: COMPILER\n"));
    /// assert!(report.contains("Max Pause: N/A"));
    /// ```
    pub fn write_report(&self, out: &mut impl fmt::Write) -> fmt::Result {
        writeln!(out, "=== Morph Memory Statistics ===")?;
        let mode = if self.mode.is_empty() {
            "(not set)"
        } else {
            &self.mode
        };
        writeln!(out, "Mode: {mode}")?;
        writeln!(out, "Uptime: {:.1}s", self.uptime_us as f64 / 1e6)?;

        let a = &self.allocation;
        writeln!(out, "\nAllocations:")?;
        let rows = [
            (
                "Total:",
                thousands(a.total_allocated_objects),
                a.total_allocated,
            ),
            ("Live:", thousands(a.current_live_objects), a.current_live),
            ("Peak:", thousands(a.peak_live_objects), a.peak_live),
        ];
        // Counts right-aligned in a column at least 7 wide, as in the design's layout.
        let width = rows
            .iter()
            .map(|(_, count, _)| count.len())
            .max()
            .unwrap_or(0)
            .max(7);
        for (label, count, bytes) in rows {
            writeln!(
                out,
                "  {label:<6} {count:>width$} objects ({})",
                bytes_human(bytes)
            )?;
        }

        let h = &self.heap;
        // Saturating: a loaded stats file may hold any counts (the
        // `stats_json` fuzz target found a sum past u64::MAX).
        // A code cache counts the pages its blocks use, not its reservation
        // (mostly address space with no memory behind it).
        let reserved = h
            .arena_bytes
            .saturating_add(h.pool_bytes)
            .saturating_add(h.heap_bytes)
            .saturating_add(h.code_used_bytes);
        writeln!(out, "\nBreakdown:")?;
        writeln!(
            out,
            "  {:<6}{:>4}% ({} in {} {})",
            "Arena:",
            percent(h.arena_bytes, reserved),
            bytes_human(h.arena_bytes),
            thousands(h.arena_count),
            plural(h.arena_count, "arena", "arenas"),
        )?;
        writeln!(
            out,
            "  {:<6}{:>4}% ({} in {} {})",
            "Pool:",
            percent(h.pool_bytes, reserved),
            bytes_human(h.pool_bytes),
            thousands(h.pool_count),
            plural(h.pool_count, "pool", "pools"),
        )?;
        writeln!(
            out,
            "  {:<6}{:>4}% ({})",
            "Heap:",
            percent(h.heap_bytes, reserved),
            bytes_human(h.heap_bytes)
        )?;
        if h.code_bytes > 0 {
            writeln!(
                out,
                "  {:<6}{:>4}% ({} in {} {}, {} reserved)",
                "Code:",
                percent(h.code_used_bytes, reserved),
                bytes_human(h.code_used_bytes),
                thousands(h.code_blocks),
                plural(h.code_blocks, "block", "blocks"),
                bytes_human(h.code_bytes),
            )?;
        }

        let g = &self.gc;
        let generational = &self.generational;
        writeln!(out, "\nGC:")?;
        if g.gc_count == 0 {
            writeln!(out, "  Collections: 0")?;
            writeln!(out, "  Time: 0ms")?;
            writeln!(out, "  Max Pause: N/A")?;
        } else {
            writeln!(
                out,
                "  Collections: {} ({} minor, {} major)",
                thousands(g.gc_count),
                thousands(generational.young_gc_count),
                thousands(generational.old_gc_count)
            )?;
            let share = if self.uptime_us == 0 {
                0.0
            } else {
                100.0 * g.gc_time_us as f64 / self.uptime_us as f64
            };
            writeln!(
                out,
                "  Time: {} ({share:.1}% of uptime)",
                micros_human(g.gc_time_us)
            )?;
            writeln!(out, "  Max Pause: {}", micros_human(g.gc_pause_max_us))?;
            writeln!(
                out,
                "  Pauses: p50 {}, p90 {}, p99 {}, mean {}",
                micros_human(g.gc_pause_p50_us),
                micros_human(g.gc_pause_p90_us),
                micros_human(g.gc_pause_p99_us),
                micros_human(g.gc_pause_avg_us)
            )?;
            let kinds = &g.pauses_by_kind;
            let kind = |name: &str, k: &crate::PauseSummary| {
                format!(
                    "{name} {} (p99 {}, max {})",
                    thousands(k.count),
                    micros_human(k.p99_us),
                    micros_human(k.max_us)
                )
            };
            let mut by_kind = vec![kind("minor", &kinds.minor), kind("major", &kinds.major)];
            if kinds.incremental.count > 0 {
                by_kind.push(kind("incremental steps", &kinds.incremental));
            }
            writeln!(out, "  By kind: {}", by_kind.join(", "))?;
            writeln!(
                out,
                "  Promoted: {} objects ({})",
                thousands(generational.promoted_objects),
                bytes_human(generational.promoted_bytes)
            )?;
            writeln!(out, "  Reclaimed: {}", bytes_human(g.bytes_reclaimed))?;
        }

        writeln!(out, "\nTop Types:")?;
        let top = self.top_types(TOP_TYPES);
        if top.is_empty() {
            writeln!(out, "  (none recorded)")?;
        }
        let name_width = top
            .iter()
            .map(|t| t.name.chars().count())
            .max()
            .unwrap_or(0)
            .max(15);
        let count_width = top
            .iter()
            .map(|t| thousands(t.objects).len())
            .max()
            .unwrap_or(0);
        for (rank, t) in top.iter().enumerate() {
            writeln!(
                out,
                "  {}. {:<name_width$} {:>count_width$} objects ({})",
                rank + 1,
                t.name,
                thousands(t.objects),
                bytes_human(t.bytes),
            )?;
        }
        Ok(())
    }

    /// The text report as a string.
    pub fn report(&self) -> String {
        let mut s = String::new();
        self.write_report(&mut s)
            .expect("writing to a String cannot fail");
        s
    }

    /// Prints the text report to standard output.
    pub fn print_stats(&self) {
        print!("{}", self.report());
    }

    /// The `n` types with most allocated objects (ties: more bytes first,
    /// then lower type id).
    pub fn top_types(&self, n: usize) -> Vec<&TypeStats> {
        let mut types: Vec<&TypeStats> = self.objects.by_type.iter().collect();
        types.sort_by(|x, y| {
            y.objects
                .cmp(&x.objects)
                .then(y.bytes.cmp(&x.bytes))
                .then(x.type_id.cmp(&y.type_id))
        });
        types.truncate(n);
        types
    }

    /// The snapshot as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("stats contain only plain data")
    }

    /// Writes the snapshot as JSON to `path` (created or truncated).
    ///
    /// ```
    /// use morph_metrics::{MetricsError, MorphMemStats};
    ///
    /// let err = MorphMemStats::default().dump_stats("/nonexistent-dir/stats.json").unwrap_err();
    /// assert!(matches!(err, MetricsError::Io { .. }));
    /// assert!(err.to_string().contains("/nonexistent-dir/stats.json"));
    /// ```
    pub fn dump_stats(&self, path: impl AsRef<Path>) -> Result<(), MetricsError> {
        let path = path.as_ref();
        let io_error = |source| MetricsError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::create(path).map_err(io_error)?;
        let mut out = BufWriter::new(file);
        serde_json::to_writer_pretty(&mut out, self).map_err(|e| MetricsError::Serialize {
            path: path.to_path_buf(),
            source: e,
        })?;
        out.write_all(b"\n").map_err(io_error)?;
        out.flush().map_err(io_error)
    }

    /// Reads a snapshot written by [`dump_stats`](Self::dump_stats).
    pub fn load_stats(path: impl AsRef<Path>) -> Result<Self, MetricsError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| MetricsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_reader(std::io::BufReader::new(file)).map_err(|source| {
            MetricsError::Serialize {
                path: path.to_path_buf(),
                source,
            }
        })
    }

    /// The snapshot in Prometheus text exposition format (version 0.0.4),
    /// for a server's `/metrics` endpoint.
    ///
    /// ```
    /// use morph_metrics::MorphMemStats;
    ///
    /// let mut stats = MorphMemStats::default();
    /// stats.allocation.total_allocated = 4096;
    /// let text = stats.to_prometheus();
    /// assert!(text.contains("# TYPE morph_mem_allocated_bytes_total counter\n"));
    /// assert!(text.contains("\nmorph_mem_allocated_bytes_total 4096\n"));
    /// ```
    pub fn to_prometheus(&self) -> String {
        let mut p = Prometheus::default();
        let a = &self.allocation;
        let h = &self.heap;
        let g = &self.gc;
        let generational = &self.generational;

        p.family(
            "morph_mem_info",
            "gauge",
            "Workload mode of this Morph Memory instance.",
        );
        p.sample("morph_mem_info", &[("mode", &self.mode)], 1);
        p.family(
            "morph_mem_uptime_seconds",
            "gauge",
            "Seconds since metrics started.",
        );
        p.sample_f64("morph_mem_uptime_seconds", &[], self.uptime_us as f64 / 1e6);

        for (name, help, value) in [
            (
                "morph_mem_allocated_bytes_total",
                "Bytes allocated.",
                a.total_allocated,
            ),
            (
                "morph_mem_allocated_objects_total",
                "Objects allocated.",
                a.total_allocated_objects,
            ),
            ("morph_mem_freed_bytes_total", "Bytes freed.", a.total_freed),
            (
                "morph_mem_freed_objects_total",
                "Objects freed.",
                a.total_freed_objects,
            ),
            (
                "morph_mem_arena_resets_total",
                "Arena resets.",
                h.arena_resets,
            ),
            (
                "morph_gc_promoted_objects_total",
                "Objects promoted.",
                generational.promoted_objects,
            ),
            (
                "morph_gc_promoted_bytes_total",
                "Bytes promoted.",
                generational.promoted_bytes,
            ),
            (
                "morph_gc_reclaimed_bytes_total",
                "Bytes reclaimed by GC.",
                g.bytes_reclaimed,
            ),
        ] {
            p.family(name, "counter", help);
            p.sample(name, &[], value);
        }
        for (name, help, value) in [
            ("morph_mem_live_bytes", "Bytes live now.", a.current_live),
            (
                "morph_mem_live_objects",
                "Objects live now.",
                a.current_live_objects,
            ),
            (
                "morph_mem_peak_live_bytes",
                "Most bytes live at once.",
                a.peak_live,
            ),
        ] {
            p.family(name, "gauge", help);
            p.sample(name, &[], value);
        }

        p.family(
            "morph_mem_space_reserved_bytes",
            "gauge",
            "Bytes reserved, by space.",
        );
        for (space, value) in [
            ("arena", h.arena_bytes),
            ("pool", h.pool_bytes),
            ("nursery", h.nursery_bytes),
            ("old", h.old_bytes),
            ("large", h.large_bytes),
        ] {
            p.sample("morph_mem_space_reserved_bytes", &[("space", space)], value);
        }
        // The JIT code cache (VM mode): address space reserved, of which
        // `used` is in live blocks.
        p.sample(
            "morph_mem_space_reserved_bytes",
            &[("space", "code")],
            h.code_bytes,
        );
        p.family(
            "morph_mem_space_used_bytes",
            "gauge",
            "Bytes handed out to objects, by space.",
        );
        p.sample(
            "morph_mem_space_used_bytes",
            &[("space", "arena")],
            h.arena_used_bytes,
        );
        p.sample(
            "morph_mem_space_used_bytes",
            &[("space", "pool")],
            h.pool_used_bytes,
        );
        p.sample(
            "morph_mem_space_used_bytes",
            &[("space", "code")],
            h.code_used_bytes,
        );

        p.family(
            "morph_gc_collections_total",
            "counter",
            "Collections, by kind.",
        );
        p.sample(
            "morph_gc_collections_total",
            &[("kind", "minor")],
            generational.young_gc_count,
        );
        p.sample(
            "morph_gc_collections_total",
            &[("kind", "major")],
            generational.old_gc_count,
        );

        p.family(
            "morph_gc_pause_seconds",
            "summary",
            "Collection pause times.",
        );
        for (quantile, us) in [
            ("0.5", g.gc_pause_p50_us),
            ("0.9", g.gc_pause_p90_us),
            ("0.99", g.gc_pause_p99_us),
            ("1", g.gc_pause_max_us),
        ] {
            p.sample_f64(
                "morph_gc_pause_seconds",
                &[("quantile", quantile)],
                us as f64 / 1e6,
            );
        }
        p.sample_f64("morph_gc_pause_seconds_sum", &[], g.gc_time_us as f64 / 1e6);
        p.sample("morph_gc_pause_seconds_count", &[], g.gc_count);

        for (name, help, field) in [
            (
                "morph_mem_type_allocated_objects_total",
                "Objects allocated, by type.",
                (|t: &TypeStats| t.objects) as fn(&TypeStats) -> u64,
            ),
            (
                "morph_mem_type_allocated_bytes_total",
                "Bytes allocated, by type.",
                |t| t.bytes,
            ),
            (
                "morph_mem_type_live_bytes",
                "Bytes live now, by type.",
                |t| t.live_bytes,
            ),
        ] {
            let kind = if name.ends_with("_total") {
                "counter"
            } else {
                "gauge"
            };
            p.family(name, kind, help);
            for t in &self.objects.by_type {
                p.sample(name, &[("type", &t.name)], field(t));
            }
        }
        p.out
    }
}

impl fmt::Display for MorphMemStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_report(f)
    }
}

#[derive(Default)]
struct Prometheus {
    out: String,
}

impl Prometheus {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn labels(&mut self, name: &str, labels: &[(&str, &str)]) {
        self.out.push_str(name);
        if labels.is_empty() {
            return;
        }
        self.out.push('{');
        for (i, (key, value)) in labels.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            let _ = write!(self.out, "{key}=\"");
            for c in value.chars() {
                match c {
                    '\\' => self.out.push_str("\\\\"),
                    '"' => self.out.push_str("\\\""),
                    '\n' => self.out.push_str("\\n"),
                    c => self.out.push(c),
                }
            }
            self.out.push('"');
        }
        self.out.push('}');
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.labels(name, labels);
        let _ = writeln!(self.out, " {value}");
    }

    fn sample_f64(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.labels(name, labels);
        let _ = writeln!(self.out, " {value}");
    }
}

/// `1234567` → `"1,234,567"`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in binary units: whole numbers from 10 units up, one decimal below.
pub(crate) fn bytes_human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value >= 10.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Microseconds as the shortest readable unit.
pub(crate) fn micros_human(us: u64) -> String {
    match us {
        0 => "0ms".to_owned(),
        1..=999 => format!("{us}µs"),
        1_000..=999_999 => format!("{:.1}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

fn percent(part: u64, whole: u64) -> u64 {
    if whole == 0 {
        0
    } else {
        (part as f64 * 100.0 / whole as f64).round() as u64
    }
}

fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_counts_keep_a_space_after_the_label_and_stay_aligned() {
        let mut stats = MorphMemStats::default();
        stats.allocation.total_allocated_objects = 29_971_806;
        stats.allocation.current_live_objects = 5;
        let report = stats.report();
        assert!(report.contains("  Total: 29,971,806 objects"), "{report}");
        assert!(report.contains("  Live:           5 objects"), "{report}");
    }

    #[test]
    fn thousands_groups_digits_from_the_right() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(125_430), "125,430");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn byte_sizes_pick_the_largest_unit_below_1024() {
        assert_eq!(bytes_human(0), "0 B");
        assert_eq!(bytes_human(1023), "1023 B");
        assert_eq!(bytes_human(1024), "1.0 KiB");
        assert_eq!(bytes_human(1536), "1.5 KiB");
        assert_eq!(bytes_human(245 << 20), "245 MiB");
        assert_eq!(bytes_human(3 << 30), "3.0 GiB");
    }

    #[test]
    fn durations_use_the_shortest_readable_unit() {
        assert_eq!(micros_human(0), "0ms");
        assert_eq!(micros_human(850), "850µs");
        assert_eq!(micros_human(1_250), "1.2ms");
        assert_eq!(micros_human(2_500_000), "2.50s");
    }
}
