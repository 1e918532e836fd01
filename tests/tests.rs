//! All integration tests, compiled into one binary.

mod util;

mod cli;
mod config;
mod daemon;
mod mounts;
mod read;
mod retire;
mod vault;
mod web;
