use morph_pool::{Pool, PoolConfig, PoolError, RawPool, SizeClassConfig, SizeClassPool};

#[test]
fn default_size_classes_are_32_64_128_256() {
    let pools = SizeClassPool::new(SizeClassConfig::default()).unwrap();
    assert_eq!(pools.class_sizes().collect::<Vec<_>>(), [32, 64, 128, 256]);
}

#[test]
fn empty_class_list_is_rejected() {
    let err = SizeClassPool::new(SizeClassConfig::with_classes(vec![])).unwrap_err();
    assert_eq!(err, PoolError::NoSizeClasses);
}

#[test]
fn zero_class_is_rejected_with_its_position() {
    let err = SizeClassConfig::with_classes(vec![32, 0, 64])
        .validate()
        .unwrap_err();
    assert_eq!(err, PoolError::ZeroSizeClass { index: 1 });
    assert!(err.to_string().contains("#1"));
}

#[test]
fn unsorted_and_duplicate_classes_are_rejected() {
    let err = SizeClassConfig::with_classes(vec![64, 32])
        .validate()
        .unwrap_err();
    assert_eq!(
        err,
        PoolError::UnsortedSizeClasses {
            index: 1,
            previous: 64,
            class: 32
        }
    );
    let err = SizeClassConfig::with_classes(vec![32, 32])
        .validate()
        .unwrap_err();
    assert!(matches!(err, PoolError::UnsortedSizeClasses { .. }));
}

#[test]
fn misaligned_class_is_rejected_with_the_rounded_size() {
    let err = SizeClassConfig::with_classes(vec![40])
        .validate()
        .unwrap_err();
    assert_eq!(
        err,
        PoolError::MisalignedSlotSize {
            slot_size: 40,
            granule: 16
        }
    );
    assert!(err.to_string().contains("48"), "{err}");
}

#[test]
fn slot_bigger_than_a_block_is_rejected() {
    let config = SizeClassConfig {
        classes: vec![32, 4096],
        pool: crate::small_config(),
    };
    let err = config.validate().unwrap_err();
    assert!(matches!(
        err,
        PoolError::SlotTooLarge {
            slot_size: 4096,
            largest: 2048,
            ..
        }
    ));
    assert!(RawPool::new(2048, crate::small_config()).is_ok());
}

#[test]
fn tiny_slots_in_huge_blocks_are_rejected() {
    let config = PoolConfig {
        block_size: 1 << 20,
        retain_empty_blocks: 1,
    };
    assert!(matches!(
        RawPool::new(16, config),
        Err(PoolError::TooManySlots { .. })
    ));
}

#[test]
fn block_size_must_be_a_power_of_two_in_range() {
    let bad = PoolConfig {
        block_size: 5000,
        retain_empty_blocks: 1,
    };
    assert!(matches!(
        bad.validate(),
        Err(PoolError::BlockSizeNotPowerOfTwo { .. })
    ));
    let small = PoolConfig {
        block_size: 1024,
        retain_empty_blocks: 1,
    };
    assert!(matches!(
        small.validate(),
        Err(PoolError::BlockSizeOutOfRange { .. })
    ));
}

#[test]
fn typed_pool_of_oversized_type_reports_slot_too_large() {
    let result = Pool::<[u8; 3000]>::with_config(crate::small_config());
    assert!(matches!(result, Err(PoolError::SlotTooLarge { .. })));
}

#[test]
#[should_panic(expected = "cannot pool")]
fn typed_pool_new_panics_naming_an_oversized_type() {
    let _ = Pool::<[u8; 40_000]>::new();
}

#[test]
fn every_error_message_is_nonempty_and_distinct() {
    let errors = [
        PoolError::NoSizeClasses,
        PoolError::TooLarge {
            size: 300,
            align: 8,
            largest_class: 256,
        },
        PoolError::OutOfMemory { bytes: 65536 },
        PoolError::ForeignPointer { addr: 0x1000 },
        PoolError::InteriorPointer {
            addr: 0x1008,
            slot_start: 0x1000,
        },
        PoolError::DoubleFree { addr: 0x1000 },
        PoolError::NotAllocated { addr: 0x1000 },
    ];
    let messages: std::collections::HashSet<_> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(messages.len(), errors.len());
    assert!(errors[1].to_string().contains("fallback"));
}
