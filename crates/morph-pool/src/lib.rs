//! morph-pool: being built (see the issue).
