//! Test harness: temp trees, running the binary, comparing trees (shared: add, don't rewrite).
