// `#[trace(init)]` generates a struct of the same fields: an enum has no
// single set of fields, so it is refused with a message saying so.
use morph_gengc::{Member, Trace};

#[derive(Trace)]
#[trace(init)]
enum Value {
    Nil,
    Pair(Member<Value>, Member<Value>),
}

fn main() {}
