//! The short seeded chaos suite, inside `cargo test`: the real server (a child process, killed
//! with SIGKILL in two scenarios), four real client processes on encrypted profiles (one of them
//! SIGKILLed repeatedly while sending), all through the fault-injecting proxy, then the audit.
//! Set `SOTTO_CHAOS_SEED` to reproduce a failing seed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::time::Instant;

use sotto_chaos::schedule::SCENARIOS;
use sotto_chaos::Size;

/// The seed the suite runs with unless `SOTTO_CHAOS_SEED` says otherwise.
const SEED: u64 = 20_261_126;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_delivers_every_message_exactly_once_in_order() {
    let seed = std::env::var("SOTTO_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_sotto-chaos"));
    let root = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let tallies = sotto_chaos::suite(&exe, root.path(), seed, SCENARIOS, Size::SHORT)
        .await
        .unwrap();
    eprintln!("chaos suite took {:.0} s", started.elapsed().as_secs_f64());
    assert_eq!(tallies.len(), SCENARIOS.len());
    for t in &tallies {
        assert!(t.clean(), "seed {seed}: {t:#?}");
        assert!(t.sent > 0 && t.expected > t.sent, "{t:?}");
    }
    // The faults really happened (a suite whose faults silently stopped would pass too).
    let of = |name: &str| tallies.iter().find(|t| t.scenario == name).unwrap();
    assert!(of("cuts").cuts > 0, "{:?}", of("cuts"));
    assert!(of("storm").cuts > 0, "{:?}", of("storm"));
    assert!(of("half-open").stalls > 0, "{:?}", of("half-open"));
    assert_eq!(of("server-kill").server_downs, 2);
    assert_eq!(of("server-restart").server_downs, 1);
    assert!(
        of("client-kill").client_kills >= 2,
        "{:?}",
        of("client-kill")
    );
}
