// A `RefCell` could move a member out of its object: members are mutable
// on their own, through `Member::set`.
use std::cell::RefCell;

use morph_gengc::{Member, Trace};

#[derive(Trace)]
struct Node {
    next: RefCell<Member<Node>>,
}

fn main() {}
