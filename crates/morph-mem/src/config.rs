//! Workload modes, the configuration, its presets, validation, the
//! `MORPH_MEM_MODE` override and detection from the machine's memory.

use std::fmt;
use std::str::FromStr;

use crate::ConfigError;

/// What kind of program the memory serves; it decides which layers run.
///
/// | mode | layers | collection |
/// |---|---|---|
/// | `Compiler` | arena + pools | none: bulk free at [`reset`](crate::MorphMem::reset) |
/// | `Runtime` | generational heap + pools | adaptive nursery and trigger |
/// | `Vm` | generational heap + pools | sized for large, long-lived heaps |
/// | `Server` | generational heap + pools | hard bound, pressure callbacks |
///
/// ```
/// use morph_mem::Mode;
///
/// assert_eq!("server".parse::<Mode>()?, Mode::Server);
/// assert_eq!(Mode::Compiler.name(), "COMPILER");
/// assert!(!Mode::Compiler.has_collector());
/// # Ok::<(), morph_mem::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Short-lived, high-churn allocation (AST nodes, tokens): an arena that
    /// frees everything at once between compilation units.
    Compiler,
    /// A language runtime or interpreter: the generational collector.
    Runtime,
    /// A long-running virtual machine with a large, long-lived heap.
    Vm,
    /// A long-running service that must stay inside a memory bound.
    Server,
}

impl Mode {
    /// Every mode, in declaration order.
    pub const ALL: [Mode; 4] = [Mode::Compiler, Mode::Runtime, Mode::Vm, Mode::Server];

