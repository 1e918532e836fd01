//! Serde mirror of the config file: Option fields, deny_unknown_fields, spans.
