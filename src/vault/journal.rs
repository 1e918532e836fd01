//! journal.tsv: the job's append-only event log. The event names are a contract.
//!
//! For example (one TAB between fields, shown as two spaces):
//!
//! ```text
//! iso_time  event  path  source_path  version
//! 2026-11-23T10:05:12.345+01:00  modify  docs/a.txt
//! 2026-11-23T10:05:12.345+01:00  move  docs/new  docs/old
//! 2026-11-23T10:05:13.001+01:00  snapshot  V1--2026-11-23_10-05-12_+0100    1
//! ```
//!
//! Fields: `iso_time` is RFC 3339 with milliseconds and offset; `path` and `source_path`
//! are escaped with [`super::escape::escape`]; an empty field means "none". What the two
//! path fields hold per event:
//!
//! | event                                   | `path`                  | `source_path`         |
//! |-----------------------------------------|-------------------------|-----------------------|
//! | create, modify, attrib, delete, rescan  | path in the source      | —                     |
//! | move                                    | new path                | old path              |
//! | snapshot                                | the version folder name | seconds it took (`0.090`) |
//! | retire                                  | the version folder name | why (limit, count...) |
//! | error                                   | the path concerned, if any | the message        |
//! | other events (start, stop, mount, ...)  | what it concerns, if any | a message, if any    |
//!
//! `version` is the version number the line is about (snapshot, retire), else empty.
//! A snapshot's seconds are the build and commit of the version (not a delta scan before
//! it), with milliseconds; journals written before this was recorded leave it empty.
//! Source paths are relative to the source root, `.` for the root itself.
//!
//! Lines are only ever appended ([`Journal::append`]), one `write` each, so a reader never
//! sees a line of another writer cut into its own. This module does not decide when
//! events happen.

use std::ffi::OsString;
use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, SecondsFormat};

use super::escape::{escape, read_table, tsv_writer, unescape, EscapeError, TableError};
use super::index::open_read;
use crate::fs::{Dir, OFlag};

/// File name of the journal inside the job folder.
pub const JOURNAL_FILE: &str = "journal.tsv";
/// The header line's fields, in order.
pub const JOURNAL_HEADER: [&str; 5] = ["iso_time", "event", "path", "source_path", "version"];

/// What happened. `Display`/`FromStr` use the contract names (lowercase).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// A file or directory appeared.
    Create,
    /// A file's content changed.
    Modify,
    /// Only attributes (mode, owner, times, xattrs) changed.
    Attrib,
    /// An entry was removed.
    Delete,
    /// An entry was renamed (`source_path` → `path`).
    Move,
    /// A version was committed.
    Snapshot,
    /// A version was retired.
    Retire,
    /// The source or vault filesystem went away.
    Unmount,
    /// The source or vault filesystem came back.
    Mount,
    /// The job stopped taking versions (e.g. unmounted, or an error).
    Halt,
    /// The job took up versions again.
    Resume,
    /// The inotify queue overflowed: a rescan follows.
    Overflow,
    /// A delta scan of the source ran (or a leftover build was cleaned up).
    Rescan,
    /// Something failed; the message is in `source_path`.
    Error,
    /// The daemon started watching the job.
    Start,
    /// The daemon stopped watching the job.
    Stop,
    /// The configuration was reloaded.
    Reload,
}

impl Event {
    /// Every event, in contract order.
    pub const ALL: [Event; 17] = [
        Event::Create,
        Event::Modify,
        Event::Attrib,
        Event::Delete,
        Event::Move,
        Event::Snapshot,
        Event::Retire,
        Event::Unmount,
        Event::Mount,
        Event::Halt,
        Event::Resume,
        Event::Overflow,
        Event::Rescan,
        Event::Error,
        Event::Start,
        Event::Stop,
        Event::Reload,
    ];

    /// The contract name.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Create => "create",
            Event::Modify => "modify",
            Event::Attrib => "attrib",
            Event::Delete => "delete",
            Event::Move => "move",
            Event::Snapshot => "snapshot",
            Event::Retire => "retire",
            Event::Unmount => "unmount",
            Event::Mount => "mount",
            Event::Halt => "halt",
            Event::Resume => "resume",
            Event::Overflow => "overflow",
            Event::Rescan => "rescan",
            Event::Error => "error",
            Event::Start => "start",
            Event::Stop => "stop",
            Event::Reload => "reload",
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not an [`Event`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown journal event {0:?}")]
pub struct UnknownEvent(pub String);

impl FromStr for Event {
    type Err = UnknownEvent;

    fn from_str(s: &str) -> Result<Event, UnknownEvent> {
        Event::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| UnknownEvent(s.to_string()))
    }
}

/// One journal line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalLine {
    /// When it happened.
    pub time: DateTime<FixedOffset>,
    /// What happened.
    pub event: Event,
    /// The path, version folder or subject (see the module docs).
    pub path: Option<OsString>,
    /// The old path of a move, or a message.
    pub source_path: Option<OsString>,
    /// The version concerned.
    pub version: Option<u64>,
}

