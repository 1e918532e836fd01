//! All integration tests, compiled into one binary.

mod util;

mod cli;
mod config;
mod daemon;
mod mounts;
mod retire;
mod vault;
