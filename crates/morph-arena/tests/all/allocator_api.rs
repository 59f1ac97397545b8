use allocator_api2::boxed::Box;
use allocator_api2::vec::Vec;
use morph_arena::{Arena, ArenaConfig};

#[test]
fn vec_in_arena_grows_and_keeps_contents() {
    let arena = ArenaConfig::new().chunk_size(4096).build().unwrap();
    let mut v: Vec<u64, &Arena> = Vec::new_in(&arena);
    let n = if cfg!(miri) { 500 } else { 50_000 };
    for i in 0..n {
        v.push(i);
    }
    assert!(v.iter().copied().eq(0..n));
}

#[test]
fn growing_the_most_recent_allocation_extends_it_without_waste() {
    let arena = Arena::new();
    let mut v: Vec<u32, &Arena> = Vec::with_capacity_in(4, &arena);
    v.extend([1, 2, 3, 4]);
    let used = arena.stats().used_bytes;
    v.reserve_exact(4); // grow 16 -> 32 bytes in place (moved down within the chunk)
    assert_eq!(arena.stats().used_bytes, used + 16);
    v.extend([5, 6, 7, 8]);
    assert_eq!(v, [1, 2, 3, 4, 5, 6, 7, 8]);
}

#[test]
fn shrinking_the_most_recent_allocation_returns_the_tail() {
    let arena = Arena::new();
    let mut v: Vec<u8, &Arena> = Vec::with_capacity_in(1000, &arena);
    v.extend_from_slice(b"keep me");
    assert_eq!(arena.stats().used_bytes, 1000);
    v.shrink_to_fit();
    assert_eq!(arena.stats().used_bytes, 7);
    assert_eq!(v.as_slice(), b"keep me");
}

#[test]
fn freeing_the_most_recent_allocation_gives_it_back() {
    let arena = Arena::new();
    arena.alloc(1_u8);
    let used = arena.stats().used_bytes;
    let boxed = Box::new_in([0_u64; 8], &arena);
    assert_eq!(arena.stats().used_bytes, used + 7 + 64); // 7 bytes of padding
    drop(boxed);
    assert!(arena.stats().used_bytes <= used + 7);
}

#[test]
fn growing_an_older_allocation_copies_it() {
    let arena = Arena::new();
    let mut a: Vec<u16, &Arena> = Vec::new_in(&arena);
    let mut b: Vec<u16, &Arena> = Vec::new_in(&arena);
    for i in 0..300 {
        a.push(i);
        b.push(i * 2);
    }
    assert!(a.iter().copied().eq(0..300));
    assert!(b.iter().copied().eq((0..300).map(|i| i * 2)));
}

#[test]
fn over_aligned_elements_stay_aligned_through_growth() {
    #[derive(Clone, Copy, PartialEq, Debug)]
    #[repr(align(64))]
    struct Line(u8);
    let arena = ArenaConfig::new().chunk_size(2048).build().unwrap();
    let mut v: Vec<Line, &Arena> = Vec::new_in(&arena);
    for i in 0..100 {
        v.push(Line(i));
        assert_eq!(v.as_ptr().addr() % 64, 0);
    }
    assert!(v.iter().map(|l| l.0).eq(0..100));
}

#[test]
fn vec_inside_a_scope() {
    let arena = Arena::new();
    let total = arena.scope(|scratch| {
        let mut v = Vec::new_in(scratch);
        v.extend(1..=10_u32);
        v.iter().sum::<u32>()
    });
    assert_eq!(total, 55);
}
