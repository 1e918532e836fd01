//! The status socket: where it lives (derived from the config path) and what it answers.
//!
//! # Where
//! `<dir>/<hash>.sock`, where `<hash>` is the xxh3-64 (hex) of the config file's canonical
//! path, so two daemons with different configs never answer for each other, and `<dir>` is
//! the first of:
//! 1. `/run/reverberator` when running as root and `/run` is writable (systemd's
//!    `RuntimeDirectory=reverberator` creates it);
//! 2. `$XDG_RUNTIME_DIR/reverberator` when that variable is set;
//! 3. `/tmp/reverberator-<uid>` (created mode 0700; refused when another user owns it).
//!
//! `reverberator status` computes the same path from the same config lookup as `run`.
//!
//! # Protocol
//! The client connects and writes one JSON [`Request`] line (then shuts down its writing
//! side). For [`Request::Status`] (also: nothing sent, EOF) the daemon writes one JSON
//! [`StatusReport`] and closes. For [`Request::Snapshot`] it answers once each named job's
//! delta scan + commit ran on a worker: one JSON [`SnapshotReply`]. The request is read
//! without blocking (`clients.rs`: a client gets [`REQUEST_TIMEOUT`] to send its line),
//! and replies are a few KiB written with a short timeout, so only a client that stops
//! reading its reply can stall the loop, for at most that (only this user can reach the
//! socket: its folder is mode 0700).

use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Written to clients with this timeout (the loop must not stall).
const WRITE_TIMEOUT: Duration = Duration::from_millis(500);
/// `status` waits this long for the daemon's answer.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// `snapshot` waits this long for the daemon's scans and commits.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(3600);
/// The daemon waits this long for a client's request line.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(200);
/// The longest request line read.
pub const REQUEST_MAX: u64 = 64 * 1024;

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "kebab-case")]
pub enum Request {
    /// The [`StatusReport`].
    Status,
    /// Commit now: a delta scan + commit of each job (all when `jobs` is empty) on the
    /// daemon's workers, answered by a [`SnapshotReply`].
    Snapshot {
        /// Job names.
        #[serde(default)]
        jobs: Vec<String>,
    },
}

/// What the daemon did for a [`Request::Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotReply {
    /// The daemon's process id.
    pub pid: u32,
    /// One entry per job asked for, in the order asked (config order for "all").
    pub jobs: Vec<JobCommit>,
}

/// One job's answer to a [`Request::Snapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCommit {
    /// The job name.
    pub name: String,
    /// `committed`, `unchanged`, `failed`, `halted` or `unknown` (no such job running).
    pub outcome: String,
    /// The committed version's folder name (or the newest, when unchanged).
    pub version: Option<String>,
    /// Why, for `failed`, `halted` and `unknown`.
    pub message: Option<String>,
}

/// What the daemon says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The daemon's process id.
    pub pid: u32,
    /// The config file it runs.
    pub config: PathBuf,
    /// Every job, in config order.
    pub jobs: Vec<JobStatus>,
}

/// One job's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStatus {
    /// The job name.
    pub name: String,
    /// `starting`, `watching`, `settling`, `snapshotting` or `halted-unmounted`.
    pub state: String,
    /// Paths pending for the next version.
    pub pending: usize,
    /// The newest version's folder name, if any.
    pub newest: Option<String>,
    /// Milliseconds until the pending changes are committed (settle/max_settle or a
    /// retry), if scheduled.
    pub next_snapshot_ms: Option<u64>,
    /// Milliseconds until the next periodic delta scan (`rescan_interval`), if any.
    #[serde(default)]
    pub next_scan_ms: Option<u64>,
    /// Directories watched.
    pub watches: usize,
    /// True when the inotify watch limit was hit (periodic scans stand in).
    pub watch_limited: bool,
    /// Folders met by the last whole walk of the source (setup or the resync before each
    /// delta scan), watched or not.
    #[serde(default)]
    pub folders: usize,
    /// `None` while every folder met is watched; otherwise why some are not and the
    /// fallback in force (periodic delta scan and its interval).
    #[serde(default)]
    pub coverage: Option<String>,
    /// For `halted-unmounted`: which side left (`source` or `vault`).
    pub halted_side: Option<String>,
    /// For `halted-unmounted`: the signature awaited.
    pub awaiting: Option<String>,
    /// The last error, if the last snapshot or scan failed.
    pub last_error: Option<String>,
}

