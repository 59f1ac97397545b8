use morph_arena::Arena;

fn main() {
    let arena = Arena::new();
    let escaped = arena.scope(|scratch| scratch.alloc(1_u32));
    println!("{escaped}");
}