impl JournalLine {
    /// A line for `event` at the current local time, with empty fields.
    pub fn now(event: Event) -> JournalLine {
        JournalLine {
            time: chrono::Local::now().fixed_offset(),
            event,
            path: None,
            source_path: None,
            version: None,
        }
    }

    /// Set `path`.
    pub fn path(mut self, path: impl Into<OsString>) -> JournalLine {
        self.path = Some(path.into());
        self
    }

    /// Set `source_path` (the old path of a move).
    pub fn source_path(mut self, path: impl Into<OsString>) -> JournalLine {
        self.source_path = Some(path.into());
        self
    }

    /// Set the message (stored in `source_path`, see the module docs).
    pub fn message(self, msg: impl fmt::Display) -> JournalLine {
        self.source_path(msg.to_string())
    }

    /// Set how long a `snapshot` took: seconds with milliseconds in `source_path`.
    pub fn took(self, d: Duration) -> JournalLine {
        self.message(format!("{:.3}", d.as_secs_f64()))
    }

    /// How long the version of a `snapshot` line took to build and commit; `None` for
    /// other events and for snapshot lines written before the duration was recorded.
    pub fn snapshot_duration(&self) -> Option<Duration> {
        if self.event != Event::Snapshot {
            return None;
        }
        let secs: f64 = self.source_path.as_ref()?.to_str()?.parse().ok()?;
        Duration::try_from_secs_f64(secs).ok()
    }

    /// Set `version`.
    pub fn version(mut self, n: u64) -> JournalLine {
        self.version = Some(n);
        self
    }

    /// The line as TSV text, ending in `\n`.
    pub fn to_tsv(&self) -> String {
        let fields = [
            self.time.to_rfc3339_opts(SecondsFormat::Millis, false),
            self.event.to_string(),
            self.path.as_deref().map(escape).unwrap_or_default(),
            self.source_path.as_deref().map(escape).unwrap_or_default(),
            self.version.map(|n| n.to_string()).unwrap_or_default(),
        ];
        tsv_line(&fields)
    }
}

/// Why journal.tsv could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The journal file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The text is not a well-formed table (see [`TableError`]).
    #[error(transparent)]
    Table(#[from] TableError),
    /// A field does not parse.
    #[error("line {line}, column {column}: {why}")]
    Field {
        /// 1-based line number.
        line: u64,
        /// Column name.
        column: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// An error in the named file.
    #[error("{path}: {source}")]
    File {
        /// The journal file.
        path: PathBuf,
        /// The error in it.
        #[source]
        source: Box<JournalError>,
    },
}

/// The lines of a journal.tsv, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Journal {
    /// The lines.
    pub lines: Vec<JournalLine>,
}

impl Journal {
    /// Append `line` to `job_dir/journal.tsv`, creating it (with its header) when it does
    /// not exist or is empty. One `write` for the line; not fsynced (the journal is a log,
    /// not a commit record).
    pub fn append(job_dir: &Path, line: &JournalLine) -> Result<(), JournalError> {
        let path = job_dir.join(JOURNAL_FILE);
        append_text(&path, &line.to_tsv()).map_err(|source| JournalError::Io { path, source })
    }

    /// Parse journal.tsv text from `r`. Empty input is an empty journal. A last line
    /// without its newline (an append cut short by a crash) is left out.
    pub fn from_reader(mut r: impl Read) -> Result<Journal, JournalError> {
        let mut text = Vec::new();
        r.read_to_end(&mut text)
            .map_err(|e| TableError::tsv(0, e.into()))?;
        let complete = complete_lines(&text);
        if complete.len() < text.len() {
            tracing::warn!("journal.tsv ends in a cut-off line; it is left out");
        }
        let lines = read_table(complete, &JOURNAL_HEADER, parse_line)?;
        Ok(Journal { lines })
    }

