//! Configuration building and validation: `MorphMemConfig` through its
//! builder and the `MORPH_MEM_MODE` override, `detect_config_for`, and
//! `GcConfig::validate`, with arbitrary numbers and strings.
//!
//! Nothing may panic. A configuration that validates has every property
//! validation promises (checked here in 128-bit arithmetic, so an overflow
//! inside the library cannot hide a violation); one that does not names a
//! rule it really breaks. Mode names parse exactly as documented.

#![no_main]

use std::num::NonZeroU32;
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use morph_gengc::{GcConfig, GcError, MIN_NURSERY_SIZE};
use morph_mem::{ConfigError, MIN_NURSERY, Mode, MorphMem, MorphMemConfig, detect_config_for};

#[derive(Arbitrary, Debug)]
enum Setter {
    HeapSizeHint(usize),
    GcThreshold(usize),
    GcPauseTargetMs(u32),
    EnableGenerational(bool),
    EnableCompaction(bool),
    EnableMetrics(bool),
    NurserySize(usize),
    /// A plausible nursery (a multiple of 4 KiB), so the later rules get
    /// exercised as often as the first ones.
    NurseryPages(u16),
    /// A plausible heap size in MiB.
    HeapMib(u16),
    ThresholdMib(u16),
}

#[derive(Arbitrary, Debug)]
struct GcInput {
    nursery_size: usize,
    survivor_size: usize,
    promotion_age: u8,
    adaptive_tenuring: bool,
    large_object_threshold: usize,
    gc_threshold: usize,
    heap_growth_percent: u32,
    heap_limit: Option<usize>,
    stress_every: Option<NonZeroU32>,
    type_stats: bool,
    pause_target_us: Option<u64>,
    max_nursery_size: Option<usize>,
    incremental_marking: bool,
    pretenuring: bool,
}

#[derive(Arbitrary, Debug)]
struct Input {
    mode: u8,
    setters: Vec<Setter>,
    /// The `MORPH_MEM_MODE` value, if set.
    mode_override: Option<String>,
    ram: Option<u64>,
    gc: GcInput,
}

fn mode_of(byte: u8) -> Mode {
    Mode::ALL[byte as usize % Mode::ALL.len()]
}

/// The documented parse: `compiler|runtime|vm|server`, any case, trimmed.
fn expected_mode(value: &str) -> Option<Mode> {
    Mode::ALL
        .into_iter()
        .find(|m| m.feature().eq_ignore_ascii_case(value.trim()))
}

/// Eden plus two survivor spaces of a quarter of it (rounded down to 8).
fn young_reservation(c: &MorphMemConfig) -> u128 {
    let nursery = c.nursery_size as u128;
    let survivor = if c.enable_generational {
        nursery / 4 / 8 * 8
    } else {
        0
    };
    nursery + 2 * survivor
}

/// Every rule of `MorphMemConfig::validate`, in 128-bit arithmetic.
fn config_is_valid(c: &MorphMemConfig) -> bool {
    if !c.mode.is_compiled() || c.heap_size_hint == 0 {
        return false;
    }
    if !c.mode.has_collector() {
        return c.gc_threshold == 0
            && c.gc_pause_target_ms == 0
            && !c.enable_generational
            && !c.enable_compaction
            && c.nursery_size == 0;
    }
    c.gc_threshold != 0
        && c.nursery_size >= MIN_NURSERY
        && c.nursery_size.is_multiple_of(4096)
        && young_reservation(c) <= c.heap_size_hint as u128 / 2
        && c.gc_threshold <= c.heap_size_hint
}

