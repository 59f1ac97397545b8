use morph_arena::Arena;

fn main() {
    let mut arena = Arena::new();
    let name = arena.alloc_str("main");
    arena.reset();
    println!("{name}");
}
