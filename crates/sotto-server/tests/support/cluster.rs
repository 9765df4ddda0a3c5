//! Several real `sotto-server` processes on one PostgreSQL schema with the NATS fan-out, each
//! with its own data folder, loopback port and self-signed certificate, as an operator runs them
//! (`scripts/cluster`). A node is a child process, so a test can SIGKILL it. Clients reach a
//! node over TLS trusting exactly that node's certificate, read from its data folder, and sign
//! login challenges for that node's origin. Needs `SOTTO_TEST_DATABASE_URL` and
//! `SOTTO_TEST_NATS_URL` (skipped loudly without them, a failure under `CI=true`).

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::json;
use sotto_proto::identity::DeviceKeys;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::{answer_challenge, pg, services, Api, Person, Ws};

/// How long a node may take to print that it listens (a debug build on a busy machine; a bound,
/// not a wait: a node usually listens within a second).
const START_WAIT: Duration = Duration::from_secs(60);

/// One `sotto-server` process.
pub struct Node {
    child: Option<Child>,
    /// How clients reach it.
    pub endpoint: Endpoint,
    /// Everything it printed, log lines included.
    pub output: Arc<Mutex<String>>,
    /// Its data folder.
    pub dir: tempfile::TempDir,
}

/// What a client needs to reach one node.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// Its listening address (loopback, a port the kernel picked).
    pub addr: SocketAddr,
    /// The origin its login challenges name (`https://localhost:PORT`).
    pub origin: String,
    /// Its self-signed certificate, from `DATA_DIR/tls/cert.pem`.
    pub cert_der: Vec<u8>,
}

impl Node {
    /// Starts the binary with `env` (on top of an empty environment) and waits until it listens.
    fn spawn(env: &[(&str, String)]) -> Self {
        Self::try_spawn(env).unwrap_or_else(|why| panic!("{why}"))
    }

    /// [`Node::spawn`], or what the process printed if it exited or did not listen in time.
    fn try_spawn(env: &[(&str, String)]) -> Result<Self, String> {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_sotto-server"));
        command
            .env_clear()
            .env("SOTTO_LISTEN", "127.0.0.1:0")
            .env("SOTTO_DATA_DIR", dir.path().join("data"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let output = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let mut all = output.lock().unwrap();
                    all.push_str(&line);
                    all.push('\n');
                }
            });
        }
        let deadline = Instant::now() + START_WAIT;
        let line = loop {
            if let Some(line) = output
                .lock()
                .unwrap()
                .lines()
                .find(|l| l.starts_with("Sotto is listening on "))
            {
                break line.to_owned();
            }
            if let Some(status) = child.try_wait().unwrap() {
                return Err(format!(
                    "sotto-server exited ({status}) before listening:\n{}",
                    output.lock().unwrap()
                ));
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "sotto-server did not listen within {START_WAIT:?}:\n{}",
                    output.lock().unwrap()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // "Sotto is listening on ORIGIN (ADDR)"
        let rest = line.trim_start_matches("Sotto is listening on ");
        let (origin, addr) = rest.split_once(" (").unwrap();
        let addr: SocketAddr = addr.trim_end_matches(')').parse().unwrap();
        let cert_der = read_cert(&dir.path().join("data/tls/cert.pem"));
        Ok(Self {
            child: Some(child),
            endpoint: Endpoint {
                addr,
                origin: origin.to_owned(),
                cert_der,
            },
            output,
            dir,
        })
    }

    /// SIGKILL: no shutdown, no drain, sockets cut by the kernel.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// What the process printed so far.
    pub fn printed(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Endpoint {
    /// An HTTPS client trusting exactly this node's certificate.
    pub fn api(&self) -> Api {
        let cert = reqwest::Certificate::from_der(&self.cert_der).unwrap();
        let client = reqwest::Client::builder()
            .tls_certs_only([cert])
            .https_only(true)
            .resolve("localhost", self.addr)
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Api {
            client,
            base: format!("https://localhost:{}", self.addr.port()),
            token: None,
        }
    }

    /// `person`'s access token, used through this node.
    pub fn through(&self, person: &Person) -> Api {
        Api {
            token: person.api.token.clone(),
            ..self.api()
        }
    }

    fn tls(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.cert_der.clone()))
            .unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// A fresh WebSocket ticket for `keys`' device, asked of this node with `api`'s token.
    pub async fn ticket(&self, api: &Api, keys: &DeviceKeys) -> Result<String, String> {
        let answer = answer_challenge(api, keys, &self.origin).await;
        let (status, body) = api.post("/v1/ws/ticket", answer).await;
        if status != StatusCode::OK {
            return Err(format!("ticket: {status} {body}"));
        }
        Ok(body["ticket"].as_str().unwrap().to_owned())
    }

    /// An authenticated socket on this node (`ready` received), or why not.
    pub async fn connect(&self, api: &Api, keys: &DeviceKeys) -> Result<Ws, String> {
        let ticket = self.ticket(api, keys).await?;
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|e| e.to_string())?;
        let connector = tokio_rustls::TlsConnector::from(self.tls());
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        let request = format!("wss://localhost:{}/v1/ws", self.addr.port())
            .into_client_request()
            .unwrap();
        let (stream, _) = tokio_tungstenite::client_async(request, tls)
            .await
            .map_err(|e| e.to_string())?;
        let mut ws = Ws { stream };
        ws.send(json!({ "type": "auth", "ticket": ticket })).await;
        match ws.next_within(Duration::from_secs(10)).await {
            Ok(Some(ready)) if ready["type"] == "ready" => {
                assert_eq!(ready["device"], keys.device().to_string());
                Ok(ws)
            }
            other => Err(format!("no ready frame: {other:?}")),
        }
    }

    /// Registers account `slot` as `name` through this node, uploads its master key and first
    /// device, logs the device in and publishes its exchange key (as `support::onboard`).
    pub async fn onboard(&self, slot: usize, name: &str) -> Person {
        super::onboard_at(&self.origin, self.api(), slot, name).await
    }
}

