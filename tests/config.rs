//! Config loading, check-config, convert-rules.
