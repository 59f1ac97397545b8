//! The collector workloads: the benchmarks game's binary-trees, Boehm's
//! GCBench and an allocation-churn micro-benchmark, on morph-gengc, `Box`
//! (on whichever global allocator the binary uses), `Rc`, gc-arena, rust-gc
//! (the `gc` crate) and dumpster.
//!
//! Shared by the per-process runner (`cargo xtask bench`) and the criterion
//! benchmark `benches/gc.rs`, so both measure the same code.
//!
//! - binary-trees: a stretch tree of depth `max + 1`, a long-lived tree of
//!   depth `max`, then for every depth `d` in `4, 6, ..= max` build
//!   `1 << (max - d + 4)` trees of depth `d` bottom-up and sum their node
//!   counts; finally count the long-lived tree again.
//! - GCBench: a stretch tree, a long-lived tree built top-down (`populate`),
//!   a long-lived array of doubles, then for every depth `min, min + 2, ..=
//!   max` as many trees as fit in twice the stretch tree, built once top-down
//!   (a parent is allocated before its children and then mutated: old-to-young
//!   stores for a generational collector) and once bottom-up (`make_tree`).
//!   Every tree's nodes are counted for the checksum. The original's unused
//!   `i, j` payload ints are left out: a node is two links plus whatever each
//!   implementation needs for mutation.
//! - alloc churn: allocate small two-field nodes; the last of every
//!   [`workload::CHURN_KEEP_EVERY`] is kept (pointing at its predecessor) in a
//!   ring of [`workload::CHURN_RING`] slots, so the live set stays at about two
//!   thousand nodes while everything else dies young.
//!
//! Every implementation does the same work and returns the same checksum
//! (tree checksums also equal a closed form), and every run starts from an
//! empty heap and ends by freeing all of it. Collectors are driven the way
//! their own users drive them: gc-arena builds each short-lived tree inside
//! one `mutate` and pays its collection debt between calls; rust-gc and
//! dumpster collect on their own thresholds, with one explicit collection at
//! the end to return everything.

use std::hint::black_box;

/// Workload shapes, shared by every implementation.
pub mod workload {
    /// Deepest tree of `gc_binary_trees` (the benchmarks game's `n`; its
    /// published runs use 21). 15 keeps one `Box` iteration near 150 ms on a
    /// 2-core machine, and the slowest peer near a second.
    pub const BINARY_TREES_MAX_DEPTH: u32 = 15;
    /// Shallowest tree of `gc_binary_trees` (fixed by the benchmarks game).
    pub const BINARY_TREES_MIN_DEPTH: u32 = 4;

    /// GCBench as run here. The original uses stretch 18, long-lived 16,
    /// an array of 500,000 doubles, and depths 4..=16; a stretch depth of 17
    /// halves the short-lived work (one `Box` iteration near 150 ms) and
    /// keeps the original's long-lived data.
    pub const GCBENCH: GcBenchShape = GcBenchShape {
        stretch_depth: 17,
        long_lived_depth: 16,
        array_len: 500_000,
        min_depth: 4,
        max_depth: 16,
    };

    /// Nodes allocated per iteration of `gc_alloc_churn`.
    pub const CHURN_ALLOCATIONS: u64 = 100_000;
    /// Every this many allocations, one node is kept.
    pub const CHURN_KEEP_EVERY: u64 = 100;
    /// Slots of the ring that holds the kept nodes (the steady live set).
    pub const CHURN_RING: usize = 1000;

    /// Nodes in a complete binary tree of `depth` (a single node has depth 0).
    pub const fn tree_nodes(depth: u32) -> u64 {
        (1 << (depth + 1)) - 1
    }

    /// `(depth, iterations)` of binary-trees' short-lived phase.
    pub fn binary_trees_plan(max_depth: u32) -> impl Iterator<Item = (u32, u64)> {
        (BINARY_TREES_MIN_DEPTH..=max_depth)
            .step_by(2)
            .map(move |depth| (depth, 1 << (max_depth - depth + BINARY_TREES_MIN_DEPTH)))
    }

    /// The checksum binary-trees must produce: stretch + short-lived + long-lived.
    pub fn binary_trees_expected(max_depth: u32) -> u64 {
        let short_lived: u64 = binary_trees_plan(max_depth)
            .map(|(depth, iterations)| iterations * tree_nodes(depth))
            .sum();
        tree_nodes(max_depth + 1) + short_lived + tree_nodes(max_depth)
    }

    /// Nodes allocated by one binary-trees run.
    pub fn binary_trees_allocations(max_depth: u32) -> u64 {
        binary_trees_expected(max_depth) - tree_nodes(max_depth) /* counted twice */
    }

    /// The parameters of one GCBench run.
    #[derive(Clone, Copy, Debug)]
    pub struct GcBenchShape {
        /// Depth of the stretch tree; also sets how many trees each depth builds.
        pub stretch_depth: u32,
        /// Depth of the long-lived tree, built top-down.
        pub long_lived_depth: u32,
        /// Length of the long-lived array of doubles.
        pub array_len: usize,
        /// Shallowest short-lived tree.
        pub min_depth: u32,
        /// Deepest short-lived tree.
        pub max_depth: u32,
    }

