//! Random graph mutations against a plain model of the graph, under stress
//! mode. Each vertex has two member edges, a `GcVec<Tagged>` of more
//! edges mixed with integers, and a `GcMap` keyed by other vertices (edges
//! by identity, so identity hashes follow moves), so the containers'
//! barriers and buffers are exercised with the rest; and a weak edge and
//! a `GcWeakMap` of notes (ephemerons: key vertex → value vertex), whose
//! values the model counts reachable only through reachable keys.
//! Reproduce a failure with `MORPH_GC_SEED=<seed>`.

use std::collections::{HashMap, HashSet};

use morph_gengc::{
    Collection, Gc, GcConfig, GcMap, GcVec, GcWeakMap, Heap, Member, Mutator, Root, Tagged,
    TaggedValue, Trace, WeakMember,
};

use crate::{scaled, small_config};

#[derive(Trace)]
struct Vertex {
    id: u64,
    edges: [Member<Vertex>; 2],
    /// More edges (`Some`) and integers (`None` in the model).
    more: GcVec<Tagged>,
    /// Edges as keys, each with a number.
    keyed: GcMap<Member<Vertex>, std::cell::Cell<i64>>,
    /// An edge that keeps nothing alive.
    weak: WeakMember<Vertex>,
    /// Ephemerons: each value lives while its key does.
    notes: GcWeakMap<Vertex, Member<Vertex>>,
    payload: Vec<u64>,
}

