//! Status-socket clients read without blocking the loop: a client's request line is read
//! as far as it has arrived when it connects; a client that has not sent its whole line
//! (nor closed its writing side) is registered with the poll under a token of its own and
//! read again when it is readable, until its line is complete or [`REQUEST_TIMEOUT`] has
//! passed (then whatever came is the request: nothing at all asks for the status, as
//! before). A client that connects and sends nothing therefore costs the loop nothing but
//! its registration; before, each one held the loop for up to 200 ms.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Instant;

use mio::unix::SourceFd;
use mio::{Interest, Token};

use super::status::{self, Request, REQUEST_MAX, REQUEST_TIMEOUT};
use super::Daemon;

/// A client whose request line is still coming.
#[derive(Debug)]
pub struct Pending {
    token: Token,
    stream: UnixStream,
    line: Vec<u8>,
    deadline: Instant,
}

/// The clients still sending.
#[derive(Debug, Default)]
pub struct Clients {
    pending: Vec<Pending>,
}

impl Clients {
    /// The earliest deadline of a client still sending.
    pub fn deadline(&self) -> Option<Instant> {
        self.pending.iter().map(|p| p.deadline).min()
    }
}

/// Read what has arrived; true once the line is whole (a newline, end of file, or
/// [`REQUEST_MAX`] bytes).
fn read_some(stream: &mut UnixStream, line: &mut Vec<u8>) -> io::Result<bool> {
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(true),
            Ok(n) => {
                line.extend_from_slice(&chunk[..n]);
                if chunk[..n].contains(&b'\n') || line.len() as u64 >= REQUEST_MAX {
                    return Ok(true);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The request in `line` (up to its first newline).
fn request_of(read: io::Result<Vec<u8>>) -> Result<Request, String> {
    let mut line = read.map_err(|e| format!("cannot read the request: {e}"))?;
    if let Some(end) = line.iter().position(|&b| b == b'\n') {
        line.truncate(end);
    }
    status::parse_request(&line)
}

impl Daemon {
    /// A client just connected: serve it if its request is here, else wait for the rest.
    pub(super) fn accept_client(&mut self, mut stream: UnixStream, now: Instant) {
        let mut line = Vec::new();
        let read = stream
            .set_nonblocking(true)
            .and_then(|()| read_some(&mut stream, &mut line));
        match read {
            Ok(false) => {}
            Ok(true) => return self.handle_client(stream, request_of(Ok(line)), now),
            Err(e) => return self.handle_client(stream, request_of(Err(e)), now),
        }
        let token = self.tokens.next_token();
        let fd = stream.as_raw_fd();
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut SourceFd(&fd), token, Interest::READABLE)
        {
            return self.handle_client(stream, request_of(Err(e)), now);
        }
        self.clients.pending.push(Pending {
            token,
            stream,
            line,
            deadline: now + REQUEST_TIMEOUT,
        });
    }

    /// `token` is a client still sending: read on (false: not a client's token).
    pub(super) fn client_readable(&mut self, token: Token, now: Instant) -> bool {
        let Some(i) = self.clients.pending.iter().position(|p| p.token == token) else {
            return false;
        };
        let p = &mut self.clients.pending[i];
        let read = read_some(&mut p.stream, &mut p.line);
        if let Ok(false) = read {
            return true;
        }
        let p = self.clients.pending.swap_remove(i);
        let request = request_of(read.map(|_| p.line));
        self.serve_pending(p.stream, request, now);
        true
    }

    /// Serve the clients whose time to send is up, with what they sent.
    pub(super) fn expire_clients(&mut self, now: Instant) {
        while let Some(i) = self.clients.pending.iter().position(|p| p.deadline <= now) {
            let p = self.clients.pending.swap_remove(i);
            self.serve_pending(p.stream, request_of(Ok(p.line)), now);
        }
    }

    fn serve_pending(
        &mut self,
        stream: UnixStream,
        request: Result<Request, String>,
        now: Instant,
    ) {
        let fd = stream.as_raw_fd();
        let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
        self.handle_client(stream, request, now);
    }
}
