//! The read side: list, diff, restore, verify.
