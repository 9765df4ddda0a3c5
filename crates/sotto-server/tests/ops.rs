//! The operator's commands against a real server on SQLite over TLS: `backup` (the real binary,
//! a separate process) while several senders keep writing, then `restore` into a fresh data
//! folder, where every envelope acknowledged before the backup began is delivered; the
//! data-folder lock refusing a second server and a restore under a running one; `restore`
//! refusing a non-Sotto file, a corrupted one, a newer schema and a database with accounts
//! (without `--force`), changing nothing; `backup` refusing an existing output; `check` passing
//! on a good folder and failing, naming the problem, on a loose key and a corrupted database;
//! a server that cannot open its database saying why.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use sotto_server::ops;
use support::*;

/// Runs the real binary with `args` on `data_dir`; (success, stdout, stderr).
fn binary(data_dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sotto-server"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("SOTTO_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What a sender saw acknowledged, with when.
type Acked = Arc<Mutex<Vec<(String, Instant)>>>;

/// Sends envelopes one after another until `stop`, recording each acknowledged one.
async fn keep_sending(
    server: &TestServer,
    person: &Person,
    conv: sotto_proto::ids::ConversationId,
    acked: Acked,
    stop: Arc<AtomicBool>,
) {
    let mut ws = connect(server, &person.api, person.keys()).await;
    let mut id = 0u64;
    while !stop.load(Ordering::Relaxed) {
        id += 1;
        let (message, envelope) = seal(person, conv, &format!("message {id}"));
        ws.send(send_frame(id, conv, message, &envelope)).await;
        loop {
            let frame = ws.next().await;
            if frame["type"] == "sent" {
                assert_eq!(frame["message_id"], message.to_string(), "{frame}");
                assert_eq!(frame["undelivered"], json!([]), "{frame}");
                acked
                    .lock()
                    .unwrap()
                    .push((message.to_string(), Instant::now()));
                break;
            }
            assert_ne!(frame["type"], "error", "{frame}");
        }
    }
}

/// Every message id `device` receives until the store has nothing more (acknowledging as it
/// goes, so delivery never pauses on the unacknowledged window).
async fn drain(server: &TestServer, person: &Person) -> BTreeSet<String> {
    let login = password_login(&server.api(), &person.account.name).await;
    let (api, _, _) = device_login(server, &login, person.keys()).await;
    let mut ws = connect(server, &api, person.keys()).await;
    let mut got = BTreeSet::new();
    let mut unacked = Vec::new();
    loop {
        match ws.next_within(Duration::from_secs(2)).await.unwrap() {
            Some(frame) if frame["type"] == "envelope" => {
                let id = frame["message_id"].as_str().unwrap().to_owned();
                unacked.push(id.clone());
                got.insert(id);
                if unacked.len() >= 64 {
                    ws.send(json!({ "type": "ack", "message_ids": unacked }))
                        .await;
                    unacked = Vec::new();
                }
            }
            Some(_) => {}
            None if unacked.is_empty() => return got,
            None => {
                ws.send(json!({ "type": "ack", "message_ids": unacked }))
                    .await;
                unacked = Vec::new();
            }
        }
    }
}

/// A server on a data folder that already holds a database (restored), with the test config.
async fn start_on(dir: tempfile::TempDir) -> TestServer {
    let config = test_config(dir.path());
    let server = sotto_server::start(config.clone()).await.unwrap();
    TestServer {
        base: format!("https://localhost:{}", server.local_addr.port()),
        cert_der: server.cert.chain[0].as_ref().to_vec(),
        server: Some(server),
        dir,
        pg: None,
        config,
    }
}

/// Every file name in `dir` (to see that a refused command left nothing behind).
fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_write_load_restores_every_envelope_acknowledged_before_it_began() {
    let server = TestServer::start().await;
    let senders = [
        onboard(&server, 0, "alice").await,
        onboard(&server, 1, "bob").await,
        onboard(&server, 2, "carol").await,
    ];
    let dave = onboard(&server, 3, "dave").await;
    let conv = create_conversation(&senders[0], &[&senders[1], &senders[2], &dave]).await;

    let acked: Acked = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let server = Arc::new(server);
    let senders = Arc::new(senders);
    let mut tasks = Vec::new();
    for i in 0..senders.len() {
        let (server, senders, acked, stop) =
            (server.clone(), senders.clone(), acked.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            keep_sending(&server, &senders[i], conv, acked, stop).await;
        }));
    }
    while acked.lock().unwrap().len() < 150 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let backup_dir = tempfile::tempdir().unwrap();
    let file = backup_dir.path().join("sotto-backup.db");
    let began = Instant::now();
    let before: BTreeSet<String> = acked
        .lock()
        .unwrap()
        .iter()
        .map(|(id, _)| id.clone())
        .collect();
    let (data_dir, file_c) = (server.dir.path().to_path_buf(), file.clone());
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        binary(&data_dir, &["backup", file_c.to_str().unwrap()])
    })
    .await
    .unwrap();
    let ended = Instant::now();
    assert!(ok, "backup failed: {err}");
    assert!(
        out.contains("backup written") && out.contains("integrity ok"),
        "{out}"
    );
    // The group-commit writer kept acknowledging while the backup ran.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let during = acked
        .iter()
        .filter(|(_, at)| *at > began && *at < ended)
        .count();
    eprintln!(
        "{} acknowledged before the backup, {during} during its {} ms, {} in all; {out}",
        before.len(),
        (ended - began).as_millis(),
        acked.len()
    );
    assert!(acked.len() > before.len(), "the senders kept going");
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);
    assert_eq!(names(backup_dir.path()).len(), 1, "no temporary file left");

    // Restore into a fresh data folder and start a server there.
    let fresh = tempfile::tempdir().unwrap();
    let config = test_config(fresh.path());
    let said = ops::restore::run(&config, &file, false).await.unwrap();
    assert!(said.contains("4 accounts"), "{said}");
    #[cfg(unix)]
    assert_eq!(mode(&fresh.path().join("sotto.db")), 0o600);
    let restored = start_on(fresh).await;
    let got = drain(&restored, &dave).await;
    let missing: Vec<_> = before.difference(&got).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged envelopes lost: {missing:?}",
        missing.len()
    );
    let sent: BTreeSet<String> = acked.iter().map(|(id, _)| id.clone()).collect();
    assert!(got.is_subset(&sent), "only envelopes that were sent");
    restored.stop().await;
    Arc::into_inner(server).unwrap().stop().await;
}

