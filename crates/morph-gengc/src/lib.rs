//! (building)