    /// The name the stats report prints (`COMPILER`, `RUNTIME`, `VM`, `SERVER`).
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Compiler => "COMPILER",
            Mode::Runtime => "RUNTIME",
            Mode::Vm => "VM",
            Mode::Server => "SERVER",
        }
    }

    /// The Cargo feature that compiles this mode in.
    pub const fn feature(self) -> &'static str {
        match self {
            Mode::Compiler => "compiler",
            Mode::Runtime => "runtime",
            Mode::Vm => "vm",
            Mode::Server => "server",
        }
    }

    /// Whether this build has the mode (its Cargo feature is on).
    pub const fn is_compiled(self) -> bool {
        match self {
            Mode::Compiler => cfg!(feature = "compiler"),
            Mode::Runtime => cfg!(feature = "runtime"),
            Mode::Vm => cfg!(feature = "vm"),
            Mode::Server => cfg!(feature = "server"),
        }
    }

    /// Whether the mode runs the garbage collector.
    pub const fn has_collector(self) -> bool {
        !matches!(self, Mode::Compiler)
    }

    /// The preset configuration of this mode.
    pub const fn preset(self) -> MorphMemConfig {
        match self {
            Mode::Compiler => MorphMemConfig::COMPILER,
            Mode::Runtime => MorphMemConfig::RUNTIME,
            Mode::Vm => MorphMemConfig::VM,
            Mode::Server => MorphMemConfig::SERVER,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mode {
    type Err = ConfigError;

    /// Parses `compiler`, `runtime`, `vm` or `server`, in any case.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Mode::ALL
            .into_iter()
            .find(|mode| mode.feature().eq_ignore_ascii_case(value.trim()))
            .ok_or_else(|| ConfigError::UnknownMode {
                value: value.to_owned(),
            })
    }
}

/// The environment variable that overrides the mode at run time:
/// `MORPH_MEM_MODE=compiler|runtime|vm|server`.
pub const MODE_ENV: &str = "MORPH_MEM_MODE";

const MIB: usize = 1 << 20;

/// How Morph Memory is set up: the seed design's `MorphMemConfig`, plus the
/// nursery size.
///
/// Start from a preset ([`COMPILER`](Self::COMPILER),
/// [`RUNTIME`](Self::RUNTIME), [`VM`](Self::VM), [`SERVER`](Self::SERVER)),
/// change fields with the [builder](Self::builder), or let
/// [`detect_config`] choose from the machine's memory.
/// [`validate`](Self::validate) names the field at fault.
///
/// ```
/// # #[cfg(feature = "server")] {
/// use morph_mem::{ConfigError, Mode, MorphMemConfig};
///
/// let config = MorphMemConfig::builder(Mode::Server)
///     .heap_size_hint(256 << 20)
///     .gc_threshold(32 << 20)
///     .build()?;
/// assert_eq!(config.heap_size_hint, 256 << 20);
///
/// // A nursery that does not fit the heap is refused, with the reason.
/// let err = MorphMemConfig::builder(Mode::Server)
///     .heap_size_hint(4 << 20)
///     .gc_threshold(1 << 20)
///     .nursery_size(8 << 20)
///     .build()
///     .unwrap_err();
/// assert!(matches!(err, ConfigError::NurseryLargerThanHeap { .. }));
/// # }
/// # Ok::<(), morph_mem::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MorphMemConfig {
    /// The workload mode.
    pub mode: Mode,
    /// The heap size the program expects to need, in bytes. In server mode
    /// it is a hard bound: the collected heap never reserves more.
    pub heap_size_hint: usize,
    /// Old-generation growth, in bytes, that triggers a major collection
    /// (the starting point: runtime mode adapts it). 0 in compiler mode.
    pub gc_threshold: usize,
    /// The pause the collector aims for, in milliseconds: the adaptive
    /// nursery is sized so a minor collection stays under it. 0 in compiler
    /// mode; 0 in a collector mode keeps the nursery at `nursery_size`.
    pub gc_pause_target_ms: u32,
    /// Age objects in a young generation before promoting them. When off,
    /// the nursery is only an allocation buffer: every survivor of a minor
    /// collection is promoted at once.
    pub enable_generational: bool,
    /// Ask for old-generation compaction. Accepted for the presets that
    /// want it, but the collector does not compact yet: old objects never
    /// move, and size-class blocks bound fragmentation (see docs/TUNING.md).
    pub enable_compaction: bool,
    /// Count allocations per type and record collection pauses for
    /// [`stats`](crate::MorphMem::stats).
    pub enable_metrics: bool,
    /// Bytes of the nursery's allocation area (eden); the two survivor
    /// spaces add a quarter each. 0 in compiler mode.
    pub nursery_size: usize,
    /// Mark the old generation incrementally, in short steps between
    /// allocations, instead of in one pause that grows with the heap (see
    /// `morph_gengc::GcConfig::incremental_marking`). On in every collector
    /// preset. Programs that store references through the raw API
    /// ([`MorphMem::alloc_raw`](crate::MorphMem::alloc_raw)) must call the
    /// pre-write barrier before each overwrite, or turn this off; the C
    /// ABI, whose barrier sees only the new value, turns it off.
    pub incremental_marking: bool,
}

impl MorphMemConfig {
    /// Compiler mode: 256 MiB expected, no collection, metrics off.
    pub const COMPILER: MorphMemConfig = MorphMemConfig {
        mode: Mode::Compiler,
        heap_size_hint: 256 * MIB,
        gc_threshold: 0,
        gc_pause_target_ms: 0,
        enable_generational: false,
        enable_compaction: false,
        enable_metrics: false,
        nursery_size: 0,
        incremental_marking: false,
    };

    /// Runtime mode: 512 MiB expected, 64 MiB major trigger, 10 ms pause
    /// target, generational, metrics on.
    pub const RUNTIME: MorphMemConfig = MorphMemConfig {
        mode: Mode::Runtime,
        heap_size_hint: 512 * MIB,
        gc_threshold: 64 * MIB,
        gc_pause_target_ms: 10,
        enable_generational: true,
        enable_compaction: false,
        enable_metrics: true,
        nursery_size: 2 * MIB,
        incremental_marking: true,
    };

