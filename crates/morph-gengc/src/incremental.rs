//! Incremental marking of the old generation: a major collection spread
//! over many short steps that run between the mutator's allocations.
//!
//! A cycle marks old and large objects only; every young object counts as
//! live (minor collections keep running during a cycle and handle the
//! nursery as always). It is exact by *snapshot at the beginning* (Yuasa):
//!
//! * **Start** (a pause bounded by the roots and the survivor space): runs
//!   right after a minor collection, so eden is empty. The roots and every
//!   young object are traced once; their old and large referents are the
//!   cycle's first grey objects. Young objects are not marked.
//! * **Steps** (each bounded by its byte budget): at allocation pace points
//!   and tenured allocations, the marker marks and traces grey objects for
//!   a budget the pacer sets ([`RawHeap::step_budget`]), first taking in
//!   what the barrier logged.
//! * **Barrier**: while a cycle runs, a reference field of an old or large
//!   object that is overwritten has its old value logged first
//!   ([`RawHeap::log_overwritten`]), so no object reachable at the start
//!   can lose its last path before the marker has seen it. Stores into
//!   young objects need no log: every young object of the snapshot was
//!   traced at the start, and young objects allocated later were not part
//!   of it.
//! * **Black allocation**: objects promoted or allocated tenured during a
//!   cycle are marked as they are made, and not traced: what they point to
//!   was reachable at the start (and is marked through it or through the
//!   log) or was allocated since.
//! * **Finish** (a pause bounded by weak roots, the remembered set and the
//!   finalizable objects): when the grey set and the log are both empty,
//!   every object reachable at the start, or allocated since, is marked.
//!   Weak references to unmarked objects are cleared, unmarked finalizable
//!   objects finalized, and large objects swept.
//! * **Sweep steps**: the old generation is swept [`SWEEP_STEP_BLOCKS`]
//!   blocks a step, at the same pace points. Until the sweep completes,
//!   objects promoted or allocated old are marked (a block not swept yet
//!   would free them otherwise); the marks this leaves in blocks already
//!   swept are cleared before the next marking starts. The next cycle
//!   cannot start before the sweep is done.
//!
//! Together these keep the snapshot invariant: every old or large object
//! reachable when the cycle started is marked by the time it finishes, or
//! was logged and is marked from the log. An object unreachable at the
//! start stays unreachable (the mutator can only reach objects through
//! what it could reach), except through a weak reference: upgrading one
//! during a cycle logs its target ([`RawHeap::keep_alive`]).
//!
//! Pacing follows Go's pacer in spirit: the cycle starts when the old
//! generation has used half of its growth allowance, and each step marks
//! enough that, at the promotion rate observed so far, marking ends before
//! the allowance is used up (the goal). If the heap reaches the goal first
//! (a burst of promotion), the rest is marked at once; that pause is what
//! a stop-the-world collector would have paid.

use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use morph_metrics::{CollectionEvent, CollectionKind, Recorder};

use crate::collect::{Ephemeron, Marker};
use crate::finalize::{self, PanicPayload};
use crate::heap::{RawHeap, RootSet, is_marked};
use crate::object::ObjectRef;

/// The smallest step: bytes marked per pace point even when the pacer asks
/// for less, so a cycle always makes progress.
pub(crate) const MIN_STEP: usize = 32 << 10;
/// The largest step the pacer asks for: about half a millisecond of
/// marking on a large heap (cache-missing objects, ~1 GB/s).
pub(crate) const MAX_STEP: usize = 512 << 10;
/// The share of a cycle's headroom the pacer keeps in reserve.
const SLACK: f64 = 0.25;
/// The step of stress mode: a few objects, so barrier mistakes surface.
pub(crate) const STRESS_STEP: usize = 64;
/// Old-generation blocks a sweep step sweeps: 8 MiB of the heap, about
/// 50 µs (a bitmap word of 64 slots at a time).
pub(crate) const SWEEP_STEP_BLOCKS: usize = 128;

