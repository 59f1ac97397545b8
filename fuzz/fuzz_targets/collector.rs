//! The collector's safe API, driven by a random operation sequence against
//! a plain model of the object graph.
//!
//! The heap is small and in stress mode (a collection every few
//! allocations), with the geometry (nursery, survivors, promotion age,
//! large-object threshold, adaptive sizing) taken from the input. Two node
//! types share the graph: `FNode`, which has a finalizer and drop glue, and
//! `PNode`, which has neither. The model maps node id → kind, value and
//! child ids; the roots are a `Vec` beside the real `Root`s.
//!
//! Checked:
//! * after every explicit collection (and on `Verify`): `verify()` is Ok,
//!   every rooted node and its reachable subgraph match the model (ids,
//!   values, edges, payloads, pinned addresses), and the reachable sets
//!   are equal;
//! * after every step: each finalizer ran at most once, only for a node the
//!   model says is unreachable, and no node is seen again after its
//!   finalizer ran or its weak root cleared;
//! * after a major collection: weak roots to unreachable nodes read `None`,
//!   weak roots to reachable ones read their node;
//! * after a major collection followed by a minor one: the finalizer count
//!   equals the number of finalizable nodes that are unreachable;
//! * after the heap is dropped: every finalizable node was finalized
//!   exactly once and every node's fields were dropped.
//!
//! Only the safe API is used: no raw allocation, no `RootSet`, and one
//! `Heap::enter` at a time.

#![no_main]

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::rc::Rc;
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use morph_gengc::{
    Collection, Finalize, Gc, GcConfig, Heap, Member, Mutator, Root, Trace, WeakRoot,
};

thread_local! {
    /// Ids of the `FNode`s whose finalizer ran, in order.
    static FINALIZED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// A node with a finalizer and drop glue (a `Vec`, an `Rc`).
#[derive(Trace)]
#[trace(finalize)]
struct FNode {
    id: u64,
    value: Cell<u64>,
    f: [Member<FNode>; 2],
    p: [Member<PNode>; 2],
    payload: Vec<u64>,
    /// Counts the `FNode`s not yet dropped (strong count − 1).
    token: Rc<()>,
}

impl Finalize for FNode {
    fn finalize(&self) {
        FINALIZED.with(|f| f.borrow_mut().push(self.id));
    }
}

/// A node with no finalizer and nothing to drop.
#[derive(Trace)]
struct PNode {
    id: u64,
    value: Cell<u64>,
    f: [Member<FNode>; 2],
    p: [Member<PNode>; 2],
    pad: [u64; 6],
}

/// Unreachable filler that makes the nursery fill up.
#[derive(Trace)]
struct Junk {
    words: [u64; 3],
}

fn payload_of(id: u64) -> [u64; 2] {
    [id, !id]
}

fn pad_of(id: u64) -> [u64; 6] {
    [id, id ^ 1, id ^ 2, id ^ 3, id ^ 4, id.rotate_left(7)]
}

#[derive(Clone, Copy)]
enum AnyGc<'a> {
    F(Gc<'a, FNode>),
    P(Gc<'a, PNode>),
}

/// The fields both node types have.
struct View<'a> {
    fin: bool,
    id: u64,
    value: &'a Cell<u64>,
    f: &'a [Member<FNode>; 2],
    p: &'a [Member<PNode>; 2],
    addr: usize,
}

impl<'a> AnyGc<'a> {
    fn view(self) -> View<'a> {
        match self {
            AnyGc::F(g) => {
                let n = g.get_ref();
                assert_eq!(n.payload, payload_of(n.id), "payload of F{}", n.id);
                View {
                    fin: true,
                    id: n.id,
                    value: &n.value,
                    f: &n.f,
                    p: &n.p,
                    addr: g.as_ptr().addr(),
                }
            }
            AnyGc::P(g) => {
                let n = g.get_ref();
                assert_eq!(n.pad, pad_of(n.id), "pad of P{}", n.id);
                View {
                    fin: false,
                    id: n.id,
                    value: &n.value,
                    f: &n.f,
                    p: &n.p,
                    addr: g.as_ptr().addr(),
                }
            }
        }
    }
}