    impl GcBenchShape {
        /// `(depth, iterations)` of the short-lived phase: each depth builds
        /// about twice the stretch tree's nodes, top-down and again bottom-up.
        pub fn plan(&self) -> impl Iterator<Item = (u32, u64)> + use<> {
            let stretch = tree_nodes(self.stretch_depth);
            (self.min_depth..=self.max_depth)
                .step_by(2)
                .map(move |depth| (depth, 2 * stretch / tree_nodes(depth)))
        }

        /// The checksum GCBench must produce.
        pub fn expected(&self) -> u64 {
            let short_lived: u64 = self
                .plan()
                .map(|(depth, iterations)| 2 * iterations * tree_nodes(depth))
                .sum();
            tree_nodes(self.stretch_depth)
                + tree_nodes(self.long_lived_depth)
                + short_lived
                + array_digest_expected(self.array_len)
        }

        /// Nodes allocated by one GCBench run (the array is one more object).
        pub fn allocations(&self) -> u64 {
            self.expected() - array_digest_expected(self.array_len)
        }
    }

    /// Fills the long-lived array as GCBench does: the first half `1 / i`.
    pub fn fill_array(array: &mut [f64]) {
        let half = array.len() / 2;
        for (i, slot) in array.iter_mut().enumerate().take(half).skip(1) {
            *slot = 1.0 / i as f64;
        }
    }

    /// GCBench's final check of the array, folded into the checksum.
    pub fn array_digest(array: &[f64]) -> u64 {
        assert_eq!(
            array[1000],
            1.0 / 1000.0,
            "long-lived array lost its contents"
        );
        array.len() as u64
    }

    const fn array_digest_expected(array_len: usize) -> u64 {
        array_len as u64
    }

    /// Whether churn step `i` keeps its node in the ring.
    pub const fn churn_keeps(i: u64) -> bool {
        i % CHURN_KEEP_EVERY == CHURN_KEEP_EVERY - 1
    }

    /// The ring slot churn step `i` stores into (only meaningful when kept).
    pub const fn churn_slot(i: u64) -> usize {
        ((i / CHURN_KEEP_EVERY) % CHURN_RING as u64) as usize
    }
}

pub use workload::{
    BINARY_TREES_MAX_DEPTH, CHURN_ALLOCATIONS, CHURN_RING, GCBENCH, GcBenchShape,
    binary_trees_plan, churn_keeps, churn_slot,
};

/// `Box` on the binary's global allocator (glibc malloc in `morph-workload`
/// and the criterion benches, mimalloc in `morph-workload-mimalloc`): the
/// baseline to beat.
pub mod boxed {
    use super::*;

    struct Node {
        left: Option<Box<Node>>,
        right: Option<Box<Node>>,
    }

    impl Node {
        fn leaf() -> Self {
            Node {
                left: None,
                right: None,
            }
        }
    }

    fn bottom_up(depth: u32) -> Box<Node> {
        if depth == 0 {
            Box::new(Node::leaf())
        } else {
            Box::new(Node {
                left: Some(bottom_up(depth - 1)),
                right: Some(bottom_up(depth - 1)),
            })
        }
    }

    fn populate(depth: u32, node: &mut Node) {
        if depth == 0 {
            return;
        }
        populate(depth - 1, node.left.insert(Box::new(Node::leaf())));
        populate(depth - 1, node.right.insert(Box::new(Node::leaf())));
    }

    fn count(node: &Node) -> u64 {
        1 + node.left.as_deref().map_or(0, count) + node.right.as_deref().map_or(0, count)
    }

    /// binary-trees up to `max_depth`; returns the checksum.
    pub fn binary_trees(max_depth: u32) -> u64 {
        let mut checksum = count(black_box(&bottom_up(max_depth + 1)));
        let long_lived = bottom_up(max_depth);
        for (depth, iterations) in binary_trees_plan(max_depth) {
            for _ in 0..iterations {
                checksum += count(black_box(&bottom_up(depth)));
            }
        }
        checksum + count(black_box(&long_lived))
    }

    /// GCBench of `shape`; returns the checksum.
    pub fn gcbench(shape: &GcBenchShape) -> u64 {
        let mut checksum = count(black_box(&bottom_up(shape.stretch_depth)));
        let mut long_lived = Box::new(Node::leaf());
        populate(shape.long_lived_depth, &mut long_lived);
        let mut array = vec![0.0; shape.array_len].into_boxed_slice();
        workload::fill_array(&mut array);
        for (depth, iterations) in shape.plan() {
            for _ in 0..iterations {
                let mut tree = Box::new(Node::leaf());
                populate(depth, &mut tree);
                checksum += count(black_box(&tree));
            }
            for _ in 0..iterations {
                checksum += count(black_box(&bottom_up(depth)));
            }
        }
        checksum + count(black_box(&long_lived)) + workload::array_digest(black_box(&array))
    }

    struct ChurnNode {
        value: u64,
        peer: Option<Box<ChurnNode>>,
    }

    fn churn_digest(node: &ChurnNode) -> u64 {
        node.value + node.peer.as_ref().map_or(0, |peer| peer.value)
    }

