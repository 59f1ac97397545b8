use morph_arena::Arena;

fn main() {
    let arena = Arena::new();
    std::thread::scope(|threads| {
        threads.spawn(|| arena.alloc(1_u32));
        arena.alloc(2_u32);
    });
}
