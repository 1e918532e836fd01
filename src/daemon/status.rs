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
//! The client connects; the daemon writes one JSON [`StatusReport`] and closes. Nothing is
//! read from the client, so a client can never stall the loop for long (the reply is a few
//! KiB, written with a short timeout).

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
    let uid = nix::unistd::geteuid().as_raw();
    let run_ok = uid == 0 && nix::unistd::access("/run", nix::unistd::AccessFlags::W_OK).is_ok();
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
    if !meta.is_dir() || meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is not a folder owned by this user", dir.display()),
        ));
    }
    Ok(())
}

/// Send `report` to a client that just connected (best effort).
pub fn answer(mut stream: UnixStream, report: &StatusReport) {
    let text = match serde_json::to_vec(report) {
        Ok(t) => t,
        Err(e) => return tracing::warn!("cannot encode the status: {e}"),
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
    let io_err = |source| StatusError::Io {
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
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .map_err(io_err)?;
    let mut text = Vec::new();
    stream.read_to_end(&mut text).map_err(io_err)?;
    serde_json::from_slice(&text).map_err(|source| StatusError::Decode {
        socket: socket.to_path_buf(),
        source,
    })
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
            std::thread::spawn(move || answer(listener.accept().unwrap().0, &report))
        };
        assert_eq!(fetch(&sock, Path::new("/c.toml")).unwrap(), report);
        server.join().unwrap();
        drop(std::fs::remove_file(&sock));
        assert!(matches!(
            fetch(&sock, Path::new("/c.toml")),
            Err(StatusError::NoDaemon { .. })
        ));
    }
}
