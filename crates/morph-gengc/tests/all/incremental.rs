//! Incremental marking: the snapshot barrier, black allocation, weak
//! references upgraded mid-cycle, and cycles abandoned by a full
//! collection. Each test drives a cycle by hand (`StartCycle`,
//! `FinishCycle`) so the mutation lands between its start and its end.

use morph_gengc::{Collection, GcConfig, Heap, Member, Trace};

use crate::{pretenuring_config, scaled, small_config};

#[derive(Trace)]
struct Node {
    value: u64,
    next: Member<Node>,
}

fn node(value: u64) -> Node {
    Node {
        value,
        next: Member::null(),
    }
}

fn config() -> GcConfig {
    crate::manual_cycles_config()
}

/// An old object moved from a holder the marker has not reached to one it
/// has already traced (black), while the cycle runs: the barrier logs it
/// when its old field is cleared, so it is marked though no traced object
/// pointed at it.
#[test]
fn an_object_moved_behind_the_marker_mid_cycle_survives() {
    let mut heap = Heap::new(config()).unwrap();
    heap.enter(|m| {
        // `from` heads a chain of old nodes, longer than the marking steps
        // below trace, whose last node holds `moved`.
        let from = m.alloc_tenured(node(1)).unwrap();
        let to = m.alloc_tenured(node(2)).unwrap();
        let mut last = m.root(from.get(m));
        for i in 0..scaled(20_000) as u64 {
            let next = m.alloc_tenured(node(100 + i)).unwrap();
            last.get(m).next.set(m, Some(next.get(m)));
            last = next;
        }
        let moved = m.alloc_tenured(node(3)).unwrap();
        last.get(m).next.set(m, Some(moved.get(m)));
        drop((moved, last));
        // The roots are `from` and `to`: the marker takes `to` first (the
        // last pushed), then `from`'s chain, a step's budget at a time.
        m.collect(Collection::StartCycle);
        for _ in 0..scaled(1_000) {
            m.alloc(node(u64::MAX)); // garbage: allocation runs marking steps
        }
        assert!(m.is_marking(), "the chain outlasts the steps so far");
        let mut last = from.get(m);
        while let Some(next) = last.next.get(m).filter(|n| n.value != 3) {
            last = next;
        }
        let target = last.next.get(m);
        assert_eq!(target.map(|n| n.value), Some(3));
        to.get(m).next.set(m, target);
        last.next.set(m, None);
        m.collect(Collection::FinishCycle);
        m.verify().unwrap();
        let kept = to.get(m).next.get(m).expect("still linked");
        assert_eq!(kept.value, 3);
    });
}

/// Garbage from before the cycle's start is freed at its end; garbage made
/// during the cycle floats to the next one.
#[test]
fn a_cycle_frees_what_was_unreachable_at_its_start() {
    let mut heap = Heap::new(config()).unwrap();
    heap.enter(|m| {
        let keep = m.alloc_tenured(node(1)).unwrap();
        let dead = m.alloc_tenured(node(2)).unwrap();
        let dies_later = m.alloc_tenured(node(3)).unwrap();
        drop(dead);
        m.collect(Collection::StartCycle);
        drop(dies_later);
        m.collect(Collection::FinishCycle);
        assert_eq!(
            m.usage().old_objects,
            2,
            "snapshot garbage freed, new garbage floats"
        );
        m.collect(Collection::StartCycle);
        m.collect(Collection::FinishCycle);
        assert_eq!(m.usage().old_objects, 1);
        assert_eq!(keep.get(m).value, 1);
    });
}

/// Objects allocated or promoted while a cycle runs are live to it.
#[test]
fn objects_allocated_and_promoted_during_a_cycle_survive_it() {
    let mut heap = Heap::new(config()).unwrap();
    heap.enter(|m| {
        let head = m.alloc_tenured(node(0)).unwrap();
        m.collect(Collection::StartCycle);
        let tenured = m.alloc_tenured(node(1)).unwrap();
        let young = m.alloc(node(2));
        head.get(m).next.set(m, Some(young.get(m)));
        for _ in 0..4 {
            m.collect(Collection::Minor);
        }
        assert!(!m.is_young(young.get(m)), "promoted during the cycle");
        drop(young);
        m.collect(Collection::FinishCycle);
        m.verify().unwrap();
        assert_eq!(tenured.get(m).value, 1);
        assert_eq!(head.get(m).next.get(m).map(|n| n.value), Some(2));
    });
}

/// The attack on snapshot marking through a weak reference: an object only
/// weakly reachable when the cycle starts is not in the snapshot; upgrading
/// and rooting it mid-cycle must keep it alive past the cycle's end.
#[test]
fn a_weak_reference_upgraded_mid_cycle_keeps_its_target() {
    let mut heap = Heap::new(config()).unwrap();
    heap.enter(|m| {
        let target = m.alloc_tenured(node(42)).unwrap();
        let weak = m.downgrade(&target);
        drop(target);
        m.collect(Collection::StartCycle);
        let revived = m.root(weak.upgrade(m).expect("not collected yet"));
        m.collect(Collection::FinishCycle);
        m.verify().unwrap();
        assert_eq!(revived.get(m).value, 42);
        assert!(weak.upgrade(m).is_some());
        drop(revived);
        m.collect(Collection::Major);
        assert!(weak.upgrade(m).is_none());
    });
}

/// A full collection requested mid-cycle abandons the cycle and collects
/// everything unreachable now, including what the cycle had marked.
#[test]
fn a_full_collection_abandons_a_running_cycle() {
    let mut heap = Heap::new(config()).unwrap();
    heap.enter(|m| {
        let a = m.alloc_tenured(node(1)).unwrap();
        m.collect(Collection::StartCycle);
        m.collect(Collection::FinishCycle);
        m.collect(Collection::StartCycle);
        drop(a);
        m.collect(Collection::Major);
        assert!(!m.is_marking());
        assert_eq!(m.usage().old_objects, 0);
    });
}

