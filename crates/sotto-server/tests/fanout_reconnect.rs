//! The NATS fan-out across a restart of the NATS server (a node reconnects by itself, its
//! sockets re-read the store since announcements may have been lost, sockets whose session ended
//! meanwhile are closed, and events flow again) and across a partition between two servers of a
//! NATS cluster (no node is disconnected; the gap in the other node's beats does the same). Runs its own `nats-server` on a free loopback
//! port (never the shared one); skipped loudly when `SOTTO_TEST_NATS_URL` is unset or no
//! `nats-server` binary is found, a failure under `CI=true` (`support/services.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use sotto_proto::ids::DeviceId;
use sotto_server::fanout::nats::NatsFanout;
use sotto_server::hub::{CloseReason, Hub, Push, Registration, Sockets};
use sotto_server::store::sqlite::SqliteStore;
use sotto_server::store::{SessionId, Store, UserId};

#[path = "support/services.rs"]
mod services;

fn nats_server_binary() -> Option<PathBuf> {
    let mut candidates = vec![PathBuf::from("/usr/sbin/nats-server")];
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|p| p.join("nats-server")));
    }
    candidates.into_iter().find(|p| p.is_file())
}

/// The `nats-server` binary, or `None` with the skip reported (a failure under `CI=true`) when
/// NATS tests are not enabled or no binary is found.
fn nats_server_or_skip() -> Option<PathBuf> {
    services::url(services::NATS_VAR)?;
    let binary = nats_server_binary();
    if binary.is_none() {
        services::missing("no nats-server binary on PATH or at /usr/sbin/nats-server");
    }
    binary
}

/// A private NATS server; killed on drop.
struct Private {
    binary: PathBuf,
    port: u16,
    /// Further command-line options (cluster settings).
    args: Vec<String>,
    child: Option<Child>,
}

impl Private {
    async fn start(binary: PathBuf) -> Self {
        Self::start_with(binary, &[]).await
    }

    async fn start_with(binary: PathBuf, args: &[&str]) -> Self {
        let mut server = Self {
            binary,
            port: free_port(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            child: None,
        };
        server.run().await;
        server
    }

    async fn run(&mut self) {
        let child = Command::new(&self.binary)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nats-server did not start");
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn next(reg: &mut Registration, wait: Duration) -> Option<Push> {
    tokio::time::timeout(wait, reg.rx.recv())
        .await
        .ok()
        .and_then(Result::ok)
}

/// Frames from `from` to `device` until one arrives (the subscription is live).
async fn frames_flow(from: &Hub, device: DeviceId, reg: &mut Registration, wait: Duration) {
    let probe = Push::Frame(Arc::from(r#"{"type":"probe"}"#));
    let deadline = tokio::time::Instant::now() + wait;
    while tokio::time::Instant::now() < deadline {
        from.push(&device, &probe);
        if let Some(Push::Frame(_)) = next(reg, Duration::from_millis(100)).await {
            return;
        }
    }
    panic!("frames never flowed to {device}");
}

/// A node's hub on the NATS server at `url` (with `store`, it closes ended sessions after a
/// reconnect or a gap).
async fn node(url: &str, store: Option<Arc<dyn Store>>) -> Arc<Hub> {
    let sockets = Arc::new(Sockets::default());
    let fanout = NatsFanout::connect(url, "sotto", sockets.clone(), store)
        .await
        .unwrap();
    Arc::new(Hub::new(sockets, Arc::new(fanout)))
}

/// Within `wait`, the socket is told to re-read its queue (woken with `lagged` set), and then
/// closed because its session is not in the store.
async fn re_read_then_closed(reg: &mut Registration, wait: Duration, after: &str) {
    let mut woken = false;
    let deadline = tokio::time::Instant::now() + wait;
    while tokio::time::Instant::now() < deadline && !woken {
        if let Some(Push::Wake) = next(reg, Duration::from_millis(100)).await {
            woken = reg.lagged.load(Ordering::SeqCst);
        }
    }
    assert!(woken, "no store re-read after {after}");
    tokio::time::timeout(Duration::from_secs(5), reg.close.changed())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*reg.close.borrow(), Some(CloseReason::SessionEnded));
}

#[tokio::test]
async fn nodes_reconnect_re_read_and_close_ended_sessions_after_a_nats_restart() {
    let Some(binary) = nats_server_or_skip() else {
        return;
    };
    let mut nats = Private::start(binary).await;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("t.db")).await.unwrap());

    let a = node(&nats.url(), Some(store)).await;
    let b = node(&nats.url(), None).await;

    let device = DeviceId::from_bytes([1; 32]);
    // Its session is not in A's store: as if it ended while A could not hear the close.
    let mut reg = a
        .register(UserId(1), device, SessionId([1; 16]), 64, 8)
        .unwrap();
    frames_flow(&b, device, &mut reg, Duration::from_secs(3)).await;
    while next(&mut reg, Duration::from_millis(100)).await.is_some() {}
    reg.lagged.store(false, Ordering::SeqCst);
    assert_eq!(*reg.close.borrow(), None);

    nats.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    nats.run().await;

    // Reconnected: the socket is told to re-read, and its ended session closes it.
    re_read_then_closed(&mut reg, Duration::from_secs(10), "the reconnect").await;

    // Subscriptions came back: events flow again.
    frames_flow(&b, device, &mut reg, Duration::from_secs(10)).await;
    a.fanout().stop().await;
    b.fanout().stop().await;
}

/// A TCP relay in front of one NATS server's cluster port, which the other server's route goes
/// through: cutting it closes every connection through it and refuses new ones, as a network
/// partition between the two servers would (each node stays connected to its own server).
struct Route {
    port: u16,
    open: Arc<tokio::sync::watch::Sender<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl Route {
    async fn to(target: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(tokio::sync::watch::Sender::new(true));
        let gate = open.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !*gate.borrow() {
                    continue;
                }
                let mut cut = gate.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) =
                        tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                    else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.wait_for(|open| !*open) => {}
                    }
                });
            }
        });
        Self { port, open, task }
    }

    fn cut(&self) {
        self.open.send_replace(false);
    }

    fn heal(&self) {
        self.open.send_replace(true);
    }
}

