//! The servers under load: one `sotto-server` process started here (or one already running,
//! `--attach`), or `--nodes N` processes on one PostgreSQL schema and one NATS subject prefix,
//! each on its own loopback port with its own data folder and certificate.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use sotto_server::config::Config;

use crate::connect::Targets;
use crate::options::Options;
use crate::procfs;

/// The nodes of one run.
pub struct Nodes {
    children: Vec<Option<std::process::Child>>,
    /// Process ids to measure, one per node.
    pub pids: Vec<String>,
    /// Where each node listens, and the TLS configuration that trusts them.
    pub targets: Targets,
    /// The first node's configuration (the store the setup writes into).
    pub config: Config,
    _dirs: Vec<tempfile::TempDir>,
}

/// The `[limits]` table every started node gets: high enough that the generator, not a
/// limit, is what the run measures; lines of `extra` (`key = value`) add keys or override them.
fn limits_table(extra: &str) -> String {
    let mut table = std::collections::BTreeMap::new();
    let defaults = "max_connections_per_ip = 10000\nws_frames_per_second = 100000\n\
                    max_queue_per_device = 1000000\n";
    for line in defaults.lines().chain(extra.lines()) {
        if let Some((key, value)) = line.split_once('=') {
            table.insert(key.trim().to_owned(), value.trim().to_owned());
        }
    }
    let mut text = String::from("[limits]\n");
    for (key, value) in table {
        text.push_str(&format!("{key} = {value}\n"));
    }
    text
}

fn write_config(path: &Path, config: &Config, extra_limits: &str) {
    let mut text = format!(
        "listen = \"{}\"\ndata_dir = \"{}\"\nlog = \"warn\"\n",
        config.listen,
        config.data_dir.display()
    );
    if let Some(url) = &config.database_url {
        text.push_str(&format!("database_url = \"{url}\"\n"));
    }
    if let Some(schema) = &config.database_schema {
        text.push_str(&format!("database_schema = \"{schema}\"\n"));
    }
    if let Some(nats) = &config.nats_url {
        text.push_str(&format!(
            "fanout = \"nats\"\nnats_url = \"{nats}\"\nnats_prefix = \"{}\"\n",
            config.nats_prefix
        ));
    }
    text.push_str("[argon2]\nmemory_kib = 64\niterations = 1\n");
    text.push_str(&limits_table(extra_limits));
    std::fs::write(path, text).unwrap();
}

pub fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// Runs the server binary on `config` and waits for its "listening" line (60 s at most).
fn spawn(o: &Options, config: &Config, extra_limits: &str) -> std::process::Child {
    let config_path = config.data_dir.join("loadgen.toml");
    write_config(&config_path, config, extra_limits);
    let bin = o.server.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .unwrap()
            .with_file_name("sotto-server")
    });
    let mut child = std::process::Command::new(&bin)
        .arg("--config")
        .arg(&config_path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
    let stdout = child.stdout.take().unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    // Keep draining its stdout so it never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut told = false;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !told && line.contains("listening") {
                told = true;
                let _ = ready_tx.send(());
            }
        }
    });
    if ready_rx.recv_timeout(Duration::from_secs(60)).is_err() {
        let _ = child.kill();
        crate::fail(&format!(
            "{} did not say it was listening within 60 s (see its log above)",
            bin.display()
        ));
    }
    child
}

impl Nodes {
    /// Starts the nodes `o` asks for (or attaches to a running one). The store is set up by the
    /// caller before any node starts (`Nodes::prepare` gives the configuration to set up).
    pub fn prepare(o: &Options) -> (Config, Vec<tempfile::TempDir>) {
        let first = tempfile::tempdir().unwrap();
        let data_dir = o
            .data_dir
            .clone()
            .unwrap_or_else(|| first.path().to_path_buf());
        let schema = o
            .database_url
            .as_ref()
            .map(|_| format!("loadgen_{}", std::process::id()));
        let config = Config {
            listen: o.listen.unwrap_or_else(free_port),
            data_dir,
            database_url: o.database_url.clone(),
            database_schema: schema,
            nats_url: o.nats_url.clone(),
            nats_prefix: format!("loadgen{}", std::process::id()),
            ..Default::default()
        };
        (config, vec![first])
    }

    /// Starts every node on `config` (node 0) and its copies, each with `extra_limits`.
    pub fn start(
        o: &Options,
        config: Config,
        mut dirs: Vec<tempfile::TempDir>,
        extra_limits: &str,
    ) -> Self {
        let mut configs = vec![config.clone()];
        for _ in 1..o.nodes {
            let dir = tempfile::tempdir().unwrap();
            let mut c = config.clone();
            c.data_dir = dir.path().to_path_buf();
            c.listen = free_port();
            configs.push(c);
            dirs.push(dir);
        }
        let certificates = configs
            .iter()
            .map(|c| {
                let (_, cert) = sotto_server::tls::load_or_create(c).unwrap();
                cert.chain[0].clone()
            })
            .collect();

        let mut children = Vec::new();
        let mut pids = Vec::new();
        if let Some(pid) = &o.attach {
            children.push(None);
            pids.push(pid.clone());
        } else {
            for c in &configs {
                let child = spawn(o, c, extra_limits);
                pids.push(child.id().to_string());
                children.push(Some(child));
            }
        }
        Self {
            children,
            pids,
            targets: Targets::new(configs.iter().map(|c| c.listen).collect(), certificates),
            config,
            _dirs: dirs,
        }
    }

    /// CPU seconds of every node together.
    pub fn cpu_seconds(&self, hz: f64) -> f64 {
        self.pids.iter().map(|p| procfs::cpu_seconds(p, hz)).sum()
    }

    /// Resident memory of every node together, in KiB (`VmRSS` or `VmHWM`).
    pub fn memory_kib(&self, field: &str) -> f64 {
        self.pids.iter().map(|p| procfs::status_kib(p, field)).sum()
    }

    /// Bytes every node caused to be written to storage.
    pub fn write_bytes(&self) -> u64 {
        self.pids.iter().map(|p| procfs::write_bytes(p)).sum()
    }

    /// The backend's name for the report.
    pub fn backend(&self) -> &'static str {
        if self.config.database_url.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    }

    /// Stops the nodes started here (`SIGTERM`, then waits up to 30 s each) and drops the
    /// PostgreSQL schema.
    pub async fn stop(mut self) {
        for (child, pid) in self.children.iter_mut().zip(&self.pids) {
            if let Some(c) = child {
                let _ = std::process::Command::new("kill")
                    .arg("-TERM")
                    .arg(pid)
                    .status();
                let deadline = Instant::now() + Duration::from_secs(30);
                while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(50));
                }
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        if let (Some(url), Some(schema)) = (&self.config.database_url, &self.config.database_schema)
        {
            let _ = sotto_server::store::postgres::PostgresStore::drop_schema(url, schema).await;
        }
    }
}
