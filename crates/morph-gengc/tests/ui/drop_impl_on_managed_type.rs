// A destructor could move a member out of a dead object: derived types may
// not implement Drop (finalizers go in `Finalize`).
use morph_gengc::{Member, Trace};

#[derive(Trace)]
struct Node {
    next: Member<Node>,
}

impl Drop for Node {
    fn drop(&mut self) {}
}

fn main() {}