/// The error names a rule the configuration really breaks.
fn check_error(c: &MorphMemConfig, error: &ConfigError) {
    let _ = error.to_string();
    match *error {
        ConfigError::ZeroSize { field } => {
            let value = match field {
                "heap_size_hint" => c.heap_size_hint,
                "gc_threshold" => c.gc_threshold,
                "nursery_size" => c.nursery_size,
                other => panic!("ZeroSize names an unknown field {other}"),
            };
            assert_eq!(value, 0, "ZeroSize {{ {field} }} but it is {value}");
        }
        ConfigError::BadNurserySize { nursery } => {
            assert_eq!(nursery, c.nursery_size);
            assert!(nursery < MIN_NURSERY || !nursery.is_multiple_of(4096));
        }
        ConfigError::NurseryLargerThanHeap { nursery, heap } => {
            assert_eq!(heap, c.heap_size_hint);
            // The reported reservation saturates at usize::MAX.
            assert_eq!(
                nursery as u128,
                young_reservation(c).min(usize::MAX as u128)
            );
            assert!(young_reservation(c) > heap as u128 / 2);
        }
        ConfigError::ThresholdAboveHeap { threshold, heap } => {
            assert_eq!((threshold, heap), (c.gc_threshold, c.heap_size_hint));
            assert!(threshold > heap);
        }
        ConfigError::CollectorSettingWithoutCollector { mode, setting } => {
            assert_eq!(mode, c.mode);
            assert!(!mode.has_collector());
            let set = match setting {
                "gc_threshold" => c.gc_threshold != 0,
                "gc_pause_target_ms" => c.gc_pause_target_ms != 0,
                "enable_generational" => c.enable_generational,
                "enable_compaction" => c.enable_compaction,
                "nursery_size" => c.nursery_size != 0,
                other => panic!("unknown collector setting {other}"),
            };
            assert!(set, "{setting} named but not set");
        }
        ConfigError::ModeNotCompiled { mode } => assert!(!mode.is_compiled()),
        ref other => panic!("validate returned {other:?}"),
    }
}

/// Validates `c` and checks the verdict against the rules.
fn check_config(c: &MorphMemConfig) -> bool {
    let result = c.validate();
    assert_eq!(
        result.is_ok(),
        config_is_valid(c),
        "validate() = {result:?} for {c:?}"
    );
    if let Err(error) = &result {
        check_error(c, error);
    }
    // The figures the collector is built from stay consistent.
    if result.is_ok() && c.mode.has_collector() {
        assert_eq!(c.survivor_size() % 8, 0);
        assert_eq!(
            c.young_reservation() as u128,
            c.nursery_size as u128 + 2 * c.survivor_size() as u128
        );
    }
    // The facade builds its layers from a valid config. Kept to small
    // reservations, so the fuzzer's allocator limits are not what fails
    // (and the run stays fast).
    if result.is_ok()
        && c.heap_size_hint <= 64 << 20
        && let Err(error) = MorphMem::new(*c)
    {
        panic!("a validated configuration does not build: {error} ({c:?})");
    }
    result.is_ok()
}

/// Eden at its adaptive maximum, as `GcConfig::eden_capacity` computes it
/// (exactly: no saturation).
fn eden_capacity(c: &GcConfig) -> u128 {
    let nursery = c.nursery_size as u128;
    match c.pause_target {
        Some(_) => c
            .max_nursery_size
            .map_or(nursery * 4, |m| m as u128)
            .max(nursery),
        None => nursery,
    }
}

/// Every rule of `GcConfig::validate`, in 128-bit arithmetic.
fn gc_is_valid(c: &GcConfig) -> bool {
    // The limit must hold the reservation twice over. A reservation past
    // the address space is refused by every limit but `usize::MAX`, which
    // (like no limit) bounds nothing.
    let floor = (2 * (eden_capacity(c) + 2 * c.survivor_size as u128)).min(usize::MAX as u128);
    c.nursery_size >= MIN_NURSERY_SIZE
        && c.nursery_size.is_multiple_of(8)
        && c.survivor_size.is_multiple_of(8)
        && (1..=253).contains(&c.promotion_age)
        && c.large_object_threshold != 0
        && c.max_nursery_size
            .is_none_or(|m| m >= c.nursery_size && m.is_multiple_of(8))
        && c.pause_target.is_none_or(|t| !t.is_zero())
        && c.gc_threshold != 0
        && c.heap_growth_percent >= 10
        && c.heap_limit.is_none_or(|limit| limit as u128 >= floor)
}