/// With incremental marking off, `StartCycle` does nothing and majors stay
/// whole.
#[test]
fn without_incremental_marking_no_cycle_starts() {
    let mut heap = Heap::new(GcConfig {
        incremental_marking: false,
        ..config()
    })
    .unwrap();
    heap.enter(|m| {
        m.collect(Collection::StartCycle);
        assert!(!m.is_marking());
    });
}

/// Cycles start by themselves as the old generation grows, and finish
/// while the program runs: a long list built in the old generation,
/// rewritten as it grows, keeps every node.
#[test]
#[cfg_attr(
    miri,
    ignore = "thousands of allocations; the other tests of this file take cycles through Miri"
)]
fn cycles_paced_by_growth_finish_and_keep_everything_reachable() {
    let config = GcConfig {
        gc_threshold: 128 << 10,
        ..small_config()
    };
    let nodes = 20_000u64;
    let mut heap = Heap::new(config).unwrap();
    heap.enter(|m| {
        let head = m.alloc(node(0));
        let (mut cycles, mut marking) = (0, false);
        for i in 1..nodes {
            let fresh = m.alloc(node(i));
            let old_next = head.get(m).next.get(m);
            fresh.get(m).next.set(m, old_next);
            head.get(m).next.set(m, Some(fresh.get(m)));
            // Garbage, to drive minor collections.
            m.alloc(node(u64::MAX));
            if marking && !m.is_marking() {
                cycles += 1;
            }
            marking = m.is_marking();
        }
        assert!(cycles >= 2, "cycles finished: {cycles}");
        m.verify().unwrap();
        let mut expected = nodes - 1;
        let mut at = head.get(m).next.get(m);
        while let Some(n) = at {
            assert_eq!(n.value, expected);
            expected -= 1;
            at = n.next.get(m);
        }
        assert_eq!(expected, 0);
    });
    // The cycles' pauses are reported apart from minor collections'.
    let kinds = heap.stats().gc.pauses_by_kind;
    assert!(kinds.incremental.count > 0, "{kinds:?}");
    assert!(kinds.major.count >= 2, "{kinds:?}");
    assert!(kinds.minor.count > 0, "{kinds:?}");
}

/// Tenured allocation pays for a running cycle per pace step of bytes, not
/// per object: a program allocating many small objects old while a cycle
/// runs is not stopped at each one.
#[test]
fn tenured_allocation_steps_the_cycle_per_pace_step_not_per_object() {
    let mut heap = Heap::new(config()).unwrap();
    let objects = scaled(10_000);
    heap.enter(|m| {
        // Enough to mark that the cycle outlasts the allocations below.
        let mut keep = Vec::new();
        for i in 0..scaled(200_000) as u64 {
            keep.push(m.alloc_tenured(node(i)).unwrap());
        }
        m.collect(Collection::StartCycle);
        for i in 0..objects as u64 {
            m.alloc_tenured(node(i)).unwrap();
        }
        m.collect(Collection::FinishCycle);
    });
    let steps = heap.stats().gc.pauses_by_kind.incremental.count as usize;
    // 32-byte objects, an 8 KiB pace step: one step per 256 objects, plus
    // the cycle's start and a few sweep steps.
    assert!(
        steps <= objects / 256 + 16,
        "{steps} incremental pauses for {objects} objects"
    );
}

/// A type whose objects all survive is allocated old after a few minor
/// collections (pretenuring), and young again after a major collection;
/// the structure stays whole throughout.
#[test]
fn a_type_that_always_survives_is_pretenured_until_the_next_major() {
    let mut heap = Heap::new(pretenuring_config()).unwrap();
    heap.enter(|m| {
        let head = m.alloc(node(0));
        let mut pretenured_at = None;
        for i in 1..scaled(200_000) as u64 {
            let fresh = m.alloc(node(i));
            if pretenured_at.is_none() && !m.is_young(fresh.get(m)) {
                pretenured_at = Some(i);
            }
            fresh.get(m).next.set(m, head.get(m).next.get(m));
            head.get(m).next.set(m, Some(fresh.get(m)));
        }
        if cfg!(miri) {
            return; // too few allocations under Miri to fill three nurseries
        }
        let at = pretenured_at.expect("the list's nodes were pretenured");
        // Three minor collections of a 256 KiB eden of 32-byte nodes.
        assert!(at < 40_000, "pretenured only at node {at}");
        m.collect(Collection::Major);
        let young = m.alloc(node(u64::MAX));
        assert!(
            m.is_young(young.get(m)),
            "a major collection ends pretenuring"
        );
        m.verify().unwrap();
        let mut count = 0;
        let mut at = head.get(m).next.get(m);
        while let Some(n) = at {
            count += 1;
            at = n.next.get(m);
        }
        assert_eq!(count, scaled(200_000) - 1);
    });
}

/// Without pretenuring (the default), every default allocation is young.
#[test]
fn without_pretenuring_every_default_allocation_is_young() {
    let mut heap = Heap::new(GcConfig {
        nursery_size: 256 << 10,
        survivor_size: 64 << 10,
        gc_threshold: 1 << 30,
        ..small_config()
    })
    .unwrap();
    heap.enter(|m| {
        let head = m.alloc(node(0));
        for i in 1..scaled(100_000) as u64 {
            let fresh = m.alloc(node(i));
            assert!(m.is_young(fresh.get(m)));
            fresh.get(m).next.set(m, head.get(m).next.get(m));
            head.get(m).next.set(m, Some(fresh.get(m)));
        }
    });
}
