//! Snapshot, list, diff, restore, verify over real trees.
