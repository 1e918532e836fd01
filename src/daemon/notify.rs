//! systemd's notify protocol (`sd_notify`): a few `KEY=value` lines in one datagram to the
//! Unix socket named by `$NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace).
//!
//! Written by hand rather than with the `sd-notify` crate: the protocol is one `sendto`,
//! and `RELOADING=1` needs `MONOTONIC_USEC`, which is a `clock_gettime` away (through
//! `libc` here: a clock read, not file work, so not `fs`'s). Without `$NOTIFY_SOCKET`
//! every call is a no-op. Failures are logged, never fatal.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Sends state changes to systemd, when started by it with `Type=notify`.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
}

impl Notifier {
    /// Read `$NOTIFY_SOCKET` (unset: a notifier that sends nothing).
    pub fn from_env() -> Notifier {
        let target = std::env::var_os("NOTIFY_SOCKET").and_then(|s| {
            let addr = to_addr(s.as_encoded_bytes())?;
            let sock = UnixDatagram::unbound().ok()?;
            Some((sock, addr))
        });
        Notifier { target }
    }

    /// `READY=1` with a status line.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}\n"));
    }

    /// `RELOADING=1` with `MONOTONIC_USEC` (as `Type=notify-reload` expects).
    pub fn reloading(&self) {
        self.send(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading the config\n",
            monotonic_usec()
        ));
    }

    /// `STOPPING=1`.
    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping: waiting for running snapshots\n");
    }

    /// A free-form `STATUS=` line.
    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={status}\n"));
    }

    fn send(&self, text: &str) {
        if let Some((sock, addr)) = &self.target {
            if let Err(e) = sock.send_to_addr(text.as_bytes(), addr) {
                tracing::warn!("cannot notify systemd: {e}");
            }
        }
    }
}

/// `$NOTIFY_SOCKET` as an address: `@name` is abstract, anything else a path.
fn to_addr(raw: &[u8]) -> Option<SocketAddr> {
    match raw.split_first() {
        Some((b'@', name)) => SocketAddr::from_abstract_name(name).ok(),
        Some(_) => SocketAddr::from_pathname(std::ffi::OsStr::from_bytes(raw)).ok(),
        None => None,
    }
}

fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_lines_to_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        let n = Notifier {
            target: Some((
                UnixDatagram::unbound().unwrap(),
                SocketAddr::from_pathname(&path).unwrap(),
            )),
        };
        n.reloading();
        let mut buf = [0u8; 256];
        let len = server.recv(&mut buf).unwrap();
        let text = std::str::from_utf8(&buf[..len]).unwrap();
        assert!(text.starts_with("RELOADING=1\nMONOTONIC_USEC="), "{text}");
        assert!(monotonic_usec() > 0);
    }

    #[test]
    fn abstract_and_empty_addresses() {
        assert!(to_addr(b"@sd-test")
            .is_some_and(|a| a.as_abstract_name() == Some(b"sd-test".as_slice())));
        assert!(to_addr(b"").is_none());
    }
}