impl<'a> View<'a> {
    /// Edge `slot` (0, 1: finalizable children; 2, 3: plain ones).
    fn child(&self, m: &'a Mutator<'_>, slot: usize) -> Option<AnyGc<'a>> {
        match slot {
            0 | 1 => self.f[slot].get(m).map(AnyGc::F),
            _ => self.p[slot - 2].get(m).map(AnyGc::P),
        }
    }
}

enum AnyRoot<'gc> {
    F(Root<'gc, FNode>),
    P(Root<'gc, PNode>),
}

impl<'gc> AnyRoot<'gc> {
    fn get<'a>(&self, m: &'a Mutator<'gc>) -> AnyGc<'a> {
        match self {
            AnyRoot::F(r) => AnyGc::F(r.get(m)),
            AnyRoot::P(r) => AnyGc::P(r.get(m)),
        }
    }

    fn duplicate(&self) -> Self {
        match self {
            AnyRoot::F(r) => AnyRoot::F(r.clone()),
            AnyRoot::P(r) => AnyRoot::P(r.clone()),
        }
    }

    fn downgrade(&self, m: &Mutator<'gc>) -> AnyWeak<'gc> {
        match self {
            AnyRoot::F(r) => AnyWeak::F(m.downgrade(r)),
            AnyRoot::P(r) => AnyWeak::P(m.downgrade(r)),
        }
    }
}

fn root_of<'gc>(m: &Mutator<'gc>, g: AnyGc<'_>) -> AnyRoot<'gc> {
    match g {
        AnyGc::F(g) => AnyRoot::F(m.root(g)),
        AnyGc::P(g) => AnyRoot::P(m.root(g)),
    }
}

enum AnyWeak<'gc> {
    F(WeakRoot<'gc, FNode>),
    P(WeakRoot<'gc, PNode>),
}

impl<'gc> AnyWeak<'gc> {
    fn upgrade<'a>(&self, m: &'a Mutator<'gc>) -> Option<AnyGc<'a>> {
        match self {
            AnyWeak::F(w) => w.upgrade(m).map(AnyGc::F),
            AnyWeak::P(w) => w.upgrade(m).map(AnyGc::P),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// A new rooted node.
    Alloc {
        fin: bool,
        value: u64,
        pinned: bool,
    },
    /// A node nobody roots (optionally with a weak root to it).
    Garbage {
        fin: bool,
        value: u64,
        weak: bool,
    },
    /// Unreachable filler.
    Churn(u8),
    DropRoot(u8),
    CloneRoot(u8),
    /// Stores root `dst` (or null) into an edge of root `src`.
    SetEdge {
        src: u8,
        slot: u8,
        dst: Option<u8>,
    },
    /// Roots what an edge of root `src` points at.
    Follow {
        src: u8,
        slot: u8,
    },
    SetValue {
        root: u8,
        value: u64,
    },
    Downgrade(u8),
    /// Upgrades a weak root, and roots the node if it is still there.
    Upgrade(u8),
    DropWeak(u8),
    Minor,
    Major,
    /// A major then a minor collection: everything unreachable is gone.
    Full,
    /// Starts an incremental cycle (after a minor collection), if the
    /// setup has incremental marking and none runs.
    StartCycle,
    /// Completes the running incremental cycle: what was unreachable at
    /// its start is gone; what died since may float to the next one.
    FinishCycle,
    Verify,
}

#[derive(Arbitrary, Debug)]
struct Setup {
    nursery_pages: u8,
    survivor: u8,
    promotion_age: u8,
    adaptive_tenuring: bool,
    large: u8,
    stress_every: u8,
    threshold: u8,
    adaptive_eden: bool,
    type_stats: bool,
    incremental: bool,
    pretenuring: bool,
}

impl Setup {
    fn config(&self) -> GcConfig {
        let nursery_size = 4096 * (1 + self.nursery_pages as usize % 16);
        let config = GcConfig {
            nursery_size,
            survivor_size: [0, 1024, 4096, nursery_size / 4][self.survivor as usize % 4],
            promotion_age: 1 + self.promotion_age % 4,
            adaptive_tenuring: self.adaptive_tenuring,
            // Nothing large; `PNode`s (96 bytes) large; both node types large.
            large_object_threshold: [1 << 20, 88, 72][self.large as usize % 3],
            gc_threshold: [16 << 10, 64 << 10, 1 << 20][self.threshold as usize % 3],
            heap_growth_percent: [100, 25, 300][self.threshold as usize / 3 % 3],
            heap_limit: None,
            stress_every: NonZeroU32::new(1 + self.stress_every as u32 % 32),
            type_stats: self.type_stats,
            trace: false,
            pause_target: self.adaptive_eden.then(|| Duration::from_micros(200)),
            max_nursery_size: None,
            incremental_marking: self.incremental,
            pretenuring: self.pretenuring,
        };
        config.validate().expect("the fuzzer builds valid configs");
        config
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    setup: Setup,
    ops: Vec<Op>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// May be observed: reachable, or unreachable but perhaps not yet
    /// collected (a weak root may still find it).
    Alive,
    /// Can never be observed again (collected, or its weak roots cleared).
    Gone,
}

#[derive(Debug)]
struct MNode {
    fin: bool,
    value: u64,
    edges: [Option<u64>; 4],
    pinned_at: Option<usize>,
    state: State,
}

#[derive(Default)]
struct Model {
    nodes: HashMap<u64, MNode>,
    /// Node ids, parallel to the real roots.
    roots: Vec<u64>,
    /// (target id, weak root), parallel.
    weak_ids: Vec<u64>,
    /// Finalizers run so far.
    finalized: HashSet<u64>,
    next_id: u64,
}

impl Model {
    fn reachable(&self) -> HashSet<u64> {
        let mut seen = HashSet::new();
        let mut stack = self.roots.clone();
        while let Some(id) = stack.pop() {
            if seen.insert(id) {
                stack.extend(self.nodes[&id].edges.iter().flatten());
            }
        }
        seen
    }

    fn new_node(&mut self, fin: bool, value: u64) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.nodes.insert(
            id,
            MNode {
                fin,
                value,
                edges: [None; 4],
                pinned_at: None,
                state: State::Alive,
            },
        );
        id
    }

    /// Takes the finalizers that ran since the last call: each at most
    /// once, each for an unreachable finalizable node.
    fn drain_finalized(&mut self) {
        let ran = FINALIZED.with(|f| std::mem::take(&mut *f.borrow_mut()));
        if ran.is_empty() {
            return;
        }
        let reachable = self.reachable();
        for id in ran {
            let node = self
                .nodes
                .get_mut(&id)
                .unwrap_or_else(|| panic!("finalizer of unknown node {id}"));
            assert!(node.fin, "finalizer ran for plain node {id}");
            assert!(self.finalized.insert(id), "node {id} finalized twice");
            assert!(!reachable.contains(&id), "reachable node {id} finalized");
            node.state = State::Gone;
        }
    }

    /// A node seen through the heap matches its model.
    fn check_node(&self, view: &View<'_>) -> &MNode {
        let node = self
            .nodes
            .get(&view.id)
            .unwrap_or_else(|| panic!("unknown node id {} read from the heap", view.id));
        assert_eq!(
            node.state,
            State::Alive,
            "node {} seen after it was collected",
            view.id
        );
        assert!(
            !self.finalized.contains(&view.id),
            "node {} seen after finalization",
            view.id
        );
        assert_eq!(node.fin, view.fin, "kind of node {}", view.id);
        assert_eq!(node.value, view.value.get(), "value of node {}", view.id);
        if let Some(addr) = node.pinned_at {
            assert_eq!(addr, view.addr, "pinned node {} moved", view.id);
        }
        node
    }
}

/// Every rooted node and its reachable subgraph match the model.
fn check_graph<'gc>(m: &Mutator<'gc>, roots: &[AnyRoot<'gc>], model: &Model) {
    assert_eq!(roots.len(), model.roots.len());
    assert_eq!(m.root_count(), roots.len(), "root count");
    let mut seen = HashSet::new();
    let mut stack = Vec::new();
    for (root, &id) in roots.iter().zip(&model.roots) {
        let g = root.get(m);
        assert_eq!(g.view().id, id, "root points at the wrong node");
        stack.push(g);
    }
    while let Some(g) = stack.pop() {
        let view = g.view();
        if !seen.insert(view.id) {
            continue;
        }
        let node = model.check_node(&view);
        for (slot, want) in node.edges.iter().enumerate() {
            let got = view.child(m, slot);
            assert_eq!(
                got.map(|c| c.view().id),
                *want,
                "edge {slot} of node {}",
                view.id
            );
            stack.extend(got);
        }
    }
    assert_eq!(seen, model.reachable(), "reachable sets differ");
}

/// After a major collection: weak roots to unreachable nodes are cleared,
/// the others read their node; every unreachable node is gone for good.
fn after_major<'gc>(m: &Mutator<'gc>, weaks: &[AnyWeak<'gc>], model: &mut Model) {
    let reachable = model.reachable();
    for (weak, &id) in weaks.iter().zip(&model.weak_ids) {
        let got = weak.upgrade(m);
        if reachable.contains(&id) {
            let g = got.unwrap_or_else(|| panic!("weak root to reachable node {id} cleared"));
            assert_eq!(g.view().id, id);
        } else {
            assert!(
                got.is_none(),
                "weak root to unreachable node {id} survived a major"
            );
        }
    }
    for (id, node) in model.nodes.iter_mut() {
        if !reachable.contains(id) {
            node.state = State::Gone;
        }
    }
}

/// After a minor collection: a weak root reads its own node or nothing; a
/// cleared one was unreachable.
fn after_minor<'gc>(m: &Mutator<'gc>, weaks: &[AnyWeak<'gc>], model: &mut Model) {
    let reachable = model.reachable();
    for (weak, &id) in weaks.iter().zip(&model.weak_ids) {
        match weak.upgrade(m) {
            Some(g) => {
                let view = g.view();
                assert_eq!(view.id, id, "weak root to {id} reads node {}", view.id);
                model.check_node(&view);
            }
            None => {
                assert!(
                    !reachable.contains(&id),
                    "weak root to reachable node {id} cleared"
                );
                model.nodes.get_mut(&id).unwrap().state = State::Gone;
            }
        }
    }
}

fn collected(model: &Model) -> usize {
    let reachable = model.reachable();
    model
        .nodes
        .iter()
        .filter(|(id, n)| n.fin && !reachable.contains(id))
        .count()
}

fn pick(i: u8, len: usize) -> Option<usize> {
    (len > 0).then(|| i as usize % len)
}

fn alloc_node<'gc>(
    m: &mut Mutator<'gc>,
    model: &mut Model,
    token: &Rc<()>,
    fin: bool,
    value: u64,
    pinned: bool,
) -> (u64, AnyRoot<'gc>) {
    let id = model.new_node(fin, value);
    let root = if fin {
        let node = FNode {
            id,
            value: Cell::new(value),
            f: Default::default(),
            p: Default::default(),
            payload: payload_of(id).to_vec(),
            token: Rc::clone(token),
        };
        AnyRoot::F(if pinned {
            m.alloc_pinned(node).expect("pinned allocation")
        } else {
            m.alloc(node)
        })
    } else {
        let node = PNode {
            id,
            value: Cell::new(value),
            f: Default::default(),
            p: Default::default(),
            pad: pad_of(id),
        };
        AnyRoot::P(if pinned {
            m.alloc_pinned(node).expect("pinned allocation")
        } else {
            m.alloc(node)
        })
    };
    if pinned {
        let addr = root.get(m).view().addr;
        model.nodes.get_mut(&id).unwrap().pinned_at = Some(addr);
    }
    (id, root)
}

fn run<'gc>(m: &mut Mutator<'gc>, ops: Vec<Op>, model: &mut Model, token: &Rc<()>) {
    let mut roots: Vec<AnyRoot<'gc>> = Vec::new();
    let mut weaks: Vec<AnyWeak<'gc>> = Vec::new();
    for op in ops.into_iter().take(400) {
        match op {
            Op::Alloc { fin, value, pinned } => {
                let (id, root) = alloc_node(m, model, token, fin, value, pinned);
                roots.push(root);
                model.roots.push(id);
            }
            Op::Garbage { fin, value, weak } => {
                let (id, root) = alloc_node(m, model, token, fin, value, false);
                if weak {
                    weaks.push(root.downgrade(m));
                    model.weak_ids.push(id);
                }
            }
            Op::Churn(n) => {
                for i in 0..=(n % 32) as u64 {
                    m.alloc(Junk { words: [i; 3] });
                }
            }
            Op::DropRoot(i) => {
                if let Some(i) = pick(i, roots.len()) {
                    roots.swap_remove(i);
                    model.roots.swap_remove(i);
                }
            }
            Op::CloneRoot(i) => {
                if let Some(i) = pick(i, roots.len()) {
                    roots.push(roots[i].duplicate());
                    model.roots.push(model.roots[i]);
                }
            }
            Op::SetEdge { src, slot, dst } => {
                let Some(s) = pick(src, roots.len()) else {
                    continue;
                };
                let from = roots[s].get(m).view();
                let (slot, target) = match dst.and_then(|d| pick(d, roots.len())) {
                    Some(d) => {
                        let target = roots[d].get(m);
                        let slot = match target {
                            AnyGc::F(g) => {
                                let slot = (slot % 2) as usize;
                                from.f[slot].set(m, Some(g));
                                slot
                            }
                            AnyGc::P(g) => {
                                let slot = (slot % 2) as usize;
                                from.p[slot].set(m, Some(g));
                                2 + slot
                            }
                        };
                        (slot, Some(model.roots[d]))
                    }
                    None => {
                        let slot = (slot % 4) as usize;
                        match slot {
                            0 | 1 => from.f[slot].set(m, None),
                            _ => from.p[slot - 2].set(m, None),
                        }
                        (slot, None)
                    }
                };
                model.nodes.get_mut(&model.roots[s]).unwrap().edges[slot] = target;
            }
            Op::Follow { src, slot } => {
                let Some(s) = pick(src, roots.len()) else {
                    continue;
                };
                let slot = (slot % 4) as usize;
                let from = roots[s].get(m).view();
                let want = model.nodes[&model.roots[s]].edges[slot];
                let got = from.child(m, slot);
                assert_eq!(got.map(|g| g.view().id), want, "edge {slot} of {}", from.id);
                if let (Some(g), Some(id)) = (got, want) {
                    roots.push(root_of(m, g));
                    model.roots.push(id);
                }
            }
            Op::SetValue { root, value } => {
                let Some(r) = pick(root, roots.len()) else {
                    continue;
                };
                roots[r].get(m).view().value.set(value);
                model.nodes.get_mut(&model.roots[r]).unwrap().value = value;
            }
            Op::Downgrade(i) => {
                if let Some(i) = pick(i, roots.len()) {
                    weaks.push(roots[i].downgrade(m));
                    model.weak_ids.push(model.roots[i]);
                }
            }
            Op::Upgrade(i) => {
                let Some(w) = pick(i, weaks.len()) else {
                    continue;
                };
                let id = model.weak_ids[w];
                match weaks[w].upgrade(m) {
                    Some(g) => {
                        let view = g.view();
                        assert_eq!(view.id, id, "weak root to {id} reads node {}", view.id);
                        model.check_node(&view);
                        roots.push(root_of(m, g));
                        model.roots.push(id);
                    }
                    None => {
                        assert!(
                            !model.reachable().contains(&id),
                            "weak root to reachable node {id} cleared"
                        );
                        model.nodes.get_mut(&id).unwrap().state = State::Gone;
                    }
                }
            }
            Op::DropWeak(i) => {
                if let Some(w) = pick(i, weaks.len()) {
                    weaks.swap_remove(w);
                    model.weak_ids.swap_remove(w);
                }
            }
            Op::Minor => {
                m.collect(Collection::Minor);
                model.drain_finalized();
                after_minor(m, &weaks, model);
                m.verify()
                    .unwrap_or_else(|e| panic!("verify after a minor: {e:?}"));
                check_graph(m, &roots, model);
            }
            Op::Major => {
                m.collect(Collection::Major);
                model.drain_finalized();
                after_major(m, &weaks, model);
                m.verify()
                    .unwrap_or_else(|e| panic!("verify after a major: {e:?}"));
                check_graph(m, &roots, model);
            }
            Op::Full => full(m, &roots, &weaks, model),
            Op::StartCycle | Op::FinishCycle => {
                m.collect(if matches!(op, Op::StartCycle) {
                    Collection::StartCycle
                } else {
                    Collection::FinishCycle
                });
                model.drain_finalized();
                after_minor(m, &weaks, model);
                m.verify()
                    .unwrap_or_else(|e| panic!("verify after {op:?}: {e:?}"));
                check_graph(m, &roots, model);
            }
            Op::Verify => {
                m.verify().unwrap_or_else(|e| panic!("verify: {e:?}"));
                check_graph(m, &roots, model);
            }
        }
        model.drain_finalized();
    }
    full(m, &roots, &weaks, model);
}

/// A major then a minor collection, and every check that holds after them.
///
/// In that order everything unreachable is collected: the major frees dead
/// old and large objects and forgets their remembered slots, so the minor
/// that follows keeps only reachable young objects. (The other order does
/// not: a dead old object still keeps its young referents through the
/// minor, and a major does not free young objects.)
fn full<'gc>(
    m: &mut Mutator<'gc>,
    roots: &[AnyRoot<'gc>],
    weaks: &[AnyWeak<'gc>],
    model: &mut Model,
) {
    m.collect(Collection::Major);
    model.drain_finalized();
    after_major(m, weaks, model);
    m.collect(Collection::Minor);
    model.drain_finalized();
    m.verify()
        .unwrap_or_else(|e| panic!("verify after major + minor: {e:?}"));
    check_graph(m, roots, model);
    assert_eq!(
        model.finalized.len(),
        collected(model),
        "finalizers run vs unreachable finalizable nodes"
    );
}

fuzz_target!(|input: Input| {
    let config = input.setup.config();
    FINALIZED.with(|f| f.borrow_mut().clear());
    let token = Rc::new(());
    let mut model = Model::default();
    let mut heap = Heap::new(config).expect("a small heap");
    heap.enter(|m| run(m, input.ops, &mut model, &token));
    drop(heap);
    // Dropping the heap finalizes what was left, each once.
    let rest = FINALIZED.with(|f| std::mem::take(&mut *f.borrow_mut()));
    for id in rest {
        assert!(model.nodes[&id].fin, "finalizer ran for plain node {id}");
        assert!(model.finalized.insert(id), "node {id} finalized twice");
    }
    let finalizable = model.nodes.values().filter(|n| n.fin).count();
    assert_eq!(
        model.finalized.len(),
        finalizable,
        "every finalizable node is finalized once by the time the heap is gone"
    );
    assert_eq!(Rc::strong_count(&token), 1, "every FNode was dropped");
});
