//! The facade's behaviour: presets, validation, mode override, detection,
//! dispatch, pressure callbacks, the server bound, stats. Tests that need a
//! layer are gated on its feature, so `cargo test -p morph-mem
//! --no-default-features --features X` runs what X compiles in.

use morph_mem::{ConfigError, LOW_MEMORY, Mode, MorphMemConfig, detect_config_for};

const MIB: usize = 1 << 20;

#[test]
fn presets_carry_the_seed_values() {
    let c = MorphMemConfig::COMPILER;
    assert_eq!(
        (
            c.mode,
            c.heap_size_hint,
            c.gc_threshold,
            c.gc_pause_target_ms
        ),
        (Mode::Compiler, 256 * MIB, 0, 0)
    );
    assert!(!c.enable_generational && !c.enable_compaction && !c.enable_metrics);
    let r = MorphMemConfig::RUNTIME;
    assert_eq!(
        (
            r.mode,
            r.heap_size_hint,
            r.gc_threshold,
            r.gc_pause_target_ms
        ),
        (Mode::Runtime, 512 * MIB, 64 * MIB, 10)
    );
    assert!(r.enable_generational && !r.enable_compaction && r.enable_metrics);
    let v = MorphMemConfig::VM;
    assert_eq!(
        (
            v.mode,
            v.heap_size_hint,
            v.gc_threshold,
            v.gc_pause_target_ms
        ),
        (Mode::Vm, 2048 * MIB, 128 * MIB, 5)
    );
    assert!(v.enable_generational && v.enable_compaction && v.enable_metrics);
    let s = MorphMemConfig::SERVER;
    assert_eq!(
        (
            s.mode,
            s.heap_size_hint,
            s.gc_threshold,
            s.gc_pause_target_ms
        ),
        (Mode::Server, 1024 * MIB, 128 * MIB, 5)
    );
    assert!(s.enable_generational && s.enable_compaction && s.enable_metrics);
    for mode in Mode::ALL {
        assert_eq!(mode.preset().mode, mode);
        if mode.is_compiled() {
            mode.preset().validate().expect("presets are valid");
        }
    }
}

/// Every validation error, each from a configuration one field away from
/// valid.
#[test]
fn every_validation_error_names_its_cause() {
    let gc_mode = Mode::ALL
        .into_iter()
        .find(|m| m.is_compiled() && m.has_collector());
    if let Some(mode) = gc_mode {
        let base = mode.preset();
        let cases: Vec<(MorphMemConfig, ConfigError)> = vec![
            (
                MorphMemConfig {
                    heap_size_hint: 0,
                    ..base
                },
                ConfigError::ZeroSize {
                    field: "heap_size_hint",
                },
            ),
            (
                MorphMemConfig {
                    gc_threshold: 0,
                    ..base
                },
                ConfigError::ZeroSize {
                    field: "gc_threshold",
                },
            ),
            (
                MorphMemConfig {
                    nursery_size: 0,
                    ..base
                },
                ConfigError::ZeroSize {
                    field: "nursery_size",
                },
            ),
            (
                MorphMemConfig {
                    nursery_size: 100_000,
                    ..base
                },
                ConfigError::BadNurserySize { nursery: 100_000 },
            ),
            (
                MorphMemConfig {
                    nursery_size: 4096,
                    ..base
                },
                ConfigError::BadNurserySize { nursery: 4096 },
            ),
            (
                MorphMemConfig {
                    heap_size_hint: 4 * MIB,
                    gc_threshold: MIB,
                    nursery_size: 2 * MIB,
                    ..base
                },
                ConfigError::NurseryLargerThanHeap {
                    nursery: 3 * MIB,
                    heap: 4 * MIB,
                },
            ),
            (
                MorphMemConfig {
                    heap_size_hint: 32 * MIB,
                    gc_threshold: 64 * MIB,
                    ..base
                },
                ConfigError::ThresholdAboveHeap {
                    threshold: 64 * MIB,
                    heap: 32 * MIB,
                },
            ),
        ];
        for (config, expected) in cases {
            let err = config.validate().unwrap_err();
            assert_eq!(err, expected, "{config:?}");
            assert!(!err.to_string().is_empty());
            // The builder refuses the same configuration with the same error.
            let built = MorphMemConfig::builder(config.mode)
                .heap_size_hint(config.heap_size_hint)
                .gc_threshold(config.gc_threshold)
                .nursery_size(config.nursery_size)
                .build();
            assert_eq!(built.unwrap_err(), expected);
        }
    }

    if Mode::Compiler.is_compiled() {
        let c = MorphMemConfig::COMPILER;
        let cases = [
            (
                MorphMemConfig {
                    gc_threshold: MIB,
                    ..c
                },
                "gc_threshold",
            ),
            (
                MorphMemConfig {
                    gc_pause_target_ms: 5,
                    ..c
                },
                "gc_pause_target_ms",
            ),
            (
                MorphMemConfig {
                    enable_generational: true,
                    ..c
                },
                "enable_generational",
            ),
            (
                MorphMemConfig {
                    enable_compaction: true,
                    ..c
                },
                "enable_compaction",
            ),
            (
                MorphMemConfig {
                    nursery_size: 2 * MIB,
                    ..c
                },
                "nursery_size",
            ),
        ];
        for (config, field) in cases {
            let err = config.validate().unwrap_err();
            assert_eq!(
                err,
                ConfigError::CollectorSettingWithoutCollector {
                    mode: Mode::Compiler,
                    setting: field
                }
            );
            assert!(err.to_string().contains("runs no garbage collector"));
        }
    }

    for mode in Mode::ALL.into_iter().filter(|m| !m.is_compiled()) {
        let err = mode.preset().validate().unwrap_err();
        assert_eq!(err, ConfigError::ModeNotCompiled { mode });
        assert!(err.to_string().contains(mode.feature()));
    }
}

