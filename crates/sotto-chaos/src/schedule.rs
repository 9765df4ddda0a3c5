//! The scenarios: each a named, seeded schedule of fault steps over a time window. The same
//! seed gives the same schedule (which faults, when, how strong) and the same per-connection
//! fault decisions in the proxy; the exact interleaving with real I/O still varies, which is the
//! point of running many seeds.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::proxy::Faults;

/// Every scenario, in the order the suite runs them.
pub const SCENARIOS: &[&str] = &[
    "slow-link",
    "loss",
    "cuts",
    "lost-answers",
    "half-open",
    "storm",
    "server-kill",
    "server-restart",
    "client-kill",
    "clock-skew",
    "mixed",
    "flood",
];

/// The shortest window of the `flood` scenario: mallory needs a few seconds to fill a queue.
const FLOOD_MIN_WINDOW: Duration = Duration::from_secs(8);

/// One thing the harness does to the world.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Applies these network faults from now on.
    Faults(Faults),
    /// Cuts every connection at once (reconnect storm).
    CutAll,
    /// Turns every open connection half-open at once.
    StallAll,
    /// SIGKILLs the server.
    KillServer,
    /// Stops the server gracefully (it drains its connections).
    StopServer,
    /// Starts the server again on the same address and data.
    StartServer,
    /// SIGKILLs a client process.
    KillClient(String),
    /// Starts a client process again from its profile.
    StartClient(String),
    /// Mallory starts (`true`) or stops (`false`) flooding alice.
    Flood(bool),
}

/// An action at a time since the scenario started.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// When.
    pub at: Duration,
    /// What.
    pub action: Action,
}

/// A scenario's schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// The scenario's name.
    pub name: String,
    /// The fault window (the network heals at its end).
    pub window: Duration,
    /// The steps, in time order.
    pub steps: Vec<Step>,
    /// Clock offsets of devices, ms.
    pub clock_offsets: Vec<(String, i64)>,
}

const HOUR_MS: i64 = 3_600_000;

fn ms(value: u64) -> Duration {
    Duration::from_millis(value)
}

/// A random instant in `[from, to)` of the window, in ms.
fn between(rng: &mut ChaCha8Rng, from: u64, to: u64) -> u64 {
    rng.random_range(from..to.max(from + 1))
}

