//! Runs scenarios on a [`World`]: writes each device's plan, starts the client processes,
//! plays the schedule while supervising them, heals the network, measures how long the devices
//! take to converge, lets them exit, and audits.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::audit::{audit, message_text, Tally};
use crate::device::{open_profile, EXIT_FILE, PLAN_FILE, STATUS_FILE};
use crate::error::{Error, Result};
use crate::flood::{Flood, FloodTally};
use crate::plan::{read_json, write_json, Outgoing, Plan, Status};
use crate::proxy::Faults;
use crate::schedule::{schedule, Action, Schedule};
use crate::world::World;

/// How big a scenario is.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// Messages each device sends to each of its conversations.
    pub messages: usize,
    /// The fault window.
    pub window: Duration,
    /// How long the devices may take to converge once the faults end.
    pub converge_timeout: Duration,
}

impl Size {
    /// The short run inside `cargo test`.
    pub const SHORT: Self = Self {
        messages: 3,
        window: Duration::from_secs(4),
        converge_timeout: Duration::from_secs(60),
    };
    /// One round of a soak.
    pub const SOAK: Self = Self {
        messages: 12,
        window: Duration::from_secs(30),
        converge_timeout: Duration::from_secs(120),
    };
}

/// The plans of every device for `schedule`.
fn plans(world: &World, schedule: &Schedule, size: Size, seed: u64) -> Vec<Plan> {
    let sends_of = |label: &str, account: &str| -> Vec<Outgoing> {
        let mine: Vec<_> = world
            .conversations
            .iter()
            .filter(|c| c.members.iter().any(|m| m == account))
            .collect();
        (0..size.messages)
            .flat_map(|seq| {
                mine.iter().map(move |c| Outgoing {
                    conversation: c.id.clone(),
                    text: message_text(&schedule.name, label, &c.label, seq),
                })
            })
            .collect()
    };
    let all: Vec<(String, String, Vec<Outgoing>)> = world
        .devices
        .iter()
        .map(|d| {
            (
                d.label.clone(),
                d.account.clone(),
                sends_of(&d.label, &d.account),
            )
        })
        .collect();
    let window_ms = u64::try_from(schedule.window.as_millis()).unwrap_or(u64::MAX);
    world
        .devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let member_of: Vec<&str> = world
                .conversations
                .iter()
                .filter(|c| c.members.contains(&d.account))
                .map(|c| c.id.as_str())
                .collect();
            let expect = all
                .iter()
                .filter(|(label, _, _)| *label != d.label)
                .flat_map(|(_, _, sends)| sends.iter())
                .filter(|o| member_of.contains(&o.conversation.as_str()))
                .map(|o| o.text.clone())
                .collect();
            let sends = sends_of(&d.label, &d.account);
            // Spread the sends over the fault window.
            let pace = window_ms / (sends.len() as u64 + 1);
            Plan {
                label: d.label.clone(),
                pace_ms: (pace / 2, pace * 3 / 2),
                sends,
                expect,
                clock_offset_ms: schedule
                    .clock_offsets
                    .iter()
                    .find(|(label, _)| *label == d.label)
                    .map(|(_, offset)| *offset)
                    .unwrap_or(0),
                seed: seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9),
            }
        })
        .collect()
}

/// The client processes of a scenario.
struct Clients {
    devices: Vec<crate::world::Device>,
    exe: std::path::PathBuf,
    running: BTreeMap<String, Child>,
    /// Stopped on purpose (until their `StartClient`).
    killed: Vec<String>,
    kills: usize,
    /// Exits nobody asked for (a client that failed by itself).
    crashes: Vec<String>,
}

impl Clients {
    fn new(world: &World) -> Self {
        Self {
            devices: world.devices.clone(),
            exe: world.exe.clone(),
            running: BTreeMap::new(),
            killed: Vec::new(),
            kills: 0,
            crashes: Vec::new(),
        }
    }

