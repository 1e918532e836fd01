//! The job folder on disk: version folder names (format and parse), the hidden build name,
//! the private `.reverberator/` folder with its `links/` and `refs/` bookkeeping, the text
//! of structural links, and the [`Resolver`] that walks a version the way `cp -rL` would
//! for structural links while treating source symlinks as data.
//!
//! Everything here is about names and places; building, retiring and reading versions live
//! in the sibling modules. Paths inside a version are relative to the version root; the
//! root itself is the empty path.
//!
//! Just over 600 lines without its tests: the naming contract (version names, link texts,
//! the job folder's files) reads best in one place; resolving and navigating are in
//! `layout/`.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{self, BufRead, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Datelike, FixedOffset, Local, TimeZone, Timelike};

use super::escape::{escape, unescape};
use crate::fs::{write_atomic, Dir, FileKind, OFlag};

/// The `strftime` format of the time part of a version folder name.
pub const TIME_FORMAT: &str = "%Y-%m-%d_%H-%M-%S_%z";
/// The private bookkeeping folder inside a job folder.
pub const PRIVATE_DIR: &str = ".reverberator";
/// The symlink to the newest version.
pub const LATEST: &str = "latest";
/// The suffix of a version being built.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// The name of a version folder: `V{n}--{%Y-%m-%d_%H-%M-%S_%z}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VersionName {
    /// The version number: from 0, only growing, never reused.
    pub number: u64,
    /// When the version was taken (local time, whole seconds).
    pub time: DateTime<FixedOffset>,
}

/// The environment variable of the test clock: `START,STEP`, an RFC 3339 time and a
/// duration (`2026-01-01T00:00:00+01:00,10m`). Version `n` is then named as taken at
/// `START + n × STEP`, in START's offset, whatever the real clock says: tests and the
/// thinning bench make a year of versions in minutes. Read once per process; never set it
/// in production (journal lines keep the real time).
pub const TEST_CLOCK_ENV: &str = "REVERBERATOR_TEST_CLOCK";

/// The parsed [`TEST_CLOCK_ENV`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestClock {
    /// The time of version 0.
    pub start: DateTime<FixedOffset>,
    /// The time between two version numbers.
    pub step: std::time::Duration,
}

impl TestClock {
    /// Parse `START,STEP`.
    pub fn parse(text: &str) -> Result<TestClock, String> {
        let (start, step) = text
            .split_once(',')
            .ok_or_else(|| format!("`{text}` is not START,STEP"))?;
        let start = DateTime::parse_from_rfc3339(start.trim())
            .map_err(|e| format!("`{start}` is not an RFC 3339 time: {e}"))?;
        let step = humantime::parse_duration(step.trim())
            .map_err(|e| format!("`{step}` is not a duration: {e}"))?;
        Ok(TestClock { start, step })
    }

    /// The time of version `number`.
    pub fn time_of(&self, number: u64) -> DateTime<FixedOffset> {
        let secs = self.step.as_secs().saturating_mul(number);
        let secs = i64::try_from(secs).unwrap_or(i64::MAX);
        self.start
            .checked_add_signed(chrono::Duration::seconds(secs))
            .unwrap_or(self.start)
    }
}

/// A folder name that is not a version name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a version folder name (V{{n}}--YYYY-MM-DD_HH-MM-SS_+ZZZZ)")]
pub struct VersionNameError(pub String);

thread_local! {
    static THREAD_CLOCK: std::cell::Cell<Option<DateTime<FixedOffset>>> =
        const { std::cell::Cell::new(None) };
}

/// Make [`VersionName::now`] give `time` on this thread (`None`: the clock again): for
/// in-process tests that commit versions at chosen times (a property test of the `keep`
/// tiers). Other threads, and processes, are not affected.
pub fn set_thread_clock(time: Option<DateTime<FixedOffset>>) {
    THREAD_CLOCK.with(|c| c.set(time));
}

