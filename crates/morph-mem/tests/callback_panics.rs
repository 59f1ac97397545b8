//! A memory-pressure callback that panics: the collection it runs after
//! completes first, the panic comes out of the allocation that collected,
//! and the heap stays usable with nothing reachable lost.
#![cfg(feature = "server")]

use std::panic::{self, AssertUnwindSafe};

use morph_mem::gc::{Collection, Member, Trace};
use morph_mem::{Mode, MorphMem, MorphMemConfig};

#[derive(Trace)]
struct Node {
    value: u64,
    next: Member<Node>,
}

#[test]
fn a_panicking_pressure_callback_leaves_the_heap_consistent() {
    // Under Miri, a small heap whose first collection comes after a few
    // thousand allocations rather than ~90,000.
    let (heap, threshold, nursery) = if cfg!(miri) {
        (4 << 20, 1 << 20, 64 << 10)
    } else {
        (64 << 20, 4 << 20, MorphMemConfig::SERVER.nursery_size)
    };
    let config = MorphMemConfig::builder(Mode::Server)
        .heap_size_hint(heap)
        .gc_threshold(threshold)
        .nursery_size(nursery)
        .build()
        .unwrap();
    let mut mm = MorphMem::new(config).unwrap();
    // A low line, so the first collection crosses it.
    mm.on_pressure(0.01, |_| panic!("pressure callback failed"))
        .unwrap();
    mm.enter(|m| {
        let head = m.alloc(Node {
            value: 1,
            next: Member::null(),
        });
        let panicked = panic::catch_unwind(AssertUnwindSafe(|| {
            for value in 0..1_000_000 {
                let node = m.alloc(Node {
                    value,
                    next: Member::null(),
                });
                head.get(m).next.set(m, Some(node.get(m)));
            }
        }));
        let payload = panicked.expect_err("the callback fired and panicked");
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"pressure callback failed")
        );
        assert_eq!(m.verify(), Ok(()));
        m.collect(Collection::Major);
        assert_eq!(head.get(m).value, 1);
        assert!(head.get(m).next.get(m).is_some());
    })
    .unwrap();
}
