use morph_arena::Arena;

struct Printer<'a>(&'a str);

impl Drop for Printer<'_> {
    fn drop(&mut self) {
        println!("{}", self.0);
    }
}

fn main() {
    let arena = Arena::new();
    let local = String::from("freed before the arena drops");
    arena.alloc_with_drop(Printer(&local));
    drop(local);
}
