//! The version pages: a folder of a version listed like a file manager (paginated: a folder
//! of 100k names lists its names once and `stat`s only the page shown), a file's page, a
//! file download, a folder as a tar stream, a path's history and a side-by-side diff.
//!
//! Every path is resolved with the vault's fd-based [`Resolver`]: structural links are
//! followed one hop, source symlinks are entries to show (with their target text), never to
//! follow. A download opens only a regular file, by name in its real parent directory, with
//! `O_NOFOLLOW | O_NONBLOCK`, and checks it is still a regular file once open; it is served
//! as `application/octet-stream`, `attachment`. Nothing outside a version is ever listed.

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};

use super::body;
use super::pages::shell;
use super::route::{encode, href, Route, Target};
use super::{error, AppState};
use crate::fs::{FileKind, Meta, OFlag};
use crate::vault::layout::{JobFolder, Located, Resolved, Resolver, VersionName};
use crate::vault::read::{self, list::human_size, shown, shown_or_dot, LogOptions};

/// Entries per page of a folder listing.
pub const PAGE: usize = 500;
/// Files larger than this are not diffed.
const DIFF_CAP: u64 = 512 * 1024;

/// A page, or the error page that replaces it (boxed: a `Response` is large).
pub type Page = Result<Response, Box<Response>>;

fn not_found(what: impl std::fmt::Display) -> Box<Response> {
    Box::new(error(StatusCode::NOT_FOUND, &what))
}

fn internal(what: impl std::fmt::Display) -> Box<Response> {
    Box::new(error(StatusCode::INTERNAL_SERVER_ERROR, &what))
}

/// The job's folder, open.
fn folder(state: &AppState, job: &str) -> Result<JobFolder, Box<Response>> {
    let job = state
        .config
        .job(job)
        .ok_or_else(|| not_found(format!("no job called `{job}`")))?;
    let dir = job.job_dir();
    JobFolder::open(&dir).map_err(|e| not_found(format!("{}: {e}", job.name)))
}

/// The version, the resolver and the located entry of `t`.
fn locate(state: &AppState, t: &Target) -> Result<(Resolver, VersionName, Located), Box<Response>> {
    let folder = folder(state, &t.job)?;
    let v = read::version(&folder, t.version).map_err(not_found)?;
    let r = Resolver::new(&folder).map_err(internal)?;
    let found = r
        .locate(&v, &t.path)
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("{}: not in version {}", shown(&t.path), t.version)))?;
    Ok((r, v, found))
}

fn trail(t: &Target) -> Vec<(String, String)> {
    let mut out = vec![
        (t.job.clone(), href(&Route::Job(t.job.clone()))),
        (
            format!("V{}", t.version),
            href(&Route::Browse(at(t, PathBuf::new()))),
        ),
    ];
    let mut p = PathBuf::new();
    for c in t.path.iter() {
        p.push(c);
        out.push((shown(Path::new(c)), href(&Route::Browse(at(t, p.clone())))));
    }
    out
}

fn at(t: &Target, path: PathBuf) -> Target {
    Target {
        job: t.job.clone(),
        version: t.version,
        path,
    }
}

fn mode_text(m: &Meta) -> String {
    let kind = match m.kind {
        FileKind::Dir => 'd',
        FileKind::Symlink => 'l',
        FileKind::Fifo => 'p',
        FileKind::Socket => 's',
        FileKind::CharDevice => 'c',
        FileKind::BlockDevice => 'b',
        FileKind::File => '-',
    };
    let mut s = String::from(kind);
    for (i, c) in "rwxrwxrwx".chars().enumerate() {
        s.push(if m.mode & (0o400 >> i) != 0 { c } else { '-' });
    }
    s
}

