//! The legacy rule TSV (seed notebook header) -> TOML.