    /// Alloc churn of `allocations` nodes; returns the checksum.
    pub fn alloc_churn(allocations: u64) -> u64 {
        let mut ring: Vec<Option<Box<ChurnNode>>> = (0..CHURN_RING).map(|_| None).collect();
        let mut previous: Option<Box<ChurnNode>> = None;
        let mut checksum = 0;
        for i in 0..allocations {
            let keep = churn_keeps(i);
            let peer = if keep { previous.take() } else { None };
            let node = black_box(Box::new(ChurnNode { value: i, peer }));
            checksum += churn_digest(&node);
            if keep {
                ring[churn_slot(i)] = Some(node);
            } else {
                previous = Some(node);
            }
        }
        checksum
            + ring
                .iter()
                .flatten()
                .map(|node| churn_digest(node))
                .sum::<u64>()
    }
}

/// `Rc`: reference counting on the system allocator, `RefCell` where GCBench
/// mutates a node after allocating it.
pub mod rc {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;

    struct TreeNode {
        left: Option<Rc<TreeNode>>,
        right: Option<Rc<TreeNode>>,
    }

    fn bottom_up(depth: u32) -> Rc<TreeNode> {
        if depth == 0 {
            Rc::new(TreeNode {
                left: None,
                right: None,
            })
        } else {
            Rc::new(TreeNode {
                left: Some(bottom_up(depth - 1)),
                right: Some(bottom_up(depth - 1)),
            })
        }
    }

    fn count(node: &TreeNode) -> u64 {
        1 + node.left.as_deref().map_or(0, count) + node.right.as_deref().map_or(0, count)
    }

    /// binary-trees up to `max_depth`; returns the checksum.
    pub fn binary_trees(max_depth: u32) -> u64 {
        let mut checksum = count(black_box(&bottom_up(max_depth + 1)));
        let long_lived = bottom_up(max_depth);
        for (depth, iterations) in binary_trees_plan(max_depth) {
            for _ in 0..iterations {
                checksum += count(black_box(&bottom_up(depth)));
            }
        }
        checksum + count(black_box(&long_lived))
    }

    /// GCBench's node: both links can be set after allocation.
    #[derive(Default)]
    struct Node {
        left: RefCell<Option<Rc<Node>>>,
        right: RefCell<Option<Rc<Node>>>,
    }

    fn make_tree(depth: u32) -> Rc<Node> {
        if depth == 0 {
            Rc::new(Node::default())
        } else {
            Rc::new(Node {
                left: RefCell::new(Some(make_tree(depth - 1))),
                right: RefCell::new(Some(make_tree(depth - 1))),
            })
        }
    }

    fn populate(depth: u32, node: &Node) {
        if depth == 0 {
            return;
        }
        let left = Rc::new(Node::default());
        let right = Rc::new(Node::default());
        *node.left.borrow_mut() = Some(Rc::clone(&left));
        *node.right.borrow_mut() = Some(Rc::clone(&right));
        populate(depth - 1, &left);
        populate(depth - 1, &right);
    }

    fn count_mutable(node: &Node) -> u64 {
        let child =
            |link: &RefCell<Option<Rc<Node>>>| link.borrow().as_deref().map_or(0, count_mutable);
        1 + child(&node.left) + child(&node.right)
    }

    /// GCBench of `shape`; returns the checksum.
    pub fn gcbench(shape: &GcBenchShape) -> u64 {
        let mut checksum = count_mutable(black_box(&make_tree(shape.stretch_depth)));
        let long_lived = Rc::new(Node::default());
        populate(shape.long_lived_depth, &long_lived);
        let mut array = vec![0.0; shape.array_len];
        workload::fill_array(&mut array);
        let array = Rc::new(array);
        for (depth, iterations) in shape.plan() {
            for _ in 0..iterations {
                let tree = Rc::new(Node::default());
                populate(depth, &tree);
                checksum += count_mutable(black_box(&tree));
            }
            for _ in 0..iterations {
                checksum += count_mutable(black_box(&make_tree(depth)));
            }
        }
        checksum + count_mutable(black_box(&long_lived)) + workload::array_digest(black_box(&array))
    }

    struct ChurnNode {
        value: u64,
        peer: Option<Rc<ChurnNode>>,
    }

    fn churn_digest(node: &ChurnNode) -> u64 {
        node.value + node.peer.as_ref().map_or(0, |peer| peer.value)
    }

    /// Alloc churn of `allocations` nodes; returns the checksum.
    pub fn alloc_churn(allocations: u64) -> u64 {
        let mut ring: Vec<Option<Rc<ChurnNode>>> = vec![None; CHURN_RING];
        let mut previous: Option<Rc<ChurnNode>> = None;
        let mut checksum = 0;
        for i in 0..allocations {
            let keep = churn_keeps(i);
            let peer = if keep { previous.take() } else { None };
            let node = black_box(Rc::new(ChurnNode { value: i, peer }));
            checksum += churn_digest(&node);
            if keep {
                ring[churn_slot(i)] = Some(node);
            } else {
                previous = Some(node);
            }
        }
        checksum
            + ring
                .iter()
                .flatten()
                .map(|node| churn_digest(node))
                .sum::<u64>()
    }
}