fn time_text(m: &Meta) -> String {
    chrono::DateTime::from_timestamp(m.mtime.sec, 0)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

/// The target text of the source symlink `entry` (in the real directory `dir`).
fn link_text(dir: &crate::fs::Dir, entry: &Resolved) -> String {
    let name = entry.path.file_name().unwrap_or_default();
    crate::fs::at::read_link(dir, name)
        .map(|t| shown(&t))
        .unwrap_or_else(|e| format!("(unreadable: {e})"))
}

/// `/jobs/JOB/v/N/PATH`.
pub fn browse(state: &AppState, t: &Target, page: usize) -> Page {
    let (r, _v, found) = locate(state, t)?;
    let title = if t.path.as_os_str().is_empty() {
        format!("V{}", t.version)
    } else {
        shown(&t.path)
    };
    let body = if found.entry.meta.kind == FileKind::Dir {
        folder_listing(&r, t, &found, page).map_err(internal)?
    } else {
        file_page(t, &found)
    };
    Ok(shell(&title, &trail(t), body).into_response())
}

fn folder_listing(
    r: &Resolver,
    t: &Target,
    found: &Located,
    page: usize,
) -> std::io::Result<Markup> {
    let dir = match &found.parent {
        Some((pd, pr)) => r.open_child(pd, pr, &found.entry)?,
        None => r.open(&found.entry)?,
    };
    let names = dir.entries()?;
    let pages = names.len().div_ceil(PAGE).max(1);
    let page = page.min(pages - 1);
    let mut rows = Vec::new();
    for e in names.iter().skip(page * PAGE).take(PAGE) {
        if let Some(child) = r.child(&dir, &found.entry, &e.name)? {
            let link = (child.meta.kind == FileKind::Symlink).then(|| link_text(&dir, &child));
            rows.push((e.name.clone(), child.meta, link));
        }
    }
    let tar = Route::Tar(t.clone());
    let here = href(&Route::Browse(t.clone()));
    let base = if here.ends_with('/') {
        here.clone()
    } else {
        format!("{here}/")
    };
    Ok(html! {
        p { (names.len()) " entries · " a href=(href(&tar)) { "download this folder as .tar" }
            " · " a href=(href(&Route::Log { job: t.job.clone(), path: t.path.clone() })) { "history" } }
        (pager(&base, page, pages))
        table.listing {
            thead { tr { th { "name" } th.num { "size" } th { "mode" } th { "owner" } th { "modified" } } }
            tbody {
                @for (name, m, link) in &rows {
                    @let child = at(t, t.path.join(name));
                    tr {
                        td.name {
                            @match link {
                                Some(target) => { span.link { (shown(Path::new(name))) " → " (target) } }
                                None => {
                                    a href=(href(&Route::Browse(child))) { (shown(Path::new(name))) @if m.kind == FileKind::Dir { "/" } }
                                }
                            }
                        }
                        td.num { @if m.kind == FileKind::Dir { "—" } @else { (human_size(m.size)) } }
                        td.mode { (mode_text(m)) }
                        td.mode { (m.uid) ":" (m.gid) }
                        td.time { (time_text(m)) }
                    }
                }
            }
        }
        (pager(&base, page, pages))
    })
}

fn pager(base: &str, page: usize, pages: usize) -> Markup {
    html! {
        @if pages > 1 {
            div.pager {
                @if page > 0 { a href=(format!("{base}?page={}", page - 1)) { "← previous" } }
                span.muted { "page " (page + 1) " of " (pages) }
                " "
                @if page + 1 < pages { a href=(format!("{base}?page={}", page + 1)) { "next →" } }
            }
        }
    }
}

fn file_page(t: &Target, found: &Located) -> Markup {
    let m = &found.entry.meta;
    let link = match (&found.parent, m.kind) {
        (Some((dir, _)), FileKind::Symlink) => Some(link_text(dir, &found.entry)),
        _ => None,
    };
    html! {
        table.listing {
            tbody {
                tr { th { "kind" } td { (read::history::kind_name(m.kind)) } }
                tr { th { "size" } td { (human_size(m.size)) " (" (m.size) " bytes)" } }
                tr { th { "mode" } td.mode { (mode_text(m)) } }
                tr { th { "owner" } td.mode { (m.uid) ":" (m.gid) } }
                tr { th { "modified" } td.time { (time_text(m)) } }
                @if let Some(target) = &link { tr { th { "link to" } td.link { (target) " (a symbolic link: shown, never followed)" } } }
            }
        }
        p {
            @if m.kind == FileKind::File { a href=(href(&Route::File(t.clone()))) { "download" } " · " }
            a href=(href(&Route::Log { job: t.job.clone(), path: t.path.clone() })) { "history of this path" }
        }
    }
}

/// Open the regular file `found` for reading, never a symlink, FIFO or device.
fn open_regular(found: &Located) -> std::io::Result<std::fs::File> {
    let refuse = || std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file");
    if found.entry.meta.kind != FileKind::File {
        return Err(refuse());
    }
    let (dir, _) = found.parent.as_ref().ok_or_else(refuse)?;
    let name = found.entry.path.file_name().ok_or_else(refuse)?;
    let file = dir.open_file(name, OFlag::O_RDONLY | OFlag::O_NONBLOCK, 0)?;
    if !file.metadata()?.file_type().is_file() {
        return Err(refuse());
    }
    Ok(file)
}

fn attachment(name: &OsStr, content_type: &str) -> [(header::HeaderName, String); 2] {
    let ascii: String = name
        .as_bytes()
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._ ".contains(&b) {
                b as char
            } else {
                '_'
            }
        })
        .collect();
    [
        (header::CONTENT_TYPE, content_type.to_owned()),
        (
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
                encode(name.as_bytes())
            ),
        ),
    ]
}