fuzz_target!(|input: Input| {
    let mode = mode_of(input.mode);
    assert!(mode.is_compiled(), "the fuzz build has every mode");
    assert_eq!(mode.name().parse::<Mode>(), Ok(mode));
    assert_eq!(mode.feature().parse::<Mode>(), Ok(mode));
    assert_eq!(mode.to_string(), mode.name());

    // Every preset is valid.
    let preset = mode.preset();
    assert_eq!(preset.mode, mode);
    assert!(check_config(&preset), "preset {mode} does not validate");

    // The builder: setters, then `build` says what `validate` says.
    let mut builder = MorphMemConfig::builder(mode);
    let mut config = preset;
    for setter in input.setters.iter().take(32) {
        match *setter {
            Setter::HeapSizeHint(v) => {
                builder = builder.heap_size_hint(v);
                config.heap_size_hint = v;
            }
            Setter::GcThreshold(v) => {
                builder = builder.gc_threshold(v);
                config.gc_threshold = v;
            }
            Setter::GcPauseTargetMs(v) => {
                builder = builder.gc_pause_target_ms(v);
                config.gc_pause_target_ms = v;
            }
            Setter::EnableGenerational(v) => {
                builder = builder.enable_generational(v);
                config.enable_generational = v;
            }
            Setter::EnableCompaction(v) => {
                builder = builder.enable_compaction(v);
                config.enable_compaction = v;
            }
            Setter::EnableMetrics(v) => {
                builder = builder.enable_metrics(v);
                config.enable_metrics = v;
            }
            Setter::NurserySize(v) => {
                builder = builder.nursery_size(v);
                config.nursery_size = v;
            }
            Setter::NurseryPages(pages) => {
                let v = pages as usize * 4096;
                builder = builder.nursery_size(v);
                config.nursery_size = v;
            }
            Setter::HeapMib(mib) => {
                let v = (mib as usize) << 20;
                builder = builder.heap_size_hint(v);
                config.heap_size_hint = v;
            }
            Setter::ThresholdMib(mib) => {
                let v = (mib as usize) << 20;
                builder = builder.gc_threshold(v);
                config.gc_threshold = v;
            }
        }
    }
    let built = builder.build();
    let valid = check_config(&config);
    match &built {
        Ok(c) => {
            assert!(valid);
            assert_eq!(
                *c, config,
                "the builder changed a field it was not asked to"
            );
        }
        Err(error) => {
            assert!(!valid);
            assert_eq!(Err(error.clone()), config.validate());
        }
    }

    // The MORPH_MEM_MODE override.
    let value = input.mode_override.as_deref();
    let overridden = config.with_mode_override(value);
    match value {
        None => assert_eq!(overridden, Ok(config)),
        Some(text) => {
            let parsed = text.parse::<Mode>();
            match expected_mode(text) {
                None => {
                    let error = ConfigError::UnknownMode {
                        value: text.to_owned(),
                    };
                    assert_eq!(parsed, Err(error.clone()));
                    assert_eq!(overridden, Err(error));
                }
                Some(m) if m == config.mode => {
                    assert_eq!(parsed, Ok(m));
                    assert_eq!(overridden, Ok(config), "the same mode keeps the config");
                }
                Some(m) => {
                    assert_eq!(parsed, Ok(m));
                    let expected = MorphMemConfig {
                        enable_metrics: config.enable_metrics,
                        ..m.preset()
                    };
                    assert_eq!(overridden, Ok(expected));
                    assert!(check_config(&expected), "an overridden preset is invalid");
                }
            }
        }
    }

    // Detection from the machine's memory always yields a valid config.
    let detected = detect_config_for(input.ram);
    assert!(
        check_config(&detected),
        "detect_config_for({:?}) = {detected:?} does not validate",
        input.ram
    );

    // The collector's own configuration.
    let g = &input.gc;
    let gc = GcConfig {
        nursery_size: g.nursery_size,
        survivor_size: g.survivor_size,
        promotion_age: g.promotion_age,
        adaptive_tenuring: g.adaptive_tenuring,
        large_object_threshold: g.large_object_threshold,
        gc_threshold: g.gc_threshold,
        heap_growth_percent: g.heap_growth_percent,
        heap_limit: g.heap_limit,
        stress_every: g.stress_every,
        type_stats: g.type_stats,
        trace: false,
        pause_target: g.pause_target_us.map(Duration::from_micros),
        max_nursery_size: g.max_nursery_size,
        incremental_marking: g.incremental_marking,
        pretenuring: g.pretenuring,
    };
    let result = gc.validate();
    assert_eq!(
        result.is_ok(),
        gc_is_valid(&gc),
        "GcConfig::validate() = {result:?} for {gc:?}"
    );
    if let Err(error) = result {
        assert!(matches!(error, GcError::InvalidConfig { .. }), "{error:?}");
        let _ = error.to_string();
    } else {
        assert!(gc.eden_floor() <= gc.eden_capacity());
        assert!(gc.eden_floor() >= MIN_NURSERY_SIZE);
    }
});
