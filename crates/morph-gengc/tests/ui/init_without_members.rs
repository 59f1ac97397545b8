// A struct without `Member` fields needs no initializer: `Mutator::alloc`
// takes it whole, and the derive says so.
use morph_gengc::Trace;

#[derive(Trace)]
#[trace(init)]
struct Point {
    x: f64,
    y: f64,
}

fn main() {}