/// gc-arena 0.7: an incremental mark-sweep collector behind a branded
/// `Mutation<'gc>` context. Objects are reachable from outside only through
/// the arena's root, so everything long-lived lives there; each short-lived
/// tree is built and counted inside one `mutate`, and the collector pays its
/// allocation debt between calls once the debt is worth a collection step
/// (`pay_debt`), as `Arena::collect_debt`'s documentation recommends.
pub mod gc_arena_peer {
    use gc_arena::barrier::unlock;
    use gc_arena::{Arena, Collect, Gc, Lock, Mutation, Rootable};

    use super::*;

    /// Allocation debt below which a collection step is not worth its call.
    pub const DEBT_GRANULARITY: f64 = 4096.0;

    /// Runs incremental collection between `mutate` calls, once there is
    /// enough debt to pay.
    fn pay_debt<R: for<'a> Rootable<'a>>(arena: &mut Arena<R>)
    where
        for<'a> gc_arena::arena::Root<'a, R>: Collect<'a>,
    {
        if arena.metrics().allocation_debt() > DEBT_GRANULARITY {
            arena.collect_debt();
        }
    }

    #[derive(Collect)]
    #[collect(no_drop)]
    struct TreeNode<'gc> {
        left: Option<Gc<'gc, TreeNode<'gc>>>,
        right: Option<Gc<'gc, TreeNode<'gc>>>,
    }

    fn bottom_up<'gc>(mc: &Mutation<'gc>, depth: u32) -> Gc<'gc, TreeNode<'gc>> {
        let node = if depth == 0 {
            TreeNode {
                left: None,
                right: None,
            }
        } else {
            TreeNode {
                left: Some(bottom_up(mc, depth - 1)),
                right: Some(bottom_up(mc, depth - 1)),
            }
        };
        Gc::new(mc, node)
    }

    fn count(node: &TreeNode<'_>) -> u64 {
        1 + node.left.as_deref().map_or(0, count) + node.right.as_deref().map_or(0, count)
    }

    /// binary-trees up to `max_depth`; returns the checksum.
    pub fn binary_trees(max_depth: u32) -> u64 {
        let mut arena = Arena::<Rootable![Option<Gc<'_, TreeNode<'_>>>]>::new(|_| None);
        let mut checksum = arena.mutate(|mc, _| count(black_box(&bottom_up(mc, max_depth + 1))));
        pay_debt(&mut arena);
        arena.mutate_root(|mc, root| *root = Some(bottom_up(mc, max_depth)));
        pay_debt(&mut arena);
        for (depth, iterations) in binary_trees_plan(max_depth) {
            for _ in 0..iterations {
                checksum += arena.mutate(|mc, _| count(black_box(&bottom_up(mc, depth))));
                pay_debt(&mut arena);
            }
        }
        checksum + arena.mutate(|_, root| count(&black_box(root).expect("long-lived tree")))
    }

    /// GCBench's node: links are `Lock` cells, set through the write barrier.
    #[derive(Collect, Default)]
    #[collect(no_drop)]
    struct Node<'gc> {
        left: Lock<Option<Gc<'gc, Node<'gc>>>>,
        right: Lock<Option<Gc<'gc, Node<'gc>>>>,
    }

    fn make_tree<'gc>(mc: &Mutation<'gc>, depth: u32) -> Gc<'gc, Node<'gc>> {
        let node = if depth == 0 {
            Node::default()
        } else {
            Node {
                left: Lock::new(Some(make_tree(mc, depth - 1))),
                right: Lock::new(Some(make_tree(mc, depth - 1))),
            }
        };
        Gc::new(mc, node)
    }

    fn populate<'gc>(mc: &Mutation<'gc>, depth: u32, node: Gc<'gc, Node<'gc>>) {
        if depth == 0 {
            return;
        }
        let left = Gc::new(mc, Node::default());
        let right = Gc::new(mc, Node::default());
        let node = Gc::write(mc, node);
        unlock!(node, Node, left).set(Some(left));
        unlock!(node, Node, right).set(Some(right));
        populate(mc, depth - 1, left);
        populate(mc, depth - 1, right);
    }

    fn count_mutable(node: &Node<'_>) -> u64 {
        let child =
            |link: &Lock<Option<Gc<'_, Node<'_>>>>| link.get().map_or(0, |n| count_mutable(&n));
        1 + child(&node.left) + child(&node.right)
    }

    #[derive(Collect, Default)]
    #[collect(no_drop)]
    struct GcBenchRoot<'gc> {
        long_lived: Option<Gc<'gc, Node<'gc>>>,
        array: Option<Gc<'gc, Box<[f64]>>>,
    }

    /// GCBench of `shape`; returns the checksum.
    pub fn gcbench(shape: &GcBenchShape) -> u64 {
        let mut arena = Arena::<Rootable![GcBenchRoot<'_>]>::new(|_| GcBenchRoot::default());
        let mut checksum =
            arena.mutate(|mc, _| count_mutable(black_box(&make_tree(mc, shape.stretch_depth))));
        pay_debt(&mut arena);
        arena.mutate_root(|mc, root| {
            let long_lived = Gc::new(mc, Node::default());
            populate(mc, shape.long_lived_depth, long_lived);
            root.long_lived = Some(long_lived);
            let mut array = vec![0.0; shape.array_len].into_boxed_slice();
            workload::fill_array(&mut array);
            root.array = Some(Gc::new(mc, array));
        });
        pay_debt(&mut arena);
        for (depth, iterations) in shape.plan() {
            for _ in 0..iterations {
                checksum += arena.mutate(|mc, _| {
                    let tree = Gc::new(mc, Node::default());
                    populate(mc, depth, tree);
                    count_mutable(black_box(&tree))
                });
                pay_debt(&mut arena);
            }
            for _ in 0..iterations {
                checksum += arena.mutate(|mc, _| count_mutable(black_box(&make_tree(mc, depth))));
                pay_debt(&mut arena);
            }
        }
        checksum
            + arena.mutate(|_, root| {
                let root = black_box(root);
                count_mutable(&root.long_lived.expect("long-lived tree"))
                    + workload::array_digest(&root.array.expect("long-lived array"))
            })
    }

    #[derive(Collect)]
    #[collect(no_drop)]
    struct ChurnNode<'gc> {
        value: u64,
        peer: Option<Gc<'gc, ChurnNode<'gc>>>,
    }

    fn churn_digest(node: &ChurnNode<'_>) -> u64 {
        node.value + node.peer.map_or(0, |peer| peer.value)
    }

    /// Each `mutate_root` call allocates one keep-interval's worth of nodes
    /// (the last is kept, pointing at the one before), like an interpreter
    /// running a slice of its loop between collection steps.
    pub fn alloc_churn(allocations: u64) -> u64 {
        let mut arena =
            Arena::<Rootable![Vec<Option<Gc<'_, ChurnNode<'_>>>>]>::new(|_| vec![None; CHURN_RING]);
        let mut checksum = 0;
        let mut start = 0;
        while start < allocations {
            let end = (start + workload::CHURN_KEEP_EVERY).min(allocations);
            checksum += arena.mutate_root(|mc, ring| {
                let mut previous = None;
                let mut sum = 0;
                for i in start..end {
                    let keep = churn_keeps(i);
                    let peer = if keep { previous } else { None };
                    let node = black_box(Gc::new(mc, ChurnNode { value: i, peer }));
                    sum += churn_digest(&node);
                    if keep {
                        ring[churn_slot(i)] = Some(node);
                    } else {
                        previous = Some(node);
                    }
                }
                sum
            });
            pay_debt(&mut arena);
            start = end;
        }
        checksum
            + arena.mutate(|_, ring| {
                ring.iter()
                    .flatten()
                    .map(|node| churn_digest(node))
                    .sum::<u64>()
            })
    }
}

