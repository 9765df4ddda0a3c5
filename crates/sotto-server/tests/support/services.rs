//! What an integration test does when a service it needs (PostgreSQL, NATS) is not configured:
//! under `CI=true` it fails, because CI provides every service and a skip there would hide a run
//! that never happened; elsewhere it writes one loud line, past the test harness's output
//! capture, naming the test, what it needs and how to enable it, and the test returns early.
//! `scripts/test` (through `scripts/services.sh`) sets both variables, starting throwaway
//! servers when none answer, so a skip only happens where PostgreSQL or NATS is not installed.

#![allow(dead_code, clippy::panic)]

use std::io::Write;

/// The variable naming the PostgreSQL database for tests (a fresh schema per test).
pub const DATABASE_VAR: &str = "SOTTO_TEST_DATABASE_URL";
/// The variable naming the NATS server for tests (a fresh subject prefix per test).
pub const NATS_VAR: &str = "SOTTO_TEST_NATS_URL";

/// The URL in `var`, or `None` after reporting the skip (or failing under `CI=true`).
pub fn url(var: &str) -> Option<String> {
    if let Some(url) = std::env::var(var).ok().filter(|u| !u.is_empty()) {
        return Some(url);
    }
    missing(&format!(
        "{var} is not set (scripts/test sets it, starting a throwaway server when the programs are installed)"
    ));
    None
}

/// Reports that the running test cannot run because of `why`: a panic under `CI=true`, a loud
/// line on stderr otherwise.
pub fn missing(why: &str) {
    // libtest names each test's thread after the test, and `#[tokio::test]` runs on that thread.
    let current = std::thread::current();
    let test = current.name().unwrap_or("a test");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test} cannot run under CI=true: {why}");
    }
    // Written to the handle directly: `eprintln!` inside a test is captured and never shown for
    // a passing test, and a skip must be seen. (cargo-nextest captures the whole process's
    // output; `scripts/test` prints its own skip lines, and `--success-output immediate` shows
    // these.)
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}