    /// VM mode: 2 GiB expected, 128 MiB major trigger, 5 ms pause target,
    /// generational, compaction requested, metrics on.
    pub const VM: MorphMemConfig = MorphMemConfig {
        mode: Mode::Vm,
        heap_size_hint: 2048 * MIB,
        gc_threshold: 128 * MIB,
        gc_pause_target_ms: 5,
        enable_generational: true,
        enable_compaction: true,
        enable_metrics: true,
        nursery_size: 2 * MIB,
        incremental_marking: true,
    };

    /// Server mode: a 1 GiB bound, 128 MiB major trigger, 5 ms pause
    /// target, generational, compaction requested, metrics on.
    /// (The VM preset's collector settings with a 1 GiB bound.)
    pub const SERVER: MorphMemConfig = MorphMemConfig {
        mode: Mode::Server,
        heap_size_hint: 1024 * MIB,
        ..MorphMemConfig::VM
    };

    /// A builder starting from `mode`'s preset.
    pub const fn builder(mode: Mode) -> ConfigBuilder {
        ConfigBuilder {
            config: mode.preset(),
        }
    }

    /// Bytes the young generation reserves: eden plus two survivor spaces
    /// of a quarter of it each (`usize::MAX` if that overflows: no heap
    /// can hold it).
    pub const fn young_reservation(&self) -> usize {
        self.nursery_size
            .saturating_add(self.survivor_size().saturating_mul(2))
    }

    /// Bytes of each survivor space: a quarter of the nursery, rounded down
    /// to a multiple of 8; 0 when generations are off.
    pub const fn survivor_size(&self) -> usize {
        if self.enable_generational {
            self.nursery_size / 4 / 8 * 8
        } else {
            0
        }
    }

    /// Checks every rule; the error names the field and what to change.
    ///
    /// ```
    /// # #[cfg(feature = "compiler")] {
    /// use morph_mem::{ConfigError, MorphMemConfig};
    ///
    /// let config = MorphMemConfig { gc_pause_target_ms: 5, ..MorphMemConfig::COMPILER };
    /// assert!(matches!(
    ///     config.validate(),
    ///     Err(ConfigError::CollectorSettingWithoutCollector { setting: "gc_pause_target_ms", .. })
    /// ));
    /// # }
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.mode.is_compiled() {
            return Err(ConfigError::ModeNotCompiled { mode: self.mode });
        }
        if self.heap_size_hint == 0 {
            return Err(ConfigError::ZeroSize {
                field: "heap_size_hint",
            });
        }
        if !self.mode.has_collector() {
            let settings: [(&'static str, bool); 5] = [
                ("gc_threshold", self.gc_threshold != 0),
                ("gc_pause_target_ms", self.gc_pause_target_ms != 0),
                ("enable_generational", self.enable_generational),
                ("enable_compaction", self.enable_compaction),
                ("nursery_size", self.nursery_size != 0),
            ];
            if let Some((setting, _)) = settings.into_iter().find(|(_, set)| *set) {
                return Err(ConfigError::CollectorSettingWithoutCollector {
                    mode: self.mode,
                    setting,
                });
            }
            return Ok(());
        }
        if self.gc_threshold == 0 {
            return Err(ConfigError::ZeroSize {
                field: "gc_threshold",
            });
        }
        if self.nursery_size == 0 {
            return Err(ConfigError::ZeroSize {
                field: "nursery_size",
            });
        }
        if self.nursery_size < MIN_NURSERY || !self.nursery_size.is_multiple_of(4096) {
            return Err(ConfigError::BadNurserySize {
                nursery: self.nursery_size,
            });
        }
        // The young generation must leave room for the old one: at most half
        // the heap (the collector also needs it to keep a promotion reserve
        // under a bound).
        if self.young_reservation() > self.heap_size_hint / 2 {
            return Err(ConfigError::NurseryLargerThanHeap {
                nursery: self.young_reservation(),
                heap: self.heap_size_hint,
            });
        }
        if self.gc_threshold > self.heap_size_hint {
            return Err(ConfigError::ThresholdAboveHeap {
                threshold: self.gc_threshold,
                heap: self.heap_size_hint,
            });
        }
        Ok(())
    }