/// The schedule of `name` over `window`, from `seed`.
pub fn schedule(name: &str, seed: u64, window: Duration) -> Result<Schedule> {
    let salt = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ salt);
    let window = if name == "flood" {
        window.max(FLOOD_MIN_WINDOW)
    } else {
        window
    };
    let total = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
    let mut steps = Vec::new();
    let mut clock_offsets = Vec::new();
    let mut at = |t: u64, action: Action| steps.push(Step { at: ms(t), action });
    match name {
        "slow-link" => at(
            0,
            Action::Faults(Faults {
                latency_ms: 200,
                jitter_ms: 100,
                bandwidth: 32 * 1024,
                ..Faults::default()
            }),
        ),
        "loss" => at(
            0,
            Action::Faults(Faults {
                latency_ms: 20,
                jitter_ms: 15,
                loss: rng.random_range(0.05..=0.10),
                rto_ms: (200, 1000),
                ..Faults::default()
            }),
        ),
        "cuts" => at(
            0,
            Action::Faults(Faults {
                latency_ms: 10,
                jitter_ms: 10,
                cut: rng.random_range(0.02..=0.05),
                ..Faults::default()
            }),
        ),
        "lost-answers" => at(
            0,
            Action::Faults(Faults {
                latency_ms: 10,
                jitter_ms: 10,
                cut_answer: rng.random_range(0.10..=0.20),
                ..Faults::default()
            }),
        ),
        "half-open" => {
            at(
                0,
                Action::Faults(Faults {
                    latency_ms: 10,
                    jitter_ms: 5,
                    stall: rng.random_range(0.005..=0.015),
                    ..Faults::default()
                }),
            );
            // And every open connection at once, so each device meets at least one.
            at(
                between(&mut rng, total / 4, total * 3 / 4),
                Action::StallAll,
            );
        }
        "storm" => {
            at(
                0,
                Action::Faults(Faults {
                    latency_ms: 30,
                    jitter_ms: 30,
                    ..Faults::default()
                }),
            );
            let mut t = between(&mut rng, 500, 1500);
            while t < total {
                at(t, Action::CutAll);
                t += between(&mut rng, 800, 2000);
            }
        }
        "server-kill" | "server-restart" => {
            at(
                0,
                Action::Faults(Faults {
                    latency_ms: 20,
                    jitter_ms: 10,
                    ..Faults::default()
                }),
            );
            let (stop, times) = if name == "server-kill" {
                (Action::KillServer, 2)
            } else {
                (Action::StopServer, 1)
            };
            let slice = total / times;
            for i in 0..times {
                let down = between(&mut rng, i * slice + slice / 5, i * slice + slice * 3 / 5);
                at(down, stop.clone());
                at(down + between(&mut rng, 300, 1500), Action::StartServer);
            }
        }
        "client-kill" => {
            at(
                0,
                Action::Faults(Faults {
                    latency_ms: 20,
                    jitter_ms: 10,
                    ..Faults::default()
                }),
            );
            let mut t = between(&mut rng, 300, 1000);
            while t + 300 < total {
                at(t, Action::KillClient("bob".to_owned()));
                t += between(&mut rng, 50, 400);
                at(t, Action::StartClient("bob".to_owned()));
                t += between(&mut rng, 300, 1500);
            }
        }
        "clock-skew" => {
            at(
                0,
                Action::Faults(Faults {
                    latency_ms: 50,
                    jitter_ms: 25,
                    ..Faults::default()
                }),
            );
            clock_offsets.push(("alice2".to_owned(), HOUR_MS));
            clock_offsets.push(("carol".to_owned(), -HOUR_MS));
        }
        "mixed" => {
            // Everything at once, at milder strength.
            at(
                0,
                Action::Faults(Faults {
                    latency_ms: 100,
                    jitter_ms: 80,
                    loss: 0.05,
                    rto_ms: (200, 800),
                    bandwidth: 64 * 1024,
                    cut: 0.01,
                    stall: 0.003,
                    cut_answer: 0.02,
                }),
            );
            let kill = between(&mut rng, total / 4, total / 2);
            at(kill, Action::KillServer);
            at(kill + between(&mut rng, 300, 1200), Action::StartServer);
            at(between(&mut rng, total / 2, total * 3 / 4), Action::CutAll);
            let client = between(&mut rng, total / 5, total * 4 / 5);
            at(client, Action::KillClient("carol".to_owned()));
            at(
                client + between(&mut rng, 100, 600),
                Action::StartClient("carol".to_owned()),
            );
            clock_offsets.push(("bob".to_owned(), HOUR_MS));
        }
        "flood" => {
            // alice2 is offline while mallory floods, so its queue fills to the cap with her
            // copies; the others' messages to alice2 must still get in (or their senders be
            // told and retry), and alice1 must keep up with the flood while online.
            at(
                0,
                Action::Faults(Faults {
                    latency_ms: 10,
                    jitter_ms: 5,
                    ..Faults::default()
                }),
            );
            at(0, Action::KillClient("alice2".to_owned()));
            at(0, Action::Flood(true));
            at(
                between(&mut rng, total * 7 / 10, total * 8 / 10),
                Action::Flood(false),
            );
            at(
                between(&mut rng, total * 8 / 10, total * 9 / 10),
                Action::StartClient("alice2".to_owned()),
            );
        }
        other => {
            return Err(Error::UnknownScenario {
                name: other.to_owned(),
            })
        }
    }
    steps.sort_by_key(|s| s.at);
    Ok(Schedule {
        name: name.to_owned(),
        window,
        steps,
        clock_offsets,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_seed_gives_the_same_schedule_and_another_seed_another() {
        let window = Duration::from_secs(10);
        for name in SCENARIOS {
            assert_eq!(
                schedule(name, 42, window).unwrap(),
                schedule(name, 42, window).unwrap()
            );
        }
        assert_ne!(
            schedule("storm", 1, window).unwrap(),
            schedule("storm", 2, window).unwrap()
        );
        assert!(matches!(
            schedule("nope", 1, window),
            Err(Error::UnknownScenario { .. })
        ));
    }

    #[test]
    fn every_kill_is_followed_by_a_start_inside_the_schedule() {
        for seed in 0..20 {
            for name in [
                "server-kill",
                "client-kill",
                "mixed",
                "server-restart",
                "flood",
            ] {
                let s = schedule(name, seed, Duration::from_secs(8)).unwrap();
                let downs = s
                    .steps
                    .iter()
                    .filter(|x| {
                        matches!(
                            x.action,
                            Action::KillServer | Action::StopServer | Action::KillClient(_)
                        )
                    })
                    .count();
                let ups = s
                    .steps
                    .iter()
                    .filter(|x| matches!(x.action, Action::StartServer | Action::StartClient(_)))
                    .count();
                assert!(downs > 0, "{name} {seed}");
                assert_eq!(downs, ups, "{name} {seed}");
            }
        }
    }
}
