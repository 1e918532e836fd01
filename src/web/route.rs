//! The URL scheme of `serve`, parsed from the raw (still percent-encoded) request path into
//! a [`Route`]: a pure function, so every hostile form is unit-tested here.
//!
//! ```text
//! /                                  the jobs
//! /jobs/JOB                          one job's versions
//! /jobs/JOB/v/N/PATH                 browse PATH of version N (a folder or a file's page)
//! /jobs/JOB/file/N/PATH              download the file PATH of version N
//! /jobs/JOB/tar/N/PATH               download the folder PATH of version N as .tar
//! /jobs/JOB/log/PATH                 PATH's history
//! /jobs/JOB/diff/A/B/PATH            PATH in versions A and B, side by side
//! /metrics  /login  /style.css
//! ```
//!
//! Each segment is percent-decoded to bytes on its own (names need not be UTF-8). A segment
//! that decodes to `.`, `..`, or holds `/` or NUL is refused, as is an empty segment inside
//! a path: a request never names anything but plain components below a version root. The
//! resolution of those components is `web::vault`'s, through the fd-based resolver.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/`: every job.
    Jobs,
    /// `/jobs/JOB`: one job's versions.
    Job(String),
    /// `/jobs/JOB/v/N/PATH`: a folder listing or a file's page.
    Browse(Target),
    /// `/jobs/JOB/file/N/PATH`: a file download.
    File(Target),
    /// `/jobs/JOB/tar/N/PATH`: a folder as a tar stream.
    Tar(Target),
    /// `/jobs/JOB/log/PATH`: a path's history.
    Log {
        /// The job name.
        job: String,
        /// The path, relative to the source root.
        path: PathBuf,
    },
    /// `/jobs/JOB/diff/A/B/PATH`: two versions of a file side by side.
    Diff {
        /// The job name.
        job: String,
        /// The older version.
        a: u64,
        /// The newer version.
        b: u64,
        /// The file, relative to the source root.
        path: PathBuf,
    },
    /// `/metrics`.
    Metrics,
    /// `/login`.
    Login,
    /// `/style.css`.
    Style,
}

/// A path in one version of one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The job name.
    pub job: String,
    /// The version number.
    pub version: u64,
    /// Plain components below the version root (empty: the root).
    pub path: PathBuf,
}

/// Why a request path is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// No page has this address.
    #[error("no such page")]
    NotFound,
    /// A path segment that is not a plain name (`..`, `.`, `%2F`, NUL, bad escape, empty).
    #[error("`{0}` is not a plain name: paths may not hold `.`, `..`, `/` escapes or NUL")]
    BadSegment(String),
}

/// Parse the raw request path (as sent, percent-encoded, without the query).
pub fn parse(raw: &str) -> Result<Route, RouteError> {
    let rest = raw.strip_prefix('/').ok_or(RouteError::NotFound)?;
    match rest {
        "" => return Ok(Route::Jobs),
        "metrics" => return Ok(Route::Metrics),
        "login" => return Ok(Route::Login),
        "style.css" => return Ok(Route::Style),
        _ => {}
    }
    let rest = rest.strip_prefix("jobs/").ok_or(RouteError::NotFound)?;
    let mut segs: Vec<&str> = rest.split('/').collect();
    // A trailing slash (a folder's address) ends in one empty segment.
    if segs.len() > 1 && segs.last() == Some(&"") {
        segs.pop();
    }
    let job = text_segment(segs[0])?;
    let kind = segs.get(1).copied();
    match kind {
        None => Ok(Route::Job(job)),
        Some("v") | Some("file") | Some("tar") => {
            let version = number(segs.get(2))?;
            let path = path_of(&segs[3..])?;
            let t = Target { job, version, path };
            Ok(match kind {
                Some("v") => Route::Browse(t),
                Some("file") => Route::File(t),
                _ => Route::Tar(t),
            })
        }
        Some("log") => Ok(Route::Log {
            job,
            path: path_of(&segs[2..])?,
        }),
        Some("diff") => Ok(Route::Diff {
            job,
            a: number(segs.get(2))?,
            b: number(segs.get(3))?,
            path: path_of(segs.get(4..).unwrap_or(&[]))?,
        }),
        Some(_) => Err(RouteError::NotFound),
    }
}

fn number(seg: Option<&&str>) -> Result<u64, RouteError> {
    seg.and_then(|s| s.parse().ok()).ok_or(RouteError::NotFound)
}

/// A job name: any non-empty UTF-8 text (it is only looked up in the config, never used
/// as a path).
fn text_segment(seg: &str) -> Result<String, RouteError> {
    let bad = || RouteError::BadSegment(seg.to_owned());
    let bytes = decode(seg).filter(|b| !b.is_empty()).ok_or_else(bad)?;
    String::from_utf8(bytes).map_err(|_| bad())
}