    /// Applies a `MORPH_MEM_MODE` value: `None` keeps `self`; a mode equal
    /// to `self.mode` keeps `self`; another mode switches to that mode's
    /// preset, keeping `enable_metrics`. An unknown value is an error.
    ///
    /// ```
    /// use morph_mem::{Mode, MorphMemConfig};
    ///
    /// let config = MorphMemConfig::RUNTIME.with_mode_override(Some("compiler"))?;
    /// assert_eq!(config.mode, Mode::Compiler);
    /// assert_eq!(config.gc_threshold, 0); // the compiler preset, not a hybrid
    /// assert!(MorphMemConfig::RUNTIME.with_mode_override(Some("turbo")).is_err());
    /// # Ok::<(), morph_mem::ConfigError>(())
    /// ```
    pub fn with_mode_override(self, value: Option<&str>) -> Result<Self, ConfigError> {
        let Some(value) = value else {
            return Ok(self);
        };
        let mode: Mode = value.parse()?;
        if mode == self.mode {
            return Ok(self);
        }
        Ok(MorphMemConfig {
            enable_metrics: self.enable_metrics,
            ..mode.preset()
        })
    }

    /// [`with_mode_override`](Self::with_mode_override) with the value of
    /// the `MORPH_MEM_MODE` environment variable.
    pub fn with_env_override(self) -> Result<Self, ConfigError> {
        match std::env::var(MODE_ENV) {
            Ok(value) => self.with_mode_override(Some(&value)),
            Err(std::env::VarError::NotPresent) => Ok(self),
            Err(std::env::VarError::NotUnicode(value)) => Err(ConfigError::UnknownMode {
                value: value.to_string_lossy().into_owned(),
            }),
        }
    }
}

impl Default for MorphMemConfig {
    /// The runtime preset if compiled in, else the first compiled mode's.
    fn default() -> Self {
        default_mode().preset()
    }
}

/// The smallest nursery a configuration may ask for.
pub const MIN_NURSERY: usize = 64 << 10;

fn default_mode() -> Mode {
    [Mode::Runtime, Mode::Server, Mode::Vm, Mode::Compiler]
        .into_iter()
        .find(|m| m.is_compiled())
        .unwrap_or(Mode::Runtime)
}

/// Builds a [`MorphMemConfig`] from a preset, validating at the end.
///
/// ```
/// # #[cfg(feature = "runtime")] {
/// use morph_mem::{Mode, MorphMemConfig};
///
/// let config = MorphMemConfig::builder(Mode::Runtime).enable_metrics(false).build()?;
/// assert!(!config.enable_metrics);
/// # }
/// # Ok::<(), morph_mem::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ConfigBuilder {
    config: MorphMemConfig,
}