/// rust-gc (the `gc` crate): a thread-local mark-sweep collector whose `Gc`
/// handles count roots; it collects on its own threshold inside `Gc::new`.
/// `GcCell` where GCBench mutates a node after allocating it.
// gc_derive 0.5 emits its `Trace`/`Finalize`/`Drop` impls inside an anonymous
// const, which rustc's non_local_definitions lint flags; the impls are correct.
#[allow(non_local_definitions)]
pub mod rust_gc {
    use gc::{Finalize, Gc, GcCell, Trace};

    use super::*;

    #[derive(Trace, Finalize)]
    struct TreeNode {
        left: Option<Gc<TreeNode>>,
        right: Option<Gc<TreeNode>>,
    }

    fn bottom_up(depth: u32) -> Gc<TreeNode> {
        if depth == 0 {
            Gc::new(TreeNode {
                left: None,
                right: None,
            })
        } else {
            Gc::new(TreeNode {
                left: Some(bottom_up(depth - 1)),
                right: Some(bottom_up(depth - 1)),
            })
        }
    }

    fn count(node: &TreeNode) -> u64 {
        1 + node.left.as_deref().map_or(0, count) + node.right.as_deref().map_or(0, count)
    }

    /// binary-trees up to `max_depth`; returns the checksum.
    pub fn binary_trees(max_depth: u32) -> u64 {
        let mut checksum = count(black_box(&bottom_up(max_depth + 1)));
        let long_lived = bottom_up(max_depth);
        for (depth, iterations) in binary_trees_plan(max_depth) {
            for _ in 0..iterations {
                checksum += count(black_box(&bottom_up(depth)));
            }
        }
        checksum += count(black_box(&long_lived));
        drop(long_lived);
        gc::force_collect();
        checksum
    }

    /// GCBench's node: both links can be set after allocation.
    #[derive(Trace, Finalize)]
    struct Node {
        left: GcCell<Option<Gc<Node>>>,
        right: GcCell<Option<Gc<Node>>>,
    }

    impl Node {
        fn leaf() -> Self {
            Node {
                left: GcCell::new(None),
                right: GcCell::new(None),
            }
        }
    }

    fn make_tree(depth: u32) -> Gc<Node> {
        if depth == 0 {
            Gc::new(Node::leaf())
        } else {
            Gc::new(Node {
                left: GcCell::new(Some(make_tree(depth - 1))),
                right: GcCell::new(Some(make_tree(depth - 1))),
            })
        }
    }

