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
    /// The pauses themselves (nanoseconds, at least 1, in recording
    /// order) while there are at most [`EXACT_PAUSES`]; empty once
    /// `histogram` is made.
    exact: Vec<u64>,
    /// The buckets, made when the pauses outgrow `exact`. Their array is
    /// ~270 KB for these bounds, and a percentile walks it from the start:
    /// recorders that see few collections or none (pools, arenas, short
    /// runs, the empty recorder a merged snapshot starts from) do without.
    histogram: Option<Box<Histogram<u64>>>,
    total: Duration,
    max: Duration,
}

/// Pauses kept one by one before they go into buckets: their percentiles
/// are then exact.
const EXACT_PAUSES: usize = 64;

impl PauseHistogram {
    /// An empty histogram: room for 64 pauses kept exactly (half a KiB);
    /// the buckets are allocated once, at the pause after those.
    pub fn new() -> Self {
        PauseHistogram {
            exact: Vec::with_capacity(EXACT_PAUSES),
            histogram: None,
            total: Duration::ZERO,
            max: Duration::ZERO,
        }
    }

    /// The bucketed form, made (from the exact pauses) if it is not yet.
    fn buckets_mut(&mut self) -> &mut Histogram<u64> {
        let exact = &mut self.exact;
        self.histogram.get_or_insert_with(|| {
            let max_ns = MAX_TRACKED_PAUSE.as_nanos() as u64;
            let mut histogram = Histogram::new_with_bounds(1, max_ns, SIGNIFICANT_DIGITS)
                .expect("constant bounds are valid: 1 <= 2 * 1, digits <= 5");
            for ns in exact.drain(..) {
                histogram.saturating_record(ns);
            }
            Box::new(histogram)
        })
    }

    /// Records one pause.
    #[inline]
    pub fn record(&mut self, pause: Duration) {
        let ns = u64::try_from(pause.as_nanos()).unwrap_or(u64::MAX).max(1);
        if self.histogram.is_none() && self.exact.len() < EXACT_PAUSES {
            self.exact.push(ns);
        } else {
            self.buckets_mut().saturating_record(ns);
        }
        self.total += pause;
        self.max = self.max.max(pause);
    }

    /// Adds every pause of `other` to `self` (in one pass over `other`'s
    /// buckets, if it has them).
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
    /// assert_eq!(a.percentile(0.5), Duration::from_micros(10));
    /// ```
    pub fn merge(&mut self, other: &PauseHistogram) {
        match &other.histogram {
            None if self.histogram.is_none()
                && self.exact.len() + other.exact.len() <= EXACT_PAUSES =>
            {
                self.exact.extend_from_slice(&other.exact);
            }
            None => {
                let mine = self.buckets_mut();
                for &ns in &other.exact {
                    mine.saturating_record(ns);
                }
            }
            Some(theirs) if self.count() == 0 => {
                self.exact.clear();
                self.histogram = Some(theirs.clone());
            }
            Some(theirs) => self
                .buckets_mut()
                .add(&**theirs)
                .expect("both histograms have the same bounds"),
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// Number of pauses recorded.
    pub fn count(&self) -> u64 {
        match &self.histogram {
            Some(histogram) => histogram.len(),
            None => self.exact.len() as u64,
        }
    }

    /// Sum of all pauses (exact, not bucketed).
    pub fn total(&self) -> Duration {
        self.total
    }

    /// The pause at quantile `q` (0.0..=1.0), zero when empty.
    pub fn percentile(&self, q: f64) -> Duration {
        let q = q.clamp(0.0, 1.0);
        let value = match &self.histogram {
            Some(histogram) if !histogram.is_empty() => histogram.value_at_quantile(q),
            Some(_) => return Duration::ZERO,
            None if self.exact.is_empty() => return Duration::ZERO,
            None => {
                // Nearest rank, as the buckets count it.
                let mut sorted = self.exact.clone();
                sorted.sort_unstable();
                let rank = (q * sorted.len() as f64).ceil() as usize;
                sorted[rank.clamp(1, sorted.len()) - 1]
            }
        };
        // The bucket's highest equivalent value can exceed the true maximum;
        // never report a percentile above the largest pause recorded.
        Duration::from_nanos(value).min(self.max)
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

    /// Every recorded value bucket as (upper value, count), for plots; while
    /// there are few pauses, each distinct pause is its own bucket.
    pub fn buckets(&self) -> impl Iterator<Item = (Duration, u64)> + '_ {
        let mut exact = self.exact.clone();
        exact.sort_unstable();
        let exact = exact.chunk_by(|a, b| a == b).map(|run| {
            let count = run.len() as u64;
            (Duration::from_nanos(run[0]), count)
        });
        let bucketed = self
            .histogram
            .iter()
            .flat_map(|h| h.iter_recorded())
            .map(|v| {
                (
                    Duration::from_nanos(v.value_iterated_to()),
                    v.count_at_value(),
                )
            });
        exact.collect::<Vec<_>>().into_iter().chain(bucketed)
    }
}

impl Default for PauseHistogram {
    fn default() -> Self {
        Self::new()
    }
}
