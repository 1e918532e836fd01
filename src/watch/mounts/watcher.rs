//! [`MountWatcher`]: the mount table as a `mio` event source.
//!
//! The kernel signals a change of `/proc/self/mountinfo` (mount, unmount, remount, move,
//! propagation) to pollers of an open fd as `POLLPRI | POLLERR`; reading is always possible
//! (`POLLIN`), so the fd is registered for [`Interest::PRIORITY`] only. Readiness is a hint:
//! [`MountWatcher::drain`] re-reads the whole file from offset 0 and compares it with the
//! last read, so spurious or coalesced wakeups are harmless. Knows nothing about jobs.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;

use mio::event::Source;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use super::mountinfo::{MountTable, MOUNTINFO};

/// Watches this process's mount table; register it in a `mio::Poll`.
#[derive(Debug)]
pub struct MountWatcher {
    file: File,
    last: Vec<u8>,
    table: MountTable,
}

impl MountWatcher {
    /// Open `/proc/self/mountinfo` and take its current content as the reference.
    pub fn new() -> io::Result<Self> {
        let mut watcher = MountWatcher {
            file: File::open(MOUNTINFO)?,
            last: Vec::new(),
            table: MountTable::default(),
        };
        watcher.last = watcher.read_all()?;
        watcher.table = parse(&watcher.last)?;
        Ok(watcher)
    }

    /// True when the mount table differs from the one seen at the previous call (or at
    /// [`MountWatcher::new`]). Call it on every event of the watcher's token; it never
    /// blocks. A failed read counts as a change (the caller re-checks; the table stays
    /// the last good one).
    pub fn drain(&mut self) -> bool {
        let now = match self.read_all() {
            Ok(now) => now,
            Err(e) => {
                tracing::warn!("cannot re-read {MOUNTINFO}: {e}");
                return true;
            }
        };
        if now == self.last {
            return false;
        }
        match parse(&now) {
            Ok(table) => self.table = table,
            Err(e) => tracing::warn!("{e}"),
        }
        self.last = now;
        true
    }

    /// The table as of the last [`MountWatcher::drain`] that saw a change.
    pub fn table(&self) -> &MountTable {
        &self.table
    }

    fn read_all(&mut self) -> io::Result<Vec<u8>> {
        self.file.seek(SeekFrom::Start(0))?;
        let mut buf = Vec::with_capacity(self.last.len() + 4096);
        self.file.read_to_end(&mut buf)?;
        Ok(buf)
    }
}

fn parse(bytes: &[u8]) -> io::Result<MountTable> {
    MountTable::from_bytes(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The `interests` argument is ignored: the watcher always registers for
/// [`Interest::PRIORITY`], the only readiness that means "the mount table changed"
/// (`READABLE` would be reported once and mean nothing).
impl Source for MountWatcher {
    fn register(&mut self, registry: &Registry, token: Token, _: Interest) -> io::Result<()> {
        SourceFd(&self.file.as_raw_fd()).register(registry, token, Interest::PRIORITY)
    }

    fn reregister(&mut self, registry: &Registry, token: Token, _: Interest) -> io::Result<()> {
        SourceFd(&self.file.as_raw_fd()).reregister(registry, token, Interest::PRIORITY)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        SourceFd(&self.file.as_raw_fd()).deregister(registry)
    }
}
