//! Snapshot, scan and retire threads; results come back through a channel plus mio::Waker.
