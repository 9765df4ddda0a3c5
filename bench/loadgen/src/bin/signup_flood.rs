//! Honest login latency under a sign-up flood from one address (`bench/README.md`, "Sign-up
//! flood").
//!
//! Starts a `sotto-server` binary with production defaults (Argon2id 64 MiB, 3 passes, default
//! limits) on a loopback port, registers `honest` from 127.0.0.2, times logins from 127.0.0.2
//! with nobody else about, then again while 200 connections from 127.0.0.1 post
//! `POST /v1/accounts` back to back (fresh names and a taken one, alternately), and prints the
//! medians, the slowest login and what the flood was answered.
//!
//! ```sh
//! cargo build -p sotto-server -p sotto-loadgen
//! target/debug/signup_flood [SERVER_BIN] [SECONDS]   # defaults: target/debug/sotto-server, 20
//! ```
//!
//! The server binary is an argument so the same run can measure another build of the server
//! (an older one, for a before/after figure).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

const CONNECTIONS: usize = 200;
const PASSWORD: &str = "correct horse battery staple";

fn client(from: [u8; 4], server: SocketAddr, cert: &reqwest::Certificate) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(from))
        .resolve("localhost", server)
        .tls_certs_only([cert.clone()])
        .https_only(true)
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

async fn post(client: &reqwest::Client, url: &str, body: serde_json::Value) -> (u16, Duration) {
    let started = Instant::now();
    match client.post(url).json(&body).send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let _ = resp.bytes().await;
            (status, started.elapsed())
        }
        Err(_) => (0, started.elapsed()),
    }
}

fn summary(mut samples: Vec<Duration>) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let each: Vec<String> = samples.iter().map(|d| format!("{:.0}", ms(*d))).collect();
    samples.sort();
    format!(
        "n={} median={:.0} ms max={:.0} ms (each, ms: {})",
        samples.len(),
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() - 1]),
        each.join(" ")
    )
}

async fn logins(client: &reqwest::Client, base: &str, until: Instant) -> Vec<Duration> {
    let mut times = Vec::new();
    while Instant::now() < until || times.is_empty() {
        let (status, elapsed) = post(
            client,
            &format!("{base}/v1/auth/login"),
            json!({ "username": "honest", "password": PASSWORD }),
        )
        .await;
        assert_eq!(status, 200, "honest login");
        times.push(elapsed);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    times
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let bin = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "target/debug/sotto-server".to_owned()),
    );
    let seconds: u64 = args.next().map_or(20, |s| s.parse().expect("SECONDS"));
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let config = dir.path().join("sotto.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"{addr}\"\ndata_dir = \"{}\"\nlog = \"warn\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let mut server = tokio::process::Command::new(&bin)
        .arg("--config")
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the server");
    let cert_path = dir.path().join("tls/cert.pem");
    for _ in 0..600 {
        if cert_path.exists() && tokio::net::TcpStream::connect(addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cert = reqwest::Certificate::from_pem(&std::fs::read(&cert_path).unwrap()).unwrap();
    let base = format!("https://localhost:{port}");
    let honest = client([127, 0, 0, 2], addr, &cert);
    let (status, _) = post(
        &honest,
        &format!("{base}/v1/accounts"),
        json!({ "username": "honest", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 201, "registering honest");

    let quiet = logins(&honest, &base, Instant::now() + Duration::from_secs(5)).await;
    println!("server: {}", bin.display());
    println!("honest login, quiet:       {}", summary(quiet));

    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let flooder = client([127, 0, 0, 1], addr, &cert);
        let stop = stop.clone();
        let url = format!("{base}/v1/accounts");
        tasks.push(tokio::spawn(async move {
            let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let username = if (c + n) % 2 == 0 {
                    format!("flood{c}x{n}")
                } else {
                    "honest".to_owned()
                };
                n += 1;
                let (status, _) = post(
                    &flooder,
                    &url,
                    json!({ "username": username, "password": PASSWORD }),
                )
                .await;
                *statuses.entry(status).or_default() += 1;
            }
            statuses
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let during = logins(&honest, &base, started + Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut answers: BTreeMap<u16, usize> = BTreeMap::new();
    for task in tasks {
        for (status, n) in task.await.unwrap() {
            *answers.entry(status).or_default() += n;
        }
    }
    let flood_secs = started.elapsed().as_secs_f64();
    println!("honest login, under flood: {}", summary(during));
    println!("flood: {flood_secs:.1} s, answers by status (0 = no answer): {answers:?}");
    let _ = server.kill().await;
}