#[tokio::test]
async fn the_data_folder_lock_refuses_a_second_server_and_a_restore_until_the_server_stops() {
    let server = TestServer::start().await;
    let alice = onboard(&server, 0, "alice").await;
    let backup_dir = tempfile::tempdir().unwrap();
    let file = backup_dir.path().join("b.db");
    ops::backup::run(&server.config, &file).await.unwrap();

    let mut second = server.config.clone();
    second.listen = "127.0.0.1:0".parse().unwrap();
    let refused = sotto_server::start(second).await.unwrap_err().to_string();
    assert!(refused.contains("a Sotto server is running"), "{refused}");
    let refused = ops::restore::run(&server.config, &file, true)
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("a Sotto server is running"), "{refused}");
    let checked = ops::check::run(&server.config).await.unwrap();
    assert!(
        checked.contains("a server is running on this data folder"),
        "{checked}"
    );

    // Stopped: a restore over a database with accounts needs --force; the lock is free again.
    let server = {
        let dir_config = server.config.clone();
        let mut server = server;
        server.server.take().unwrap().stop().await.unwrap();
        let refused = ops::restore::run(&dir_config, &file, false)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("holds 1 accounts") && refused.contains("--force"),
            "{refused}"
        );
        let said = ops::restore::run(&dir_config, &file, true).await.unwrap();
        assert!(said.contains("1 accounts"), "{said}");
        let dir = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());
        start_on(dir).await
    };
    // The restored account logs in on the restarted server.
    let login = password_login(&server.api(), "alice").await;
    let (api, _, _) = device_login(&server, &login, alice.keys()).await;
    let _ws = connect(&server, &api, alice.keys()).await;
    server.stop().await;
}

