//! Errors of the facade.

use std::fmt;

use crate::Mode;

/// A configuration Morph Memory refuses, and why.
///
/// ```
/// # #[cfg(feature = "runtime")] {
/// use morph_mem::{ConfigError, MorphMemConfig};
///
/// let err = MorphMemConfig { heap_size_hint: 0, ..MorphMemConfig::RUNTIME }
///     .validate()
///     .unwrap_err();
/// assert_eq!(err, ConfigError::ZeroSize { field: "heap_size_hint" });
/// assert!(err.to_string().contains("heap_size_hint"));
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A size that must be positive is zero.
    ZeroSize {
        /// The field.
        field: &'static str,
    },
    /// The young generation (nursery plus survivor spaces) takes more than
    /// half of the heap, leaving too little for the old generation.
    NurseryLargerThanHeap {
        /// Bytes the young generation reserves.
        nursery: usize,
        /// The heap size (bound, in server mode).
        heap: usize,
    },
    /// The nursery is smaller than [`MIN_NURSERY`](crate::MIN_NURSERY) or
    /// not a multiple of 4 KiB.
    BadNurserySize {
        /// The requested nursery size.
        nursery: usize,
    },
    /// The major-collection trigger is above the heap size, so it would
    /// never fire before the heap is full.
    ThresholdAboveHeap {
        /// The requested `gc_threshold`.
        threshold: usize,
        /// The heap size.
        heap: usize,
    },
    /// A collector setting (threshold, pause target, generations,
    /// compaction, nursery) on a mode that runs no collector.
    CollectorSettingWithoutCollector {
        /// The mode.
        mode: Mode,
        /// The field that must be zero or off.
        setting: &'static str,
    },
    /// The mode's Cargo feature is not compiled into this build.
    ModeNotCompiled {
        /// The mode.
        mode: Mode,
    },
    /// `MORPH_MEM_MODE` (or a parsed string) names no mode.
    UnknownMode {
        /// The value given.
        value: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::ZeroSize { field } => write!(f, "{field} must be positive"),
            ConfigError::NurseryLargerThanHeap { nursery, heap } => write!(
                f,
                "the young generation reserves {nursery} bytes (nursery plus two survivor \
                 spaces), more than half the {heap}-byte heap: shrink nursery_size or raise \
                 heap_size_hint"
            ),
            ConfigError::BadNurserySize { nursery } => write!(
                f,
                "nursery_size {nursery} must be at least {} bytes and a multiple of 4096",
                crate::MIN_NURSERY
            ),
            ConfigError::ThresholdAboveHeap { threshold, heap } => write!(
                f,
                "gc_threshold {threshold} bytes is above heap_size_hint {heap} bytes, so no \
                 major collection would run before the heap is full"
            ),
            ConfigError::CollectorSettingWithoutCollector { mode, setting } => write!(
                f,
                "{setting} is set, but {mode} mode runs no garbage collector: leave it 0/off \
                 or choose runtime, vm or server mode"
            ),
            ConfigError::ModeNotCompiled { mode } => write!(
                f,
                "{mode} mode is not compiled in: enable the `{}` feature of morph-mem",
                mode.feature()
            ),
            ConfigError::UnknownMode { value } => write!(
                f,
                "unknown mode {value:?} (in {}): expected compiler, runtime, vm or server",
                crate::MODE_ENV
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why a facade operation failed. Nothing reachable is lost on any error.
///
/// ```
/// # #[cfg(feature = "compiler")] {
/// use morph_mem::{MorphMem, MorphMemConfig, MorphMemError};
///
/// let mut mm = MorphMem::new(MorphMemConfig::COMPILER)?;
/// let err = mm.on_pressure(1.5, |_| {}).unwrap_err();
/// assert!(matches!(err, MorphMemError::InvalidPressureFraction { .. }));
/// # }
/// # Ok::<(), morph_mem::MorphMemError>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum MorphMemError {
    /// The configuration was refused.
    Config(ConfigError),
    /// The operation needs a layer the current mode does not run (the
    /// arena outside compiler mode, the collector in compiler mode).
    WrongMode {
        /// What was asked for.
        operation: &'static str,
        /// The current mode.
        mode: Mode,
    },
    /// A pressure fraction outside `(0, 1]`.
    InvalidPressureFraction {
        /// The fraction given.
        fraction: f64,
    },
    /// The arena refused an allocation.
    #[cfg(feature = "compiler")]
    Arena(morph_arena::ArenaError),
    /// A pool refused an allocation or a free (foreign or double free).
    Pool(morph_pool::PoolError),
    /// The collector refused an allocation (heap bound reached, type not
    /// registered, object too large).
    #[cfg(collector)]
    Gc(morph_gengc::GcError),
    /// Writing the stats file failed.
    Stats(morph_metrics::MetricsError),
    /// The type registry refused a type (it is full).
    Types(morph_header::HeaderError),
}

impl fmt::Display for MorphMemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MorphMemError::Config(e) => write!(f, "invalid configuration: {e}"),
            MorphMemError::WrongMode { operation, mode } => {
                write!(f, "{operation} is not available in {mode} mode")
            }
            MorphMemError::InvalidPressureFraction { fraction } => write!(
                f,
                "pressure fraction {fraction} must be above 0 and at most 1 (a fraction of the heap bound)"
            ),
            #[cfg(feature = "compiler")]
            MorphMemError::Arena(e) => write!(f, "arena: {e}"),
            MorphMemError::Pool(e) => write!(f, "pool: {e}"),
            #[cfg(collector)]
            MorphMemError::Gc(e) => write!(f, "collector: {e}"),
            MorphMemError::Stats(e) => write!(f, "stats: {e}"),
            MorphMemError::Types(e) => write!(f, "type registry: {e}"),
        }
    }
}

impl std::error::Error for MorphMemError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MorphMemError::Config(e) => Some(e),
            #[cfg(feature = "compiler")]
            MorphMemError::Arena(e) => Some(e),
            MorphMemError::Pool(e) => Some(e),
            #[cfg(collector)]
            MorphMemError::Gc(e) => Some(e),
            MorphMemError::Stats(e) => Some(e),
            MorphMemError::Types(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ConfigError> for MorphMemError {
    fn from(e: ConfigError) -> Self {
        MorphMemError::Config(e)
    }
}

#[cfg(feature = "compiler")]
impl From<morph_arena::ArenaError> for MorphMemError {
    fn from(e: morph_arena::ArenaError) -> Self {
        MorphMemError::Arena(e)
    }
}

impl From<morph_pool::PoolError> for MorphMemError {
    fn from(e: morph_pool::PoolError) -> Self {
        MorphMemError::Pool(e)
    }
}

#[cfg(collector)]
impl From<morph_gengc::GcError> for MorphMemError {
    fn from(e: morph_gengc::GcError) -> Self {
        MorphMemError::Gc(e)
    }
}

impl From<morph_metrics::MetricsError> for MorphMemError {
    fn from(e: morph_metrics::MetricsError) -> Self {
        MorphMemError::Stats(e)
    }
}