    fn populate(depth: u32, node: &Node) {
        if depth == 0 {
            return;
        }
        let left = Gc::new(Node::leaf());
        let right = Gc::new(Node::leaf());
        *node.left.borrow_mut() = Some(Gc::clone(&left));
        *node.right.borrow_mut() = Some(Gc::clone(&right));
        populate(depth - 1, &left);
        populate(depth - 1, &right);
    }

    fn count_mutable(node: &Node) -> u64 {
        let child =
            |link: &GcCell<Option<Gc<Node>>>| link.borrow().as_deref().map_or(0, count_mutable);
        1 + child(&node.left) + child(&node.right)
    }

    /// GCBench of `shape`; returns the checksum.
    pub fn gcbench(shape: &GcBenchShape) -> u64 {
        let mut checksum = count_mutable(black_box(&make_tree(shape.stretch_depth)));
        let long_lived = Gc::new(Node::leaf());
        populate(shape.long_lived_depth, &long_lived);
        let mut array = vec![0.0; shape.array_len];
        workload::fill_array(&mut array);
        let array = Gc::new(array);
        for (depth, iterations) in shape.plan() {
            for _ in 0..iterations {
                let tree = Gc::new(Node::leaf());
                populate(depth, &tree);
                checksum += count_mutable(black_box(&tree));
            }
            for _ in 0..iterations {
                checksum += count_mutable(black_box(&make_tree(depth)));
            }
        }
        checksum +=
            count_mutable(black_box(&long_lived)) + workload::array_digest(black_box(&array));
        drop((long_lived, array));
        gc::force_collect();
        checksum
    }

    #[derive(Trace, Finalize)]
    struct ChurnNode {
        value: u64,
        peer: Option<Gc<ChurnNode>>,
    }

    fn churn_digest(node: &ChurnNode) -> u64 {
        node.value + node.peer.as_ref().map_or(0, |peer| peer.value)
    }

    /// Alloc churn of `allocations` nodes; returns the checksum.
    pub fn alloc_churn(allocations: u64) -> u64 {
        let mut ring: Vec<Option<Gc<ChurnNode>>> = vec![None; CHURN_RING];
        let mut previous: Option<Gc<ChurnNode>> = None;
        let mut checksum = 0;
        for i in 0..allocations {
            let keep = churn_keeps(i);
            let peer = if keep { previous.take() } else { None };
            let node = black_box(Gc::new(ChurnNode { value: i, peer }));
            checksum += churn_digest(&node);
            if keep {
                ring[churn_slot(i)] = Some(node);
            } else {
                previous = Some(node);
            }
        }
        checksum += ring
            .iter()
            .flatten()
            .map(|node| churn_digest(node))
            .sum::<u64>();
        drop((ring, previous));
        gc::force_collect();
        checksum
    }
}

/// dumpster 2.1, single-threaded (`unsync`): reference counting that frees an
/// object when its count reaches zero, plus a cycle collector that runs on
/// its own heuristic. `RefCell` where GCBench mutates a node after allocating it.
pub mod dumpster_peer {
    use std::cell::RefCell;

    use dumpster::Trace;
    use dumpster::unsync::{Gc, collect};

    use super::*;

    #[derive(Trace)]
    struct TreeNode {
        left: Option<Gc<TreeNode>>,
        right: Option<Gc<TreeNode>>,
    }

    fn bottom_up(depth: u32) -> Gc<TreeNode> {
        if depth == 0 {
            Gc::new(TreeNode {
                left: None,
                right: None,
            })
        } else {
            Gc::new(TreeNode {
                left: Some(bottom_up(depth - 1)),
                right: Some(bottom_up(depth - 1)),
            })
        }
    }

    fn count(node: &TreeNode) -> u64 {
        1 + node.left.as_deref().map_or(0, count) + node.right.as_deref().map_or(0, count)
    }

    /// binary-trees up to `max_depth`; returns the checksum.
    pub fn binary_trees(max_depth: u32) -> u64 {
        let mut checksum = count(black_box(&bottom_up(max_depth + 1)));
        let long_lived = bottom_up(max_depth);
        for (depth, iterations) in binary_trees_plan(max_depth) {
            for _ in 0..iterations {
                checksum += count(black_box(&bottom_up(depth)));
            }
        }
        checksum += count(black_box(&long_lived));
        drop(long_lived);
        collect();
        checksum
    }

    /// GCBench's node: both links can be set after allocation.
    #[derive(Trace, Default)]
    struct Node {
        left: RefCell<Option<Gc<Node>>>,
        right: RefCell<Option<Gc<Node>>>,
    }

    fn make_tree(depth: u32) -> Gc<Node> {
        if depth == 0 {
            Gc::new(Node::default())
        } else {
            Gc::new(Node {
                left: RefCell::new(Some(make_tree(depth - 1))),
                right: RefCell::new(Some(make_tree(depth - 1))),
            })
        }
    }

    fn populate(depth: u32, node: &Node) {
        if depth == 0 {
            return;
        }
        let left = Gc::new(Node::default());
        let right = Gc::new(Node::default());
        *node.left.borrow_mut() = Some(Gc::clone(&left));
        *node.right.borrow_mut() = Some(Gc::clone(&right));
        populate(depth - 1, &left);
        populate(depth - 1, &right);
    }

