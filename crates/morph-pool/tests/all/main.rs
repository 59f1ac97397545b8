//! The integration tests of morph-pool, as modules of one binary (one link
//! instead of many).

mod compile_fail;
mod config_errors;
mod mark_sweep;
mod model;
mod raw_pool;
mod runs;
mod shared_model;
mod shared_pool;
mod size_classes;
mod stats_report;
mod sync_pool;
mod typed_pool;

/// A small block policy so tests (and Miri) touch little memory.
pub fn small_config() -> morph_pool::PoolConfig {
    morph_pool::PoolConfig {
        block_size: 4096,
        retain_empty_blocks: 1,
    }
}