#[test]
fn mode_override_parses_and_rejects() {
    let base = MorphMemConfig::COMPILER;
    for (value, mode) in [
        ("compiler", Mode::Compiler),
        ("RUNTIME", Mode::Runtime),
        (" vm ", Mode::Vm),
        ("Server", Mode::Server),
    ] {
        let config = base.with_mode_override(Some(value)).unwrap();
        assert_eq!(config.mode, mode);
        assert_eq!(
            config,
            MorphMemConfig {
                enable_metrics: base.enable_metrics,
                ..mode.preset()
            }
        );
    }
    // No value, or the same mode: the configuration is kept as it is.
    let custom = MorphMemConfig {
        heap_size_hint: 64 * MIB,
        ..base
    };
    assert_eq!(custom.with_mode_override(None).unwrap(), custom);
    assert_eq!(custom.with_mode_override(Some("compiler")).unwrap(), custom);
    let err = base.with_mode_override(Some("fast")).unwrap_err();
    assert_eq!(
        err,
        ConfigError::UnknownMode {
            value: "fast".into()
        }
    );
    assert!(err.to_string().contains("MORPH_MEM_MODE"));
}

#[test]
fn detection_follows_the_low_memory_rule() {
    let default = MorphMemConfig::default();
    assert_eq!(detect_config_for(None), default);
    if !default.mode.has_collector() {
        return;
    }
    assert_eq!(detect_config_for(Some(LOW_MEMORY)), default);
    for ram in [8u64 << 20, 64 << 20, 200 << 20, 511 << 20] {
        let config = detect_config_for(Some(ram));
        assert_eq!(config.heap_size_hint as u64, (ram / 4).max(256 << 10));
        assert_eq!(config.gc_threshold, config.heap_size_hint / 2, "RAM/8");
        config.validate().unwrap_or_else(|e| panic!("{ram}: {e}"));
    }
    // Under Miri's isolation, opening /proc/meminfo would abort the run.
    if !cfg!(miri) {
        assert!(morph_mem::available_ram().is_some_and(|r| r > 0) || !cfg!(target_os = "linux"));
    }
}

#[cfg(feature = "compiler")]
mod compiler {
    use super::*;
    use morph_mem::{AllocFlags, MorphMem, MorphMemError, Space};

