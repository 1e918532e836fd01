//! Support for the unit tests only (`cfg(test)`): what `tests/util` also offers them.
//!
//! [`skip`] is the same file as the integration tests' `util::skip` (`tests/util/skip.rs`),
//! so a unit test that cannot run here reports `SKIPPED <test>: <reason>` past the output
//! capture and fails under `CI=true` too: `crate::skip_test!("reason")`.

#[path = "../tests/util/skip.rs"]
pub mod skip;