/// `/jobs/JOB/file/N/PATH`: the file's bytes, as an attachment.
pub fn download(state: &AppState, t: &Target) -> Page {
    let (_r, _v, found) = locate(state, t)?;
    let mut file = open_regular(&found).map_err(|e| {
        let what = format!("{}: {e}", shown(&t.path));
        Box::new(error(StatusCode::FORBIDDEN, &what))
    })?;
    let name = t
        .path
        .file_name()
        .unwrap_or(OsStr::new("file"))
        .to_os_string();
    let body = body::stream(move |w| std::io::copy(&mut file, w).map(drop));
    Ok((attachment(&name, "application/octet-stream"), body).into_response())
}

/// `/jobs/JOB/tar/N/PATH`: the folder (or file) as a tar stream.
pub fn tar(state: &AppState, t: &Target) -> Page {
    let folder = folder(state, &t.job)?;
    locate(state, t)?;
    let name = match t.path.file_name() {
        Some(n) => format!("{}.tar", n.to_string_lossy()),
        None => format!("{}-V{}.tar", t.job, t.version),
    };
    let (number, path) = (t.version, t.path.clone());
    let body = body::stream(move |w| {
        read::write_version_tar(&folder, number, &path, w)
            .map(drop)
            .map_err(|e| std::io::Error::other(e.to_string()))
    });
    Ok((attachment(OsStr::new(&name), "application/x-tar"), body).into_response())
}

/// `/jobs/JOB/log/PATH`: every version in which PATH changed.
pub fn history(state: &AppState, job: &str, path: &Path) -> Page {
    let folder = folder(state, job)?;
    let entries = read::log(&folder, path, &LogOptions::default())
        .map_err(|e| Box::new(error(StatusCode::BAD_REQUEST, &e)))?;
    let shown_path = shown_or_dot(path);
    let trail = vec![
        (job.to_owned(), href(&Route::Job(job.to_owned()))),
        (format!("history of {shown_path}"), String::new()),
    ];
    let mut prev_file: Option<u64> = None;
    let diffs: Vec<Option<Route>> = entries
        .iter()
        .map(|e| {
            let d = match (prev_file, e.kind) {
                (Some(a), Some(FileKind::File)) => Some(Route::Diff {
                    job: job.to_owned(),
                    a,
                    b: e.version.number,
                    path: e.path.clone(),
                }),
                _ => None,
            };
            prev_file = (e.kind == Some(FileKind::File)).then_some(e.version.number);
            d
        })
        .collect();
    let body = html! {
        h1 { "History of " (shown_path) }
        @if entries.is_empty() { p.muted { "This path is in no version." } }
        table.history {
            thead { tr { th { "version" } th { "time" } th { "change" } th { "kind" } th.num { "size" } th { "what" } th {} } }
            tbody {
                @for (e, diff) in entries.iter().zip(&diffs) {
                    @let t = Target { job: job.to_owned(), version: e.version.number, path: e.path.clone() };
                    tr {
                        td { @if e.kind.is_some() { a href=(href(&Route::Browse(t))) { "V" (e.version.number) } } @else { "V" (e.version.number) } }
                        td { (read::list::rfc3339(&e.version.time)) }
                        td { (e.change.as_str()) @if let Some(from) = &e.from { " from " (shown(from)) } }
                        td { (e.kind.map(read::history::kind_name).unwrap_or("—")) }
                        td.num { @match (e.size, e.entries) { (Some(s), _) => { (human_size(s)) } (None, Some(n)) => { (n) " entries" } _ => { "—" } } }
                        td { (e.what.join(", ")) }
                        td { @if let Some(d) = diff { a href=(href(d)) { "diff with previous" } } }
                    }
                }
            }
        }
    };
    Ok(shell("History", &trail, body).into_response())
}

