//! Find the config file and read it (file, then REVERBERATOR_ environment overrides).
