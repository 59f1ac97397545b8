//! Behaviour of the header word, forwarding and the type registry.

use std::sync::Arc;
use std::thread;

use morph_header::{
    AtomicHeader, DIRECT_TYPE_IDS, Generation, HeaderError, HeaderFlags, MAX_PAYLOAD_SIZE,
    MAX_TYPES, ObjectHeader, ObjectHeaderExt, TypeDescriptor, TypeId, TypeRegistry,
};

/// Extreme and interesting values of every field.
const SIZES: [usize; 6] = [0, 1, 8, 0x80_0000, MAX_PAYLOAD_SIZE - 1, MAX_PAYLOAD_SIZE];
const TYPE_IDS: [u32; 8] = [0, 1, 63, 126, 127, 128, 4096, MAX_TYPES as u32 - 1];
const GENERATIONS: [u8; 6] = [0, 1, 127, 253, 254, 255];
const FLAG_BITS: [u8; 5] = [0, 0x01, 0xfd, 0x7c, 0x81];

fn ty(id: u32) -> TypeId {
    TypeId::new(id).unwrap()
}

#[test]
fn headers_are_one_word_and_extensions_three() {
    assert_eq!(std::mem::size_of::<ObjectHeader>(), 8);
    assert_eq!(std::mem::align_of::<ObjectHeader>(), 8);
    assert_eq!(std::mem::size_of::<AtomicHeader>(), 8);
    assert_eq!(std::mem::align_of::<AtomicHeader>(), 8);
    #[cfg(target_pointer_width = "64")]
    {
        assert_eq!(std::mem::size_of::<ObjectHeaderExt>(), 24);
        assert_eq!(std::mem::align_of::<ObjectHeaderExt>(), 8);
        assert_eq!(std::mem::offset_of!(ObjectHeaderExt, header), 0);
    }
}

#[test]
fn every_field_round_trips_at_its_extremes_without_disturbing_its_neighbours() {
    for size in SIZES {
        for id in TYPE_IDS {
            for generation in GENERATIONS {
                for flags in FLAG_BITS {
                    for marked in [false, true] {
                        let mut h = ObjectHeader::new(size, ty(id)).unwrap();
                        h.set_generation(Generation::from_byte(generation));
                        h.insert_flags(HeaderFlags::from_bits_truncate(flags));
                        h.set_marked(marked);
                        assert_eq!(h.payload_size(), size);
                        assert_eq!(h.type_id(), ty(id));
                        for other in TYPE_IDS {
                            assert_eq!(h.has_type_id(ty(other)), other == id, "{id} vs {other}");
                        }
                        assert_eq!(h.generation().to_byte(), generation);
                        assert_eq!(h.flags().bits(), flags & HeaderFlags::ALL.bits());
                        assert_eq!(h.is_marked(), marked);
                        assert!(
                            !h.is_forwarded(),
                            "no field may reach the forwarding bit: {h:?}"
                        );
                        let back = ObjectHeader::from_bits(h.to_bits());
                        assert_eq!(back, h);
                    }
                }
            }
        }
    }
}