impl VersionName {
    /// Version `number` taken now, in local time; at the time [`set_thread_clock`] set on
    /// this thread, or under the test clock ([`TEST_CLOCK_ENV`]) at `start + number ×
    /// step`, instead.
    pub fn now(number: u64) -> VersionName {
        if let Some(t) = THREAD_CLOCK.with(|c| c.get()) {
            return VersionName::at(number, t);
        }
        static CLOCK: std::sync::OnceLock<Option<TestClock>> = std::sync::OnceLock::new();
        let clock = CLOCK.get_or_init(|| {
            let text = std::env::var(TEST_CLOCK_ENV).ok()?;
            TestClock::parse(&text)
                .map_err(|e| tracing::warn!("{TEST_CLOCK_ENV}: {e}; using the real clock"))
                .ok()
        });
        match clock {
            Some(c) => VersionName::at(number, c.time_of(number)),
            None => VersionName::at(number, Local::now().fixed_offset()),
        }
    }

    /// Version `number` taken at `time` (sub-second part dropped).
    pub fn at(number: u64, time: DateTime<FixedOffset>) -> VersionName {
        let secs = time.timestamp();
        let time = time
            .timezone()
            .timestamp_opt(secs, 0)
            .single()
            .unwrap_or(time);
        VersionName { number, time }
    }

    /// The hidden name the version is built under: `.V{n}--{time}.partial`.
    pub fn partial_name(&self) -> String {
        format!(".{self}{PARTIAL_SUFFIX}")
    }

    /// The file name of this version's bookkeeping files: `V{n}.tsv`.
    pub fn tsv_name(&self) -> String {
        tsv_name(self.number)
    }
}

fn tsv_name(number: u64) -> String {
    format!("V{number}.tsv")
}

impl fmt::Display for VersionName {
    /// Written field by field: a retire formats a version name for every link it reads or
    /// writes, and chrono's `strftime` interpreter was 5% of a retire's CPU. Spells exactly
    /// what [`TIME_FORMAT`] does (a test compares them); years outside 0..=9999 and
    /// offsets with seconds, which only a hand-made name can have, go through chrono.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.time;
        let off = t.offset().local_minus_utc();
        if !(0..=9999).contains(&t.year()) || off % 60 != 0 {
            return write!(f, "V{}--{}", self.number, t.format(TIME_FORMAT));
        }
        let (sign, off) = if off < 0 { ('-', -off) } else { ('+', off) };
        write!(
            f,
            "V{}--{:04}-{:02}-{:02}_{:02}-{:02}-{:02}_{sign}{:02}{:02}",
            self.number,
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            off / 3600,
            off / 60 % 60,
        )
    }
}

/// Parse the time part of a version name, `YYYY-MM-DD_HH-MM-SS_±hhmm`, without chrono's
/// format interpreter (see `Display`); `None` when it is not exactly that.
fn parse_time(s: &str) -> Option<DateTime<FixedOffset>> {
    let b = s.as_bytes();
    if b.len() != 25 {
        return None;
    }
    let num = |from: usize, len: usize| -> Option<u32> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0u32, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    let seps = [
        (4, b'-'),
        (7, b'-'),
        (10, b'_'),
        (13, b'-'),
        (16, b'-'),
        (19, b'_'),
    ];
    if seps.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let sign = match b[20] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hh, mm) = (num(21, 2)?, num(23, 2)?);
    if mm > 59 {
        return None;
    }
    let offset = FixedOffset::east_opt(sign * (hh * 3600 + mm * 60) as i32)?;
    let year = i32::try_from(num(0, 4)?).ok()?;
    offset
        .with_ymd_and_hms(
            year,
            num(5, 2)?,
            num(8, 2)?,
            num(11, 2)?,
            num(14, 2)?,
            num(17, 2)?,
        )
        .single()
}