/// Why `status` could not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// Nobody listens on the socket.
    #[error("no reverberator daemon is running for {config} (no answer on {socket})")]
    NoDaemon {
        /// The config file.
        config: PathBuf,
        /// The socket tried.
        socket: PathBuf,
    },
    /// Something else went wrong talking to the daemon.
    #[error("{socket}: {source}")]
    Io {
        /// The socket.
        socket: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The answer is not a status report.
    #[error("{socket}: the daemon's answer is not understood: {source}")]
    Decode {
        /// The socket.
        socket: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

/// The directory of the status sockets for this process (see the module docs).
pub fn socket_dir() -> PathBuf {
    let uid = crate::fs::euid();
    let run_ok = uid == 0 && crate::fs::writable(std::path::Path::new("/run"));
    choose_dir(
        uid,
        run_ok,
        std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from),
    )
}

/// The rule of [`socket_dir`], pure.
pub fn choose_dir(uid: u32, run_writable: bool, xdg: Option<PathBuf>) -> PathBuf {
    if uid == 0 && run_writable {
        return PathBuf::from("/run/reverberator");
    }
    match xdg.filter(|x| x.is_absolute()) {
        Some(x) => x.join("reverberator"),
        None => PathBuf::from(format!("/tmp/reverberator-{uid}")),
    }
}

/// The socket of the daemon running `canonical_config` inside `dir`.
pub fn socket_in(dir: &Path, canonical_config: &Path) -> PathBuf {
    let hash = xxhash_rust::xxh3::xxh3_64(canonical_config.as_os_str().as_encoded_bytes());
    dir.join(format!("{hash:016x}.sock"))
}

/// The socket of the daemon running `config` (canonicalized here).
pub fn socket_path(config: &Path) -> io::Result<PathBuf> {
    Ok(socket_in(&socket_dir(), &std::fs::canonicalize(config)?))
}

/// Create the socket directory (mode 0700) and check that this user owns it.
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    match std::fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(dir)
    {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() || meta.uid() != crate::fs::euid() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is not a folder owned by this user", dir.display()),
        ));
    }
    Ok(())
}

/// The request in a client's line (without its newline): an empty or blank line asks
/// for the status; a request that is not understood is `Err` with the reason.
pub fn parse_request(line: &[u8]) -> Result<Request, String> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(Request::Status);
    }
    serde_json::from_slice(line).map_err(|e| format!("request not understood: {e}"))
}

/// Send any JSON `reply` to a client (best effort, with the write timeout).
pub fn send<T: Serialize>(mut stream: UnixStream, reply: &T, what: &str) {
    let text = match serde_json::to_vec(reply) {
        Ok(t) => t,
        Err(e) => return tracing::warn!("cannot encode {what}: {e}"),
    };
    let sent = stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_write_timeout(Some(WRITE_TIMEOUT)))
        .and_then(|()| stream.write_all(&text));
    if let Err(e) = sent {
        tracing::debug!("status client went away: {e}");
    }
}

/// Ask the daemon at `socket` (running `config`) for its status.
pub fn fetch(socket: &Path, config: &Path) -> Result<StatusReport, StatusError> {
    ask(socket, config, &Request::Status, READ_TIMEOUT)
}

/// Ask the daemon at `socket` (running `config`) to commit `jobs` (all when empty) now, and
/// wait for what it committed.
pub fn request_snapshot(
    socket: &Path,
    config: &Path,
    jobs: &[String],
) -> Result<SnapshotReply, StatusError> {
    let request = Request::Snapshot {
        jobs: jobs.to_vec(),
    };
    ask(socket, config, &request, SNAPSHOT_TIMEOUT)
}

