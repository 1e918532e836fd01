//! Escaping of path fields in the TSV files (see the module docs of `vault`).
