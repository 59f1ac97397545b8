//! The benchmarks game's binary-trees on the safe API, printing the
//! collector's statistics at the end.
//!
//! ```sh
//! cargo run --release -p morph-gengc --example binary_trees -- 18
//! MORPH_GC_TRACE=1 cargo run --release -p morph-gengc --example binary_trees -- 16
//! ```

use morph_gengc::{Gc, GcConfig, Heap, Member, Mutator, Root, Trace};

#[derive(Trace)]
struct Node {
    left: Member<Node>,
    right: Member<Node>,
}

fn bottom_up<'gc>(m: &mut Mutator<'gc>, depth: u32) -> Root<'gc, Node> {
    let node = Node {
        left: Member::null(),
        right: Member::null(),
    };
    if depth == 0 {
        return m.alloc(node);
    }
    let left = bottom_up(m, depth - 1);
    let right = bottom_up(m, depth - 1);
    let parent = m.alloc(node);
    let p = parent.get(m);
    p.left.set(m, Some(left.get(m)));
    p.right.set(m, Some(right.get(m)));
    parent
}

fn check(node: Gc<'_, Node>, m: &Mutator<'_>) -> u64 {
    1 + node.left.get(m).map_or(0, |n| check(n, m)) + node.right.get(m).map_or(0, |n| check(n, m))
}

fn main() {
    let max_depth: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(16)
        .max(6);
    let config = GcConfig {
        type_stats: true,
        ..GcConfig::default()
    };
    let mut heap = Heap::new(config).expect("valid configuration");
    heap.enter(|m| {
        let stretch = bottom_up(m, max_depth + 1);
        println!(
            "stretch tree of depth {}\t check: {}",
            max_depth + 1,
            check(stretch.get(m), m)
        );
        drop(stretch);
        let long_lived = bottom_up(m, max_depth);
        for depth in (4..=max_depth).step_by(2) {
            let iterations = 1u64 << (max_depth - depth + 4);
            let mut total = 0;
            for _ in 0..iterations {
                let tree = bottom_up(m, depth);
                total += check(tree.get(m), m);
            }
            println!("{iterations}\t trees of depth {depth}\t check: {total}");
        }
        println!(
            "long lived tree of depth {max_depth}\t check: {}",
            check(long_lived.get(m), m)
        );
    });
    println!();
    heap.stats().print_stats();
}
