//! `ObjectHeader` encode/decode against a plain model of its fields.
//!
//! A header starts from arbitrary raw bits (or from `ObjectHeader::new`),
//! then takes a sequence of field writes. After every step each getter must
//! return what the model says, the word must round-trip through
//! `to_bits`/`from_bits`, and no field write may make the header look
//! forwarded. Out-of-range inputs (payload size, type id, young age,
//! misaligned forwarding address) must be refused with the right error and
//! leave the header unchanged. Forwarding addresses round-trip, also through
//! `AtomicHeader::try_forward`.

#![no_main]

use std::sync::atomic::Ordering;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use morph_header::{
    AtomicHeader, DIRECT_TYPE_IDS, Generation, HeaderError, HeaderFlags, MAX_PAYLOAD_SIZE,
    MAX_TYPES, ObjectHeader, TypeId,
};

#[derive(Arbitrary, Debug)]
enum Start {
    /// `ObjectHeader::new(size, type)`.
    New { size: usize, type_id: u32 },
    /// Whatever a word read from memory holds.
    Bits(u64),
}

#[derive(Arbitrary, Debug)]
enum Op {
    SetSize(usize),
    SetType(u32),
    SetMarked(bool),
    SetYoung(u8),
    SetOld,
    SetLarge,
    Older,
    Insert(u8),
    Remove(u8),
    Moved {
        generation: u8,
        clear: u8,
    },
    /// Forward through an atomic view of the header, then read it back.
    Forward(usize),
    /// Mark through an atomic view of the header.
    AtomicMark,
}

#[derive(Arbitrary, Debug)]
struct Input {
    start: Start,
    ops: Vec<Op>,
    /// Checked against the type id for `has_type_id`.
    probe_type: u32,
}

/// What the header should hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Model {
    size: usize,
    type_id: u32,
    marked: bool,
    generation: u8,
    flags: u8,
}

fn type_id(id: u32) -> Result<TypeId, HeaderError> {
    let result = TypeId::new(id);
    if (id as usize) < MAX_TYPES {
        let ty = result.clone().expect("ids below MAX_TYPES are valid");
        assert_eq!(ty.get(), id);
        assert_eq!(ty.index(), id as usize);
        assert_eq!(ty.is_direct(), id < DIRECT_TYPE_IDS);
    } else {
        assert_eq!(result, Err(HeaderError::TypeIdOutOfRange { id }));
    }
    result
}

fn check(header: ObjectHeader, model: &Model, probe: u32) {
    assert!(
        !header.is_forwarded(),
        "a live header reads as forwarded: {model:?}"
    );
    assert_eq!(header.forwarded_to(), None);
    assert_eq!(header.payload_size(), model.size, "payload size");
    assert_eq!(header.type_id().get(), model.type_id, "type id");
    assert_eq!(header.is_marked(), model.marked, "mark bit");
    assert_eq!(
        header.generation().to_byte(),
        model.generation,
        "generation"
    );
    assert_eq!(header.flags().bits(), model.flags, "flags");
    assert_eq!(
        header.flags().bits() & 0b10,
        0,
        "flags expose the forwarding bit"
    );
    // The encoded word is the whole state: it round-trips.
    assert_eq!(ObjectHeader::from_bits(header.to_bits()), header);
    // `has_type_id` is the same answer as comparing `type_id()`.
    let own = TypeId::new(model.type_id).expect("a decoded type id is valid");
    assert!(header.has_type_id(own));
    if let Ok(probe) = TypeId::new(probe) {
        assert_eq!(header.has_type_id(probe), probe.get() == model.type_id);
    }
    let generation = header.generation();
    assert_eq!(
        generation.is_young(),
        model.generation <= Generation::MAX_YOUNG_AGE
    );
    assert_eq!(generation.is_old(), model.generation == 254);
    assert_eq!(generation.is_large(), model.generation == 255);
    let _ = format!("{header:?}");
}

fn check_forwarding(addr: usize) -> Option<ObjectHeader> {
    match ObjectHeader::forwarding(addr) {
        Ok(forwarded) => {
            assert_eq!(addr % 8, 0, "a misaligned address {addr:#x} was accepted");
            assert!(forwarded.is_forwarded());
            assert_eq!(
                forwarded.forwarded_to(),
                Some(addr),
                "forwarding round trip"
            );
            assert_eq!(
                ObjectHeader::from_bits(forwarded.to_bits()).forwarded_to(),
                Some(addr)
            );
            let _ = format!("{forwarded:?}");
            Some(forwarded)
        }
        Err(error) => {
            assert_ne!(addr % 8, 0, "an aligned address {addr:#x} was refused");
            assert_eq!(error, HeaderError::MisalignedForwardingAddress { addr });
            let _ = error.to_string();
            None
        }
    }
}