impl FromStr for VersionName {
    type Err = VersionNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || VersionNameError(s.to_owned());
        let rest = s.strip_prefix('V').ok_or_else(err)?;
        let (num, time) = rest.split_once("--").ok_or_else(err)?;
        if num.is_empty()
            || !num.bytes().all(|b| b.is_ascii_digit())
            || (num.len() > 1 && num.starts_with('0'))
        {
            return Err(err());
        }
        let number = num.parse().map_err(|_| err())?;
        // Only the canonical spelling is a version (no aliases of one folder). The number
        // is checked above; every time `parse_time` takes has fixed widths and in-range
        // fields, so it is spelled as `Display` would spell it but for a zero offset,
        // which `Display` writes `+0000` (a retire parses a name for every link it reads:
        // formatting it again to compare was 2% of its CPU).
        if time.ends_with("-0000") {
            return Err(err());
        }
        let time = parse_time(time).ok_or_else(err)?;
        let name = VersionName { number, time };
        debug_assert_eq!(name.to_string(), s);
        Ok(name)
    }
}

/// The text of a structural link placed at `link` (a path inside a version) that points at
/// `target_rel` inside version `target`: `"../"` × (components of `link`'s parent + 1)
/// followed by `V{k}--{time}/target_rel`.
pub fn link_target(link: &Path, target: &VersionName, target_rel: &Path) -> PathBuf {
    let ups = link.parent().map_or(0, |p| p.components().count()) + 1;
    let mut out = PathBuf::new();
    for _ in 0..ups {
        out.push("..");
    }
    out.push(target.to_string());
    out.push(target_rel);
    out
}

/// Undo [`link_target`]: the version folder name and the path inside it, when `text` is a
/// well-formed structural link target for a link at `link`.
pub fn parse_link_target(link: &Path, text: &Path) -> Option<(VersionName, PathBuf)> {
    let ups = link.parent().map_or(0, |p| p.components().count()) + 1;
    let mut comps = text.components();
    for _ in 0..ups {
        if comps.next() != Some(Component::ParentDir) {
            return None;
        }
    }
    let version: VersionName = match comps.next()? {
        Component::Normal(name) => name.to_str()?.parse().ok()?,
        _ => return None,
    };
    let rest: PathBuf = comps.as_path().to_path_buf();
    rest.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then_some((version, rest))
}

/// Symlink target limit of the kernel (`PATH_MAX` - 1) and of most filesystems (bytes,
/// without the NUL). A filesystem with a lower one not known here answers `ENAMETOOLONG`,
/// and the builder falls back the same way.
const SYMLINK_MAX_DEFAULT: usize = 4095;
/// Symlink target limit of XFS (`XFS_SYMLINK_MAXLEN` - 1; measured: 1024 bytes fail).
const SYMLINK_MAX_XFS: usize = 1023;
/// The longest symlink target the filesystem of `dir` stores: XFS 1023 bytes, ext2/3/4
/// one block minus one (1023 with 1 KiB blocks), else the kernel's 4095.
pub fn symlink_max(dir: &Dir) -> usize {
    match dir.fs_type() {
        Ok(t) if t.magic == crate::fs::XFS_MAGIC => SYMLINK_MAX_XFS,
        Ok(t) if t.magic == crate::fs::EXT4_MAGIC => {
            let block = usize::try_from(t.block_size).unwrap_or(0);
            block.saturating_sub(1).clamp(1, SYMLINK_MAX_DEFAULT)
        }
        _ => SYMLINK_MAX_DEFAULT,
    }
}

/// Decimal digits of the largest version number (`u64::MAX`).
const MAX_VERSION_DIGITS: usize = 20;

/// Decimal digits of `n`.
fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// Whether the structural link text `target`, into version `version`, may be stored on a
/// filesystem whose symlink limit is `limit` bytes, with room to spare for a retire that
/// later repoints it to the same path in a newer version with a longer number (`V9` →
/// `V10`, up to 20 digits).
pub fn link_fits(target: &Path, version: u64, limit: usize) -> bool {
    let room = MAX_VERSION_DIGITS.saturating_sub(digits(version));
    target.as_os_str().len() + room <= limit
}

/// An open job folder: `<vault>/<sanitized job name>/`.
#[derive(Debug)]
pub struct JobFolder {
    root: PathBuf,
    dir: Dir,
}