impl Drop for Route {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A partition between two NATS servers of a cluster loses what crosses it, and neither node's
/// client is told: each stays connected to its own server. When the route heals, the gap in the
/// other node's beats makes the node re-read every socket's queue and re-check its session, so
/// an envelope announced during the partition is not left waiting for the device's next
/// announcement or reconnect, and a session ended meanwhile is closed.
#[tokio::test]
async fn a_partition_inside_the_nats_cluster_is_noticed_by_its_beats_when_it_heals() {
    let Some(binary) = nats_server_or_skip() else {
        return;
    };
    // Server 2 listens for routes behind the relay; server 1 routes to it through the relay.
    let cluster_2 = free_port();
    let route = Route::to(cluster_2).await;
    let nats_2 = Private::start_with(
        binary.clone(),
        &[
            "--cluster_name",
            "t",
            "--cluster",
            &format!("nats://127.0.0.1:{cluster_2}"),
        ],
    )
    .await;
    let nats_1 = Private::start_with(
        binary,
        &[
            "--cluster_name",
            "t",
            "--cluster",
            &format!("nats://127.0.0.1:{}", free_port()),
            "--routes",
            &format!("nats://127.0.0.1:{}", route.port),
        ],
    )
    .await;

    let a = node(&nats_1.url(), None).await;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("t.db")).await.unwrap());
    let b = node(&nats_2.url(), Some(store)).await;

    // A socket on B; its session is not in B's store (it ends during the partition, and the
    // close published on A's side never crosses).
    let device = DeviceId::from_bytes([1; 32]);
    let mut reg = b
        .register(UserId(1), device, SessionId([1; 16]), 64, 8)
        .unwrap();
    frames_flow(&a, device, &mut reg, Duration::from_secs(15)).await;
    // A few beats of A's heard in order: nothing to re-read while the route holds.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    while next(&mut reg, Duration::from_millis(100)).await.is_some() {}
    reg.lagged.store(false, Ordering::SeqCst);

    route.cut();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // What A announces now is lost, and B is told nothing.
    let lost = Push::Frame(Arc::from(r#"{"type":"lost"}"#));
    for _ in 0..5 {
        a.push(&device, &lost);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        next(&mut reg, Duration::from_millis(500)).await.is_none(),
        "the partition let an event through"
    );
    assert!(!reg.lagged.load(Ordering::SeqCst));
    assert_eq!(*reg.close.borrow(), None);

    route.heal();
    re_read_then_closed(&mut reg, Duration::from_secs(15), "the partition healed").await;
    a.fanout().stop().await;
    b.fanout().stop().await;
}