    fn count_mutable(node: &Node) -> u64 {
        let child =
            |link: &RefCell<Option<Gc<Node>>>| link.borrow().as_deref().map_or(0, count_mutable);
        1 + child(&node.left) + child(&node.right)
    }

    /// GCBench of `shape`; returns the checksum.
    pub fn gcbench(shape: &GcBenchShape) -> u64 {
        let mut checksum = count_mutable(black_box(&make_tree(shape.stretch_depth)));
        let long_lived = Gc::new(Node::default());
        populate(shape.long_lived_depth, &long_lived);
        let mut array = vec![0.0; shape.array_len];
        workload::fill_array(&mut array);
        let array = Gc::new(array);
        for (depth, iterations) in shape.plan() {
            for _ in 0..iterations {
                let tree = Gc::new(Node::default());
                populate(depth, &tree);
                checksum += count_mutable(black_box(&tree));
            }
            for _ in 0..iterations {
                checksum += count_mutable(black_box(&make_tree(depth)));
            }
        }
        checksum +=
            count_mutable(black_box(&long_lived)) + workload::array_digest(black_box(&array));
        drop((long_lived, array));
        collect();
        checksum
    }

    #[derive(Trace)]
    struct ChurnNode {
        value: u64,
        peer: Option<Gc<ChurnNode>>,
    }

    fn churn_digest(node: &ChurnNode) -> u64 {
        node.value + node.peer.as_ref().map_or(0, |peer| peer.value)
    }

    /// Alloc churn of `allocations` nodes; returns the checksum.
    pub fn alloc_churn(allocations: u64) -> u64 {
        let mut ring: Vec<Option<Gc<ChurnNode>>> = vec![None; CHURN_RING];
        let mut previous: Option<Gc<ChurnNode>> = None;
        let mut checksum = 0;
        for i in 0..allocations {
            let keep = churn_keeps(i);
            let peer = if keep { previous.take() } else { None };
            let node = black_box(Gc::new(ChurnNode { value: i, peer }));
            checksum += churn_digest(&node);
            if keep {
                ring[churn_slot(i)] = Some(node);
            } else {
                previous = Some(node);
            }
        }
        checksum += ring
            .iter()
            .flatten()
            .map(|node| churn_digest(node))
            .sum::<u64>();
        drop((ring, previous));
        collect();
        checksum
    }
}

/// morph-gengc through its safe API: a moving generational collector, so
/// every pointer held across an allocation is a `Root`, and references
/// inside objects are `Member`s set after allocation (with the write
/// barrier). Each iteration runs in a fresh `Heap` with the default
/// configuration (2 MiB nursery) and drops it at the end.
pub mod morph_gengc_impl {
    use morph_gengc::{Gc, Heap, Member, Mutator, Root, Trace};

    use super::*;

    /// A tree node of the safe API: two members, 16 bytes (24 with its
    /// header).
    #[derive(Debug, Trace)]
    pub struct Node {
        left: Member<Node>,
        right: Member<Node>,
    }

    /// A node with no children.
    pub fn leaf() -> Node {
        Node {
            left: Member::null(),
            right: Member::null(),
        }
    }

    /// A heap with the default configuration (2 MiB nursery).
    pub fn heap() -> Heap {
        Heap::new(Default::default()).expect("the default configuration is valid")
    }