#[tokio::test]
async fn restore_refuses_a_foreign_a_corrupted_or_a_newer_file_and_changes_nothing() {
    let server = TestServer::start().await;
    onboard(&server, 0, "alice").await;
    let backup_dir = tempfile::tempdir().unwrap();
    let good = backup_dir.path().join("good.db");
    ops::backup::run(&server.config, &good).await.unwrap();
    let config = server.config.clone();
    let data_dir = server.dir.path().to_path_buf();
    let server = {
        let mut server = server;
        server.server.take().unwrap().stop().await.unwrap();
        server
    };
    let db = data_dir.join("sotto.db");
    let db_before = std::fs::read(&db).unwrap();
    let files_before = names(&data_dir);

    // Not SQLite at all; SQLite but not Sotto's; damaged pages; a schema from the future.
    let foreign = backup_dir.path().join("notes.txt");
    std::fs::write(&foreign, "not a database\n".repeat(500)).unwrap();
    let other = backup_dir.path().join("other.db");
    {
        let conn = rusqlite::Connection::open(&other).unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
    }
    let corrupted = backup_dir.path().join("corrupted.db");
    let mut bytes = std::fs::read(&good).unwrap();
    let page = 4096;
    assert!(bytes.len() > 4 * page);
    for start in (page..bytes.len()).step_by(page) {
        for b in &mut bytes[start..start + 64] {
            *b = 0xA5;
        }
    }
    std::fs::write(&corrupted, &bytes).unwrap();
    let newer = backup_dir.path().join("newer.db");
    std::fs::copy(&good, &newer).unwrap();
    {
        let conn = rusqlite::Connection::open(&newer).unwrap();
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'x', 0)",
            [],
        )
        .unwrap();
    }
    for (file, says) in [
        (&foreign, "not a usable Sotto backup"),
        (&other, "not a Sotto database"),
        (&corrupted, "not a usable Sotto backup"),
        (&newer, "newer than this server's"),
    ] {
        for force in [false, true] {
            let refused = ops::restore::run(&config, file, force)
                .await
                .unwrap_err()
                .to_string();
            assert!(refused.contains(says), "{}: {refused}", file.display());
            assert!(refused.contains("nothing was changed"), "{refused}");
        }
    }
    assert_eq!(
        std::fs::read(&db).unwrap(),
        db_before,
        "the database is untouched"
    );
    assert_eq!(names(&data_dir), files_before, "nothing left behind");
    // The good backup still restores (with --force: the database holds an account).
    ops::restore::run(&config, &good, true).await.unwrap();
    drop(server);
}

#[tokio::test]
async fn backup_refuses_an_existing_output_and_leaves_it_alone() {
    let server = TestServer::start().await;
    let backup_dir = tempfile::tempdir().unwrap();
    let file = backup_dir.path().join("taken.db");
    std::fs::write(&file, b"precious").unwrap();
    let refused = ops::backup::run(&server.config, &file)
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("exists"), "{refused}");
    assert_eq!(std::fs::read(&file).unwrap(), b"precious");
    assert_eq!(names(backup_dir.path()).len(), 1);
    // The binary says the same and exits non-zero.
    let (ok, _, err) = binary(server.dir.path(), &["backup", file.to_str().unwrap()]);
    assert!(!ok && err.contains("exists"), "{err}");
    server.stop().await;
}

#[tokio::test]
async fn check_passes_on_a_good_folder_and_names_a_loose_key_and_a_corrupted_database() {
    let server = TestServer::start().await;
    onboard(&server, 0, "alice").await;
    let dir: PathBuf = server.dir.path().to_path_buf();
    let (ok, out, err) = binary(&dir, &["check"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("all checks passed") && !out.contains("FAIL"),
        "{out}"
    );
    assert!(out.contains("passes its integrity check"), "{out}");
    assert!(out.contains("migrations: all"), "{out}");
    let config = server.config.clone();
    let mut server = server;
    server.server.take().unwrap().stop().await.unwrap();

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = dir.join("tls/key.pem");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (ok, _, err) = binary(&dir, &["check"]);
        assert!(!ok, "a loose key fails the check");
        assert!(
            err.contains("FAIL  TLS key") && err.contains("mode 644"),
            "{err}"
        );
        assert!(err.contains("chmod 600"), "{err}");
        // check changes nothing: the key is still loose.
        assert_eq!(mode(&key), 0o644);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    // Damage the database's pages (the header stays, so it still opens).
    let db = dir.join("sotto.db");
    let mut bytes = std::fs::read(&db).unwrap();
    for start in (4096..bytes.len()).step_by(4096) {
        for b in &mut bytes[start..start + 64] {
            *b = 0xA5;
        }
    }
    std::fs::write(&db, &bytes).unwrap();
    let refused = ops::check::run(&config).await.unwrap_err().to_string();
    assert!(refused.contains("FAIL  database"), "{refused}");
    assert!(refused.contains("restore the latest backup"), "{refused}");
    drop(server);
}

#[test]
fn a_server_that_cannot_open_its_database_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sotto-server"))
        .args(["--data-dir"])
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .env("SOTTO_LOG", "warn")
        .env(
            "SOTTO_DATABASE_URL",
            "postgres://no_such_role_here:unused-secret@127.0.0.1:5432/test",
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    // The database's own reason, or the pool's when no PostgreSQL listens here.
    assert!(
        stderr.contains("sotto-server: database error: ")
            && (stderr.contains(r#"role "no_such_role_here" does not exist"#)
                || stderr.contains("timed out")),
        "{stderr}"
    );
    assert!(!stderr.contains("unused-secret"), "{stderr}");
}
