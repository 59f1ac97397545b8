//! Integration tests of morph-arena, compiled as one binary (one link).
//!
//! The binary installs a counting global allocator so tests can prove that
//! reusing chunks after a reset makes no call to the system allocator.

mod allocator_api;
mod basics;
mod counting;
mod drops;
mod model;
mod reset_reuse;
mod scopes;
mod ui;

#[global_allocator]
static GLOBAL: counting::CountingAllocator = counting::CountingAllocator;
