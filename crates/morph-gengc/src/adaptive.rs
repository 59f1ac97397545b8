//! Adaptive sizing: eden follows the survival rate and the pause target, the
//! major-collection trigger follows what major collections reclaim, and the
//! tenuring age follows how long survivors go on living.
//!
//! A minor collection costs about `fixed + cost × copied`, and what it copies
//! is about `survival × eden`. So with the survival rate and the per-byte
//! copying cost measured (smoothed over recent collections), the largest
//! eden whose next pause stays within the budget is
//! `(budget − fixed) / (cost × survival)`. A bigger eden means fewer
//! collections and more time for young objects to die, so the policy takes
//! the largest eden the budget allows, within the configured range. This is
//! the shape of HotSpot's ergonomics and V8's dynamic semi-space sizing,
//! kept deliberately small: growth is at most 2× per collection (a single
//! unusually clean collection should not swing it), shrinking is immediate
//! (a pause over budget should not repeat).

use std::time::Duration;

/// Copying cost assumed until a collection copies enough to measure it
/// (nanoseconds per byte: a copy plus a trace of each survivor).
const DEFAULT_COST_NS_PER_BYTE: f64 = 2.0;
/// Smoothing weight of the newest observation.
const ALPHA: f64 = 0.3;
/// The part of the pause target a minor collection is sized for; the rest
/// is headroom for the tail (the target is a p99, the model predicts a mean).
const BUDGET_FRACTION: f64 = 0.5;

/// The eden-sizing policy's state.
#[derive(Clone, Debug)]
pub(crate) struct EdenPolicy {
    budget_ns: f64,
    floor: usize,
    ceiling: usize,
    survival: Option<f64>,
    cost_ns_per_byte: Option<f64>,
    fixed_ns: f64,
}

impl EdenPolicy {
    pub(crate) fn new(pause_target: Duration, floor: usize, ceiling: usize) -> Self {
        EdenPolicy {
            budget_ns: pause_target.as_nanos() as f64 * BUDGET_FRACTION,
            floor,
            ceiling: ceiling.max(floor),
            survival: None,
            cost_ns_per_byte: None,
            fixed_ns: 0.0,
        }
    }

    /// Records one minor collection (`scanned` bytes of young objects before
    /// it, `copied` bytes of survivors and promotions, its `pause`) and
    /// returns the eden size for the next cycle, given the current `eden`.
    pub(crate) fn observe(
        &mut self,
        eden: usize,
        scanned: usize,
        copied: usize,
        pause: Duration,
    ) -> usize {
        if scanned == 0 {
            return eden;
        }
        let pause_ns = pause.as_nanos() as f64;
        let survival = copied as f64 / scanned as f64;
        self.survival = Some(smooth(self.survival, survival));
        // Collections that copied almost nothing measure the fixed cost
        // (roots, remembered set, zeroing); the others the per-byte cost.
        if copied < 4096 {
            self.fixed_ns = smooth(Some(self.fixed_ns), pause_ns);
        } else {
            let per_byte = ((pause_ns - self.fixed_ns).max(0.0)) / copied as f64;
            self.cost_ns_per_byte = Some(smooth(self.cost_ns_per_byte, per_byte));
        }
        let Some(survival) = self.survival else {
            return eden;
        };
        let cost = self.cost_ns_per_byte.unwrap_or(DEFAULT_COST_NS_PER_BYTE);
        let budget = (self.budget_ns - self.fixed_ns).max(0.0);
        let per_eden_byte = (cost * survival).max(1e-6);
        let wanted = (budget / per_eden_byte).min(usize::MAX as f64 / 2.0) as usize;
        let next = if wanted > eden {
            wanted.min(eden.saturating_mul(2))
        } else {
            wanted
        };
        next.clamp(self.floor, self.ceiling) / 8 * 8
    }
}

fn smooth(old: Option<f64>, new: f64) -> f64 {
    match old {
        Some(old) => old + ALPHA * (new - old),
        None => new,
    }
}