fn path_of(segs: &[&str]) -> Result<PathBuf, RouteError> {
    let mut path = PathBuf::new();
    for seg in segs {
        path.push(OsString::from_vec(segment(seg)?));
    }
    Ok(path)
}

/// One segment, percent-decoded; refused unless it is a plain name.
fn segment(seg: &str) -> Result<Vec<u8>, RouteError> {
    let bad = || RouteError::BadSegment(seg.to_owned());
    let bytes = decode(seg).ok_or_else(bad)?;
    let plain = !bytes.is_empty()
        && bytes != b"."
        && bytes != b".."
        && !bytes.iter().any(|b| *b == b'/' || *b == 0);
    plain.then_some(bytes).ok_or_else(bad)
}

/// Percent-decode `s` to bytes; `None` on a malformed escape.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Percent-encode one path segment (every byte but unreserved ASCII).
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encode a relative path, segment by segment, joined with `/`.
pub fn encode_path(path: &Path) -> String {
    path.iter()
        .map(|c| encode(c.as_bytes()))
        .collect::<Vec<_>>()
        .join("/")
}

/// The address of `route` (the inverse of [`parse`] for the job pages).
pub fn href(route: &Route) -> String {
    let job = |j: &str| format!("/jobs/{}", encode(j.as_bytes()));
    let target = |kind: &str, t: &Target| {
        format!(
            "{}/{kind}/{}/{}",
            job(&t.job),
            t.version,
            encode_path(&t.path)
        )
    };
    match route {
        Route::Jobs => "/".to_owned(),
        Route::Job(j) => job(j),
        Route::Browse(t) => target("v", t),
        Route::File(t) => target("file", t),
        Route::Tar(t) => target("tar", t),
        Route::Log { job: j, path } => format!("{}/log/{}", job(j), encode_path(path)),
        Route::Diff { job: j, a, b, path } => {
            format!("{}/diff/{a}/{b}/{}", job(j), encode_path(path))
        }
        Route::Metrics => "/metrics".to_owned(),
        Route::Login => "/login".to_owned(),
        Route::Style => "/style.css".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(job: &str, version: u64, path: &str) -> Target {
        Target {
            job: job.into(),
            version,
            path: path.into(),
        }
    }

    #[test]
    fn pages_parse() {
        assert_eq!(parse("/"), Ok(Route::Jobs));
        assert_eq!(parse("/metrics"), Ok(Route::Metrics));
        assert_eq!(parse("/jobs/my%20docs"), Ok(Route::Job("my docs".into())));
        assert_eq!(parse("/jobs/d/"), Ok(Route::Job("d".into())));
        assert_eq!(parse("/jobs/d/v/3/"), Ok(Route::Browse(t("d", 3, ""))));
        assert_eq!(
            parse("/jobs/d/v/3/a/b%20c/"),
            Ok(Route::Browse(t("d", 3, "a/b c")))
        );
        assert_eq!(parse("/jobs/d/file/0/x"), Ok(Route::File(t("d", 0, "x"))));
        assert_eq!(parse("/jobs/d/tar/2/"), Ok(Route::Tar(t("d", 2, ""))));
        assert_eq!(
            parse("/jobs/d/diff/1/4/n.txt"),
            Ok(Route::Diff {
                job: "d".into(),
                a: 1,
                b: 4,
                path: "n.txt".into()
            })
        );
        assert_eq!(
            parse("/jobs/d/log/a/b"),
            Ok(Route::Log {
                job: "d".into(),
                path: "a/b".into()
            })
        );
    }

    #[test]
    fn escapes_and_climbs_are_refused() {
        for bad in [
            "/jobs/d/v/1/../../etc",
            "/jobs/d/v/1/%2e%2e/x",
            "/jobs/d/v/1/%2E%2E",
            "/jobs/d/v/1/a/%2F..%2Fetc",
            "/jobs/d/v/1/.",
            "/jobs/d/v/1/a//b",
            "/jobs/d/v/1/a%00b",
            "/jobs/d/v/1/a%zz",
            "/jobs/%ff",
        ] {
            assert!(
                matches!(parse(bad), Err(RouteError::BadSegment(_))),
                "{bad}: {:?}",
                parse(bad)
            );
        }
        for missing in ["/etc/passwd", "/jobs/d/v/x/", "/jobs/d/what", "jobs"] {
            assert_eq!(parse(missing), Err(RouteError::NotFound), "{missing}");
        }
    }

    #[test]
    fn href_round_trips_any_bytes() {
        let path = PathBuf::from(OsString::from_vec(b"a b/%/\xff\n".to_vec()));
        let r = Route::Browse(Target {
            job: "my job/x".into(),
            version: 7,
            path,
        });
        assert_eq!(parse(&href(&r)), Ok(r));
    }
}