/// The state of a running cycle.
#[derive(Debug)]
pub(crate) struct MarkCycle {
    /// Grey objects: reached and not yet marked (young addresses among
    /// them are skipped, never dereferenced).
    stack: Vec<ObjectRef>,
    /// Ephemerons of traced old and large objects whose keys were not
    /// marked yet.
    ephemerons: Vec<Ephemeron>,
    /// Bytes marked by tracing, headers included.
    traced: usize,
    /// Bytes allocated black since the start (promoted or tenured).
    pub(crate) black: usize,
    /// Tenured bytes at the start: all the marking there can be.
    work: usize,
    /// Tenured bytes by which marking should be done.
    goal: usize,
    started: Instant,
    steps: u32,
    /// Time spent in the cycle's pauses (start, steps, finish).
    paused: Duration,
}

/// What the pacer remembers between cycles.
#[derive(Debug)]
pub(crate) struct Pacer {
    /// Promoted bytes per eden byte allocated, smoothed over minor
    /// collections.
    promotion_rate: f64,
}

impl Default for Pacer {
    fn default() -> Self {
        // Pessimistic until measured: a quarter of eden survives.
        Pacer {
            promotion_rate: 0.25,
        }
    }
}

impl Pacer {
    /// Folds in one minor collection: `eden` bytes allocated, `promoted`
    /// bytes promoted.
    pub(crate) fn observe(&mut self, eden: usize, promoted: usize) {
        if eden > 0 {
            let rate = promoted as f64 / eden as f64;
            self.promotion_rate = 0.75 * self.promotion_rate + 0.25 * rate;
        }
    }
}

/// Bytes to mark for `allocated` bytes of allocation, so that `remaining`
/// bytes of marking end before `headroom` bytes of old-generation growth,
/// at `rate` promoted bytes per byte allocated; clamped to
/// [`MIN_STEP`]`..=`[`MAX_STEP`].
pub(crate) fn step_bytes(remaining: usize, headroom: usize, rate: f64, allocated: usize) -> usize {
    // Never assume less than 1/64 of allocation is promoted: a program
    // that promotes nothing for a while should not starve the cycle. Aim to
    // end with a quarter of the headroom to spare: promotion comes in a
    // whole eden at a time, and the rate is an estimate.
    let allocation_left = headroom as f64 * (1.0 - SLACK) / rate.max(1.0 / 64.0);
    let share = allocated as f64 / allocation_left.max(1.0);
    ((remaining as f64 * share) as usize).clamp(MIN_STEP, MAX_STEP)
}

/// Which part of a cycle a pause was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Start,
    Step,
    Sweep,
}

impl RawHeap {
    /// Whether an incremental cycle is running (the barrier's one branch).
    #[inline(always)]
    pub(crate) fn marking(&self) -> bool {
        self.cycle.is_some()
    }

    /// The barrier's log: `old` was a reference field's value before a
    /// store replaced it while a cycle runs. Null and young values need no
    /// log (see the module documentation) and are dropped here.
    #[cold]
    #[inline(never)]
    pub(crate) fn log_overwritten(&self, old: *mut u8) {
        let Some(old) = std::ptr::NonNull::new(old) else {
            return;
        };
        if self.nursery.contains(old.addr().get()) {
            return;
        }
        // SAFETY: a non-null reference field holds the payload address of a
        // live object (slot invariant).
        self.satb
            .borrow_mut()
            .push(unsafe { ObjectRef::from_payload(old) });
    }

    /// Keeps `obj` alive through the running cycle, if any: for a weak
    /// reference upgraded while a cycle runs, whose target may not be
    /// reachable from the snapshot.
    #[inline]
    pub(crate) fn keep_alive(&self, obj: ObjectRef) {
        if self.marking() {
            self.log_overwritten(obj.as_ptr().as_ptr());
        }
    }

    /// Whether a cycle should start now: incremental marking is on, none
    /// runs, and the old generation has used half its growth allowance.
    pub(crate) fn cycle_due(&self) -> bool {
        self.config.incremental_marking
            && self.cycle.is_none()
            && !self.old.sweeping()
            && self.tenured_bytes() >= self.cycle_start_at
    }

    /// Runs one step of the running cycle for `allocated` bytes of
    /// allocation (or the stress step; `usize::MAX` marks everything left),
    /// finishing it when marking is done or the heap has reached the
    /// cycle's goal. Returns the first panic of
    /// a destructor the finish ran.
    pub(crate) fn mark_step(
        &mut self,
        allocated: usize,
        roots: &mut dyn RootSet,
    ) -> Option<PanicPayload> {
        let Some(cycle) = &self.cycle else {
            return None;
        };
        let tenured = self.tenured_bytes();
        let budget = if allocated == usize::MAX {
            usize::MAX
        } else if self.config.stress_every.is_some() {
            STRESS_STEP
        } else if tenured >= cycle.goal {
            // Behind: the heap reached the goal with marking left to do.
            usize::MAX
        } else {
            step_bytes(
                cycle.work.saturating_sub(cycle.traced),
                cycle.goal - tenured,
                self.pacer.promotion_rate,
                allocated,
            )
        };
        self.pause(Phase::Step, roots, |heap, roots| {
            if heap.advance(budget) {
                heap.finish_cycle(roots)
            } else {
                None
            }
        })
    }

