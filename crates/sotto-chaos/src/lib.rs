//! # sotto-chaos
//!
//! The chaos suite: Sotto must lose no message, show none twice and leave none
//! undecryptable, whatever the network does. It runs the real server as a child process (so it
//! can be SIGKILLed), real clients as child processes on their own encrypted profiles (so they
//! can be SIGKILLed too), and a fault-injecting TCP proxy between them, driven by seeded
//! schedules. Each scenario ends with an audit of every device's history. `docs/chaos.md`
//! describes the design, the fault model and how to reproduce a seed.
//!
//! # Layout
//! - [`proxy`]: the fault-injecting proxy (latency, jitter, loss as retransmission delay,
//!   bandwidth, cuts mid-stream, half-open connections, storms).
//! - [`server`]: the server process (`serve`) and its handle (start, SIGKILL, graceful stop).
//! - [`device`]: one client process (`client`): its send/receive loop with backoff.
//! - [`plan`]: the plan and status files between the harness and a client.
//! - [`world`]: the cast (three accounts, four devices, a group and a 1:1; mallory).
//! - [`flood`]: mallory, the hostile member of the `flood` scenario.
//! - [`schedule`]: the named, seeded scenarios.
//! - [`runner`]: plays a scenario and measures convergence.
//! - [`audit`]: the exactly-once audit and its table.
//! - [`error`]: the crate's error type.

pub mod audit;
pub mod device;
pub mod error;
pub mod flood;
pub mod plan;
pub mod proxy;
pub mod runner;
pub mod schedule;
pub mod server;
pub mod world;

use std::path::Path;
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use audit::Tally;
pub use error::{Error, Result};
pub use runner::Size;

use crate::world::World;

/// A new world in a fresh folder under `root`.
async fn new_world(exe: &Path, root: &Path, seed: u64, n: usize) -> Result<World> {
    let dir = root.join(format!("world-{n}"));
    std::fs::create_dir_all(&dir).map_err(Error::io("creating the world folder"))?;
    let started = std::time::Instant::now();
    let world = World::create(exe, &dir, seed).await?;
    eprintln!(
        "world {n} ready in {:.1}s at {}",
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok(world)
}

/// Runs `scenarios` once each, in order, on one world; prints and returns their audits.
pub async fn suite(
    exe: &Path,
    root: &Path,
    seed: u64,
    scenarios: &[&str],
    size: Size,
) -> Result<Vec<Tally>> {
    eprintln!("chaos suite, seed {seed} (reproduce with --seed {seed})");
    let mut world = new_world(exe, root, seed, 0).await?;
    let mut tallies = Vec::new();
    for name in scenarios {
        let tally = runner::run_scenario(&mut world, name, seed, size).await?;
        eprint!("{}", audit::table(std::slice::from_ref(&tally)));
        tallies.push(tally);
    }
    world.server.stop().await?;
    print_summary(&tallies);
    Ok(tallies)
}

/// Runs every scenario in turn, each cycle in a new seeded order, until `duration` has passed,
/// starting a new world every `ROUNDS_PER_WORLD` scenarios (so histories stay below their cap).
pub async fn soak(
    exe: &Path,
    root: &Path,
    seed: u64,
    duration: Duration,
    size: Size,
) -> Result<Vec<Tally>> {
    const ROUNDS_PER_WORLD: usize = 10;
    eprintln!(
        "chaos soak, seed {seed}, {} s (reproduce with --seed {seed})",
        duration.as_secs()
    );
    let started = std::time::Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut tallies = Vec::new();
    let mut order: Vec<&str> = Vec::new();
    let mut n = 0;
    while started.elapsed() < duration {
        let mut world = new_world(exe, root, seed.wrapping_add(n as u64), n).await?;
        for _ in 0..ROUNDS_PER_WORLD {
            if started.elapsed() >= duration {
                break;
            }
            // Every scenario once per cycle, each cycle in a new seeded order.
            if order.is_empty() {
                order = schedule::SCENARIOS.to_vec();
                order.shuffle(&mut rng);
            }
            let Some(name) = order.pop() else { break };
            let round_seed = seed.wrapping_add(tallies.len() as u64);
            let mut tally = runner::run_scenario(&mut world, name, round_seed, size).await?;
            tally.scenario = format!("{name}#{}", tallies.len());
            eprint!("{}", audit::table(std::slice::from_ref(&tally)));
            tallies.push(tally);
        }
        world.server.stop().await?;
        n += 1;
    }
    print_summary(&tallies);
    Ok(tallies)
}

/// Prints the table of all rounds and the totals.
fn print_summary(tallies: &[Tally]) {
    let mut total = Tally {
        scenario: "TOTAL".to_owned(),
        converge: Some(Duration::ZERO),
        ..Tally::default()
    };
    for t in tallies {
        total.add(t);
    }
    let mut rows = tallies.to_vec();
    rows.push(total);
    println!("{}", audit::table(&rows));
    let clean = tallies.iter().all(Tally::clean);
    println!(
        "{}",
        if clean {
            "RESULT: clean"
        } else {
            "RESULT: FAILED"
        }
    );
}