    #[test]
    fn reset_frees_in_bulk_and_reuses_the_memory() {
        let mut mm = MorphMem::new(MorphMemConfig {
            enable_metrics: true,
            ..MorphMemConfig::COMPILER
        })
        .unwrap();
        let node = mm.register_type::<[u64; 4]>("Node").unwrap();
        let per_unit: u64 = if cfg!(miri) { 1_000 } else { 100_000 };
        let mut reserved = Vec::new();
        for unit in 0..4u64 {
            let arena = mm.arena().unwrap();
            let mut sum = 0;
            for i in 0..per_unit {
                sum += arena.alloc(node, [unit, i, 0, 0])[1];
            }
            assert_eq!(sum, (0..per_unit).sum::<u64>());
            let stats = mm.stats();
            assert_eq!(stats.allocation.current_live_objects, per_unit);
            reserved.push(stats.heap.arena_bytes);
            mm.reset();
            assert_eq!(mm.stats().allocation.current_live_objects, 0);
        }
        // Every unit after the first reuses the first one's chunks.
        assert!(reserved.windows(2).all(|w| w[0] == w[1]), "{reserved:?}");
        let stats = mm.stats();
        assert_eq!(stats.allocation.total_allocated_objects, 4 * per_unit);
        assert_eq!(stats.heap.arena_resets, 4);
        assert_eq!(stats.gc.gc_count, 0, "no collection in compiler mode");
        assert_eq!(stats.objects.by_type[0].name, "Node");
    }

    #[test]
    fn dispatcher_routes_by_flags_and_checks_frees() {
        let mut mm = MorphMem::new(MorphMemConfig::COMPILER).unwrap();
        let token = mm.register_type::<[u8; 48]>("Token").unwrap();
        // SAFETY: arena and pool memory runs no trace or drop function, and
        // `[u8; 48]` has none anyway.
        let a = unsafe { mm.alloc_raw(48, token.id(), AllocFlags::DEFAULT, &mut ()) }.unwrap();
        // SAFETY: as above.
        let pinned = unsafe { mm.alloc_raw(48, token.id(), AllocFlags::PINNED, &mut ()) }.unwrap();
        // SAFETY: as above.
        let b = unsafe { mm.alloc_raw(48, token.id(), AllocFlags::POOLED, &mut ()) }.unwrap();
        assert_eq!(
            (a.space, pinned.space, b.space),
            (Space::Arena, Space::Arena, Space::Pool)
        );
        assert_eq!(a.ptr.as_ptr() as usize % 8, 0);
        // A pointer the pools never handed out, and a double free: refused.
        assert!(matches!(
            mm.free_raw(a.ptr, 48, token.id()),
            Err(MorphMemError::Pool(_))
        ));
        mm.free_raw(b.ptr, 48, token.id()).unwrap();
        assert!(matches!(
            mm.free_raw(b.ptr, 48, token.id()),
            Err(MorphMemError::Pool(_))
        ));
        // Above the largest size class: a clear error, nothing allocated.
        assert!(matches!(
            // SAFETY: as above.
            unsafe { mm.alloc_raw(1 << 20, token.id(), AllocFlags::POOLED, &mut ()) },
            Err(MorphMemError::Pool(_))
        ));
    }

    #[test]
    fn collector_operations_are_refused_in_compiler_mode() {
        let mut mm = MorphMem::new(MorphMemConfig::COMPILER).unwrap();
        let err = mm.on_pressure(0.5, |_| {}).unwrap_err();
        assert!(matches!(
            err,
            MorphMemError::WrongMode {
                mode: Mode::Compiler,
                ..
            }
        ));
        #[cfg(any(feature = "runtime", feature = "vm", feature = "server"))]
        assert!(mm.heap().is_err());
    }
}

#[cfg(any(feature = "runtime", feature = "vm", feature = "server"))]
mod collector {
    use super::*;
    use morph_mem::gc::{GcError, Member, Trace};
    use morph_mem::{AllocFlags, MorphMem, MorphMemError, PressureEvent, Space};
    use std::cell::RefCell;
    use std::rc::Rc;

    fn gc_mode() -> Mode {
        [Mode::Runtime, Mode::Server, Mode::Vm]
            .into_iter()
            .find(|m| m.is_compiled())
            .unwrap()
    }