    /// Starts a cycle. Call right after a minor collection (eden empty), at
    /// most once until the cycle finishes.
    pub(crate) fn start_cycle(&mut self, roots: &mut dyn RootSet) -> Option<PanicPayload> {
        debug_assert!(self.cycle.is_none() && self.nursery.eden_used() == 0);
        self.pause(Phase::Start, roots, |heap, roots| {
            heap.settle_old_marks();
            let mut marker = Marker::tenured_only(
                &heap.nursery,
                &mut heap.old,
                &mut heap.large,
                &heap.types,
                Vec::new(),
                Vec::new(),
            );
            roots.visit_roots(&mut marker);
            // SAFETY: the walk yields live, initialised, unforwarded young
            // objects of this heap.
            let trace = |obj| unsafe { marker.trace_unmarked(obj) };
            // SAFETY: not inside a minor collection; tracing does not allocate.
            unsafe { heap.nursery.for_each_object(trace) };
            let (stack, ephemerons) = marker.into_work();
            let work = heap.tenured_bytes();
            heap.cycle = Some(Box::new(MarkCycle {
                stack,
                ephemerons,
                traced: 0,
                black: 0,
                work,
                goal: heap.next_major_at.max(work),
                started: Instant::now(),
                steps: 0,
                paused: Duration::ZERO,
            }));
            None
        })
    }

    /// Sweeps one step of the pending sweep (all of it for `usize::MAX`
    /// blocks); when it completes, sets when the next cycle is due.
    pub(crate) fn sweep_step(&mut self, blocks: usize, roots: &mut dyn RootSet) {
        if !self.old.sweeping() {
            return;
        }
        // Sweeping runs no user code: nothing to re-raise.
        let _ = self.pause(Phase::Sweep, roots, |heap, _| {
            if heap.old.sweep_some(blocks) {
                heap.after_major(heap.sweep_live_before);
            }
            None
        });
    }

    /// Completes a pending sweep and clears marks left by allocation
    /// during it, so marking can start from white.
    pub(crate) fn settle_old_marks(&mut self) {
        if self.old.sweeping() {
            self.old.finish_sweep();
            self.after_major(self.sweep_live_before);
        }
        if self.old.has_stale_marks() {
            self.old.clear_marks();
        }
    }

    /// Marks for up to `budget` bytes; returns whether marking is done
    /// (nothing grey, nothing logged).
    fn advance(&mut self, budget: usize) -> bool {
        let Some(cycle) = &mut self.cycle else {
            return false;
        };
        cycle.steps += 1;
        let mut stack = std::mem::take(&mut cycle.stack);
        stack.append(self.satb.get_mut());
        let mut marker = Marker::tenured_only(
            &self.nursery,
            &mut self.old,
            &mut self.large,
            &self.types,
            stack,
            std::mem::take(&mut cycle.ephemerons),
        );
        let done = marker.drain_for(budget);
        let traced = marker.tenured_bytes();
        (cycle.stack, cycle.ephemerons) = marker.into_work();
        cycle.traced += traced;
        done && self.satb.get_mut().is_empty()
    }

    /// Drops the running cycle, if any, and its marks: for a full
    /// collection requested while a cycle runs (it marks from scratch, and
    /// must not keep what died since the cycle's snapshot).
    pub(crate) fn abandon_cycle(&mut self) {
        if self.cycle.take().is_some() {
            self.satb.get_mut().clear();
            self.old.clear_marks();
            self.large.clear_marks();
        }
    }

