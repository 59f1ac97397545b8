//! The adversarial suite: attempts, grouped by class, to break the safe API
//! from code without `unsafe` (and the raw API's documented panic
//! behaviour). Each class that was ever found open has a test here that
//! failed before its fix; misuse the type system rejects is in `tests/ui/`
//! (see `docs/SAFETY.md` for the map from class to test).

mod finalizers;
mod foreign_heap;
mod panics;

use std::panic::{self, AssertUnwindSafe};

/// Runs `f`, expecting it to panic; returns the panic's message.
pub fn panic_message(f: impl FnOnce()) -> String {
    let payload = panic::catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        String::from("<non-string panic>")
    }
}
