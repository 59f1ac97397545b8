//! Behaviour of the collector, as one test binary (one link on small machines).

mod adversarial;
mod array;
mod incremental;
mod init;
mod loan;
mod lock;
mod map;
mod model;
mod raw_api;
mod safe_api;
mod scope;
mod string;
mod tagged;
mod ui;
mod vec;
mod weak;

use morph_gengc::GcConfig;

/// A heap that pretenures, with an eden big enough for three minor
/// collections of a structure built and kept to each copy the 64 KiB
/// pretenuring needs to judge a type, and no major collection (which would
/// end pretenuring) on the way.
pub fn pretenuring_config() -> GcConfig {
    GcConfig {
        nursery_size: 256 << 10,
        survivor_size: 64 << 10,
        gc_threshold: 1 << 30,
        pretenuring: true,
        ..small_config()
    }
}

/// A small heap so tests collect often, smaller still under Miri.
pub fn small_config() -> GcConfig {
    GcConfig {
        nursery_size: if cfg!(miri) { 4 << 10 } else { 64 << 10 },
        survivor_size: if cfg!(miri) { 2 << 10 } else { 16 << 10 },
        gc_threshold: if cfg!(miri) { 64 << 10 } else { 1 << 20 },
        trace: false,
        ..GcConfig::default()
    }
}

/// [`small_config`] with incremental cycles only when a test starts them
/// (`Collection::StartCycle`), so its mutations land mid-cycle on purpose.
pub fn manual_cycles_config() -> GcConfig {
    GcConfig {
        gc_threshold: 1 << 30,
        ..small_config()
    }
}

/// Scales an iteration count down under Miri.
pub fn scaled(n: usize) -> usize {
    if cfg!(miri) { (n / 100).max(2) } else { n }
}

/// xorshift: a fixed sequence of operations per seed.
#[derive(Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// The next number of the sequence.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// The next number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}