#[test]
fn changing_one_field_leaves_the_others_alone() {
    let base = {
        let mut h = ObjectHeader::new(MAX_PAYLOAD_SIZE, ty(MAX_TYPES as u32 - 1)).unwrap();
        h.set_generation(Generation::LARGE);
        h.insert_flags(HeaderFlags::ALL);
        h.set_marked(true);
        h
    };
    let mut h = base;
    h.set_payload_size(0).unwrap();
    assert_eq!(h.payload_size(), 0);
    assert_eq!(h.type_id(), base.type_id());
    assert_eq!(
        (h.is_marked(), h.generation(), h.flags()),
        (true, Generation::LARGE, HeaderFlags::ALL)
    );

    let mut h = base;
    h.set_type_id(ty(0));
    assert_eq!(h.payload_size(), MAX_PAYLOAD_SIZE);
    assert_eq!(
        (h.is_marked(), h.generation(), h.flags()),
        (true, Generation::LARGE, HeaderFlags::ALL)
    );

    let mut h = base;
    h.set_marked(false);
    assert_eq!(
        (h.payload_size(), h.type_id()),
        (MAX_PAYLOAD_SIZE, base.type_id())
    );
    assert_eq!(
        (h.generation(), h.flags()),
        (Generation::LARGE, HeaderFlags::ALL)
    );

    let mut h = base;
    h.set_generation(Generation::NURSERY);
    assert_eq!(
        (h.payload_size(), h.type_id(), h.is_marked()),
        (MAX_PAYLOAD_SIZE, base.type_id(), true)
    );
    assert_eq!(h.flags(), HeaderFlags::ALL);

    let mut h = base;
    h.remove_flags(HeaderFlags::ALL);
    assert!(h.flags().is_empty());
    assert_eq!(
        (h.payload_size(), h.type_id(), h.is_marked()),
        (MAX_PAYLOAD_SIZE, base.type_id(), true)
    );
    assert_eq!(h.generation(), Generation::LARGE);
}

#[test]
fn escaped_type_ids_switch_back_to_direct_cleanly() {
    let mut h = ObjectHeader::new(16, ty(60_000)).unwrap();
    assert_eq!(h.type_id(), ty(60_000));
    h.set_type_id(ty(5));
    assert_eq!(h.type_id(), ty(5));
    assert_eq!(
        h.to_bits() >> 48,
        0,
        "reserved bits are cleared for a direct id"
    );
    h.set_type_id(ty(DIRECT_TYPE_IDS));
    assert_eq!(h.type_id(), ty(DIRECT_TYPE_IDS));
}

#[test]
fn out_of_range_inputs_are_refused_and_change_nothing() {
    assert_eq!(
        ObjectHeader::new(MAX_PAYLOAD_SIZE + 1, ty(0)),
        Err(HeaderError::PayloadTooLarge {
            size: MAX_PAYLOAD_SIZE + 1
        })
    );
    let mut h = ObjectHeader::new(100, ty(1)).unwrap();
    let before = h;
    assert!(h.set_payload_size(usize::MAX).is_err());
    assert_eq!(h, before);
    assert_eq!(
        TypeId::new(MAX_TYPES as u32),
        Err(HeaderError::TypeIdOutOfRange {
            id: MAX_TYPES as u32
        })
    );
    assert_eq!(
        Generation::young(254),
        Err(HeaderError::AgeOutOfRange { age: 254 })
    );
    for err in [
        HeaderError::PayloadTooLarge { size: 1 << 30 },
        HeaderError::TypeIdOutOfRange { id: u32::MAX },
        HeaderError::AgeOutOfRange { age: 255 },
        HeaderError::RegistryFull { capacity: 3 },
        HeaderError::MisalignedForwardingAddress { addr: 3 },
    ] {
        assert!(err.to_string().len() > 30, "message too terse: {err}");
    }
}

#[test]
fn flags_never_claim_forwarding() {
    let mut h = ObjectHeader::new(8, ty(1)).unwrap();
    h.insert_flags(HeaderFlags::from_bits_truncate(0xff));
    assert!(!h.is_forwarded());
    assert_eq!(h.forwarded_to(), None);
}

#[test]
fn forwarding_addresses_round_trip() {
    // Every aligned address, up to the top of the address space: the
    // encoding drops no bit.
    let mut addresses = vec![0usize, 8, 0x1000, 0x7fff_ffff_fff8, 0x5555_5555_5550];
    addresses.push(usize::MAX & !7);
    if usize::BITS == 64 {
        addresses.extend([1usize << 59, 0xffff_8000_0000_0000, 0xaaaa_aaaa_aaaa_aaa8]);
    }
    for bit in 3..usize::BITS {
        addresses.push(1usize << bit);
    }
    for addr in addresses {
        let h = ObjectHeader::forwarding(addr).unwrap();
        assert!(h.is_forwarded(), "{addr:#x}");
        assert_eq!(h.forwarded_to(), Some(addr), "{addr:#x}");
    }
    for misaligned in [0x1001, 0x1002, 0x1004, usize::MAX] {
        assert_eq!(
            ObjectHeader::forwarding(misaligned),
            Err(HeaderError::MisalignedForwardingAddress { addr: misaligned })
        );
    }
}