    /// Ends the cycle once marking is done: clears weak references to
    /// unmarked objects, finalizes and sweeps them. Young objects are all
    /// live to a cycle.
    fn finish_cycle(&mut self, roots: &mut dyn RootSet) -> Option<PanicPayload> {
        if self.config.stress_every.is_some()
            && let Err(errors) = self.verify_marked(roots)
        {
            panic!("incremental marking missed reachable objects: {errors:?}");
        }
        let cycle = self.cycle.take().expect("a cycle to finish");
        debug_assert!(cycle.stack.is_empty() && self.satb.get_mut().is_empty());
        self.tenured_object_bytes = cycle.traced + cycle.black;
        self.cycle_traced = Some(cycle.traced);
        let panicked = self.reclaim_unmarked(roots, true);
        self.cycle_finished = Some(*cycle);
        panicked
    }

    /// Runs `f` as a pause of the cycle: the heap is poisoned while it runs
    /// (user code it calls may panic out), the pause is timed and recorded,
    /// and the finish reports like a major collection.
    fn pause(
        &mut self,
        phase: Phase,
        roots: &mut dyn RootSet,
        f: impl FnOnce(&mut Self, &mut dyn RootSet) -> Option<PanicPayload>,
    ) -> Option<PanicPayload> {
        self.poisoned = true;
        self.nursery.pace_every(Some(0));
        let started = Instant::now();
        let tenured_before = self.tenured_object_bytes;
        let mut panicked = f(self, roots);
        let pause = started.elapsed();
        let finished = self.cycle_finished.take();
        let kind = if finished.is_some() {
            self.collections += 1;
            CollectionKind::Major
        } else {
            CollectionKind::Incremental
        };
        if let Some(cycle) = &mut self.cycle {
            cycle.paused += pause;
        }
        let event = CollectionEvent {
            kind,
            pause,
            bytes_before: tenured_before as u64,
            bytes_after: self.tenured_object_bytes as u64,
            promoted_objects: 0,
            promoted_bytes: 0,
        };
        self.metrics.record_collection(&event);
        let after = self.usage();
        if finished.is_some() {
            self.metrics.record_live(
                (self.young_objects + self.eden_objects + after.old_objects + after.large_objects)
                    as u64,
                (after.nursery_used + self.tenured_object_bytes) as u64,
            );
        }
        if self.config.trace {
            let line = match &finished {
                Some(cycle) => self.cycle_trace_line(cycle, pause, tenured_before),
                None => self.step_trace_line(phase, pause),
            };
            eprintln!("{line}");
        }
        self.poisoned = false;
        self.schedule_pacing();
        if finished.is_some()
            && let Some(observer) = &mut self.observer
        {
            let observed = panic::catch_unwind(AssertUnwindSafe(|| observer(&event, &after))).err();
            panicked = panicked.or(observed);
        }
        panicked
    }

    /// The trace line of a cycle's start or step, in the shape of a
    /// collection's (see `RawHeap::trace_line`).
    fn step_trace_line(&self, phase: Phase, pause: Duration) -> String {
        let (marked, work, grey) = self
            .cycle
            .as_ref()
            .map_or((0, 0, 0), |c| (c.traced, c.work, c.stack.len()));
        format!(
            "morph-gc #{} @{:.6}s {}: pause {:.3}ms, marked {}K of {}K, grey {}, heap {}K",
            self.collections,
            self.started.elapsed().as_secs_f64(),
            match phase {
                Phase::Start => "cycle-start",
                Phase::Step => "mark-step",
                Phase::Sweep => "sweep-step",
            },
            pause.as_secs_f64() * 1e3,
            marked / 1024,
            work / 1024,
            grey,
            self.usage().reserved() / 1024,
        )
    }

    /// The trace line of a cycle's finish: its pause, and the cycle's
    /// totals (steps, their pauses, its duration).
    fn cycle_trace_line(&self, cycle: &MarkCycle, pause: Duration, before: usize) -> String {
        format!(
            "morph-gc #{} @{:.6}s cycle-finish: pause {:.3}ms, tenured {}K->{}K, marked {}K, \
             black {}K, steps {}, paused {:.3}ms, took {:.3}ms, heap {}K",
            self.collections,
            self.started.elapsed().as_secs_f64(),
            pause.as_secs_f64() * 1e3,
            before / 1024,
            self.tenured_object_bytes / 1024,
            cycle.traced / 1024,
            cycle.black / 1024,
            cycle.steps,
            (cycle.paused + pause).as_secs_f64() * 1e3,
            cycle.started.elapsed().as_secs_f64() * 1e3,
            self.usage().reserved() / 1024,
        )
    }

