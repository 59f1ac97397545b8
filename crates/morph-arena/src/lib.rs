//! morph-arena: being built (see the issue).