#[test]
fn forwarding_a_real_object_points_at_its_copy() {
    let from = Box::new(ObjectHeader::new(24, ty(9)).unwrap());
    let to = Box::new(*from);
    let to_addr = std::ptr::from_ref::<ObjectHeader>(&to).addr();
    let forwarded = ObjectHeader::forwarding(to_addr).unwrap();
    assert_eq!(forwarded.forwarded_to(), Some(to_addr));
    assert_eq!(to.type_id(), ty(9));
}

#[test]
fn atomic_view_of_a_header_in_memory_marks_and_forwards_it() {
    let mut words = [ObjectHeader::new(40, ty(3)).unwrap(); 2];
    let target = std::ptr::from_ref(&words[1]).addr();
    let first = std::ptr::from_mut(&mut words[0]);
    {
        // SAFETY: `first` is valid and aligned for the block, and nothing else
        // touches words[0] while the atomic view is alive.
        let atomic = unsafe { AtomicHeader::from_ptr(first) };
        assert!(atomic.try_mark());
        assert!(!atomic.try_mark());
        let current = atomic.load(std::sync::atomic::Ordering::Acquire);
        assert!(current.is_marked());
        assert_eq!(atomic.try_forward(current, target).unwrap(), Ok(()));
        let lost = atomic.try_forward(current, target + 8).unwrap();
        assert_eq!(lost.map_err(|h| h.forwarded_to()), Err(Some(target)));
    }
    assert_eq!(words[0].forwarded_to(), Some(target));
    assert_eq!(words[1].payload_size(), 40);
}

#[test]
fn generation_ages_saturate_and_old_stays_old() {
    let mut g = Generation::NURSERY;
    for expected in 1..=Generation::MAX_YOUNG_AGE {
        g = g.older();
        assert_eq!(g.age(), Some(expected));
    }
    assert_eq!(g.older(), g);
    assert_eq!(Generation::OLD.older(), Generation::OLD);
    assert_eq!(Generation::LARGE.older(), Generation::LARGE);
    assert!(Generation::OLD.age().is_none() && !Generation::LARGE.is_young());
}

#[test]
fn extension_header_keeps_link_and_metadata() {
    let mut a = ObjectHeaderExt::new(ObjectHeader::new(8, ty(1)).unwrap(), 7);
    let b = ObjectHeaderExt::new(ObjectHeader::new(8, ty(2)).unwrap(), 8);
    a.next = Some(std::ptr::NonNull::from(&b));
    assert!(a.header.flags().contains(HeaderFlags::HAS_EXTENSION));
    // SAFETY: the link points at `b`, alive for this whole function.
    let linked = unsafe { a.next.unwrap().as_ref() };
    assert_eq!(linked.metadata, 8);
    assert_eq!(linked.header.type_id(), ty(2));
}

const THREADS: usize = if cfg!(miri) { 3 } else { 8 };
const PER_THREAD: usize = if cfg!(miri) { 50 } else { 400 };