    /// After marking (a full collection's or a cycle's): clears weak
    /// references to unmarked objects, drops dead owners from the
    /// remembered set, finalizes and sweeps. With `young_live`, young
    /// objects count as live and carry no marks (a cycle); otherwise they
    /// were marked too and their marks are cleared. Returns the first panic
    /// of a destructor.
    pub(crate) fn reclaim_unmarked(
        &mut self,
        roots: &mut dyn RootSet,
        young_live: bool,
    ) -> Option<PanicPayload> {
        let (nursery, old, large) = (&self.nursery, &self.old, &self.large);
        let is_live = |obj: ObjectRef| {
            (young_live && nursery.contains(obj.addr()))
                // SAFETY: outside a minor collection every listed object is a live block.
                || unsafe { is_marked(nursery, old, large, obj) }
        };
        roots.visit_weak(&mut |obj| is_live(obj).then_some(obj));
        self.weak.clear_dead(&self.types, nursery, &is_live);
        self.identity.get_mut().retain_live(is_live);
        self.remembered.get_mut().retain(|&owner| {
            let keep = is_live(owner);
            debug_assert!(keep || !nursery.contains(owner.addr()));
            keep
        });
        // Slots of dead owners must go before the sweep frees (and later
        // allocations reuse) their memory: a recorded address is only ever
        // read as a reference while its owner lives. Slots of live owners
        // that no longer hold a young reference go too.
        let slots = self.remembered_slots.get_mut();
        slots.slots.retain(|&slot| {
            let addr = slot.addr().get();
            // Old owners (most of them) in one lookup of their mark.
            let live = old
                .owner_marked(addr)
                .or_else(|| large.owner_of(addr).map(|owner| large.is_marked(owner)));
            let Some(live) = live else {
                debug_assert!(false, "a recorded slot outside every old and large object");
                return false;
            };
            if !live {
                return false;
            }
            // SAFETY: a reference field of a live old or large object.
            let target = unsafe { slot.read() };
            nursery.contains(target.addr())
        });
        slots.settle();
        let (alive, dead): (Vec<_>, Vec<_>) = std::mem::take(&mut self.finalizable_old)
            .into_iter()
            .partition(|&o| is_live(o));
        self.finalizable_old = alive;
        // SAFETY: unmarked, so unreachable; listed once; swept only below.
        let panicked = unsafe { finalize::run_destructors(&self.types, &dead) };
        if !young_live {
            // Young survivors keep no mark: clear the header bits marking set.
            let unmark = |obj: ObjectRef| {
                // SAFETY: the walk yields live nursery objects.
                let mut header = unsafe { obj.header() };
                header.set_marked(false);
                // SAFETY: as above.
                unsafe { obj.set_header(header) };
            };
            // SAFETY: not inside a minor collection; the closure does not allocate.
            unsafe { self.nursery.for_each_object(unmark) };
        }
        // Pretenured types go back to the nursery to be judged again.
        self.pretenure.reset();
        let live_before = self.tenured_bytes();
        // A bounded heap keeps no spare mappings: they would count against
        // the bound without being live.
        self.large.sweep(self.config.heap_limit.is_none());
        if young_live {
            // A cycle's end: the old generation is swept in steps (see
            // `sweep_step`), and what is due next is set when it is done.
            self.sweep_live_before = live_before;
            self.old.begin_sweep();
        } else {
            self.old.sweep();
            // Everything this collection kept, it traced.
            self.cycle_traced = None;
            self.after_major(live_before);
        }
        panicked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_keep_pace_with_promotion_within_their_bounds() {
        // 48 MiB to mark before 32 MiB of growth (24 MiB of it planned),
        // a quarter of allocation promoted: 96 MiB of allocation left, so
        // 64 KiB of it asks for 32 KiB of marking.
        assert_eq!(step_bytes(48 << 20, 32 << 20, 0.25, 64 << 10), 32 << 10);
        // Four times the promotion rate, four times the work a step.
        assert_eq!(step_bytes(48 << 20, 32 << 20, 1.0, 64 << 10), 128 << 10);
        // Nothing promoted: the floor rate still finishes the cycle.
        assert_eq!(step_bytes(1 << 30, 1 << 20, 0.0, 64 << 10), MAX_STEP);
        // Little left: the minimum step.
        assert_eq!(step_bytes(1 << 10, 1 << 30, 0.5, 64 << 10), MIN_STEP);
    }
}