fuzz_target!(|input: Input| {
    // Any word is a header value; reading it never panics.
    let (mut header, mut model) = match input.start {
        Start::Bits(bits) => {
            let header = ObjectHeader::from_bits(bits);
            let _ = format!("{header:?}");
            if let Some(addr) = header.forwarded_to() {
                // A forwarded word decodes to an address whose bit 0 is
                // clear (the rotation puts the forwarding bit there).
                assert_eq!(addr & 1, 0);
                return;
            }
            let model = Model {
                size: header.payload_size(),
                type_id: header.type_id().get(),
                marked: header.is_marked(),
                generation: header.generation().to_byte(),
                flags: header.flags().bits(),
            };
            assert!(model.size <= MAX_PAYLOAD_SIZE);
            assert!((model.type_id as usize) < MAX_TYPES);
            (header, model)
        }
        Start::New { size, type_id: id } => {
            let ty = type_id(id);
            let result = ty.clone().and_then(|ty| ObjectHeader::new(size, ty));
            match (ty, size <= MAX_PAYLOAD_SIZE) {
                (Err(error), _) => {
                    assert_eq!(result, Err(error));
                    return;
                }
                (Ok(_), false) => {
                    assert_eq!(result, Err(HeaderError::PayloadTooLarge { size }));
                    return;
                }
                (Ok(_), true) => {}
            }
            let header = result.expect("valid size and type");
            let model = Model {
                size,
                type_id: id,
                marked: false,
                generation: 0,
                flags: 0,
            };
            (header, model)
        }
    };
    check(header, &model, input.probe_type);

    for op in input.ops.into_iter().take(256) {
        match op {
            Op::SetSize(size) => {
                let before = header;
                match header.set_payload_size(size) {
                    Ok(()) => {
                        assert!(size <= MAX_PAYLOAD_SIZE);
                        model.size = size;
                    }
                    Err(error) => {
                        assert!(size > MAX_PAYLOAD_SIZE);
                        assert_eq!(error, HeaderError::PayloadTooLarge { size });
                        assert_eq!(header, before, "a refused size changed the header");
                    }
                }
            }
            Op::SetType(id) => {
                if let Ok(ty) = type_id(id) {
                    header.set_type_id(ty);
                    model.type_id = id;
                }
            }
            Op::SetMarked(marked) => {
                header.set_marked(marked);
                model.marked = marked;
            }
            Op::SetYoung(age) => match Generation::young(age) {
                Ok(generation) => {
                    assert!(age <= Generation::MAX_YOUNG_AGE);
                    assert_eq!(generation.age(), Some(age));
                    header.set_generation(generation);
                    model.generation = age;
                }
                Err(error) => {
                    assert!(age > Generation::MAX_YOUNG_AGE);
                    assert_eq!(error, HeaderError::AgeOutOfRange { age });
                }
            },
            Op::SetOld => {
                header.set_generation(Generation::OLD);
                model.generation = 254;
            }
            Op::SetLarge => {
                header.set_generation(Generation::LARGE);
                model.generation = 255;
            }
            Op::Older => {
                let older = header.generation().older();
                if model.generation < Generation::MAX_YOUNG_AGE {
                    assert_eq!(older.to_byte(), model.generation + 1);
                } else {
                    assert_eq!(older.to_byte(), model.generation, "ages saturate");
                }
                header.set_generation(older);
                model.generation = older.to_byte();
            }
            Op::Insert(bits) => {
                header.insert_flags(HeaderFlags::from_bits_truncate(bits));
                model.flags |= bits & !0b10;
            }
            Op::Remove(bits) => {
                header.remove_flags(HeaderFlags::from_bits_truncate(bits));
                model.flags &= !bits;
            }
            Op::Moved { generation, clear } => {
                header = header.moved(
                    Generation::from_byte(generation),
                    HeaderFlags::from_bits_truncate(clear),
                );
                model.generation = generation;
                model.marked = false;
                model.flags &= !clear;
            }
            Op::Forward(addr) => {
                let expected = check_forwarding(addr);
                let atomic = AtomicHeader::new(header);
                match atomic.try_forward(header, addr) {
                    Ok(Ok(())) => {
                        let installed = atomic.load(Ordering::Acquire);
                        assert_eq!(Some(installed), expected);
                        assert_eq!(installed.forwarded_to(), Some(addr));
                        // A second forward from the stale header loses and
                        // sees the first one's address.
                        if let Ok(Err(current)) = atomic.try_forward(header, addr.wrapping_add(8)) {
                            assert_eq!(current.forwarded_to(), Some(addr));
                        } else {
                            panic!("a stale try_forward succeeded");
                        }
                    }
                    Ok(Err(current)) => {
                        panic!("forwarding an unchanged header failed: {current:?}")
                    }
                    Err(error) => {
                        assert!(expected.is_none());
                        assert_eq!(error, HeaderError::MisalignedForwardingAddress { addr });
                        assert_eq!(atomic.load(Ordering::Acquire), header);
                    }
                }
            }
            Op::AtomicMark => {
                let atomic = AtomicHeader::new(header);
                assert_eq!(atomic.try_mark(), !model.marked, "try_mark's winner");
                assert!(!atomic.try_mark(), "a second try_mark wins");
                header = atomic.load(Ordering::Acquire);
                model.marked = true;
            }
        }
        check(header, &model, input.probe_type);
    }
});
