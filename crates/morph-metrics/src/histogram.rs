//! Pause-time histogram.
//!
//! Built on HdrHistogram: constant memory whatever the number of pauses,
//! O(1) recording, and percentiles with a bounded *relative* error — what a
//! pause report needs, since a 50 µs pause and a 50 ms pause both deserve
//! three significant digits.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Significant decimal digits kept: every reported percentile is within
/// 0.1 % of the exact value at that rank.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// Longest pause the histogram resolves; longer pauses are recorded as this
/// (one hour, far past any pause worth reporting precisely).
pub const MAX_TRACKED_PAUSE: Duration = Duration::from_secs(3600);

/// A distribution of pause times with p50/p90/p99/max.
///
/// Values are kept in nanoseconds. A percentile `q` returns the smallest
/// recorded value `v` such that at least `q` of all recorded pauses are `<= v`
/// (the nearest-rank definition), to within 0.1 %.
///
/// ```
/// use morph_metrics::PauseHistogram;
/// use std::time::Duration;
///
/// let mut pauses = PauseHistogram::new();
/// for us in 1..=100 {
///     pauses.record(Duration::from_micros(us));
/// }
/// let p99 = pauses.percentile(0.99).as_micros();
/// assert!((98..=100).contains(&p99), "p99 = {p99}");
/// assert_eq!(pauses.max(), Duration::from_micros(100));
/// ```
#[derive(Clone, Debug)]
pub struct PauseHistogram {
    /// Made at the first pause: its bucket array is ~270 KB for these
    /// bounds, which every recorder that never sees a collection (pools,
    /// arenas, the empty recorder a merged snapshot starts from) would
    /// otherwise allocate and fill, and every merge and percentile walk.
    histogram: Option<Box<Histogram<u64>>>,
    total: Duration,
    max: Duration,
}

impl PauseHistogram {
    /// An empty histogram (allocates nothing until the first pause).
    pub fn new() -> Self {
        PauseHistogram {
            histogram: None,
            total: Duration::ZERO,
            max: Duration::ZERO,
        }
    }

    fn buckets_for_ns() -> Histogram<u64> {
        let max_ns = MAX_TRACKED_PAUSE.as_nanos() as u64;
        Histogram::new_with_bounds(1, max_ns, SIGNIFICANT_DIGITS)
            .expect("constant bounds are valid: 1 <= 2 * 1, digits <= 5")
    }

    /// Records one pause.
    #[inline]
    pub fn record(&mut self, pause: Duration) {
        let ns = u64::try_from(pause.as_nanos()).unwrap_or(u64::MAX);
        self.histogram
            .get_or_insert_with(|| Box::new(Self::buckets_for_ns()))
            .saturating_record(ns.max(1));
        self.total += pause;
        self.max = self.max.max(pause);
    }

    /// Adds every pause of `other` to `self`, bucket by bucket (the same
    /// buckets as recording each of them again, in one pass).
    ///
    /// ```
    /// use morph_metrics::PauseHistogram;
    /// use std::time::Duration;
    ///
    /// let (mut a, mut b) = (PauseHistogram::new(), PauseHistogram::new());
    /// a.record(Duration::from_micros(10));
    /// b.record(Duration::from_micros(30));
    /// a.merge(&b);
    /// assert_eq!((a.count(), a.max(), a.total()), (2, Duration::from_micros(30), Duration::from_micros(40)));
    /// ```
    pub fn merge(&mut self, other: &PauseHistogram) {
        let Some(theirs) = &other.histogram else {
            return;
        };
        match &mut self.histogram {
            Some(mine) => mine
                .add(&**theirs)
                .expect("both histograms have the same bounds"),
            None => self.histogram = Some(theirs.clone()),
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// Number of pauses recorded.
    pub fn count(&self) -> u64 {
        self.histogram.as_ref().map_or(0, |h| h.len())
    }

    /// Sum of all pauses (exact, not bucketed).
    pub fn total(&self) -> Duration {
        self.total
    }

    /// The pause at quantile `q` (0.0..=1.0), zero when empty.
    pub fn percentile(&self, q: f64) -> Duration {
        let Some(histogram) = self.histogram.as_ref().filter(|h| !h.is_empty()) else {
            return Duration::ZERO;
        };
        let q = q.clamp(0.0, 1.0);
        let value = Duration::from_nanos(histogram.value_at_quantile(q));
        // The bucket's highest equivalent value can exceed the true maximum;
        // never report a percentile above the largest pause recorded.
        value.min(self.max)
    }

    /// Longest pause recorded (exact), zero when empty.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// Mean pause (exact), zero when empty.
    pub fn mean(&self) -> Duration {
        match self.count() {
            0 => Duration::ZERO,
            n => Duration::from_nanos((self.total.as_nanos() / u128::from(n)) as u64),
        }
    }

    /// Every recorded value bucket as (upper value, count), for plots.
    pub fn buckets(&self) -> impl Iterator<Item = (Duration, u64)> + '_ {
        self.histogram
            .iter()
            .flat_map(|h| h.iter_recorded())
            .map(|v| {
                (
                    Duration::from_nanos(v.value_iterated_to()),
                    v.count_at_value(),
                )
            })
    }
}

impl Default for PauseHistogram {
    fn default() -> Self {
        Self::new()
    }
}