/// Send `request`, read the JSON answer (waiting at most `wait`).
fn ask<T: serde::de::DeserializeOwned>(
    socket: &Path,
    config: &Path,
    request: &Request,
    wait: Duration,
) -> Result<T, StatusError> {
    let io_err = |source| StatusError::Io {
        socket: socket.to_path_buf(),
        source,
    };
    let decode_err = |source| StatusError::Decode {
        socket: socket.to_path_buf(),
        source,
    };
    let mut stream = UnixStream::connect(socket).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => StatusError::NoDaemon {
            config: config.to_path_buf(),
            socket: socket.to_path_buf(),
        },
        _ => io_err(e),
    })?;
    let mut line = serde_json::to_vec(request).map_err(decode_err)?;
    line.push(b'\n');
    // A daemon that closed early (an older one that reads nothing) still answers.
    let _ = stream
        .write_all(&line)
        .and_then(|()| stream.shutdown(std::net::Shutdown::Write));
    stream.set_read_timeout(Some(wait)).map_err(io_err)?;
    let mut text = Vec::new();
    stream.read_to_end(&mut text).map_err(io_err)?;
    serde_json::from_slice(&text).map_err(decode_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_rule() {
        let xdg = Some(PathBuf::from("/run/user/1000"));
        assert_eq!(
            choose_dir(0, true, xdg.clone()),
            PathBuf::from("/run/reverberator")
        );
        assert_eq!(
            choose_dir(0, false, xdg.clone()),
            PathBuf::from("/run/user/1000/reverberator")
        );
        assert_eq!(
            choose_dir(1000, true, xdg),
            PathBuf::from("/run/user/1000/reverberator")
        );
        assert_eq!(
            choose_dir(1000, false, None),
            PathBuf::from("/tmp/reverberator-1000")
        );
        assert_eq!(
            choose_dir(7, false, Some("rel".into())),
            PathBuf::from("/tmp/reverberator-7")
        );
    }

    #[test]
    fn different_configs_get_different_sockets() {
        let d = Path::new("/run/reverberator");
        let a = socket_in(d, Path::new("/etc/a.toml"));
        assert_ne!(a, socket_in(d, Path::new("/etc/b.toml")));
        assert_eq!(a, socket_in(d, Path::new("/etc/a.toml")));
        assert!(a.to_string_lossy().ends_with(".sock"));
    }

    #[test]
    fn a_report_round_trips_over_a_socket() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("s.sock");
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let report = StatusReport {
            pid: 1,
            config: "/c.toml".into(),
            jobs: vec![JobStatus {
                name: "docs".into(),
                state: "watching".into(),
                pending: 0,
                newest: Some("V0--x".into()),
                next_snapshot_ms: None,
                next_scan_ms: Some(86_400_000),
                watches: 3,
                watch_limited: false,
                folders: 3,
                coverage: None,
                halted_side: None,
                awaiting: None,
                last_error: None,
            }],
        };
        let server = {
            let report = report.clone();
            std::thread::spawn(move || {
                let stream = listener.accept().unwrap().0;
                assert_eq!(read_line_request(&stream), Ok(Request::Status));
                send(stream, &report, "the status")
            })
        };
        assert_eq!(fetch(&sock, Path::new("/c.toml")).unwrap(), report);
        server.join().unwrap();
        drop(std::fs::remove_file(&sock));
        assert!(matches!(
            fetch(&sock, Path::new("/c.toml")),
            Err(StatusError::NoDaemon { .. })
        ));
    }

    #[test]
    fn requests_in_their_json_form() {
        let snap = Request::Snapshot {
            jobs: vec!["docs".into()],
        };
        let text = serde_json::to_string(&snap).unwrap();
        assert_eq!(text, r#"{"request":"snapshot","jobs":["docs"]}"#);
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), snap);
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"request":"status"}"#).unwrap(),
            Request::Status
        );
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        assert_eq!(
            read_line_request(&a),
            Ok(Request::Status),
            "EOF asks for the status"
        );
        assert_eq!(parse_request(b"  "), Ok(Request::Status));
        let (a, mut b) = UnixStream::pair().unwrap();
        b.write_all(b"{\"request\":\"reboot\"}\n").unwrap();
        assert!(read_line_request(&a)
            .unwrap_err()
            .contains("not understood"));
    }

    /// What the daemon's client reader does, blocking: one line, then `parse_request`.
    fn read_line_request(stream: &UnixStream) -> Result<Request, String> {
        let mut line = Vec::new();
        std::io::BufRead::read_until(&mut io::BufReader::new(stream), b'\n', &mut line)
            .map_err(|e| e.to_string())?;
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        parse_request(&line)
    }
}
