// Members must live inline in a managed object, where the collector can find
// and update them: a Vec of members does not implement Trace.
use morph_gengc::{Member, Trace};

#[derive(Trace)]
struct Node {
    children: Vec<Member<Node>>,
}

fn main() {}
