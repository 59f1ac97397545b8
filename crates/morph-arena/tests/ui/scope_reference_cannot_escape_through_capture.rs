use morph_arena::Arena;

fn main() {
    let arena = Arena::new();
    let mut smuggled: Option<&u32> = None;
    arena.scope(|scratch| {
        smuggled = Some(scratch.alloc(1_u32));
    });
    println!("{smuggled:?}");
}
