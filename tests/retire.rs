//! Retire and prune.
