//! [`VersionSel`]: how a user names a version on the command line (`3`, `V3`, a version
//! folder name, `latest`), parsed once (`FromStr`, so clap and any other caller share it)
//! and resolved against a job folder. It knows nothing about the commands that take it.

use std::fmt;
use std::str::FromStr;

use super::{newest, version, ReadError};
use crate::vault::layout::{JobFolder, VersionName};

/// A version as the user names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSel {
    /// Version number n (`3`, `V3`, `v3` or a folder name `V3--…`).
    Number(u64),
    /// The newest committed version (`latest`).
    Latest,
}

/// A text that names no version; the message says what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a version: give a number (3), V3, a version folder name \
     (V3--2026-11-23_10-00-00_+0100) or `latest`"
)]
pub struct VersionSelError(pub String);

impl FromStr for VersionSel {
    type Err = VersionSelError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || VersionSelError(text.to_owned());
        let t = text.trim().trim_end_matches('/');
        if t == "latest" {
            return Ok(VersionSel::Latest);
        }
        if t.contains("--") {
            return t
                .parse::<VersionName>()
                .map(|v| VersionSel::Number(v.number))
                .map_err(|_| bad());
        }
        let digits = t.strip_prefix(['V', 'v']).unwrap_or(t);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        digits.parse().map(VersionSel::Number).map_err(|_| bad())
    }
}

impl fmt::Display for VersionSel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionSel::Number(n) => write!(f, "V{n}"),
            VersionSel::Latest => f.write_str("latest"),
        }
    }
}

impl VersionSel {
    /// The committed version this names in `folder`, or an error listing the existing ones.
    pub fn resolve(self, folder: &JobFolder) -> Result<VersionName, ReadError> {
        match self {
            VersionSel::Number(n) => version(folder, n),
            VersionSel::Latest => newest(folder),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_v_names_folder_names_and_latest_parse() {
        let n = |t: &str| t.parse::<VersionSel>();
        assert_eq!(n("3"), Ok(VersionSel::Number(3)));
        assert_eq!(n("V3"), Ok(VersionSel::Number(3)));
        assert_eq!(n("v12"), Ok(VersionSel::Number(12)));
        assert_eq!(
            n("V7--2026-11-23_10-05-12_+0100/"),
            Ok(VersionSel::Number(7))
        );
        assert_eq!(n("latest"), Ok(VersionSel::Latest));
    }

    #[test]
    fn anything_else_is_refused_with_what_is_accepted() {
        for bad in [
            "",
            "V",
            "-1",
            "3a",
            "newest",
            "V3--garbage",
            "99999999999999999999999",
        ] {
            let err = bad.parse::<VersionSel>().expect_err(bad).to_string();
            assert!(err.contains("give a number (3), V3"), "{bad}: {err}");
        }
    }
}
