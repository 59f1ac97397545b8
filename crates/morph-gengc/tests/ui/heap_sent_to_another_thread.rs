// A heap holds objects of types that need not be `Send` (`Rc` fields):
// it stays on the thread that made it.
use morph_gengc::Heap;

fn main() {
    let heap = Heap::new(Default::default()).unwrap();
    std::thread::spawn(move || drop(heap));
}
