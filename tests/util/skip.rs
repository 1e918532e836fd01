//! Skipping a test that cannot run here, visibly, and never on CI.
//!
//! `cargo test` captures what a passing test prints with `print!`/`eprint!`, so a skip
//! reported with `eprintln!` looks like any `ok`. [`skipped`] writes through
//! [`std::io::stderr`] itself, which the capture does not intercept (it only hooks the
//! print macros), so the line `SKIPPED <test>: <reason>` shows in every run and CI log;
//! and at exit the binary prints how many tests skipped, after libtest's `test result:`
//! line. Under `CI=true` (set by `.ci/run`, and by most CI services) a skip panics instead:
//! CI installs everything the tests need, so a green CI means every test ran.
//!
//! Use [`skip_test!`](crate::skip_test) to skip the rest of a test, [`skip_part`] when a
//! test leaves out one step and goes on.

use std::fmt::Display;
use std::io::Write;
use std::sync::{Mutex, Once};

/// Skips recorded so far, printed again at exit.
static SKIPS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static AT_EXIT: Once = Once::new();

/// Whether this run is CI's (`CI=true`), where a skip is a failure.
pub fn on_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| v == "true")
}

/// The running test's name (libtest names each test's thread after the test).
fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("<unnamed thread>")
        .to_string()
}

/// Report that the calling test cannot run here because of `reason`; the caller then
/// returns. Prints `SKIPPED <test>: <reason>` past the output capture; panics under CI.
pub fn skipped(reason: impl Display) {
    record("SKIPPED", reason);
}

/// Report that the calling test leaves out one step because of `reason` and goes on.
/// Prints `SKIPPED (part of) <test>: <reason>`; panics under CI.
pub fn skip_part(reason: impl Display) {
    record("SKIPPED (part of)", reason);
}

fn record(what: &str, reason: impl Display) {
    let line = format!("{what} {}: {reason}", test_name());
    if on_ci() {
        panic!("{line}\n(CI=true: every test must run; install what it needs)");
    }
    let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
    SKIPS.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    AT_EXIT.call_once(|| {
        // SAFETY: registers a plain `extern "C" fn` that takes no arguments.
        unsafe { libc::atexit(print_summary) };
    });
}

/// At exit: the skips again, after libtest's summary, so they are not lost in the list.
extern "C" fn print_summary() {
    let skips = SKIPS.lock().unwrap_or_else(|e| e.into_inner());
    let mut text = format!(
        "\n{} skipped (they passed without running; CI=true makes a skip fail):\n",
        match skips.len() {
            1 => "1 test or step".to_string(),
            n => format!("{n} tests or steps"),
        }
    );
    for line in skips.iter() {
        text.push_str("  ");
        text.push_str(line);
        text.push('\n');
    }
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// Skip the rest of the calling test: `skip_test!("no {tool} here")` reports the reason
/// with [`skipped`](crate::util::skip::skipped) and returns.
#[macro_export]
macro_rules! skip_test {
    ($($reason:tt)+) => {{
        $crate::util::skip::skipped(format_args!($($reason)+));
        return;
    }};
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    /// Set in the child run of [`a_skip_is_visible_and_fails_under_ci`].
    const PROBE: &str = "REVERBERATOR_SKIP_PROBE";

    /// The child's test: skips (only when [`PROBE`] is set, so `--ignored` runs pass it).
    #[test]
    #[ignore = "run in a child by a_skip_is_visible_and_fails_under_ci"]
    fn skip_probe() {
        if std::env::var_os(PROBE).is_some() {
            crate::skip_test!("the probe's reason");
        }
    }

    /// Run [`skip_probe`] in a child test binary (as `cargo test` would, output captured)
    /// with `CI` set to `ci`.
    fn probe(ci: &str) -> std::process::Output {
        Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "util::skip::tests::skip_probe", "--ignored"])
            .args(["--test-threads", "1"])
            .env(PROBE, "1")
            .env("CI", ci)
            .output()
            .expect("run the test binary")
    }

    #[test]
    fn a_skip_is_visible_and_fails_under_ci() {
        let out = probe("false");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "a skip passes: {err}");
        let line = "SKIPPED util::skip::tests::skip_probe: the probe's reason";
        assert!(
            err.contains(line),
            "the reason shows past the capture: {err}"
        );
        assert!(
            err.contains("1 test or step skipped") && err.matches(line).count() == 2,
            "the exit summary repeats it: {err}"
        );
        let out = probe("true");
        let all = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "under CI=true a skip fails: {all}");
        assert!(all.contains("CI=true: every test must run"), "{all}");
    }
}
