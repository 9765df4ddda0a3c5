//! A node's PostgreSQL pool against PostgreSQL's connection limit (`database_pool_size`,
//! docs/scaling.md): `sotto-server check` fails when not even one node's pool fits under
//! `max_connections` and otherwise says how many nodes fit; a node that starts without room
//! for its whole pool warns with the figures, and serves. Runs when `SOTTO_TEST_DATABASE_URL`
//! is set (in CI it must be).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sotto_server::config::Config;
use sotto_server::ops;

/// The largest pool a node accepts.
const LARGEST_POOL: u32 = 1000;

/// `max_connections` less the superusers' reserve, on the test database.
async fn usable_connections(url: &str) -> i64 {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sotto_server::store::postgres::ConnectionRoom::read(&mut conn)
        .await
        .unwrap()
        .usable()
}

/// What `check` prints for `config`, whether or not a check failed.
async fn check(config: &Config) -> String {
    match ops::check::run(config).await {
        Ok(text) => text,
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn check_refuses_a_pool_postgresql_cannot_hold_and_counts_the_nodes_it_can() {
    let Some(pg) = support::pg::Schema::fresh().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let usable = usable_connections(&pg.url).await;
    let config = |pool_size: u32| Config {
        data_dir: dir.path().to_path_buf(),
        database_url: Some(pg.url.clone()),
        database_schema: Some(pg.name.clone()),
        database_pool_size: pool_size,
        ..Config::default()
    };

    let fits = check(&config(16)).await;
    assert!(!fits.contains("FAIL  PostgreSQL"), "{fits}");
    let nodes = usable / 16;
    assert!(
        fits.contains(&format!("PostgreSQL allows {usable} connections"))
            && fits.contains(&format!("so {nodes} nodes at most")),
        "{fits}"
    );

    if usable < i64::from(LARGEST_POOL) {
        let refused = check(&config(LARGEST_POOL)).await;
        assert!(
            refused.contains(&format!(
                "FAIL  PostgreSQL allows {usable} connections (max_connections"
            )) && refused.contains("one node may open 1000 (database_pool_size)")
                && refused.contains("raise max_connections"),
            "{refused}"
        );
    }
    pg.drop().await;
}

#[tokio::test]
async fn a_node_without_room_for_its_pool_warns_at_start_with_the_figures_and_serves() {
    let Some(pg) = support::pg::Schema::fresh().await else {
        return;
    };
    if usable_connections(&pg.url).await >= i64::from(LARGEST_POOL) {
        // No pool a node accepts can outgrow this PostgreSQL.
        pg.drop().await;
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut node = Command::new(env!("CARGO_BIN_EXE_sotto-server"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .env("SOTTO_LOG", "warn")
        .env("NO_COLOR", "1")
        .env("SOTTO_DATABASE_URL", &pg.url)
        .env("SOTTO_DATABASE_SCHEMA", &pg.name)
        .env("SOTTO_DATABASE_POOL_SIZE", LARGEST_POOL.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, seen) = mpsc::channel();
    for stream in [
        Box::new(node.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(node.stderr.take().unwrap()),
    ] {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut warned, mut listening) = (None, false);
    while !(warned.is_some() && listening) {
        let left = deadline.saturating_duration_since(Instant::now());
        match seen.recv_timeout(left) {
            Ok(line) if line.contains("raise max_connections") => warned = Some(line),
            Ok(line) if line.contains("Sotto is listening") => listening = true,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    node.kill().unwrap();
    node.wait().unwrap();
    pg.drop().await;
    let warned = warned.expect("no warning about the pool within 60 s");
    assert!(listening, "the node did not start");
    assert!(
        warned.contains("this node may open") && warned.contains("pool_size=1000"),
        "{warned}"
    );
}