    #[derive(Trace)]
    struct Cell {
        value: u64,
        pad: [u64; 5],
        next: Member<Cell>,
    }

    #[test]
    fn dispatcher_routes_to_the_collector_spaces() {
        let mut mm = MorphMem::new(gc_mode().preset()).unwrap();
        let blob = mm.register_type::<[u8; 64]>("Blob").unwrap();
        let id = blob.id();
        // SAFETY: `[u8; 64]` has no trace or drop function, so nothing
        // reads these payloads, whatever their size; `&mut ()` reports no
        // slots, and no object is used after a later allocation could have
        // collected it.
        let young = unsafe { mm.alloc_raw(64, id, AllocFlags::DEFAULT, &mut ()) }.unwrap();
        // SAFETY: as above.
        let pinned = unsafe { mm.alloc_raw(64, id, AllocFlags::PINNED, &mut ()) }.unwrap();
        // SAFETY: as above.
        let tenured = unsafe { mm.alloc_raw(64, id, AllocFlags::TENURED, &mut ()) }.unwrap();
        // SAFETY: as above.
        let large = unsafe { mm.alloc_raw(2 << 20, id, AllocFlags::DEFAULT, &mut ()) }.unwrap();
        // SAFETY: as above.
        let pooled = unsafe { mm.alloc_raw(64, id, AllocFlags::POOLED, &mut ()) }.unwrap();
        assert_eq!(
            [
                young.space,
                pinned.space,
                tenured.space,
                large.space,
                pooled.space
            ],
            [
                Space::Nursery,
                Space::Old,
                Space::Old,
                Space::Large,
                Space::Pool
            ]
        );
        mm.free_raw(pooled.ptr, 64, id).unwrap();
        let stats = mm.stats();
        assert!(stats.heap.large_count >= 1 && stats.heap.pool_count >= 1);
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "the eden policy weighs pause times against a 10 ms target, and \
                  under Miri every minor pause lasts longer than that"
    )]
    fn runtime_mode_adapts_the_nursery_to_a_low_survival_rate() {
        if !Mode::Runtime.is_compiled() {
            return;
        }
        let mut mm = MorphMem::new(MorphMemConfig::RUNTIME).unwrap();
        let start = mm.heap().unwrap().raw().eden_size();
        mm.enter(|m| {
            let keep = m.alloc(Cell {
                value: 7,
                pad: [0; 5],
                next: Member::null(),
            });
            // Almost nothing survives: the policy has room to grow eden.
            for i in 0..400_000u64 {
                m.alloc(Cell {
                    value: i,
                    pad: [0; 5],
                    next: Member::null(),
                });
            }
            assert_eq!(keep.get(m).value, 7);
        })
        .unwrap();
        let grown = mm.heap().unwrap().raw().eden_size();
        assert!(
            grown > start,
            "eden stayed at {start} bytes with a near-zero survival rate"
        );
        assert!(grown <= 4 * MorphMemConfig::RUNTIME.nursery_size);
    }

    /// The server bound holds under a workload that tries to exceed it: the
    /// pressure callbacks fire at their fractions, in order, before the
    /// allocation error; the error loses nothing reachable; freeing data
    /// lets allocation go on.
    #[test]
    #[cfg_attr(
        miri,
        ignore = "fills a bounded heap to exhaustion: even at the smallest bound the \
                  facade allows (~1 MiB, thousands of cells) the allocations and the \
                  whole-heap collections near the bound take 6 minutes under Miri"
    )]
    fn server_bound_holds_with_pressure_callbacks_and_clean_errors() {
        if !Mode::Server.is_compiled() {
            return;
        }
        let bound = 24 * MIB;
        let config = MorphMemConfig::builder(Mode::Server)
            .heap_size_hint(bound)
            .gc_threshold(4 * MIB)
            .build()
            .unwrap();
        let mut mm = MorphMem::new(config).unwrap();
        let fired: Rc<RefCell<Vec<PressureEvent>>> = Rc::default();
        for fraction in [0.9, 0.5, 0.75] {
            let fired = Rc::clone(&fired);
            mm.on_pressure(fraction, move |e| fired.borrow_mut().push(e))
                .unwrap();
        }
        for bad in [0.0, -0.5, 1.5, f64::NAN] {
            assert!(matches!(
                mm.on_pressure(bad, |_| {}),
                Err(MorphMemError::InvalidPressureFraction { .. })
            ));
        }

        let (kept, error) = mm
            .enter(|m| {
                let head = m.alloc(Cell {
                    value: 0,
                    pad: [0; 5],
                    next: Member::null(),
                });
                let mut tail = head.clone();
                let mut kept = 1u64;
                let error = loop {
                    match m.try_alloc(Cell {
                        value: kept,
                        pad: [kept; 5],
                        next: Member::null(),
                    }) {
                        Ok(node) => {
                            tail.get(m).next.set(m, Some(node.get(m)));
                            tail = node;
                            kept += 1;
                            assert!(m.usage().reserved() <= bound);
                        }
                        Err(e) => break e,
                    }
                };
                // Everything reachable survived the failed allocation.
                let mut count = 0;
                let mut cursor = Some(head.get(m));
                while let Some(cell) = cursor {
                    assert_eq!(cell.value, count);
                    assert!(cell.pad.iter().all(|&p| p == count) || count == 0);
                    count += 1;
                    cursor = cell.next.get(m);
                }
                assert_eq!(count, kept);
                m.verify().expect("heap is consistent after the error");
                // Drop the list but its head: allocation works again.
                head.get(m).next.set(m, None);
                drop(tail);
                m.collect(morph_mem::gc::Collection::Major);
                for _ in 0..1000 {
                    m.try_alloc(Cell {
                        value: 0,
                        pad: [0; 5],
                        next: Member::null(),
                    })
                    .expect("memory came back after the data was dropped");
                }
                (kept, error)
            })
            .unwrap();
        assert!(matches!(error, GcError::HeapExhausted { .. }), "{error:?}");
        assert!(kept > 100_000, "only {kept} cells fit a {bound}-byte bound");
        let fired = fired.borrow();
        let thresholds: Vec<f64> = fired.iter().map(|e| e.threshold).collect();
        assert_eq!(thresholds, [0.5, 0.75, 0.9], "each fires once, in order");
        for event in fired.iter() {
            assert!(event.fraction() >= event.threshold);
            assert_eq!(event.bound, bound);
        }
        assert!(mm.stats().heap.heap_bytes <= bound as u64);
    }

    #[test]
    fn stats_cover_the_active_layers() {
        // Under Miri, a small nursery, so a few thousand cells collect too.
        let (config, cells) = if cfg!(miri) {
            let config = MorphMemConfig::builder(gc_mode())
                .nursery_size(64 << 10)
                .build()
                .unwrap();
            (config, 1_500)
        } else {
            (gc_mode().preset(), 100_000)
        };
        let mut mm = MorphMem::new(config).unwrap();
        mm.enter(|m| {
            for i in 0..cells {
                m.alloc(Cell {
                    value: i,
                    pad: [0; 5],
                    next: Member::null(),
                });
            }
        })
        .unwrap();
        let stats = mm.stats();
        assert_eq!(stats.mode, gc_mode().name());
        assert_eq!(stats.allocation.total_allocated_objects, cells);
        assert!(stats.gc.gc_count > 0 && stats.heap.nursery_bytes > 0);
        assert_eq!(stats.objects.by_type[0].name, "Cell");
        let report = stats.report();
        assert!(report.starts_with("=== Morph Memory Statistics ==="));
        assert!(report.contains(&format!("Mode: {}", gc_mode().name())));
        if cfg!(miri) {
            // Miri's isolation has no file system for the JSON round trip.
            return;
        }
        let path =
            std::env::temp_dir().join(format!("morph-mem-stats-{}.json", std::process::id()));
        mm.dump_stats(&path).unwrap();
        let loaded = morph_mem::metrics::MorphMemStats::load_stats(&path).unwrap();
        std::fs::remove_file(&path).ok();
        assert_eq!(loaded.allocation.total_allocated_objects, cells);
    }
}
