//! Escaping of path fields in the TSV files (see the module docs of `vault`).
//! SKELETON: the `fs` work fills these in.

use std::ffi::{OsStr, OsString};

/// A field that is not valid escaped text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad escape in `{text}`: {reason}")]
pub struct EscapeError {
    /// The field as read.
    pub text: String,
    /// What is wrong.
    pub reason: String,
}

/// Escape `name` for a TSV field.
pub fn escape(name: &OsStr) -> String {
    let _ = name;
    todo!("escape")
}

/// Undo [`escape`].
pub fn unescape(text: &str) -> Result<OsString, EscapeError> {
    let _ = text;
    todo!("unescape")
}