    /// Read the journal file at `path`; neither it nor its folder is reached through a
    /// symlink.
    pub fn from_path(path: &Path) -> Result<Journal, JournalError> {
        let io_err = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = open_read(path).map_err(io_err)?;
        Journal::from_reader(io::BufReader::new(file)).map_err(|e| JournalError::File {
            path: path.to_path_buf(),
            source: Box::new(e),
        })
    }
}

impl FromStr for Journal {
    type Err = JournalError;

    fn from_str(s: &str) -> Result<Journal, JournalError> {
        Journal::from_reader(s.as_bytes())
    }
}

/// `text` up to and including its last newline.
fn complete_lines(text: &[u8]) -> &[u8] {
    let end = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    &text[..end]
}

/// Fields joined as one TSV line (fields are already escaped: no quoting needed).
fn tsv_line(fields: &[String]) -> String {
    let mut wtr = tsv_writer().from_writer(Vec::new());
    // Writing to a Vec cannot fail; fall back to a plain join if csv ever disagrees.
    let joined = wtr
        .write_record(fields)
        .ok()
        .and_then(|()| wtr.into_inner().ok())
        .and_then(|v| String::from_utf8(v).ok());
    joined.unwrap_or_else(|| fields.join("\t") + "\n")
}

/// Open for append (creating; never through a symlink at the journal or its folder), write
/// the header if the file is empty, then `text` in one `write`.
fn append_text(path: &Path, text: &str) -> io::Result<()> {
    let (dir, name) = Dir::open_parent_of(path)?;
    let flags = OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_CREAT;
    let mut file = dir.open_file(name, flags, 0o644)?;
    if file.metadata()?.len() == 0 {
        file.write_all(tsv_line(&JOURNAL_HEADER.map(String::from)).as_bytes())?;
    }
    file.write_all(text.as_bytes())
}

/// One record -> line, checking every field.
fn parse_line(rec: &csv::StringRecord) -> Result<JournalLine, JournalError> {
    let line = rec.position().map_or(0, |p| p.line());
    let field = |i: usize| rec.get(i).unwrap_or("");
    let bad = |column: &'static str, why: String| JournalError::Field { line, column, why };
    let time =
        DateTime::parse_from_rfc3339(field(0)).map_err(|e| bad("iso_time", e.to_string()))?;
    let event = field(1)
        .parse()
        .map_err(|e: UnknownEvent| bad("event", e.to_string()))?;
    let path_field = |i: usize, column| opt_path(field(i)).map_err(|e| bad(column, e.to_string()));
    let version = match field(4) {
        "" => None,
        v => Some(
            v.parse()
                .map_err(|_| bad("version", format!("{v:?} is not a number")))?,
        ),
    };
    Ok(JournalLine {
        time,
        event,
        path: path_field(2, "path")?,
        source_path: path_field(3, "source_path")?,
        version,
    })
}