/// Minor collections in a row in which a type must look long-lived before
/// it is pretenured.
const PRETENURE_STREAK: u8 = 3;
/// Lower bound of a type's survival rate that counts as long-lived.
const PRETENURE_SURVIVAL: f64 = 0.9;
/// Bytes of a type a minor collection must copy for it to count at all.
const PRETENURE_MIN_BYTES: u64 = 64 << 10;

/// Pretenuring by type: a type whose young objects all survive their
/// first minor collection is allocated in the old generation directly, so
/// they are not copied (the survivor copy and the promotion are what a
/// minor collection of such objects spends its pause on).
///
/// A minor collection counts the bytes it copies per type, but not what
/// each type allocated (that would cost the allocation fast path). It
/// knows the total that died, though, so a type that copied `c` bytes
/// allocated at most `c + dead`: its survival rate is at least
/// `c / (c + dead)`. A type for which that bound is over 90 % in three
/// minor collections in a row, each copying at least 64 KiB of it, is
/// pretenured. Every major collection (or incremental cycle) ends every
/// pretenuring, so a type whose objects started to die young goes back to
/// the nursery; one that still survives is pretenured again three minor
/// collections later. (V8's allocation-site pretenuring and the .NET
/// collector's per-type feedback are the models; a type is this
/// collector's allocation site.)
#[derive(Clone, Debug, Default)]
pub(crate) struct PretenurePolicy {
    streaks: Vec<u8>,
    pretenured: Vec<bool>,
    /// Changes whenever the set of pretenured types does.
    epoch: u64,
}

impl PretenurePolicy {
    /// Whether type `index` is allocated old.
    #[inline]
    pub(crate) fn is_pretenured(&self, index: usize) -> bool {
        self.pretenured.get(index).copied().unwrap_or(false)
    }

    /// The version of the pretenured set.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Records one minor collection: `copied[t]` bytes of type index `t`
    /// copied, `dead` bytes died.
    pub(crate) fn observe(&mut self, copied: &[u64], dead: usize) {
        if self.streaks.len() < copied.len() {
            self.streaks.resize(copied.len(), 0);
            self.pretenured.resize(copied.len(), false);
        }
        for (index, &bytes) in copied.iter().enumerate() {
            let long_lived = bytes >= PRETENURE_MIN_BYTES
                && bytes as f64 >= PRETENURE_SURVIVAL * (bytes as f64 + dead as f64);
            if !long_lived {
                self.streaks[index] = 0;
                continue;
            }
            self.streaks[index] = self.streaks[index].saturating_add(1);
            if self.streaks[index] >= PRETENURE_STREAK && !self.pretenured[index] {
                self.pretenured[index] = true;
                self.epoch += 1;
            }
        }
    }

    /// Ends every pretenuring (at a major collection: see the type docs).
    pub(crate) fn reset(&mut self) {
        self.streaks.fill(0);
        if self.pretenured.contains(&true) {
            self.pretenured.fill(false);
            self.epoch += 1;
        }
    }
}

/// Share of the young generation a minor collection must copy (keep young
/// or promote) for the next one to prefetch around what it copies. Where
/// survivors are dense, the lines near one are the next ones copied; where
/// they are sparse (a program whose young objects nearly all die), the
/// same prefetches fetch dead objects and made an interpreter-like
/// workload's minor collections ~10 % slower.
const DENSE_SURVIVAL: f64 = 0.25;

/// Whether a minor collection that found `scanned` young bytes and copied
/// `copied` of them saw survivors dense enough for the next one to
/// prefetch the from-space around each copy (see [`DENSE_SURVIVAL`]);
/// `None` when it found nothing to judge by.
pub(crate) fn survival_is_dense(scanned: usize, copied: usize) -> Option<bool> {
    (scanned > 0).then_some(copied as f64 >= DENSE_SURVIVAL * scanned as f64)
}

/// Second-survival rate at or above which survivors are promoted at their
/// first minor collection.
const EARLY_PROMOTION_RATE: f64 = 0.5;
/// Minor collections between re-checks while promoting early.
const PROBE_EVERY: u32 = 8;
/// Survivor bytes below which a collection is too small a sample.
const MIN_SURVIVOR_SAMPLE: usize = 4096;
/// Survivor-space bytes a probe keeps as its sample; the rest of its
/// survivors are promoted as in early promotion. A full survivor space
/// would be promoted, with the next eden's survivors, by the measuring
/// collection, making it the longest pause of a steady phase.
const PROBE_SAMPLE: usize = 64 << 10;

