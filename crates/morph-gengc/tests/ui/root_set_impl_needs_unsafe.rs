// The collector reads and rewrites whatever a root set reports: an
// implementation promises the slots are valid, so it is an `unsafe impl`.
use morph_gengc::RootSet;
use morph_header::SlotVisitor;
use std::ptr::NonNull;

struct Lies(Vec<*mut u8>);

impl RootSet for Lies {
    fn visit_roots(&mut self, visitor: &mut dyn SlotVisitor) {
        for slot in &mut self.0 {
            visitor.visit_slot(NonNull::from(slot));
        }
    }
}

fn main() {}
