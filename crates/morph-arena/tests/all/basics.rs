use std::alloc::Layout;

use morph_arena::{Arena, ArenaConfig, ArenaError};

#[derive(Debug, Clone, Copy, PartialEq)]
struct Node {
    kind: u32,
    span: (u32, u32),
    parent: Option<&'static str>,
}

#[test]
fn values_keep_their_contents_across_many_chunks() {
    let arena = ArenaConfig::new().chunk_size(1024).build().unwrap();
    let count = if cfg!(miri) { 300 } else { 10_000 };
    let nodes: Vec<&mut Node> = (0..count)
        .map(|i| {
            arena.alloc(Node {
                kind: i,
                span: (i, i * 2),
                parent: None,
            })
        })
        .collect();
    for (i, node) in nodes.iter().enumerate() {
        let i = i as u32;
        assert_eq!(
            **node,
            Node {
                kind: i,
                span: (i, i * 2),
                parent: None
            }
        );
    }
    assert!(arena.stats().chunks > 1);
}

#[test]
fn every_alignment_is_honoured() {
    let arena = ArenaConfig::new().chunk_size(4096).build().unwrap();
    for shift in 0..=16 {
        let align = 1_usize << shift;
        for size in [0, 1, 7, 100, 3000] {
            let layout = Layout::from_size_align(size, align).unwrap();
            let ptr = arena.alloc_layout(layout);
            assert_eq!(ptr.as_ptr().addr() % align, 0, "size {size} align {align}");
        }
    }
    #[repr(align(256))]
    struct Page([u8; 256]);
    let page = arena.alloc(Page([1; 256]));
    assert_eq!(std::ptr::from_ref(page).addr() % 256, 0);
    assert_eq!(page.0[255], 1);
}

#[test]
fn zero_sized_values_are_free_and_aligned() {
    let arena = Arena::new();
    let unit = arena.alloc(());
    *unit = ();
    let empty: &mut [u64] = arena.alloc_slice_copy(&[]);
    assert!(empty.is_empty());
    assert_eq!(empty.as_ptr().addr() % 8, 0);
    assert_eq!(arena.stats().reserved_bytes, 0);
}

#[test]
fn slices_and_strings_are_copies() {
    let arena = Arena::new();
    let source = vec![1_i64, -2, 3];
    let copy = arena.alloc_slice_copy(&source);
    copy[0] = 10;
    assert_eq!(source, [1, -2, 3]);
    assert_eq!(copy, &[10, -2, 3]);
    let text = arena.alloc_str("héllo");
    assert_eq!(text, "héllo");
    let filled = arena.alloc_slice_fill_iter(source.iter().map(|x| x * 2));
    assert_eq!(filled, &[2, -4, 6]);
    let cloned = arena.alloc_slice_clone(&[String::from("a")]);
    assert_eq!(cloned[0], "a");
    // SAFETY-free cleanup: the clone's heap buffer would leak (arenas do not
    // drop); take it back out so the test does not leak under Miri.
    drop(std::mem::take(&mut cloned[0]));
}

#[test]
#[should_panic(expected = "fewer items than its len()")]
fn a_lying_exact_size_iterator_panics_instead_of_exposing_uninit_memory() {
    struct Liar(u32);
    impl Iterator for Liar {
        type Item = u32;
        fn next(&mut self) -> Option<u32> {
            self.0 = self.0.checked_sub(1)?;
            Some(self.0)
        }
    }
    impl ExactSizeIterator for Liar {
        fn len(&self) -> usize {
            10
        }
    }
    let arena = Arena::new();
    arena.alloc_slice_fill_iter(Liar(3));
}