fn vertex(id: u64, payload: Vec<u64>) -> Vertex {
    Vertex {
        id,
        edges: [Member::null(), Member::null()],
        more: GcVec::new(),
        keyed: GcMap::new(),
        weak: WeakMember::null(),
        notes: GcWeakMap::new(),
        payload,
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64: good enough spread for choosing operations.
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(Default)]
struct Model {
    edges: HashMap<u64, [Option<u64>; 2]>,
    more: HashMap<u64, Vec<Option<u64>>>,
    keyed: HashMap<u64, HashMap<u64, i64>>,
    /// The last vertex each weak edge was set to.
    weak: HashMap<u64, Option<u64>>,
    /// Each vertex's notes: key vertex → value vertex.
    notes: HashMap<u64, HashMap<u64, u64>>,
    roots: Vec<u64>,
}

impl Model {
    /// Strong edges, and the notes whose keys are reachable, to a fixed
    /// point.
    fn reachable(&self) -> HashSet<u64> {
        let mut seen = HashSet::new();
        let mut stack: Vec<u64> = self.roots.clone();
        loop {
            while let Some(id) = stack.pop() {
                if seen.insert(id) {
                    stack.extend(self.edges[&id].iter().flatten());
                    stack.extend(self.more[&id].iter().flatten());
                    stack.extend(self.keyed[&id].keys());
                }
            }
            for holder in &seen {
                for (key, value) in &self.notes[holder] {
                    if seen.contains(key) && !seen.contains(value) {
                        stack.push(*value);
                    }
                }
            }
            if stack.is_empty() {
                return seen;
            }
        }
    }
}

/// `after_full`: a full collection just ran, so every weak edge to a
/// vertex the model cannot reach is cleared.
fn check_reachable_graph<'gc>(
    m: &Mutator<'gc>,
    roots: &[Root<'gc, Vertex>],
    model: &Model,
    after_full: bool,
) {
    let reachable = model.reachable();
    let seen = reach(m, roots, model);
    for (&id, vertex) in &seen {
        let want = model.weak[&id];
        match vertex.weak.get(m).map(|v| v.id) {
            None => assert!(
                want.is_none_or(|w| !reachable.contains(&w)),
                "weak edge of vertex {id} cleared while its target is reachable"
            ),
            Some(got) => {
                assert_eq!(Some(got), want, "weak edge of vertex {id}");
                assert!(
                    !after_full || reachable.contains(&got),
                    "weak edge of vertex {id} kept past a full collection"
                );
            }
        }
    }
    let seen: HashSet<u64> = seen.into_keys().collect();
    assert_eq!(seen, reachable, "reachable sets differ");
}

/// The vertices reachable from `roots`, by strong edges and by the notes
/// of reached keys (to a fixed point), each checked against the model.
fn reach<'a, 'gc>(
    m: &'a Mutator<'gc>,
    roots: &[Root<'gc, Vertex>],
    model: &Model,
) -> HashMap<u64, Gc<'a, Vertex>> {
    let mut seen: HashMap<u64, Gc<'a, Vertex>> = HashMap::new();
    let mut stack: Vec<_> = roots.iter().map(|r| r.get(m)).collect();
    for (root, &id) in roots.iter().zip(&model.roots) {
        assert_eq!(root.get(m).id, id, "root points at the wrong vertex");
    }
    loop {
        walk_strong(m, &mut stack, &mut seen, model);
        // Notes whose keys were reached: present, with their values.
        for (&holder, vertex) in &seen {
            for (key, want) in &model.notes[&holder] {
                let Some(&key) = seen.get(key) else { continue };
                let got = vertex.notes.get(m, key).flatten();
                let got = got.unwrap_or_else(|| panic!("note of vertex {holder} lost"));
                assert_eq!(got.id, *want, "note of vertex {holder}");
                if !seen.contains_key(&got.id) {
                    stack.push(got);
                }
            }
        }
        if stack.is_empty() {
            return seen;
        }
    }
}

/// Walks the strong edges from `stack`, checking each vertex against the
/// model, into `seen`.
fn walk_strong<'a>(
    m: &'a Mutator<'_>,
    stack: &mut Vec<Gc<'a, Vertex>>,
    seen: &mut HashMap<u64, Gc<'a, Vertex>>,
    model: &Model,
) {
    while let Some(vertex) = stack.pop() {
        if seen.insert(vertex.id, vertex).is_some() {
            continue;
        }
        let expected = model.edges[&vertex.id];
        assert_eq!(
            vertex.payload,
            [vertex.id, vertex.id * 3],
            "payload of {}",
            vertex.id
        );
        for (edge, want) in vertex.edges.iter().zip(expected) {
            let got = edge.get(m);
            assert_eq!(got.map(|v| v.id), want, "edge of vertex {}", vertex.id);
            stack.extend(got);
        }
        let more: Vec<Option<u64>> = vertex
            .more
            .iter(m)
            .map(|value| match value {
                TaggedValue::Ref(r) => {
                    let target = r.downcast::<Vertex>(m).expect("a vertex");
                    stack.push(target);
                    Some(target.id)
                }
                TaggedValue::Int(i) => {
                    assert_eq!(i, vertex.id as i64, "integer in vertex {}", vertex.id);
                    None
                }
                other => panic!("unexpected {other:?} in vertex {}", vertex.id),
            })
            .collect();
        assert_eq!(
            more, model.more[&vertex.id],
            "more edges of vertex {}",
            vertex.id
        );
        let mut keyed = HashMap::new();
        for (key, number) in vertex.keyed.iter(m) {
            let target = key.expect("a vertex key");
            assert_eq!(
                vertex.keyed.get(m, Some(target)),
                Some(number),
                "lookup by identity"
            );
            keyed.insert(target.id, number);
            stack.push(target);
        }
        assert_eq!(
            keyed, model.keyed[&vertex.id],
            "keyed edges of vertex {}",
            vertex.id
        );
    }
}