macro_rules! setters {
    ($($(#[$doc:meta])* $field:ident: $ty:ty,)*) => {
        impl ConfigBuilder {
            $(
                $(#[$doc])*
                pub const fn $field(mut self, value: $ty) -> Self {
                    self.config.$field = value;
                    self
                }
            )*
        }
    };
}

setters! {
    /// Sets [`MorphMemConfig::heap_size_hint`].
    heap_size_hint: usize,
    /// Sets [`MorphMemConfig::gc_threshold`].
    gc_threshold: usize,
    /// Sets [`MorphMemConfig::gc_pause_target_ms`].
    gc_pause_target_ms: u32,
    /// Sets [`MorphMemConfig::enable_generational`].
    enable_generational: bool,
    /// Sets [`MorphMemConfig::enable_compaction`].
    enable_compaction: bool,
    /// Sets [`MorphMemConfig::enable_metrics`].
    enable_metrics: bool,
    /// Sets [`MorphMemConfig::nursery_size`].
    nursery_size: usize,
}

impl ConfigBuilder {
    /// The configuration, if it passes [`MorphMemConfig::validate`].
    pub fn build(self) -> Result<MorphMemConfig, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
    }
}

/// Below this much available memory, [`detect_config`] sizes the heap from
/// the machine instead of using the runtime preset (the seed's rule).
pub const LOW_MEMORY: u64 = 512 << 20;

/// A configuration chosen from the machine's available memory
/// ([`available_ram`]): see [`detect_config_for`].
///
/// ```
/// let config = morph_mem::detect_config();
/// config.validate()?;
/// # Ok::<(), morph_mem::ConfigError>(())
/// ```
pub fn detect_config() -> MorphMemConfig {
    detect_config_for(available_ram())
}

/// The seed's rule: with less than [`LOW_MEMORY`] available, a collector
/// mode with heap = RAM/4 and major trigger = RAM/8 (the nursery shrunk to
/// fit); otherwise, or when the memory is unknown, the runtime preset. A
/// build without any collector mode gets the compiler preset with its heap
/// hint capped at RAM/4.
///
/// ```
/// # #[cfg(feature = "runtime")] {
/// use morph_mem::{MorphMemConfig, detect_config_for};
///
/// assert_eq!(detect_config_for(Some(16 << 30)), MorphMemConfig::RUNTIME);
/// let small = detect_config_for(Some(256 << 20));
/// assert_eq!((small.heap_size_hint, small.gc_threshold), (64 << 20, 32 << 20));
/// small.validate()?;
/// # }
/// # Ok::<(), morph_mem::ConfigError>(())
/// ```
pub fn detect_config_for(available: Option<u64>) -> MorphMemConfig {
    let base = MorphMemConfig::default();
    let Some(ram) = available else {
        return base;
    };
    let quarter = usize::try_from(ram / 4).unwrap_or(usize::MAX);
    if !base.mode.has_collector() {
        return MorphMemConfig {
            heap_size_hint: base.heap_size_hint.min(quarter).max(1),
            ..base
        };
    }
    if ram >= LOW_MEMORY {
        return base;
    }
    let heap = quarter.max(4 * MIN_NURSERY);
    // The young generation (1.5 × nursery) must stay under half the heap.
    let nursery = (heap / 4 / 4096 * 4096).clamp(MIN_NURSERY, base.nursery_size);
    MorphMemConfig {
        heap_size_hint: heap,
        gc_threshold: (heap / 2).max(1),
        nursery_size: nursery,
        ..base
    }
}

/// The memory available to new work, in bytes: `MemAvailable` from
/// `/proc/meminfo` on Linux (falling back to `MemFree + Cached` on old
/// kernels); `None` where it cannot be read.
pub fn available_ram() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_meminfo(&text)
}

/// Parses the available memory out of `/proc/meminfo` text.
pub(crate) fn parse_meminfo(text: &str) -> Option<u64> {
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
            Some(kib * 1024)
        })
    };
    field("MemAvailable").or_else(|| Some(field("MemFree")? + field("Cached").unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_parsing() {
        let modern =
            "MemTotal:       24000000 kB\nMemFree:         1000 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(parse_meminfo(modern), Some(20_000_000 * 1024));
        let old = "MemTotal: 100 kB\nMemFree: 10 kB\nCached: 5 kB\n";
        assert_eq!(parse_meminfo(old), Some(15 * 1024));
        assert_eq!(parse_meminfo("garbage"), None);
    }

    /// Found by the `config` fuzz target: the reservation sum wrapped, so a
    /// nursery past the address space passed the "half the heap" rule.
    #[test]
    fn a_nursery_too_large_to_reserve_is_refused_not_wrapped() {
        let Some(mode) = [Mode::Server, Mode::Vm, Mode::Runtime]
            .into_iter()
            .find(|m| m.is_compiled())
        else {
            return; // no generational mode in this build
        };
        for nursery in [0xAAAA_AAAA_AAAA_B000, 0xFFFF_FA00_0000_0000] {
            let built = MorphMemConfig::builder(mode)
                .heap_size_hint(1 << 30)
                .nursery_size(nursery)
                .build();
            assert!(
                matches!(built, Err(ConfigError::NurseryLargerThanHeap { nursery: n, .. }) if n == usize::MAX),
                "{built:?}"
            );
        }
    }
}