#[test]
fn requests_larger_than_a_chunk_get_a_dedicated_chunk_and_keep_the_current_one() {
    let arena = ArenaConfig::new().chunk_size(4096).build().unwrap();
    let first = arena.alloc(1_u64) as *mut u64;
    let available = arena.stats().available_bytes;
    let big = arena.alloc_slice_copy(&[9_u8; 10_000]);
    assert_eq!(big.len(), 10_000);
    assert!(big.iter().all(|&b| b == 9));
    let stats = arena.stats();
    assert_eq!(stats.chunks, 2);
    assert_eq!(
        stats.available_bytes, available,
        "the current chunk keeps serving"
    );
    let second = arena.alloc(2_u64) as *mut u64;
    assert_eq!(
        first.addr() - second.addr(),
        8,
        "small allocations continue in place"
    );
}

#[test]
fn invalid_configurations_are_rejected_with_clear_errors() {
    assert_eq!(
        ArenaConfig::new().chunk_size(0).build().unwrap_err(),
        ArenaError::ZeroChunkSize
    );
    let small = ArenaConfig::new().chunk_size(10).build().unwrap_err();
    assert!(matches!(
        small,
        ArenaError::ChunkSizeTooSmall { requested: 10, .. }
    ));
    assert!(small.to_string().contains("below the minimum"));
    let large = ArenaConfig::new()
        .chunk_size(usize::MAX)
        .build()
        .unwrap_err();
    assert!(matches!(large, ArenaError::ChunkSizeTooLarge { .. }));
    assert!(ArenaError::ZeroChunkSize.to_string().contains("2 MiB"));
}

#[test]
fn impossible_requests_fail_without_corrupting_the_arena() {
    let arena = Arena::new();
    let keep = arena.alloc(42_u32);
    let huge = Layout::from_size_align(isize::MAX as usize - 4, 1).unwrap();
    let err = arena.try_alloc_layout(huge).unwrap_err();
    assert!(matches!(err, ArenaError::AllocationTooLarge { .. }));
    assert!(err.to_string().contains("isize::MAX"));
    let too_long = arena.try_alloc_slice_fill_iter(std::iter::repeat_n(0_u64, usize::MAX / 4));
    assert!(matches!(
        too_long,
        Err(ArenaError::AllocationTooLarge { .. })
    ));
    assert_eq!(*keep, 42);
    assert_eq!(*arena.try_alloc(7_u8).unwrap(), 7);
}

#[test]
#[should_panic(expected = "exceeds isize::MAX")]
fn infallible_allocation_of_an_impossible_size_panics_with_the_reason() {
    let arena = Arena::new();
    arena.alloc_layout(Layout::from_size_align(isize::MAX as usize - 4, 1).unwrap());
}

#[test]
fn stats_add_up_and_report_into_metrics() {
    use morph_metrics::{MorphMemStats, StatsSource};
    let mut arena = ArenaConfig::new().chunk_size(1024).build().unwrap();
    for i in 0..100_u32 {
        arena.alloc_slice_copy(&[i; 5]);
    }
    arena.alloc_slice_copy(&[0_u8; 5000]);
    let s = arena.stats();
    assert_eq!(
        s.reserved_bytes,
        s.used_bytes + s.wasted_bytes + s.available_bytes + s.free_bytes + s.overhead_bytes
    );
    assert!(s.used_bytes >= 100 * 20 + 5000);
    arena.reset();
    let mut metrics = MorphMemStats::default();
    arena.report_into(&mut metrics);
    let s = arena.stats();
    assert_eq!(metrics.heap.arena_count, s.chunks as u64);
    assert_eq!(metrics.heap.arena_bytes, s.reserved_bytes as u64);
    assert_eq!(metrics.heap.arena_resets, 1);
    assert_eq!(metrics.heap.arena_used_bytes, 0);
}

#[test]
fn an_arena_can_move_to_another_thread() {
    let arena = Arena::new();
    arena.alloc_str("built here");
    let handle = std::thread::spawn(move || {
        let s = arena.alloc_str("used there");
        s.len()
    });
    assert_eq!(handle.join().unwrap(), 10);
}
