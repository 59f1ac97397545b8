//! Small statistics over a handful of runs, and the collector's trace.

/// Median of `values` (mean of the middle two for an even count); 0 if empty.
pub(crate) fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// Median absolute deviation from the median.
pub(crate) fn mad(values: &[f64]) -> f64 {
    let m = median(values);
    let deviations: Vec<f64> = values.iter().map(|v| (v - m).abs()).collect();
    median(&deviations)
}

/// Nearest-rank percentile of already sorted values (`q` in 0..=1); 0 if empty.
pub(crate) fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One collection from morph-gengc's trace (`MORPH_GC_TRACE=1`): one line
/// per collection, printed after the pause was measured, so tracing does not
/// lengthen the pause it reports.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Collection {
    /// `true` for a major (whole-heap) collection, or the finish of an
    /// incremental one (`cycle-finish`).
    pub major: bool,
    /// `true` for the other pauses of an incremental major collection: its
    /// start (`cycle-start`), its marking steps (`mark-step`) and the steps
    /// of its sweep (`sweep-step`).
    pub step: bool,
    /// Seconds since the heap was created.
    pub at_s: f64,
    /// The pause, microseconds.
    pub pause_us: f64,
    /// Bytes the heap reserves after the collection.
    pub heap_bytes: u64,
    /// A minor collection's young bytes before it (eden and survivors);
    /// 0 for a major collection.
    pub young_before_bytes: u64,
    /// A minor collection's copied bytes: survivors kept young plus
    /// promoted objects (what its pause is mostly spent on); 0 for a major.
    pub copied_bytes: u64,
}

/// Parses a trace line such as
/// `morph-gc #3 @0.024s minor: pause 10.147ms, young 2560K->512K, promoted 2048K, old 5758K, large 0K, heap 8960K`.
pub(crate) fn parse_trace_line(line: &str) -> Option<Collection> {
    let rest = line.strip_prefix("morph-gc #")?;
    let (_, rest) = rest.split_once(" @")?;
    let (at, rest) = rest.split_once("s ")?;
    let (kind, rest) = rest.split_once(": pause ")?;
    let (pause, rest) = rest.split_once("ms")?;
    let heap = rest.rsplit_once("heap ")?.1.trim();
    let major = kind == "major" || kind == "cycle-finish";
    let step = matches!(kind, "cycle-start" | "mark-step" | "sweep-step");
    let (young_before_bytes, copied_bytes) = if major || step {
        (0, 0)
    } else {
        let (before, after) = field(rest, "young ")?.split_once("->")?;
        let promoted = kib(field(rest, "promoted ")?)?;
        (kib(before)?, kib(after)? + promoted)
    };
    Some(Collection {
        major,
        step,
        at_s: at.parse().ok()?,
        pause_us: pause.parse::<f64>().ok()? * 1e3,
        heap_bytes: kib(heap)?,
        young_before_bytes,
        copied_bytes,
    })
}

/// Minimum mutator utilisation (Cheng and Blelloch) over windows of
/// `window_us`: the smallest share of any such window of the run that no
/// pause took. `pauses` are (end, duration) in microseconds, in time
/// order; the worst window starts at a pause's start or ends at a pause's
/// end, so only those are tried. 1 when there are no pauses.
pub(crate) fn mmu(pauses: &[(f64, f64)], window_us: f64) -> f64 {
    let starts = pauses.iter().map(|&(end, duration)| end - duration);
    let ends = pauses.iter().map(|&(end, _)| end - window_us);
    let mut worst: f64 = 1.0;
    for from in starts.chain(ends) {
        let to = from + window_us;
        // The pauses that can overlap [from, to): those ending after
        // `from` and starting before `to` (both orders follow time).
        let lo = pauses.partition_point(|&(end, _)| end <= from);
        let hi = pauses.partition_point(|&(end, duration)| end - duration < to);
        let busy: f64 = pauses[lo..hi.max(lo)]
            .iter()
            .map(|&(end, duration)| (end.min(to) - (end - duration).max(from)).max(0.0))
            .sum();
        worst = worst.min(1.0 - busy.min(window_us) / window_us);
    }
    worst
}

/// The value after `name` in a trace line's `, `-separated fields.
fn field<'a>(rest: &'a str, name: &str) -> Option<&'a str> {
    rest.split(", ")
        .find_map(|f| f.trim().strip_prefix(name))
        .map(str::trim)
}

/// Bytes of a `123K` trace value.
fn kib(value: &str) -> Option<u64> {
    Some(value.strip_suffix('K')?.parse::<u64>().ok()? * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(mad(&[1.0, 2.0, 3.0, 4.0, 100.0]), 1.0);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile_sorted(&sorted, 0.5), 50.0);
        assert_eq!(percentile_sorted(&sorted, 0.99), 99.0);
        assert_eq!(percentile_sorted(&sorted, 1.0), 100.0);
        assert_eq!(percentile_sorted(&sorted, 0.0), 1.0);
    }

    #[test]
    fn mmu_is_the_worst_window() {
        // Pauses of 1 ms ending at 10 ms and 2 ms ending at 13 ms.
        let pauses = [(10_000.0, 1_000.0), (13_000.0, 2_000.0)];
        // A 2 ms window can sit wholly inside the second pause.
        assert_eq!(mmu(&pauses, 2_000.0), 0.0);
        // A 5 ms window can hold both (9..14 ms): 3 ms of pauses.
        assert!((mmu(&pauses, 5_000.0) - 0.4).abs() < 1e-9);
        // A 100 ms window holds both: 97 % left.
        assert!((mmu(&pauses, 100_000.0) - 0.97).abs() < 1e-9);
        assert_eq!(mmu(&[], 1_000.0), 1.0);
    }

    #[test]
    fn incremental_trace_lines_parse() {
        let step = "morph-gc #12 @1.204s mark-step: pause 0.112ms, marked 5120K of 65536K, \
                    grey 41, heap 80000K";
        let c = parse_trace_line(step).expect("a step line");
        assert!(c.step && !c.major);
        assert_eq!(c.pause_us, 112.0);
        let finish = "morph-gc #13 @1.300s cycle-finish: pause 1.015ms, tenured 53247K->50000K, \
                      marked 28671K, black 24575K, steps 410, paused 18.967ms, took 84.748ms, \
                      heap 67008K";
        let c = parse_trace_line(finish).expect("a finish line");
        assert!(c.major && !c.step);
        assert_eq!(c.heap_bytes, 67008 * 1024);
    }

    #[test]
    fn trace_lines_parse() {
        let line = "morph-gc #66 @0.454s major: pause 24.734ms, tenured 65921K->14464K, \
                    promoted 0K, old 14464K, large 0K, heap 69632K";
        let c = parse_trace_line(line).expect("a trace line");
        assert!(c.major);
        assert_eq!(c.at_s, 0.454);
        assert!((c.pause_us - 24_734.0).abs() < 1e-6);
        assert_eq!(c.heap_bytes, 69632 * 1024);
        assert_eq!((c.young_before_bytes, c.copied_bytes), (0, 0));
        let line = "morph-gc #80 @0.079s minor: pause 0.685ms, young 2559K->511K, \
                    promoted 2047K, old 11372K, large 0K, heap 14592K";
        let c = parse_trace_line(line).expect("a trace line");
        assert!(!c.major);
        assert_eq!(c.young_before_bytes, 2559 * 1024);
        assert_eq!(c.copied_bytes, (511 + 2047) * 1024);
        assert_eq!(parse_trace_line("something else"), None);
    }
}