/// Demographic feedback on the tenuring age (after Ungar and Jackson's
/// feedback-mediated tenuring, and HotSpot's adaptive tenuring threshold).
///
/// Keeping a survivor in the survivor space for another cycle pays off only
/// if it then dies young. The policy measures exactly that: of the bytes in
/// the survivor space before a minor collection, the share that survived
/// it. While at least half do, objects that survive one collection are
/// promoted at once (age 1) instead of being copied a second time: a
/// workload that builds long-lived data (a table, a tree, request state
/// that outlives its request) then copies it once. Promoting at age 1
/// leaves the survivor space empty, so nothing is measured; every
/// [`PROBE_EVERY`] collections one runs at the configured age to refill it
/// and the next one re-measures.
#[derive(Clone, Debug)]
pub(crate) struct TenuringPolicy {
    configured: u8,
    early: bool,
    since_measured: u32,
}

impl TenuringPolicy {
    pub(crate) fn new(configured: u8) -> Self {
        TenuringPolicy {
            configured,
            early: false,
            since_measured: 0,
        }
    }

    /// Whether the next minor collection, while promoting early, is the
    /// probe that refills the survivor space to measure again.
    fn probing(&self) -> bool {
        self.since_measured >= PROBE_EVERY
    }

    /// The promotion age for the next minor collection.
    pub(crate) fn age(&self) -> u8 {
        if self.early && !self.probing() {
            1
        } else {
            self.configured
        }
    }

    /// How much of a `survivor_size`-byte survivor space the next minor
    /// collection may fill: all of it, except in a probe, which keeps only
    /// a sample (see [`PROBE_SAMPLE`]).
    pub(crate) fn survivor_room(&self, survivor_size: usize) -> usize {
        if self.early && self.probing() {
            survivor_size.min(PROBE_SAMPLE)
        } else {
            survivor_size
        }
    }

    /// Records one minor collection: `survivors_before` bytes were in the
    /// survivor space before it, `survivors_kept` of them were still live
    /// (copied again or promoted).
    pub(crate) fn observe(&mut self, survivors_before: usize, survivors_kept: usize) {
        if self.configured <= 1 {
            return;
        }
        if survivors_before < MIN_SURVIVOR_SAMPLE {
            self.since_measured = self.since_measured.saturating_add(1);
            return;
        }
        let rate = survivors_kept as f64 / survivors_before as f64;
        // The newest sample alone decides: samples are sparse while
        // promoting early, and a phase change (long-lived data built, now
        // temporaries) must end early promotion at the first sign.
        self.early = rate >= EARLY_PROMOTION_RATE;
        self.since_measured = 0;
    }
}

/// The old-generation growth that triggers the next major collection, after
/// one that found `live_before` bytes and kept `live_after`: doubled (up to
/// `base × 8`) when it reclaimed under a quarter, halved (down to `base / 4`)
/// when it reclaimed over half, else unchanged.
pub(crate) fn next_major_threshold(
    current: usize,
    base: usize,
    live_before: usize,
    live_after: usize,
) -> usize {
    if live_before == 0 {
        return current;
    }
    let reclaimed = live_before.saturating_sub(live_after) as f64 / live_before as f64;
    let next = if reclaimed < 0.25 {
        current.saturating_mul(2)
    } else if reclaimed > 0.5 {
        current / 2
    } else {
        current
    };
    next.clamp((base / 4).max(1), base.saturating_mul(8))
}

