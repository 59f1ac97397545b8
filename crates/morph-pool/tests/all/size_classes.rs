use core::alloc::Layout;

use morph_pool::{PoolError, SizeClassConfig, SizeClassPool};

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

#[test]
fn sizes_route_to_the_smallest_class_that_fits() {
    let pools = SizeClassPool::new(SizeClassConfig::default()).unwrap();
    for (size, class) in [
        (1, 32),
        (32, 32),
        (33, 64),
        (64, 64),
        (65, 128),
        (200, 256),
        (256, 256),
    ] {
        assert_eq!(
            pools.class_size_for(layout(size, 8)).unwrap(),
            class,
            "size {size}"
        );
    }
}

#[test]
fn alignment_moves_a_request_to_a_class_aligned_enough() {
    let pools = SizeClassPool::new(SizeClassConfig::with_classes(vec![48, 64, 96, 128])).unwrap();
    // 48-byte slots are only 16-aligned.
    assert_eq!(pools.class_size_for(layout(40, 16)).unwrap(), 48);
    assert_eq!(pools.class_size_for(layout(40, 32)).unwrap(), 64);
    assert_eq!(pools.class_size_for(layout(80, 64)).unwrap(), 128);
}

#[test]
fn too_large_requests_go_to_the_fallback() {
    let mut pools = SizeClassPool::new(SizeClassConfig::default()).unwrap();
    assert_eq!(
        pools.alloc(layout(257, 8)),
        Err(PoolError::TooLarge {
            size: 257,
            align: 8,
            largest_class: 256
        })
    );
    assert!(matches!(
        pools.alloc(layout(8, 512)),
        Err(PoolError::TooLarge { .. })
    ));
    assert!(pools.stats().iter().all(|s| s.live_slots == 0));
}

#[test]
fn slots_honour_the_requested_alignment() {
    let mut pools = SizeClassPool::new(SizeClassConfig::default()).unwrap();
    for align in [1, 2, 4, 8, 16, 32, 64, 128, 256] {
        let l = layout(align.max(24), align);
        let slot = pools.alloc(l).unwrap();
        assert_eq!(slot.addr().get() % align, 0, "align {align}");
        pools.free(slot, l).unwrap();
    }
}

#[test]
fn free_with_the_wrong_class_is_rejected_and_loses_nothing() {
    let mut pools = SizeClassPool::new(SizeClassConfig::default()).unwrap();
    let small = layout(16, 8);
    let slot = pools.alloc(small).unwrap();
    assert!(matches!(
        pools.free(slot, layout(100, 8)),
        Err(PoolError::ForeignPointer { .. })
    ));
    assert!(matches!(
        pools.free(slot, layout(1000, 8)),
        Err(PoolError::TooLarge { .. })
    ));
    assert!(pools.class(0).contains(slot));
    pools.free(slot, small).unwrap();
    assert_eq!(
        pools.free(slot, small),
        Err(PoolError::DoubleFree {
            addr: slot.addr().get()
        })
    );
}