    /// Children first, then the parent: the parent is the youngest object,
    /// so setting its fields needs no remembered-set entry.
    pub fn bottom_up<'gc>(m: &mut Mutator<'gc>, depth: u32) -> Root<'gc, Node> {
        if depth == 0 {
            return m.alloc(leaf());
        }
        let left = bottom_up(m, depth - 1);
        let right = bottom_up(m, depth - 1);
        let node = m.alloc(leaf());
        let parent = node.get(m);
        parent.left.set(m, Some(left.get(m)));
        parent.right.set(m, Some(right.get(m)));
        node
    }

    /// GCBench's top-down build: the parent exists before its children.
    pub fn populate<'gc>(m: &mut Mutator<'gc>, depth: u32, node: &Root<'gc, Node>) {
        if depth == 0 {
            return;
        }
        let left = m.alloc(leaf());
        let right = m.alloc(leaf());
        let parent = node.get(m);
        parent.left.set(m, Some(left.get(m)));
        parent.right.set(m, Some(right.get(m)));
        populate(m, depth - 1, &left);
        populate(m, depth - 1, &right);
    }

    fn count(node: Gc<'_, Node>, m: &Mutator<'_>) -> u64 {
        1 + node.left.get(m).map_or(0, |n| count(n, m))
            + node.right.get(m).map_or(0, |n| count(n, m))
    }

    /// binary-trees in a fresh default heap.
    pub fn binary_trees(max_depth: u32) -> u64 {
        binary_trees_in(&mut heap(), max_depth)
    }

    /// binary-trees in `heap`, whose statistics the caller reads afterwards.
    pub fn binary_trees_in(heap: &mut Heap, max_depth: u32) -> u64 {
        heap.enter(|m| {
            let stretch = bottom_up(m, max_depth + 1);
            let mut checksum = count(black_box(stretch.get(m)), m);
            drop(stretch);
            let long_lived = bottom_up(m, max_depth);
            for (depth, iterations) in binary_trees_plan(max_depth) {
                for _ in 0..iterations {
                    let tree = bottom_up(m, depth);
                    checksum += count(black_box(tree.get(m)), m);
                }
            }
            checksum + count(black_box(long_lived.get(m)), m)
        })
    }

    #[derive(Trace)]
    struct Doubles {
        values: Box<[f64]>,
    }

    /// GCBench in a fresh default heap.
    pub fn gcbench(shape: &GcBenchShape) -> u64 {
        gcbench_in(&mut heap(), shape)
    }

    /// GCBench in `heap`, whose statistics the caller reads afterwards.
    pub fn gcbench_in(heap: &mut Heap, shape: &GcBenchShape) -> u64 {
        heap.enter(|m| {
            let stretch = bottom_up(m, shape.stretch_depth);
            let mut checksum = count(black_box(stretch.get(m)), m);
            drop(stretch);
            let long_lived = m.alloc(leaf());
            populate(m, shape.long_lived_depth, &long_lived);
            let mut values = vec![0.0; shape.array_len].into_boxed_slice();
            workload::fill_array(&mut values);
            let array = m.alloc(Doubles { values });
            for (depth, iterations) in shape.plan() {
                for _ in 0..iterations {
                    let tree = m.alloc(leaf());
                    populate(m, depth, &tree);
                    checksum += count(black_box(tree.get(m)), m);
                }
                for _ in 0..iterations {
                    let tree = bottom_up(m, depth);
                    checksum += count(black_box(tree.get(m)), m);
                }
            }
            checksum
                + count(black_box(long_lived.get(m)), m)
                + workload::array_digest(black_box(&array.get(m).values))
        })
    }

    #[derive(Trace)]
    struct ChurnNode {
        value: u64,
        peer: Member<ChurnNode>,
    }

    fn churn_digest(node: Gc<'_, ChurnNode>, m: &Mutator<'_>) -> u64 {
        node.value + node.peer.get(m).map_or(0, |peer| peer.value)
    }

    /// Alloc churn of `allocations` nodes; returns the checksum.
    pub fn alloc_churn(allocations: u64) -> u64 {
        heap().enter(|m| {
            let mut ring: Vec<Option<Root<'_, ChurnNode>>> =
                (0..CHURN_RING).map(|_| None).collect();
            let mut previous: Option<Root<'_, ChurnNode>> = None;
            let mut checksum = 0;
            for i in 0..allocations {
                let keep = churn_keeps(i);
                let node = m.alloc(ChurnNode {
                    value: i,
                    peer: Member::null(),
                });
                if keep && let Some(peer) = previous.take() {
                    node.get(m).peer.set(m, Some(peer.get(m)));
                }
                checksum += churn_digest(black_box(node.get(m)), m);
                if keep {
                    ring[churn_slot(i)] = Some(node);
                } else {
                    previous = Some(node);
                }
            }
            checksum
                + ring
                    .iter()
                    .flatten()
                    .map(|node| churn_digest(node.get(m), m))
                    .sum::<u64>()
        })
    }
}

/// One implementation of all three workloads.
#[derive(Debug)]
pub struct Implementation {
    /// Implementation name; "morph..." marks ours.
    pub name: &'static str,
    /// binary-trees of the given maximum depth; returns the checksum.
    pub binary_trees: fn(u32) -> u64,
    /// GCBench of the given shape; returns the checksum.
    pub gcbench: fn(&GcBenchShape) -> u64,
    /// Alloc churn of the given number of allocations; returns the checksum.
    pub alloc_churn: fn(u64) -> u64,
}

/// Every implementation measured, in report order.
pub const IMPLEMENTATIONS: &[Implementation] = &[
    Implementation {
        name: "morph-gengc",
        binary_trees: morph_gengc_impl::binary_trees,
        gcbench: morph_gengc_impl::gcbench,
        alloc_churn: morph_gengc_impl::alloc_churn,
    },
    Implementation {
        name: "box-glibc",
        binary_trees: boxed::binary_trees,
        gcbench: boxed::gcbench,
        alloc_churn: boxed::alloc_churn,
    },
    Implementation {
        name: "rc",
        binary_trees: rc::binary_trees,
        gcbench: rc::gcbench,
        alloc_churn: rc::alloc_churn,
    },
    Implementation {
        name: "gc-arena",
        binary_trees: gc_arena_peer::binary_trees,
        gcbench: gc_arena_peer::gcbench,
        alloc_churn: gc_arena_peer::alloc_churn,
    },
    Implementation {
        name: "gc",
        binary_trees: rust_gc::binary_trees,
        gcbench: rust_gc::gcbench,
        alloc_churn: rust_gc::alloc_churn,
    },
    Implementation {
        name: "dumpster",
        binary_trees: dumpster_peer::binary_trees,
        gcbench: dumpster_peer::gcbench,
        alloc_churn: dumpster_peer::alloc_churn,
    },
];