/// How far the old generation may grow past `live` bytes (what the last
/// major collection left) before the next one is due: `growth_percent` of
/// what it found reachable, and at least `floor`.
///
/// After an incremental cycle, what it found reachable is what it
/// `traced`, not what it kept: objects allocated during a cycle survive it
/// (black) whether or not they are still live. A cycle that ran while a
/// large structure was built, and ended just before the program dropped
/// it, would otherwise set the allowance from the structure's whole size
/// plus everything allocated beside it (binary-trees at depth 21: a peak
/// of 427 MiB, against 291 MiB with the traced bytes).
pub(crate) fn growth_allowance(
    live: usize,
    traced: Option<usize>,
    floor: usize,
    growth_percent: u32,
) -> usize {
    let reachable = traced.map_or(live, |traced| traced.min(live));
    let growth = reachable as u128 * u128::from(growth_percent) / 100;
    usize::try_from(growth).unwrap_or(usize::MAX).max(floor)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1 << 20;

    fn ms(v: f64) -> Duration {
        Duration::from_secs_f64(v / 1e3)
    }

    #[test]
    fn low_survival_grows_eden_to_the_ceiling_in_doublings() {
        let mut policy = EdenPolicy::new(ms(10.0), MIB, 8 * MIB);
        let mut eden = 2 * MIB;
        let mut sizes = Vec::new();
        for _ in 0..4 {
            // 5% survive, copying costs 1 ns/byte: 100 KiB copied in 0.1 ms.
            let copied = eden / 20;
            eden = policy.observe(eden, eden, copied, ms(copied as f64 * 1e-6));
            sizes.push(eden);
        }
        assert_eq!(sizes, [4 * MIB, 8 * MIB, 8 * MIB, 8 * MIB]);
    }

    #[test]
    fn a_pause_over_budget_shrinks_eden_at_once() {
        let mut policy = EdenPolicy::new(ms(1.0), 512 << 10, 8 * MIB);
        // Everything survives and copying costs 2 ns/byte: a 4 MiB eden
        // would pause ~8 ms; a 0.5 ms budget allows ~250 KiB, so the floor.
        let eden = policy.observe(4 * MIB, 4 * MIB, 4 * MIB, ms(8.4));
        assert_eq!(eden, 512 << 10);
    }

    #[test]
    fn eden_settles_where_the_predicted_pause_meets_the_budget() {
        let mut policy = EdenPolicy::new(ms(4.0), 256 << 10, 64 * MIB);
        let mut eden = 16 * MIB;
        for _ in 0..30 {
            // 25% survive at 1 ns/byte, plus a 0.1 ms fixed part.
            let copied = eden / 4;
            let pause = ms(0.1 + copied as f64 * 1e-6);
            eden = policy.observe(eden, eden, copied, pause);
        }
        // Budget 2 ms; the model converges on (2 − fixed) / (1 ns × 0.25).
        let predicted_pause = eden as f64 / 4.0 * 1e-6;
        assert!(
            (1.5..=2.1).contains(&predicted_pause),
            "eden {eden} predicts {predicted_pause} ms"
        );
    }

    #[test]
    fn near_zero_survival_grows_eden_before_the_cost_is_measured() {
        let mut policy = EdenPolicy::new(ms(10.0), MIB, 8 * MIB);
        // 1 KiB copied per collection: too little to measure a per-byte cost.
        let eden = policy.observe(2 * MIB, 2 * MIB, 1024, ms(0.05));
        assert_eq!(eden, 4 * MIB);
    }

    #[test]
    fn a_type_that_always_survives_is_pretenured_after_three_collections() {
        let mut policy = PretenurePolicy::default();
        // Type 1 copies 1 MiB while 32 KiB of everything died; type 2
        // copies as much but most of what died may be its own.
        for round in 0..3 {
            assert!(!policy.is_pretenured(1), "round {round}");
            policy.observe(&[0, MIB as u64, MIB as u64], 32 << 10);
        }
        assert!(policy.is_pretenured(1) && policy.is_pretenured(2));
        let epoch = policy.epoch();
        policy.reset();
        assert!(!policy.is_pretenured(1));
        assert_ne!(policy.epoch(), epoch);
    }

    #[test]
    fn a_type_with_much_dying_around_it_is_not_pretenured() {
        let mut policy = PretenurePolicy::default();
        for _ in 0..10 {
            // 1 MiB copied, 1 MiB died: survival may be as low as 50 %.
            policy.observe(&[MIB as u64], MIB);
            // Too little copied to judge.
            policy.observe(&[1024], 0);
        }
        assert!(!policy.is_pretenured(0));
        // A broken streak starts again.
        policy.observe(&[MIB as u64], 0);
        policy.observe(&[MIB as u64], 0);
        policy.observe(&[MIB as u64], MIB);
        policy.observe(&[MIB as u64], 0);
        assert!(!policy.is_pretenured(0));
    }

    #[test]
    fn survival_is_dense_from_a_quarter_copied() {
        assert_eq!(survival_is_dense(4 * MIB, MIB), Some(true));
        assert_eq!(survival_is_dense(4 * MIB, MIB - 8), Some(false));
        assert_eq!(survival_is_dense(0, 0), None);
    }

    #[test]
    fn empty_collections_change_nothing() {
        let mut policy = EdenPolicy::new(ms(1.0), MIB, 4 * MIB);
        assert_eq!(policy.observe(2 * MIB, 0, 0, ms(0.01)), 2 * MIB);
    }

    #[test]
    fn long_lived_survivors_switch_to_early_promotion_and_probe_back() {
        let mut policy = TenuringPolicy::new(2);
        assert_eq!(policy.age(), 2);
        // 90% of the survivor space survives again: promote at age 1.
        policy.observe(100_000, 90_000);
        assert_eq!(policy.age(), 1);
        // Early promotion leaves the survivor space empty: no sample, and
        // after PROBE_EVERY collections one runs at the configured age.
        let mut ages = Vec::new();
        for _ in 0..PROBE_EVERY {
            policy.observe(0, 0);
            ages.push(policy.age());
        }
        assert!(ages[..PROBE_EVERY as usize - 1].iter().all(|&a| a == 1));
        assert_eq!(ages.last(), Some(&2));
        // The probe keeps only a sample in the survivor space.
        assert_eq!(policy.survivor_room(512 << 10), PROBE_SAMPLE);
        // It stays there until a sample arrives; this one says survivors
        // now die young, so the configured age stays.
        policy.observe(0, 0);
        assert_eq!(policy.age(), 2);
        policy.observe(100_000, 0);
        assert_eq!(policy.age(), 2);
    }

    #[test]
    fn short_lived_survivors_keep_the_configured_age() {
        let mut policy = TenuringPolicy::new(3);
        for _ in 0..10 {
            policy.observe(200_000, 40_000);
            assert_eq!(policy.age(), 3);
        }
        // Too small a sample changes nothing.
        policy.observe(100, 100);
        assert_eq!(policy.age(), 3);
        assert_eq!(policy.survivor_room(512 << 10), 512 << 10);
    }

    #[test]
    fn promotion_at_age_one_is_left_alone() {
        let mut policy = TenuringPolicy::new(1);
        policy.observe(100_000, 100_000);
        assert_eq!(policy.age(), 1);
    }

    #[test]
    fn the_growth_allowance_counts_what_a_cycle_traced_not_what_it_kept() {
        // A stop-the-world major: all it kept, it found reachable.
        assert_eq!(growth_allowance(100 * MIB, None, 8 * MIB, 100), 100 * MIB);
        // A cycle that traced 98 MiB and allocated 33 MiB black.
        assert_eq!(
            growth_allowance(131 * MIB, Some(98 * MIB), 8 * MIB, 100),
            98 * MIB
        );
        // Never more than what was kept (traced bytes are kept, so this
        // only guards the accounting), never less than the floor.
        assert_eq!(
            growth_allowance(50 * MIB, Some(60 * MIB), 8 * MIB, 50),
            25 * MIB
        );
        assert_eq!(growth_allowance(4 * MIB, Some(MIB), 8 * MIB, 100), 8 * MIB);
    }

    #[test]
    fn major_threshold_follows_reclamation_within_bounds() {
        let base = 64 * MIB;
        // Reclaimed 10%: collect less often.
        assert_eq!(next_major_threshold(base, base, 100, 90), 2 * base);
        // Reclaimed 90%: collect sooner.
        assert_eq!(next_major_threshold(base, base, 100, 10), base / 2);
        // In between: unchanged.
        assert_eq!(next_major_threshold(base, base, 100, 60), base);
        // Clamped at both ends.
        assert_eq!(next_major_threshold(8 * base, base, 100, 99), 8 * base);
        assert_eq!(next_major_threshold(base / 4, base, 100, 0), base / 4);
    }
}