impl JobFolder {
    /// Open an existing job folder.
    pub fn open(root: &Path) -> io::Result<JobFolder> {
        Ok(JobFolder {
            root: root.to_path_buf(),
            dir: Dir::open(root)?,
        })
    }

    /// Open the job folder, creating it and its private folders if needed. The vault root
    /// (the folder's parent) must already exist: reverberator never creates a vault root,
    /// so an unplugged disk's bare mount point is never written to.
    pub fn create(root: &Path) -> io::Result<JobFolder> {
        let parent = root
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("/"));
        if !parent.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "vault folder {} does not exist: create it, or mount the disk that holds it",
                    parent.display()
                ),
            ));
        }
        // Every folder is made relative to its parent's fd and opened without following a
        // symlink, so a link planted at any of these names cannot redirect a root write.
        let (vault, name) = Dir::open_parent_of(root)?;
        let job = vault.ensure_child_dir(name, 0o755)?;
        let private = job.ensure_child_dir(OsStr::new(PRIVATE_DIR), 0o755)?;
        for sub in ["links", "refs"] {
            private.ensure_child_dir(OsStr::new(sub), 0o755)?;
        }
        JobFolder::open(root)
    }

    /// The job folder's path.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The open job folder.
    pub fn dir(&self) -> &Dir {
        &self.dir
    }

    /// The path of version `v`'s folder.
    pub fn version_path(&self, v: &VersionName) -> PathBuf {
        self.root.join(v.to_string())
    }

    /// Every committed version, oldest first (folders whose name parses as a version).
    pub fn versions(&self) -> io::Result<Vec<VersionName>> {
        let mut out = Vec::new();
        for entry in self.dir.entries()? {
            let Some(name) = entry
                .name
                .to_str()
                .and_then(|n| n.parse::<VersionName>().ok())
            else {
                continue;
            };
            let is_dir = match entry.kind {
                Some(kind) => kind == FileKind::Dir,
                None => self.dir.stat(&entry.name)?.kind == FileKind::Dir,
            };
            if is_dir {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    /// The newest committed version, if any.
    pub fn latest(&self) -> io::Result<Option<VersionName>> {
        Ok(self.versions()?.pop())
    }

    /// Names of leftover hidden builds (`.V…partial`).
    pub fn partials(&self) -> io::Result<Vec<OsString>> {
        Ok(self
            .dir
            .entries()?
            .into_iter()
            .map(|e| e.name)
            .filter(|n| {
                let b = n.as_bytes();
                b.starts_with(b".V") && b.ends_with(PARTIAL_SUFFIX.as_bytes())
            })
            .collect())
    }

    fn bookkeeping(&self, kind: &str, number: u64) -> PathBuf {
        self.root
            .join(PRIVATE_DIR)
            .join(kind)
            .join(tsv_name(number))
    }

    /// The path of version `number`'s links file (for messages).
    pub fn links_file(&self, number: u64) -> PathBuf {
        self.bookkeeping("links", number)
    }

    /// The path of version `number`'s refs file (for messages).
    pub fn refs_file(&self, number: u64) -> PathBuf {
        self.bookkeeping("refs", number)
    }

    /// The structural links inside version `number` (paths relative to its root).
    pub fn read_links(&self, number: u64) -> io::Result<HashSet<PathBuf>> {
        read_lines(&self.bookkeeping("links", number))?
            .iter()
            .map(|line| unescape_path(line))
            .collect()
    }

    /// Replace the list of structural links of version `number` (temp file + rename,
    /// fsynced).
    pub fn write_links<'a>(
        &self,
        number: u64,
        links: impl IntoIterator<Item = &'a Path>,
    ) -> io::Result<()> {
        write_atomic(&self.bookkeeping("links", number), &links_text(links))
    }

    /// The bytes of version `number`'s links file as they are (empty when it is missing):
    /// for rewriting it line by line without parsing every path.
    pub fn links_bytes(&self, number: u64) -> io::Result<Vec<u8>> {
        read_bytes(&self.bookkeeping("links", number))
    }

    /// The bytes of version `number`'s refs file as they are (empty when it is missing).
    pub fn refs_bytes(&self, number: u64) -> io::Result<Vec<u8>> {
        read_bytes(&self.bookkeeping("refs", number))
    }

    /// The structural links that point into version `number`: (version, path) pairs.
    pub fn read_refs(&self, number: u64) -> io::Result<Vec<(u64, PathBuf)>> {
        let mut out = Vec::new();
        for line in read_lines(&self.bookkeeping("refs", number))? {
            let bad = || {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad refs line `{line}`"),
                )
            };
            let (v, path) = line.split_once('\t').ok_or_else(bad)?;
            out.push((v.parse().map_err(|_| bad())?, unescape_path(path)?));
        }
        Ok(out)
    }

    /// Append (version, path) lines to the refs file of version `number`, fsynced.
    pub fn append_refs(&self, number: u64, refs: &[(u64, &Path)]) -> io::Result<()> {
        if refs.is_empty() {
            return Ok(());
        }
        let text = refs_text(refs.iter().copied());
        let dir = self
            .dir
            .open_beneath(&Path::new(PRIVATE_DIR).join("refs"))?;
        let flags = OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_CREAT;
        let mut file = dir.open_file(tsv_name(number).as_ref(), flags, 0o644)?;
        file.write_all(&text)?;
        file.sync_data()
    }

    /// The length in bytes of version `number`'s refs file (0 when it is missing).
    pub fn refs_len(&self, number: u64) -> io::Result<u64> {
        match std::fs::symlink_metadata(self.bookkeeping("refs", number)) {
            Ok(meta) => Ok(meta.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Cut version `number`'s refs file to `at` bytes and write `text` there (a newline
    /// first when the byte before `at` is not one), creating the file when missing; not
    /// synced (the caller syncs the filesystem). The same call again leaves the same
    /// file, so a replay of a cut-short retire repeats it.
    pub fn put_refs_at(&self, number: u64, at: u64, text: &[u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let dir = self
            .dir
            .open_beneath(&Path::new(PRIVATE_DIR).join("refs"))?;
        let flags = OFlag::O_RDWR | OFlag::O_CREAT;
        let file = dir.open_file(tsv_name(number).as_ref(), flags, 0o644)?;
        file.set_len(at)?;
        let mut last = [b'\n'];
        if at > 0 {
            file.read_exact_at(&mut last, at - 1)?;
        }
        let mut out = Vec::with_capacity(text.len() + 1);
        if last[0] != b'\n' {
            out.push(b'\n');
        }
        out.extend_from_slice(text);
        file.write_all_at(&out, at)
    }

    /// Remove the bookkeeping files of a retired version.
    pub fn remove_bookkeeping(&self, number: u64) -> io::Result<()> {
        for kind in ["links", "refs"] {
            match std::fs::remove_file(self.bookkeeping(kind, number)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The text of a links file listing `links`, one escaped path per line.
pub fn links_text<'a>(links: impl IntoIterator<Item = &'a Path>) -> Vec<u8> {
    let mut text = Vec::new();
    for link in links {
        text.extend_from_slice(escape(link.as_os_str()).as_bytes());
        text.push(b'\n');
    }
    text
}

/// The text of refs lines: the linking version's number, a tab, the escaped path.
pub fn refs_text<'a>(refs: impl IntoIterator<Item = (u64, &'a Path)>) -> Vec<u8> {
    let mut text = Vec::new();
    for (v, path) in refs {
        text.extend_from_slice(format!("{v}\t").as_bytes());
        text.extend_from_slice(escape(path.as_os_str()).as_bytes());
        text.push(b'\n');
    }
    text
}

fn unescape_path(text: &str) -> io::Result<PathBuf> {
    unescape(text)
        .map(PathBuf::from)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// A bookkeeping file, opened without following a symlink; `None` when it is missing.
fn open_bookkeeping(path: &Path) -> io::Result<Option<std::fs::File>> {
    match crate::fs::open_nofollow(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The bytes of a bookkeeping file; a missing file has none.
fn read_bytes(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    if let Some(mut file) = open_bookkeeping(path)? {
        file.read_to_end(&mut out)?;
    }
    Ok(out)
}

/// Lines of a bookkeeping file; a missing file has none.
fn read_lines(path: &Path) -> io::Result<Vec<String>> {
    let Some(file) = open_bookkeeping(path)? else {
        return Ok(Vec::new());
    };
    io::BufReader::new(file)
        .lines()
        .filter(|l| !l.as_ref().is_ok_and(|l| l.is_empty()))
        .collect()
}

pub mod navigate;
mod resolve;

pub use resolve::{direct_name, Located, Resolved, Resolver};

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: u64) -> VersionName {
        "V0--2026-11-23_10-00-00_+0100"
            .parse::<VersionName>()
            .map(|v| VersionName { number: n, ..v })
            .unwrap()
    }

    #[test]
    fn version_names_round_trip() {
        let v: VersionName = "V12--2026-11-23_10-05-12_+0100".parse().unwrap();
        assert_eq!(v.number, 12);
        assert_eq!(v.to_string(), "V12--2026-11-23_10-05-12_+0100");
        assert_eq!(v.partial_name(), ".V12--2026-11-23_10-05-12_+0100.partial");
        let now = VersionName::now(3);
        assert_eq!(now.to_string().parse::<VersionName>().unwrap(), now);
    }

    proptest::proptest! {
        /// The hand-written format and parse agree with chrono's `TIME_FORMAT` for every
        /// time and offset a version can have.
        #[test]
        fn fast_names_match_chrono(secs in -62_000_000_000i64..253_402_300_799, off_min in -1439i32..=1439, n in 0u64..1000) {
            let offset = FixedOffset::east_opt(off_min * 60).unwrap();
            let time = offset.timestamp_opt(secs, 0).unwrap();
            let v = VersionName::at(n, time);
            let slow = format!("V{n}--{}", time.format(TIME_FORMAT));
            proptest::prop_assert_eq!(v.to_string(), slow.clone());
            let time_part = slow.split_once("--").unwrap().1;
            let chrono = DateTime::parse_from_str(time_part, TIME_FORMAT).ok();
            proptest::prop_assert_eq!(parse_time(time_part), chrono);
            if (0..=9999).contains(&time.year()) {
                proptest::prop_assert_eq!(slow.parse::<VersionName>().ok(), Some(v));
            }
        }
    }

    #[test]
    fn the_test_clock_names_version_n_at_start_plus_n_steps() {
        let c = TestClock::parse("2026-01-01T00:00:00+01:00, 10m").unwrap();
        assert_eq!(
            VersionName::at(7, c.time_of(7)).to_string(),
            "V7--2026-01-01_01-10-00_+0100"
        );
        assert!(TestClock::parse("2026-01-01").is_err());
        assert!(TestClock::parse("yesterday,10m").is_err());
        assert!(TestClock::parse("2026-01-01T00:00:00Z,ten").is_err());
    }

    #[test]
    fn odd_time_parts_are_refused_like_chrono() {
        for bad in [
            "2026-11-23_10-05-12_+01000",
            "2026-11-23_10-05-12_+0160",
            "2026-11-23_10-05-12_*0100",
            "2026-13-23_10-05-12_+0100",
            "2026-02-30_10-05-12_+0100",
            "2026-11-23_24-05-12_+0100",
            "2026-11-23 10-05-12_+0100",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
            assert!(DateTime::parse_from_str(bad, TIME_FORMAT).is_err(), "{bad}");
        }
    }

    #[test]
    fn digits_count_decimal_places() {
        assert_eq!(digits(0), 1);
        assert_eq!(digits(9), 1);
        assert_eq!(digits(10), 2);
        assert_eq!(digits(99_999), 5);
        assert_eq!(digits(u64::MAX), MAX_VERSION_DIGITS);
        assert!(link_fits(Path::new("../V9--x/a"), 9, 10 + 19));
        assert!(!link_fits(Path::new("../V9--x/a"), 9, 10 + 18));
    }

    #[test]
    fn non_versions_are_rejected() {
        for bad in [
            "latest",
            "V--2026",
            "V01--2026-11-23_10-05-12_+0100",
            "V1-2026-11-23_10-05-12_+0100",
            "V1--2026-11-23_10-05-12",
            "V1--2026-11-23_10-05-12_+0100x",
            "V1--+026-11-23_10-05-12_+0100",
            "V1--2026-11-23_10-05-12_-0000",
            "index.tsv",
        ] {
            assert!(bad.parse::<VersionName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn link_targets_climb_to_the_job_folder() {
        let v3 = name(3);
        let t = link_target(Path::new("a/b"), &v3, Path::new("a/b"));
        assert_eq!(t, Path::new("../../V3--2026-11-23_10-00-00_+0100/a/b"));
        assert_eq!(
            parse_link_target(Path::new("a/b"), &t),
            Some((v3.clone(), PathBuf::from("a/b")))
        );
        let top = link_target(Path::new("x"), &v3, Path::new("moved/x"));
        assert_eq!(top, Path::new("../V3--2026-11-23_10-00-00_+0100/moved/x"));
        // A target written for another depth, or escaping, is not structural.
        assert_eq!(parse_link_target(Path::new("a/b/c"), &t), None);
        assert_eq!(
            parse_link_target(
                Path::new("x"),
                Path::new("../V3--2026-11-23_10-00-00_+0100/../etc")
            ),
            None
        );
        assert_eq!(parse_link_target(Path::new("x"), Path::new("/etc")), None);
    }

    #[test]
    fn a_listed_path_that_is_a_real_directory_resolves_as_real() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("job");
        let folder = JobFolder::create(&root).unwrap();
        let v0 = name(0);
        std::fs::create_dir_all(folder.version_path(&v0).join("a")).unwrap();
        std::fs::write(folder.version_path(&v0).join("a/f"), "x").unwrap();
        folder.write_links(0, [Path::new("a")]).unwrap();
        let resolver = Resolver::new(&folder).unwrap();
        let got = resolver.resolve(&v0, Path::new("a/f")).unwrap().unwrap();
        assert_eq!((got.version.number, got.path), (0, PathBuf::from("a/f")));
    }

    #[test]
    fn refs_put_at_a_length_are_the_same_when_put_again() {
        let tmp = tempfile::tempdir().unwrap();
        let folder = JobFolder::create(&tmp.path().join("job")).unwrap();
        assert_eq!(folder.refs_len(4).unwrap(), 0);
        folder.put_refs_at(4, 0, b"1\ta\n").unwrap();
        let len = folder.refs_len(4).unwrap();
        folder.put_refs_at(4, len, b"2\tb\n").unwrap();
        let once = folder.refs_bytes(4).unwrap();
        assert_eq!(once, b"1\ta\n2\tb\n");
        // A replay after the lines were written, or after half of them were.
        folder.put_refs_at(4, len, b"2\tb\n").unwrap();
        assert_eq!(folder.refs_bytes(4).unwrap(), once);
        std::fs::write(folder.refs_file(4), b"1\ta\n2\t").unwrap();
        folder.put_refs_at(4, len, b"2\tb\n").unwrap();
        assert_eq!(folder.refs_bytes(4).unwrap(), once);
        // A file whose last line lacks its newline keeps that line whole.
        std::fs::write(folder.refs_file(5), b"1\ta").unwrap();
        folder.put_refs_at(5, 3, b"2\tb\n").unwrap();
        assert_eq!(folder.refs_bytes(5).unwrap(), b"1\ta\n2\tb\n");
        let parsed = folder.read_refs(5).unwrap();
        assert_eq!(parsed, [(1, PathBuf::from("a")), (2, PathBuf::from("b"))]);
    }
}
