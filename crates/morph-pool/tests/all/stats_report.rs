use morph_metrics::{MorphMemStats, StatsSource};
use morph_pool::{Pool, RawPool, SizeClassConfig, SizeClassPool, SyncPool};

use crate::small_config;

#[test]
fn size_class_pool_reports_one_pool_per_class_and_adds_up() {
    let mut pools = SizeClassPool::new(SizeClassConfig {
        classes: vec![32, 64],
        pool: small_config(),
    })
    .unwrap();
    pools.class_mut(0).alloc().unwrap();
    pools.class_mut(0).alloc().unwrap();
    pools.class_mut(1).alloc().unwrap();
    let mut stats = MorphMemStats::default();
    pools.report_into(&mut stats);
    assert_eq!(stats.heap.pool_count, 2);
    assert_eq!(stats.heap.pool_blocks, 2);
    assert_eq!(stats.heap.pool_bytes, 2 * 4096);
    assert_eq!(stats.heap.pool_used_bytes, 2 * 32 + 64);
}

#[test]
fn sources_add_to_existing_figures() {
    let mut stats = MorphMemStats::default();
    stats.heap.pool_count = 5;
    stats.heap.arena_bytes = 77;
    let pool: Pool<[u64; 8]> = Pool::new();
    let _a = pool.alloc([0; 8]);
    pool.report_into(&mut stats);
    let raw = RawPool::new(32, small_config()).unwrap();
    raw.report_into(&mut stats);
    let shared = SyncPool::new(32, small_config(), 4).unwrap();
    shared.report_into(&mut stats);
    assert_eq!(stats.heap.pool_count, 8);
    assert_eq!(stats.heap.pool_used_bytes, 64);
    assert_eq!(stats.heap.arena_bytes, 77, "other fields untouched");
}

#[test]
fn pool_stats_track_allocations_frees_and_blocks() {
    let mut pool = RawPool::new(128, small_config()).unwrap();
    let slots: Vec<_> = (0..50).map(|_| pool.alloc().unwrap()).collect();
    for slot in &slots[..20] {
        pool.free(*slot).unwrap();
    }
    let stats = pool.stats();
    assert_eq!(
        (stats.total_allocs, stats.total_frees, stats.live_slots),
        (50, 20, 30)
    );
    assert_eq!(stats.capacity_slots, stats.blocks * pool.slots_per_block());
    assert_eq!(stats.free_slots(), stats.capacity_slots - 30);
    assert_eq!(stats.reserved_bytes(), stats.blocks * 4096);
}