    fn start(&mut self, label: &str) -> Result<()> {
        let Some(device) = self.devices.iter().find(|d| d.label == label) else {
            return Ok(());
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(device.run_dir.join("stderr.log"))
            .map_err(Error::io("opening a client log"))?;
        let child = Command::new(&self.exe)
            .arg("client")
            .arg("--profile")
            .arg(&device.profile)
            .arg("--run-dir")
            .arg(&device.run_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .map_err(Error::io("starting a client process"))?;
        self.running.insert(label.to_owned(), child);
        self.killed.retain(|l| l != label);
        Ok(())
    }

    async fn kill(&mut self, label: &str) -> Result<()> {
        if let Some(mut child) = self.running.remove(label) {
            child.kill().await.map_err(Error::io("killing a client"))?;
            self.kills += 1;
            self.killed.push(label.to_owned());
        }
        Ok(())
    }

    /// Restarts clients that exited by themselves (and remembers that they did).
    fn supervise(&mut self, exiting: bool) -> Result<()> {
        let mut gone = Vec::new();
        for (label, child) in &mut self.running {
            if let Ok(Some(status)) = child.try_wait() {
                gone.push((label.clone(), status.success()));
            }
        }
        for (label, success) in gone {
            self.running.remove(&label);
            if exiting && success {
                continue;
            }
            self.crashes.push(label.clone());
            self.start(&label)?;
        }
        Ok(())
    }

    fn all_exited(&mut self) -> bool {
        self.running
            .values_mut()
            .all(|child| matches!(child.try_wait(), Ok(Some(_))))
    }
}

/// Waits `until`, supervising the clients meanwhile.
async fn wait_supervising(clients: &mut Clients, until: Instant) -> Result<()> {
    while Instant::now() < until {
        clients.supervise(false)?;
        let step = (until - Instant::now()).min(Duration::from_millis(100));
        tokio::time::sleep(step).await;
    }
    Ok(())
}

/// Every device's status, if all have written one.
fn statuses(world: &World) -> Vec<Option<Status>> {
    world
        .devices
        .iter()
        .map(|d| read_json(&d.run_dir.join(STATUS_FILE), "a status file").ok())
        .collect()
}

/// Runs scenario `name` on `world`; prints its schedule and returns its audit.
pub async fn run_scenario(world: &mut World, name: &str, seed: u64, size: Size) -> Result<Tally> {
    let schedule = schedule(name, seed, size.window)?;
    let plans = plans(world, &schedule, size, seed);
    let mut before = BTreeMap::new();
    for (device, plan) in world.devices.iter().zip(&plans) {
        for file in [STATUS_FILE, EXIT_FILE] {
            let _ = std::fs::remove_file(device.run_dir.join(file));
        }
        write_json(&device.run_dir.join(PLAN_FILE), plan, "a plan")?;
        let client = open_profile(&device.profile, &device.label, None)?;
        before.insert(device.label.clone(), client.undecryptable());
    }
    eprintln!(
        "scenario {name} (seed {seed}): {} steps",
        schedule.steps.len()
    );
    let proxy_before = world.proxy.stats();
    let mut server_downs = 0;
    let mut clients = Clients::new(world);
    for device in &world.devices {
        clients.start(&device.label)?;
    }
    let started = Instant::now();
    let mut server_up = true;
    let mut flood = None;
    let mut flooded = FloodTally::default();
    for step in &schedule.steps {
        wait_supervising(&mut clients, started + step.at).await?;
        match &step.action {
            Action::Faults(faults) => world.proxy.set(faults.clone()),
            Action::CutAll => {
                world.proxy.cut_all();
            }
            Action::StallAll => {
                world.proxy.stall_all();
            }
            Action::KillServer => {
                world.server.kill().await?;
                server_downs += 1;
                server_up = false;
            }
            Action::StopServer => {
                world.server.stop().await?;
                server_downs += 1;
                server_up = false;
            }
            Action::StartServer => {
                world.server.start().await?;
                server_up = true;
            }
            Action::KillClient(label) => clients.kill(label).await?,
            Action::StartClient(label) => clients.start(label)?,
            Action::Flood(true) => flood = Some(Flood::start(world.flooder.clone())),
            Action::Flood(false) => {
                if let Some(running) = flood.take() {
                    flooded = running.stop().await?;
                }
            }
        }
    }
    wait_supervising(&mut clients, started + schedule.window).await?;
    if let Some(running) = flood.take() {
        flooded = running.stop().await?;
    }
    // The network heals; anything still down comes back.
    world.proxy.set(Faults::default());
    if !server_up {
        world.server.start().await?;
    }
    for label in clients.killed.clone() {
        clients.start(&label)?;
    }
    let healed = Instant::now();
    let mut converge = None;
    while healed.elapsed() < size.converge_timeout {
        clients.supervise(false)?;
        let all = statuses(world);
        if all.iter().all(|s| s.as_ref().is_some_and(|s| s.converged)) {
            converge = Some(healed.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if converge.is_none() {
        for (device, status) in world.devices.iter().zip(statuses(world)) {
            eprintln!("  not converged: {}: {status:?}", device.label);
        }
    }
    let client_kills = clients.kills;
    for device in &world.devices {
        std::fs::write(device.run_dir.join(EXIT_FILE), b"")
            .map_err(Error::io("writing an exit file"))?;
    }
    let exit_deadline = Instant::now() + Duration::from_secs(20);
    while !clients.all_exited() && Instant::now() < exit_deadline {
        clients.supervise(true)?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let labels: Vec<String> = clients.running.keys().cloned().collect();
    for label in labels {
        clients.kill(&label).await?;
    }
    let proxy = world.proxy.stats();
    let crashes = clients.crashes.len();
    drop(clients);
    let pairs: Vec<_> = world.devices.iter().cloned().zip(plans).collect();
    let mut tally = audit(name, &pairs, &before)?;
    tally.relogins = statuses(world).iter().flatten().map(|s| s.relogins).sum();
    tally.converge = converge;
    tally.cuts = proxy.cuts - proxy_before.cuts;
    tally.stalls = proxy.stalls - proxy_before.stalls;
    tally.server_downs = server_downs;
    tally.client_kills = client_kills;
    tally.flood = flooded;
    let flood_text = if flooded.posted > 0 {
        format!(
            " flood-posted={} flood-refused={}",
            flooded.posted, flooded.refused
        )
    } else {
        String::new()
    };
    tally.faults = format!(
        "conns={} cuts={} stalls={} refused={} server-downs={server_downs} client-kills={client_kills} crashes={crashes} relogins={}{flood_text}",
        proxy.connections - proxy_before.connections,
        proxy.cuts - proxy_before.cuts,
        proxy.stalls - proxy_before.stalls,
        proxy.refused - proxy_before.refused,
        tally.relogins,
    );
    if crashes > 0 {
        // A client that dies by itself is a finding, not a fault we injected.
        tally.unexpected += crashes;
    }
    Ok(tally)
}
