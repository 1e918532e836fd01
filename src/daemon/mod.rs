//! The daemon: one `mio::Poll` over every job's inotify fd, the signals, the mount-table
//! watcher and a `Waker` for worker results. Timers are the poll timeout from the earliest
//! deadline. The loop never does disk work itself.

pub mod job;
pub mod reload;
pub mod status;
pub mod tokens;
pub mod workers;
