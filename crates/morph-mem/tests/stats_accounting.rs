//! The collected heap's allocation figures add up: what is live never
//! exceeds what was allocated, live falls when a collection frees objects
//! (and then stays below the peak), and what collections reclaim is what
//! was allocated and is no longer live.
//!
//! The workload is promotion-heavy on purpose: linked lists that outlive
//! the minor collections that run while they are built, of nodes whose
//! object size (72 bytes) is not an old-generation size class (the slot is
//! 80). A live figure counting old-generation *slots* while allocation
//! counts *objects* grows faster than the allocated total, until it passes
//! it, and a peak that it keeps setting.

#![cfg(any(feature = "runtime", feature = "vm", feature = "server"))]

use morph_mem::gc::{Collection, Member, Trace};
use morph_mem::metrics::MorphMemStats;
use morph_mem::{Mode, MorphMem, MorphMemConfig};

/// 64 bytes of payload: a 72-byte object, in an 80-byte old-generation slot.
#[derive(Trace)]
struct Node {
    value: u64,
    pad: [u64; 6],
    next: Member<Node>,
}

/// A node's size in the heap, header included: what allocating one adds to
/// the allocated total.
const NODE_BYTES: u64 = 8 + size_of::<Node>() as u64;

fn node(value: u64) -> Node {
    Node {
        value,
        pad: [value; 6],
        next: Member::null(),
    }
}

fn gc_mode() -> Mode {
    [Mode::Runtime, Mode::Server, Mode::Vm]
        .into_iter()
        .find(|m| m.is_compiled())
        .unwrap()
}

/// A small nursery, so building a list runs minor collections that promote
/// its first nodes, and a low major trigger, so the dead lists that pile up
/// in the old generation get collected along the way.
fn promoting_heap() -> MorphMem {
    let config = MorphMemConfig::builder(gc_mode())
        .nursery_size(64 << 10)
        .gc_threshold(1 << 20)
        .build()
        .unwrap();
    MorphMem::new(config).unwrap()
}

/// The figures that must hold at any time.
fn check_consistent(s: &MorphMemStats, when: &str) {
    let a = &s.allocation;
    assert!(
        a.current_live <= a.total_allocated,
        "{when}: live {} B > total allocated {} B",
        a.current_live,
        a.total_allocated
    );
    assert!(
        a.current_live_objects <= a.total_allocated_objects,
        "{when}: live {} objects > allocated {}",
        a.current_live_objects,
        a.total_allocated_objects
    );
    assert!(
        a.peak_live >= a.current_live,
        "{when}: peak {} B < live {} B",
        a.peak_live,
        a.current_live
    );
    assert_eq!(a.total_freed + a.current_live, a.total_allocated, "{when}");
    assert!(
        s.gc.bytes_reclaimed <= a.total_freed,
        "{when}: reclaimed {} B > freed {} B (allocated {} B, live {} B)",
        s.gc.bytes_reclaimed,
        a.total_freed,
        a.total_allocated,
        a.current_live
    );
}

/// Fails while the heap's live census counts old-generation slots (80
/// bytes a node here) and allocation counts objects (72).
#[test]
fn live_stays_within_total_after_every_collection_on_a_promoting_heap() {
    let (rounds, nodes, major_every) = if cfg!(miri) {
        (6, 300, 3)
    } else {
        (200, 2_000, 10)
    };
    let mut mm = promoting_heap();
    let mut collections = 0;
    for round in 0..rounds {
        // Each round builds a list (its nodes promoted by the collections
        // its allocations run), with one garbage node per list node, checks
        // it, and ends with a collection; the list then dies.
        let (now, sum) = mm
            .enter(|m| {
                let head = m.alloc(node(0));
                let mut tail = head.clone();
                for i in 1..nodes {
                    let next = m.alloc(node(i));
                    tail.get(m).next.set(m, Some(next.get(m)));
                    tail = next;
                    m.alloc(node(u64::MAX));
                }
                let last = if round % major_every == major_every - 1 {
                    Collection::Major
                } else {
                    Collection::Minor
                };
                m.collect(last);
                let mut sum = 0;
                let mut cursor = Some(head.get(m));
                while let Some(n) = cursor {
                    assert_eq!(n.pad, [n.value; 6]);
                    sum += n.value;
                    cursor = n.next.get(m);
                }
                (m.collections(), sum)
            })
            .unwrap();
        assert_eq!(sum, (0..nodes).sum::<u64>());
        assert!(now > collections);
        collections = now;
        check_consistent(&mm.stats(), &format!("round {round}, {now} collections"));
    }
    let s = mm.stats();
    let g = &s.generational;
    assert!(
        g.young_gc_count >= rounds && g.old_gc_count >= rounds / major_every,
        "{g:?}"
    );
    // Promotion-heavy: most list nodes reached the old generation.
    assert!(
        g.promoted_objects >= rounds * nodes / 2,
        "only {} of {} list nodes promoted",
        g.promoted_objects,
        rounds * nodes
    );
}

/// Fails while the live census counts old-generation slots: the promoted
/// list then counts 80 bytes a node, not the 72 allocated.
#[test]
fn live_drops_below_peak_when_a_major_collection_frees_promoted_objects() {
    let nodes: u64 = if cfg!(miri) { 400 } else { 20_000 };
    let mut mm = promoting_heap();
    mm.enter(|m| {
        let head = m.alloc(node(0));
        let mut tail = head.clone();
        for i in 1..nodes {
            let next = m.alloc(node(i));
            tail.get(m).next.set(m, Some(next.get(m)));
            tail = next;
        }
        // Minor collections until every node is promoted (the promotion
        // age is at most 2).
        for _ in 0..8 {
            if m.usage().nursery_used == 0 {
                break;
            }
            m.collect(Collection::Minor);
        }
        assert_eq!(m.usage().nursery_used, 0, "the list was not all promoted");
    })
    .unwrap();

    let full = mm.stats();
    check_consistent(&full, "list promoted");
    let a = &full.allocation;
    // Nothing was garbage: everything allocated is live, at its own size.
    assert_eq!(a.total_allocated, nodes * NODE_BYTES);
    assert_eq!(
        (a.current_live_objects, a.current_live),
        (nodes, nodes * NODE_BYTES),
        "live counts the promoted nodes' slots, not the nodes"
    );
    assert!(full.generational.promoted_objects > 0);

    // The list's roots are gone: a major collection frees all of it.
    mm.enter(|m| m.collect(Collection::Major)).unwrap();
    let empty = mm.stats();
    check_consistent(&empty, "after the major collection");
    let a = &empty.allocation;
    assert!(a.current_live < full.allocation.current_live);
    assert_eq!((a.current_live_objects, a.current_live), (0, 0));
    assert_ne!(a.current_live, a.peak_live, "live stuck at the peak");
    assert_eq!(a.peak_live, nodes * NODE_BYTES);
    assert_eq!(a.total_freed, a.total_allocated);
    assert_eq!(empty.gc.bytes_reclaimed, a.total_allocated);
}
