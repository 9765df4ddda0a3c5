//! The NATS fan-out across a restart of the NATS server: a node reconnects by itself, its
//! sockets re-read the store (announcements may have been lost), sockets whose session ended
//! meanwhile are closed, and events flow again. Runs its own `nats-server` on a free loopback
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

/// A private NATS server; killed on drop.
struct Private {
    binary: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Private {
    async fn start(binary: PathBuf) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Self {
            binary,
            port,
            child: None,
        };
        server.run().await;
        server
    }

    async fn run(&mut self) {
        let child = Command::new(&self.binary)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
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
        .flatten()
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

#[tokio::test]
async fn nodes_reconnect_re_read_and_close_ended_sessions_after_a_nats_restart() {
    if services::url(services::NATS_VAR).is_none() {
        return;
    }
    let Some(binary) = nats_server_binary() else {
        services::missing("no nats-server binary on PATH or at /usr/sbin/nats-server");
        return;
    };
    let mut nats = Private::start(binary).await;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("t.db")).await.unwrap());

    let sockets = Arc::new(Sockets::default());
    let fanout = NatsFanout::connect(&nats.url(), "sotto", sockets.clone(), Some(store))
        .await
        .unwrap();
    let a = Arc::new(Hub::new(sockets, Arc::new(fanout)));
    let sockets = Arc::new(Sockets::default());
    let fanout = NatsFanout::connect(&nats.url(), "sotto", sockets.clone(), None)
        .await
        .unwrap();
    let b = Arc::new(Hub::new(sockets, Arc::new(fanout)));

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
    let mut woken = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline && !woken {
        if let Some(Push::Wake) = next(&mut reg, Duration::from_millis(100)).await {
            woken = reg.lagged.load(Ordering::SeqCst);
        }
    }
    assert!(woken, "no store re-read after the reconnect");
    tokio::time::timeout(Duration::from_secs(5), reg.close.changed())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*reg.close.borrow(), Some(CloseReason::SessionEnded));

    // Subscriptions came back: events flow again.
    frames_flow(&b, device, &mut reg, Duration::from_secs(10)).await;
    a.fanout().stop().await;
    b.fanout().stop().await;
}
