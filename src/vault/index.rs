//! index.tsv: read, and replace atomically.