/// `majors`: whether the program asks for full collections (which abandon
/// a running incremental cycle); without, cycles run to their end.
fn run(seed: u64, steps: usize, config: GcConfig, majors: bool) {
    eprintln!("gc model test: MORPH_GC_SEED={seed}");
    let mut rng = Rng(seed);
    let mut heap = Heap::new(config).unwrap();
    heap.enter(|m| {
        let mut model = Model::default();
        let mut roots: Vec<Root<'_, Vertex>> = Vec::new();
        let mut next_id = 0u64;
        for step in 0..steps {
            match rng.below(100) {
                // Allocate a new rooted vertex.
                0..=34 => {
                    let id = next_id;
                    next_id += 1;
                    let root = m.alloc(vertex(id, vec![id, id * 3]));
                    model.edges.insert(id, [None, None]);
                    model.more.insert(id, Vec::new());
                    model.keyed.insert(id, HashMap::new());
                    model.weak.insert(id, None);
                    model.notes.insert(id, HashMap::new());
                    model.roots.push(id);
                    roots.push(root);
                }
                // Drop a root.
                35..=54 if !roots.is_empty() => {
                    let i = rng.below(roots.len());
                    roots.swap_remove(i);
                    model.roots.swap_remove(i);
                }
                // Store root j (or null) into an edge of root i.
                55..=79 if !roots.is_empty() => {
                    let i = rng.below(roots.len());
                    let edge = rng.below(2);
                    let target = (rng.below(5) != 0).then(|| rng.below(roots.len()));
                    let value = target.map(|j| roots[j].get(m));
                    roots[i].get(m).edges[edge].set(m, value);
                    let from = model.roots[i];
                    model.edges.get_mut(&from).unwrap()[edge] = target.map(|j| model.roots[j]);
                }
                // Key root j into root i's map, or remove one of its keys.
                80..=81 if !roots.is_empty() => {
                    let i = rng.below(roots.len());
                    let from = model.roots[i];
                    let expected = model.keyed.get_mut(&from).unwrap();
                    if rng.below(3) == 0 && !expected.is_empty() {
                        let map = &roots[i].get(m).keyed;
                        let (key, _) = map.iter(m).nth(rng.below(expected.len())).unwrap();
                        let id = key.unwrap().id;
                        assert_eq!(map.remove(m, key), expected.remove(&id));
                    } else {
                        let j = rng.below(roots.len());
                        let number = step as i64;
                        GcMap::insert(
                            &roots[i],
                            |v| &v.keyed,
                            m,
                            |m| (Some(roots[j].get(m)), number),
                        );
                        expected.insert(model.roots[j], number);
                    }
                }
                // Follow an edge of root i and root what it finds.
                82..=91 if !roots.is_empty() => {
                    let i = rng.below(roots.len());
                    let edge = rng.below(2);
                    if let Some(target) = roots[i].get(m).edges[edge].get(m) {
                        let id = target.id;
                        let root = m.root(target);
                        roots.push(root);
                        model.roots.push(id);
                    }
                }
                // Push root j (or an integer) onto root i's vector.
                92..=93 if !roots.is_empty() => {
                    let i = rng.below(roots.len());
                    let from = model.roots[i];
                    let target = (rng.below(4) != 0).then(|| rng.below(roots.len()));
                    match target {
                        Some(j) => GcVec::push(
                            &roots[i],
                            |v| &v.more,
                            m,
                            |m| TaggedValue::Ref(roots[j].get(m).into()),
                        ),
                        None => GcVec::push(
                            &roots[i],
                            |v| &v.more,
                            m,
                            |_| TaggedValue::Int(from as i64),
                        ),
                    }
                    model
                        .more
                        .get_mut(&from)
                        .unwrap()
                        .push(target.map(|j| model.roots[j]));
                }
                // Point root i's weak edge at root j (or null), or note
                // root j → root k in root i's notes, or remove j's note.
                94 if !roots.is_empty() && rng.below(2) == 0 => {
                    let i = rng.below(roots.len());
                    let from = model.roots[i];
                    let j = rng.below(roots.len());
                    match rng.below(4) {
                        0 => {
                            roots[i].get(m).weak.set(m, None);
                            model.weak.insert(from, None);
                        }
                        1 => {
                            roots[i].get(m).weak.set(m, Some(roots[j].get(m)));
                            model.weak.insert(from, Some(model.roots[j]));
                        }
                        2 => {
                            let k = rng.below(roots.len());
                            GcWeakMap::insert(
                                &roots[i],
                                |v| &v.notes,
                                m,
                                |m| (roots[j].get(m), Some(roots[k].get(m))),
                            );
                            let notes = model.notes.get_mut(&from).unwrap();
                            notes.insert(model.roots[j], model.roots[k]);
                        }
                        _ => {
                            let removed = roots[i].get(m).notes.remove(m, roots[j].get(m));
                            let notes = model.notes.get_mut(&from).unwrap();
                            let want = notes.remove(&model.roots[j]);
                            assert_eq!(removed.flatten().map(|v| v.id), want);
                        }
                    }
                }
                // Pop from, or remove an element of, root i's vector.
                94 if !roots.is_empty() => {
                    let i = rng.below(roots.len());
                    let from = model.roots[i];
                    let expected = model.more.get_mut(&from).unwrap();
                    if !expected.is_empty() {
                        let vec = &roots[i].get(m).more;
                        if rng.below(2) == 0 {
                            vec.pop(m);
                            expected.pop();
                        } else {
                            let at = rng.below(expected.len());
                            vec.remove(m, at);
                            expected.remove(at);
                        }
                    }
                }
                95 => m.collect(Collection::Minor),
                96..=97 if majors => m.collect(Collection::Major),
                96 => m.collect(Collection::StartCycle),
                97 => m.collect(Collection::FinishCycle),
                _ => {
                    m.verify()
                        .unwrap_or_else(|e| panic!("seed {seed}, step {step}: {e:?}"));
                    check_reachable_graph(m, &roots, &model, false);
                }
            }
            // Garbage nobody roots.
            if step % 3 == 0 {
                m.alloc(vertex(u64::MAX, vec![]));
            }
        }
        check_reachable_graph(m, &roots, &model, false);
        m.verify().unwrap();
        // Everything unreachable is reclaimed: age all survivors into the old
        // generation, then collect it.
        for _ in 0..4 {
            m.collect(Collection::Minor);
        }
        m.collect(Collection::Major);
        check_reachable_graph(m, &roots, &model, true);
        // Every reachable vertex, and the buffer of each whose vector or
        // map ever grew (its earlier buffers are garbage).
        let reachable = model.reachable();
        let buffers: usize = reach(m, &roots, &model)
            .values()
            .map(|v| {
                usize::from(v.more.capacity(m) > 0)
                    + usize::from(v.keyed.capacity(m) > 0)
                    + usize::from(v.notes.capacity(m) > 0)
            })
            .sum();
        assert_eq!(
            m.usage().old_objects,
            reachable.len() + buffers,
            "seed {seed}"
        );
    });
}

