//! All integration tests, compiled into one binary.

mod util;

mod cli;
mod config;
mod daemon;
mod live;
mod mounts;
mod read;
mod retire;
mod soak;
mod vault;
mod web;