/// The certificate in a PEM file (the first of the chain).
fn read_cert(path: &Path) -> Vec<u8> {
    CertificateDer::from_pem_file(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .as_ref()
        .to_vec()
}

/// Nodes on one fresh schema and one fresh NATS subject prefix.
pub struct Cluster {
    pub nodes: Vec<Node>,
    pg: Option<pg::Schema>,
}

impl Cluster {
    /// Starts `n` nodes, or `None` (the skip reported) when PostgreSQL or NATS is not
    /// configured. One at a time, so a failure names its node; [`Cluster::start_together`]
    /// starts them at the same moment.
    pub async fn start(n: usize) -> Option<Self> {
        let (mut cluster, env) = Self::empty().await?;
        for _ in 0..n {
            let env = env.clone();
            let node = tokio::task::spawn_blocking(move || Node::spawn(&env))
                .await
                .unwrap();
            cluster.nodes.push(node);
        }
        Some(cluster)
    }

    /// Starts `n` nodes at the same moment on the fresh schema; returns the cluster of those
    /// that listen and what the others printed.
    pub async fn start_together(n: usize) -> Option<(Self, Vec<String>)> {
        let (mut cluster, env) = Self::empty().await?;
        let starts: Vec<_> = (0..n)
            .map(|_| {
                let env = env.clone();
                tokio::task::spawn_blocking(move || Node::try_spawn(&env))
            })
            .collect();
        let mut failures = Vec::new();
        for start in starts {
            match start.await.unwrap() {
                Ok(node) => cluster.nodes.push(node),
                Err(why) => failures.push(why),
            }
        }
        Some((cluster, failures))
    }

    /// No node yet, and the environment every node gets.
    async fn empty() -> Option<(Self, Vec<(&'static str, String)>)> {
        let nats = services::url(services::NATS_VAR)?;
        let pg = pg::Schema::fresh().await?;
        let prefix = format!(
            "sotto_test_{}",
            hex::encode(sotto_server::auth::tokens::random::<8>().unwrap())
        );
        let env = vec![
            ("SOTTO_DATABASE_URL", pg.url.clone()),
            ("SOTTO_DATABASE_SCHEMA", pg.name.clone()),
            ("SOTTO_FANOUT", "nats".to_owned()),
            ("SOTTO_NATS_URL", nats),
            ("SOTTO_NATS_PREFIX", prefix),
            ("SOTTO_LOG", "warn".to_owned()),
            // As `support::test_config`: weak Argon2, sign-up limits raised, a short grace.
            ("SOTTO_ARGON2_MEMORY_KIB", "64".to_owned()),
            ("SOTTO_ARGON2_ITERATIONS", "1".to_owned()),
            (
                "SOTTO_LIMITS_REGISTRATIONS_PER_IP_PER_HOUR",
                "10000".to_owned(),
            ),
            ("SOTTO_LIMITS_REGISTRATIONS_PER_MINUTE", "10000".to_owned()),
            ("SOTTO_LIMITS_SHUTDOWN_GRACE_SECS", "2".to_owned()),
        ];
        let cluster = Self {
            nodes: Vec::new(),
            pg: Some(pg),
        };
        Some((cluster, env))
    }

    /// Kills every node and drops the schema.
    pub async fn stop(mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        if let Some(pg) = self.pg.take() {
            pg.drop().await;
        }
    }
}