fn seeds() -> Vec<u64> {
    match std::env::var("MORPH_GC_SEED") {
        Ok(seed) => vec![seed.parse().expect("MORPH_GC_SEED is a u64")],
        // Fixed seeds, plus one from the clock so every run explores a new
        // graph (printed above, for reproduction). Miri has no wall clock.
        Err(_) if cfg!(miri) => vec![1, 0xdead_beef],
        Err(_) => {
            let time = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            vec![1, 2, 0xdead_beef, time]
        }
    }
}

#[test]
fn random_graph_mutations_match_the_model() {
    for seed in seeds() {
        run(seed, scaled(6_000), small_config(), true);
    }
}

#[test]
fn random_graph_mutations_match_the_model_under_stress() {
    let config = GcConfig {
        stress_every: std::num::NonZeroU32::new(7),
        ..small_config()
    };
    for seed in seeds() {
        run(seed ^ 0x5eed, scaled(3_000), config.clone(), true);
    }
}

/// Incremental cycles run to their end: started by the program, by the
/// stress mode every 16th collection, or by old-generation growth, and
/// advanced a few objects at a time while the graph changes. Each cycle's
/// end checks that every reachable old object was marked.
#[test]
#[cfg_attr(
    miri,
    ignore = "Miri's few steps start no cycle; tests/all/incremental.rs takes cycles through Miri"
)]
fn random_graph_mutations_match_the_model_with_incremental_cycles() {
    let stressed = GcConfig {
        stress_every: std::num::NonZeroU32::new(5),
        ..small_config()
    };
    let paced = GcConfig {
        gc_threshold: 64 << 10,
        ..small_config()
    };
    for seed in seeds() {
        run(seed ^ 0x1c, scaled(3_000), stressed.clone(), false);
        run(seed ^ 0x2c, scaled(3_000), paced.clone(), false);
    }
}
