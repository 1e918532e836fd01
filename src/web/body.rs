//! Streaming what a blocking writer produces (a file's bytes, a tar) as a response body:
//! the writer runs on tokio's blocking pool and sends 64 KiB chunks through a bounded
//! channel, so memory stays flat and a slow client slows the writer down. A client that
//! goes away makes the next write fail with `BrokenPipe`, which ends the writer.

use std::io::{self, Write};

use axum::body::{Body, Bytes};
use tokio::sync::mpsc;

const CHUNK: usize = 64 * 1024;

/// A `Write` that sends its bytes, in chunks, to the response body.
pub struct ChunkWriter {
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }

    /// End the body with an error (the client sees a cut-off response).
    pub fn fail(self, e: io::Error) {
        let _ = self.tx.blocking_send(Err(e));
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// A body fed by `produce`, which runs on the blocking pool.
pub fn stream(produce: impl FnOnce(&mut ChunkWriter) -> io::Result<()> + Send + 'static) -> Body {
    let (tx, rx) = mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut w = ChunkWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        };
        match produce(&mut w).and_then(|()| w.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
            Err(e) => {
                tracing::warn!("download cut short: {e}");
                w.fail(e);
            }
        }
    });
    let chunks = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Body::from_stream(chunks)
}