/// The text of a file of a version: `Err` with a reason when it is missing, not a regular
/// file, too big or not text.
fn text_of(state: &AppState, t: &Target) -> Result<String, String> {
    let (_r, _v, found) = locate(state, t).map_err(|_| format!("not in version {}", t.version))?;
    if found.entry.meta.size > DIFF_CAP {
        return Err(format!(
            "larger than {} (not compared)",
            human_size(DIFF_CAP)
        ));
    }
    let mut file = open_regular(&found).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.by_ref()
        .take(DIFF_CAP + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.contains(&0) {
        return Err("a binary file (not compared)".into());
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text (not compared)".into())
}

/// `/jobs/JOB/diff/A/B/PATH`: the two versions side by side, changed lines marked.
pub fn diff(state: &AppState, job: &str, a: u64, b: u64, path: &Path) -> Response {
    let ta = Target {
        job: job.to_owned(),
        version: a,
        path: path.to_path_buf(),
    };
    let tb = Target {
        version: b,
        ..ta.clone()
    };
    let (left, right) = (text_of(state, &ta), text_of(state, &tb));
    let trail = vec![
        (job.to_owned(), href(&Route::Job(job.to_owned()))),
        (format!("diff of {}", shown(path)), String::new()),
    ];
    let body = match (&left, &right) {
        (Ok(l), Ok(r)) => side_by_side(l, r, a, b),
        _ => html! {
            p.error { "V" (a) ": " (left.as_ref().err().map_or("text", |e| e)) } p.error { "V" (b) ": " (right.as_ref().err().map_or("text", |e| e)) }
        },
    };
    let page = html! { h1 { (shown(path)) ": V" (a) " ↔ V" (b) } (body) };
    shell("Diff", &trail, page).into_response()
}

/// Lines of `l` and `r` aligned by a longest-common-subsequence (fine for the capped sizes).
fn side_by_side(l: &str, r: &str, a: u64, b: u64) -> Markup {
    let (x, y): (Vec<&str>, Vec<&str>) = (l.lines().collect(), r.lines().collect());
    let rows = align(&x, &y);
    html! {
        table.diff {
            thead { tr { th { "V" (a) } th { "V" (b) } } }
            tbody {
                @for (left, right) in &rows {
                    @let changed = left != right;
                    tr {
                        td class=[changed.then_some("del")] { (left.unwrap_or("")) }
                        td class=[changed.then_some("add")] { (right.unwrap_or("")) }
                    }
                }
            }
        }
    }
}

type Row<'a> = (Option<&'a str>, Option<&'a str>);

fn align<'a>(x: &[&'a str], y: &[&'a str]) -> Vec<Row<'a>> {
    // Past a few million cells, pair lines by position instead.
    if x.len().saturating_mul(y.len()) > 4_000_000 {
        let n = x.len().max(y.len());
        return (0..n)
            .map(|i| (x.get(i).copied(), y.get(i).copied()))
            .collect();
    }
    let (n, m) = (x.len(), y.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if x[i] == y[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n || j < m {
        if i < n && j < m && x[i] == y[j] {
            out.push((Some(x[i]), Some(y[j])));
            (i, j) = (i + 1, j + 1);
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push((None, Some(y[j])));
            j += 1;
        } else {
            out.push((Some(x[i]), None));
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn align_keeps_common_lines_together() {
        let rows = align(&["a", "b", "c"], &["a", "x", "c", "d"]);
        assert_eq!(
            rows,
            [
                (Some("a"), Some("a")),
                (None, Some("x")),
                (Some("b"), None),
                (Some("c"), Some("c")),
                (None, Some("d"))
            ]
        );
    }
}
