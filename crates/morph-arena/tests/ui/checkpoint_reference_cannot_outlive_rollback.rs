use morph_arena::Arena;

fn main() {
    let mut arena = Arena::new();
    let escaped;
    {
        let scratch = arena.checkpoint();
        escaped = scratch.alloc(1_u32);
    }
    println!("{escaped}");
}
