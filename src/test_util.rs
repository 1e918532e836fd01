//! Support for the unit tests only (`cfg(test)`): what `tests/util` also offers them, and
//! version names for hand-built folders.
//!
//! [`skip`] is the same file as the integration tests' `util::skip` (`tests/util/skip.rs`),
//! so a unit test that cannot run here reports `SKIPPED <test>: <reason>` past the output
//! capture and fails under `CI=true` too: `crate::skip_test!("reason")`.

#[path = "../tests/util/skip.rs"]
pub mod skip;

/// Version `n` of a test folder: `V{n}--2026-11-23_10-00-0{n}_+0100`.
pub fn version(n: u64) -> crate::vault::layout::VersionName {
    format!("V{n}--2026-11-23_10-00-0{n}_+0100")
        .parse()
        .unwrap()
}