/// An escaped path field; empty means none.
fn opt_path(field: &str) -> Result<Option<OsString>, EscapeError> {
    match field {
        "" => Ok(None),
        f => unescape(f).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    const TEXT: &str = "iso_time\tevent\tpath\tsource_path\tversion\n\
        2026-11-23T10:05:12.345+01:00\tmodify\tdocs/a\\tb.txt\t\t\n\
        2026-11-23T10:05:12.345+01:00\tmove\tdocs/new\tdocs/old\\xff\t\n\
        2026-11-23T10:05:13.001+01:00\tsnapshot\tV1--2026-11-23_10-05-12_+0100\t\t1\n";

    #[test]
    fn event_names_are_the_contract() {
        let names: Vec<String> = Event::ALL.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            names.join(" "),
            "create modify attrib delete move snapshot retire unmount mount halt resume \
             overflow rescan error start stop reload"
        );
        for e in Event::ALL {
            assert_eq!(e.as_str().parse::<Event>(), Ok(e));
        }
        assert!("Create".parse::<Event>().is_err());
    }

    #[test]
    fn parses_literal_text() {
        let j: Journal = TEXT.parse().unwrap();
        assert_eq!(j.lines.len(), 3);
        assert_eq!(j.lines[0].event, Event::Modify);
        assert_eq!(
            j.lines[0].path.as_deref(),
            Some(OsStr::new("docs/a\tb.txt"))
        );
        assert_eq!(j.lines[0].source_path, None);
        let old = j.lines[1].source_path.as_deref().unwrap();
        assert_eq!(old.as_bytes(), b"docs/old\xff");
        assert_eq!(j.lines[2].version, Some(1));
        assert_eq!(j.lines[2].time.timestamp_subsec_millis(), 1);
    }

    /// A snapshot line records its duration in `source_path`; old lines (empty field)
    /// still parse and have none.
    #[test]
    fn snapshot_lines_carry_their_duration() {
        let old: Journal = TEXT.parse().unwrap();
        assert_eq!(old.lines[2].snapshot_duration(), None);
        let line = JournalLine::now(Event::Snapshot)
            .path("V2--2026-11-23_10-06-00_+0100")
            .took(Duration::from_micros(90_070))
            .version(2);
        assert!(line.to_tsv().ends_with("\t0.090\t2\n"), "{}", line.to_tsv());
        let text = format!("{}{}", TEXT, line.to_tsv());
        let j: Journal = text.parse().unwrap();
        assert_eq!(
            j.lines[3].snapshot_duration(),
            Some(Duration::from_millis(90))
        );
        let moved = JournalLine::now(Event::Move).source_path("1.5");
        assert_eq!(moved.snapshot_duration(), None, "only snapshot lines");
    }

    #[test]
    fn lines_write_what_they_read() {
        let j: Journal = TEXT.parse().unwrap();
        let text: String = j.lines.iter().map(JournalLine::to_tsv).collect();
        assert_eq!(text, TEXT.split_once('\n').unwrap().1);
    }

    #[test]
    fn errors_name_the_line_and_column() {
        let bad = TEXT.replace("\tmove\t", "\tmoved\t");
        assert!(matches!(
            bad.parse::<Journal>(),
            Err(JournalError::Field {
                line: 3,
                column: "event",
                ..
            })
        ));
        let bad = TEXT.replace("docs/new", "docs\\q");
        assert!(matches!(
            bad.parse::<Journal>(),
            Err(JournalError::Field { column: "path", .. })
        ));
        let bad = TEXT.replace("\t1\n", "\tone\n");
        assert!(matches!(
            bad.parse::<Journal>(),
            Err(JournalError::Field {
                line: 4,
                column: "version",
                ..
            })
        ));
        let bad = TEXT.replace("+01:00\tmodify", "\tmodify");
        assert!(matches!(
            bad.parse::<Journal>(),
            Err(JournalError::Field { .. })
        ));
        assert!(matches!(
            "when\twhat\n".parse::<Journal>(),
            Err(JournalError::Table(TableError::Header { .. }))
        ));
    }

    #[test]
    fn a_cut_off_last_line_is_left_out() {
        let cut = &TEXT[..TEXT.len() - 20];
        let j: Journal = cut.parse().unwrap();
        assert_eq!(j.lines.len(), 2);
        assert_eq!(j.lines[1].event, Event::Move);
        assert!("iso_time\tev".parse::<Journal>().unwrap().lines.is_empty());
    }

    #[test]
    fn append_creates_the_header_once_and_round_trips_odd_names() {
        let dir = tempfile::tempdir().unwrap();
        let odd = OsStr::from_bytes(b"-a\tb\nc\\d\xfe");
        let first = JournalLine::now(Event::Create).path(odd);
        let second = JournalLine::now(Event::Error)
            .path("x")
            .message("disk\tfull\n");
        Journal::append(dir.path(), &first).unwrap();
        Journal::append(dir.path(), &second).unwrap();
        let text = std::fs::read_to_string(dir.path().join(JOURNAL_FILE)).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(text.starts_with("iso_time\tevent\tpath\tsource_path\tversion\n"));
        let j = Journal::from_path(&dir.path().join(JOURNAL_FILE)).unwrap();
        assert_eq!(j.lines[0].path.as_deref(), Some(odd));
        let msg = j.lines[1].source_path.as_deref().unwrap();
        assert_eq!(msg, OsStr::new("disk\tfull\n"));
        // Millisecond precision survives the round trip.
        assert_eq!(
            j.lines[0].time.timestamp_millis(),
            first.time.timestamp_millis()
        );
    }

    #[test]
    fn append_to_a_missing_folder_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err =
            Journal::append(&dir.path().join("gone"), &JournalLine::now(Event::Start)).unwrap_err();
        assert!(err.to_string().contains(JOURNAL_FILE), "{err}");
    }

    #[test]
    fn appends_never_follow_a_planted_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::write(&outside, "mine").unwrap();
        std::os::unix::fs::symlink(&outside, dir.path().join(JOURNAL_FILE)).unwrap();
        let line = JournalLine::now(Event::Error);
        assert!(Journal::append(dir.path(), &line).is_err());
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "mine");
    }
}