#[test]
fn more_than_128_types_register_and_resolve_from_many_threads() {
    let registry = Arc::new(TypeRegistry::new());
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let registry = Arc::clone(&registry);
            thread::spawn(move || {
                let mut mine = Vec::new();
                for i in 0..PER_THREAD {
                    let name = format!("T{t}_{i}");
                    let size = 8 * (1 + (t * PER_THREAD + i) % 32);
                    let layout = std::alloc::Layout::from_size_align(size, 8).unwrap();
                    let id = registry
                        .register(TypeDescriptor::new(name.clone(), layout))
                        .unwrap();
                    // Resolve our own and, concurrently, whatever others registered.
                    assert_eq!(registry.get(id).unwrap().name(), name);
                    let any = TypeId::new((id.get() * 7) % (id.get() + 1)).unwrap();
                    let _ = registry.get(any).map(|d| d.layout());
                    mine.push((id, name, size));
                }
                mine
            })
        })
        .collect();
    let mut all: Vec<_> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(registry.len(), THREADS * PER_THREAD);
    assert!(registry.len() > 128);
    all.sort_by_key(|(id, _, _)| *id);
    for (expected, (id, name, size)) in all.iter().enumerate() {
        assert_eq!(id.index(), expected, "ids are dense and unique");
        let d = registry.get(*id).unwrap();
        assert_eq!((d.name(), d.layout().size()), (name.as_str(), *size));
    }
    assert_eq!(registry.iter().count(), THREADS * PER_THREAD);
}

#[test]
fn a_full_registry_refuses_and_keeps_what_it_has() {
    let registry = TypeRegistry::with_capacity(3);
    for i in 0..3 {
        registry
            .register(TypeDescriptor::of::<u64>(format!("t{i}")))
            .unwrap();
    }
    let err = registry
        .register(TypeDescriptor::of::<u64>("extra"))
        .unwrap_err();
    assert_eq!(err, HeaderError::RegistryFull { capacity: 3 });
    assert_eq!(registry.len(), 3);
    assert_eq!(registry.name_of(ty(2)), "t2");
    assert_eq!(registry.name_of(ty(3)), "<unregistered>");
    assert!(TypeRegistry::with_capacity(usize::MAX).capacity() == MAX_TYPES);
}

#[test]
fn descriptors_drop_and_trace_real_objects() {
    use std::ptr::NonNull;
    use std::rc::Rc;

    #[repr(C)]
    struct Pair {
        left: *mut u8,
        right: *mut u8,
        guard: Rc<()>,
    }

    /// # Safety
    /// `object` is a live `Pair`.
    unsafe fn trace_pair(object: NonNull<u8>, visitor: &mut dyn morph_header::SlotVisitor) {
        let pair = object.cast::<Pair>().as_ptr();
        // SAFETY: the caller passes a live Pair; taking a field address reads nothing.
        let left = unsafe { &raw mut (*pair).left };
        // SAFETY: as above.
        let right = unsafe { &raw mut (*pair).right };
        visitor.visit_slot(NonNull::new(left).unwrap());
        visitor.visit_slot(NonNull::new(right).unwrap());
    }

    struct Collect(Vec<usize>);
    impl morph_header::SlotVisitor for Collect {
        fn visit_slot(&mut self, slot: NonNull<*mut u8>) {
            // SAFETY: trace_pair hands out slots of a live Pair.
            let target = unsafe { slot.read() };
            self.0.push(target.addr());
            // A moving collector rewrites the slot.
            // SAFETY: as above; the slot is writable.
            unsafe { slot.write(target.wrapping_add(8)) };
        }
    }

    let guard = Rc::new(());
    let d = TypeDescriptor::of::<Pair>("Pair").with_trace(trace_pair);
    let mut pair = std::mem::ManuallyDrop::new(Pair {
        left: std::ptr::without_provenance_mut(0x100),
        right: std::ptr::without_provenance_mut(0x200),
        guard: Rc::clone(&guard),
    });
    let object = NonNull::from(&mut *pair).cast::<u8>();
    let mut seen = Collect(Vec::new());
    // SAFETY: `object` is the live Pair above.
    unsafe { d.trace_fn().unwrap()(object, &mut seen) };
    assert_eq!(seen.0, vec![0x100, 0x200]);
    assert_eq!((pair.left.addr(), pair.right.addr()), (0x108, 0x208));
    assert_eq!(Rc::strong_count(&guard), 2);
    // SAFETY: the Pair is live and never used again (ManuallyDrop stops a second drop).
    unsafe { d.drop_fn().unwrap()(object) };
    assert_eq!(
        Rc::strong_count(&guard),
        1,
        "the descriptor ran Pair's destructor"
    );
}
