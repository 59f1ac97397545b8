//! `Str` objects and identity hashes, across the collections that move
//! objects and the ones that free them.

use morph_gengc::{Collection, Gc, GcAny, Heap, Member, Tagged, TaggedValue, Trace};

use crate::{scaled, small_config};

#[derive(Trace)]
struct Named {
    name: Member<morph_gengc::Str>,
    any: Tagged,
}

#[test]
fn strings_keep_their_contents_through_every_collection() {
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let long = "é".repeat(scaled(40_000)); // past the large-object threshold natively
        let texts = ["", "a", "hello, world", long.as_str()];
        let mut holders = Vec::new();
        for text in texts {
            let s = m.alloc_str(text);
            let n = m.alloc(Named {
                name: Member::null(),
                any: Tagged::nil(),
            });
            n.get(m).name.set(m, Some(s.get(m)));
            n.get(m).any.set(m, TaggedValue::Ref(s.get(m).into()));
            holders.push(n);
        }
        for kind in [
            Collection::Minor,
            Collection::Minor,
            Collection::Major,
            Collection::Minor,
        ] {
            for _ in 0..scaled(2_000) {
                m.alloc_str("garbage");
            }
            m.collect(kind);
            m.verify().unwrap();
            for (n, text) in holders.iter().zip(texts) {
                let n = n.get(m);
                let s = n.name.get(m).unwrap();
                assert_eq!(s.as_str(), text);
                assert_eq!(s.len(), text.len());
                let TaggedValue::Ref(any) = n.any.get(m) else {
                    panic!("a reference")
                };
                assert_eq!(any.as_str(m), Some(text));
                assert!(any.is::<morph_gengc::Str>(m));
            }
        }
        let other = m.alloc(Named {
            name: Member::null(),
            any: Tagged::nil(),
        });
        assert_eq!(GcAny::from(other.get(m)).as_str(m), None);
    });
}

#[test]
fn identity_hashes_survive_moves_and_promotion_and_differ() {
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let n = scaled(1_000);
        let objects: Vec<_> = (0..n)
            .map(|_| {
                m.alloc(Named {
                    name: Member::null(),
                    any: Tagged::nil(),
                })
            })
            .collect();
        let hashes: Vec<u64> = objects.iter().map(|o| o.get(m).identity_hash(m)).collect();
        let distinct: std::collections::HashSet<_> = hashes.iter().collect();
        assert_eq!(distinct.len(), n);
        for kind in [
            Collection::Minor,
            Collection::Minor,
            Collection::Minor,
            Collection::Minor,
            Collection::Major,
            Collection::Minor,
        ] {
            m.collect(kind);
            for (o, &h) in objects.iter().zip(&hashes) {
                assert_eq!(o.get(m).identity_hash(m), h);
                assert_eq!(GcAny::from(o.get(m)).identity_hash(m), h);
            }
        }
        assert!(objects.iter().all(|o| !m.is_young(o.get(m))));
    });
}

#[test]
fn hashes_of_dead_objects_are_forgotten() {
    let mut heap = Heap::new(small_config()).unwrap();
    heap.enter(|m| {
        let keep = m.alloc_str("kept");
        let kept = keep.get(m).identity_hash(m);
        for _ in 0..scaled(500) {
            let s = m.alloc_str("dies");
            s.get(m).identity_hash(m);
        }
        let old = m.alloc_tenured(Named {
            name: Member::null(),
            any: Tagged::nil(),
        });
        old.unwrap().get(m).identity_hash(m);
        assert!(m.identity_hashed() >= scaled(500) + 2);
        m.collect(Collection::Minor);
        assert_eq!(
            m.identity_hashed(),
            2,
            "the dead young ones go at a minor collection"
        );
        m.collect(Collection::Major);
        assert_eq!(
            m.identity_hashed(),
            1,
            "the dead old one goes at a major collection"
        );
        assert_eq!(keep.get(m).identity_hash(m), kept);
    });
}

#[test]
#[should_panic(expected = "another heap")]
fn the_hash_of_another_heaps_object_is_refused() {
    let mut a = Heap::new(small_config()).unwrap();
    let mut b = Heap::new(small_config()).unwrap();
    a.enter(|ma| {
        let s = ma.alloc_str("a");
        let s: Gc<'_, morph_gengc::Str> = s.get(ma);
        b.enter(|mb| {
            s.identity_hash(mb);
        });
    });
}
