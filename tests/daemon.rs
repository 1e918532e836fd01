//! The daemon, driven as a real process.
