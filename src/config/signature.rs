//! Filesystem signature specifications as written in the config (`source_fs`, `vault_fs`).
//! Parsing and printing only: matching a signature against the mount table is
//! the mount watcher's job (`watch::mounts`), not this module's.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Which filesystem a path must be on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FsSpec {
    /// Record the signature at the job's first run and require it from then on.
    Auto,
    /// `uuid=…`: the filesystem UUID.
    Uuid(String),
    /// `partuuid=…`: the partition UUID.
    PartUuid(String),
    /// `label=…`: the filesystem label.
    Label(String),
    /// `partlabel=…`: the partition label.
    PartLabel(String),
    /// `dev=/dev/…`: the device node.
    Dev(PathBuf),
}

/// A malformed signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad filesystem signature `{text}`: {reason} (expected auto, uuid=…, partuuid=…, label=…, partlabel=… or dev=/dev/…)")]
pub struct FsSpecError {
    /// The text as written.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FromStr for FsSpec {
    type Err = FsSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| FsSpecError {
            text: s.to_owned(),
            reason: reason.to_owned(),
        };
        let t = s.trim();
        if t.eq_ignore_ascii_case("auto") {
            return Ok(FsSpec::Auto);
        }
        let (key, value) = t.split_once('=').ok_or_else(|| err("no `=`"))?;
        let value = value.trim();
        if value.is_empty() {
            return Err(err("empty value"));
        }
        match key.trim().to_ascii_lowercase().as_str() {
            "uuid" => Ok(FsSpec::Uuid(value.to_owned())),
            "partuuid" => Ok(FsSpec::PartUuid(value.to_owned())),
            "label" => Ok(FsSpec::Label(value.to_owned())),
            "partlabel" => Ok(FsSpec::PartLabel(value.to_owned())),
            "dev" if value.starts_with("/dev/") => Ok(FsSpec::Dev(PathBuf::from(value))),
            "dev" => Err(err("a device must be a path under /dev/")),
            _ => Err(err("unknown key")),
        }
    }
}

impl fmt::Display for FsSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsSpec::Auto => write!(f, "auto"),
            FsSpec::Uuid(v) => write!(f, "uuid={v}"),
            FsSpec::PartUuid(v) => write!(f, "partuuid={v}"),
            FsSpec::Label(v) => write!(f, "label={v}"),
            FsSpec::PartLabel(v) => write!(f, "partlabel={v}"),
            FsSpec::Dev(v) => write!(f, "dev={}", v.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_parses_and_displays_back() {
        for text in [
            "auto",
            "uuid=2f6c1b7e-9a41",
            "partuuid=abcd-01",
            "label=BACKUP",
            "partlabel=data",
            "dev=/dev/sdb1",
        ] {
            let spec: FsSpec = text.parse().unwrap();
            assert_eq!(spec.to_string(), text);
        }
    }

    #[test]
    fn keys_are_case_insensitive_and_values_trimmed() {
        assert_eq!("AUTO".parse(), Ok(FsSpec::Auto));
        assert_eq!(
            " Label = My Disk ".parse(),
            Ok(FsSpec::Label("My Disk".into()))
        );
    }

    #[test]
    fn malformed_signatures_say_why() {
        for (text, reason) in [
            ("usb", "no `=`"),
            ("label=", "empty value"),
            ("dev=sdb1", "a device must be a path under /dev/"),
            ("serial=123", "unknown key"),
        ] {
            let err = text.parse::<FsSpec>().unwrap_err();
            assert_eq!(err.reason, reason, "{text:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn display_parses_back(value in "[A-Za-z0-9_-][A-Za-z0-9 _.-]{0,20}[A-Za-z0-9_-]") {
            for spec in [
                FsSpec::Uuid(value.clone()),
                FsSpec::PartUuid(value.clone()),
                FsSpec::Label(value.clone()),
                FsSpec::PartLabel(value.clone()),
                FsSpec::Dev(PathBuf::from(format!("/dev/{value}"))),
            ] {
                proptest::prop_assert_eq!(spec.to_string().parse::<FsSpec>(), Ok(spec));
            }
        }
    }
}
