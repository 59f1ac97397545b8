//! Class: a mutator of another heap. A `Member` carries no brand, so
//! reading one through another heap's mutator used to give a `Gc` that
//! borrowed the wrong heap: its own heap could then move or free the
//! target while the `Gc` lived. One mutator per thread rules it out.

use morph_gengc::{Collection, Heap, Member, Trace};

use super::panic_message;
use crate::small_config;

#[derive(Trace)]
struct Holder<const N: usize> {
    target: Member<Payload<N>>,
}

#[derive(Trace)]
struct Payload<const N: usize> {
    value: u64,
    bytes: [u8; N],
}

fn payload<const N: usize>(value: u64) -> Payload<N> {
    Payload {
        value,
        bytes: [0; N],
    }
}

/// The attack: read heap A's member through heap B's mutator, then let A
/// collect and reuse the target's memory while the pointer lives, and read
/// it. Returns what it read.
fn read_through_a_foreign_mutator<const N: usize>(a: &mut Heap, b: &mut Heap) -> u64 {
    a.enter(|ma| {
        let holder = ma.alloc(Holder::<N> {
            target: Member::null(),
        });
        let target = ma.alloc(payload::<N>(7));
        holder.get(ma).target.set(ma, Some(target.get(ma)));
        drop(target);
        b.enter(|mb| {
            let stale = holder.get(ma).target.get(mb).expect("set above");
            holder.get(ma).target.set(ma, None);
            ma.collect(Collection::Minor);
            ma.collect(Collection::Major);
            for _ in 0..100 {
                ma.alloc(payload::<N>(0xdead));
            }
            stale.value
        })
    })
}

/// A small heap whose large-object space starts at 4 KiB.
fn config() -> morph_gengc::GcConfig {
    morph_gengc::GcConfig {
        large_object_threshold: 4 << 10,
        ..small_config()
    }
}

fn attempt<const N: usize>() {
    let mut a = Heap::new(config()).unwrap();
    let mut b = Heap::new(config()).unwrap();
    let message = panic_message(|| {
        let _ = read_through_a_foreign_mutator::<N>(&mut a, &mut b);
    });
    assert!(
        message.contains("another heap is entered"),
        "unexpected panic: {message}"
    );
    // Both heaps are intact and usable after the refused attempt.
    for heap in [&mut a, &mut b] {
        heap.enter(|m| {
            let p = m.alloc(payload::<N>(3));
            m.collect(Collection::Major);
            assert_eq!(p.get(m).value, 3);
            assert_eq!(m.verify(), Ok(()));
        });
    }
}

#[test]
fn a_member_cannot_be_read_through_another_heaps_mutator() {
    // A young target (its memory reused by later allocation) and a large
    // one (its mapping unmapped when it dies).
    attempt::<8>();
    attempt::<{ 8 << 10 }>();
}

#[test]
fn heaps_can_be_entered_one_after_another_and_on_other_threads() {
    let mut a = Heap::new(small_config()).unwrap();
    let mut b = Heap::new(small_config()).unwrap();
    for round in 0..3u64 {
        let from_a = a.enter(|m| m.alloc(payload::<8>(round)).get(m).value);
        let from_b = b.enter(|m| m.alloc(payload::<8>(round + 1)).get(m).value);
        assert_eq!((from_a, from_b), (round, round + 1));
    }
    // A heap entered on another thread does not count against this one's.
    a.enter(|m| {
        let root = m.alloc(payload::<8>(5));
        let other = std::thread::spawn(|| {
            let mut c = Heap::new(small_config()).unwrap();
            c.enter(|m| m.alloc(payload::<8>(9)).get(m).value)
        })
        .join()
        .unwrap();
        assert_eq!((root.get(m).value, other), (5, 9));
    });
}

#[test]
fn the_thread_can_enter_a_heap_again_after_a_panic_inside_enter() {
    let mut a = Heap::new(small_config()).unwrap();
    let message = panic_message(|| a.enter(|_| panic!("user code failed")));
    assert_eq!(message, "user code failed");
    assert_eq!(a.enter(|m| *m.alloc(7u64).get(m)), 7);
}
