//! Recovery over real TLS (docs/protocol.md §14–§15; docs/api.md "Recovery"): a set-up and its
//! backup items, uploaded idempotently within the caps; an unlock with the right access key
//! pages the items; a wrong key and a missing set-up get the same `403 recovery_rejected`;
//! failed unlocks are throttled while successes cost nothing; a new set-up deletes the old
//! items; and the database never holds the backup's plaintext, the backup key, the access key
//! or the master key.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sotto_proto::backup::{BackupItem, BackupItemId};
use sotto_proto::bundle::{KeyBundle, MasterKeyRecord, PinRecord, Record};
use sotto_proto::recovery::{RecoveryId, RecoveryKey, RecoveryKeys, RecoverySecret};
use sotto_proto::{Env, SystemRng};
use support::*;
use zeroize::Zeroizing;

/// The username a Pin record carries in the planted-secret test: plaintext only the backup key
/// opens.
const MARKER: &str = "planted-backup-marker-5d2e";

/// A recovery-key set-up of `person`'s account: the key, its derived keys and the recovery id.
struct SetUp {
    keys: RecoveryKeys,
    recovery_id: RecoveryId,
}

fn new_setup(person: &Person) -> SetUp {
    let mut rng = SystemRng::new();
    let mut env = Env::new(now(), &mut rng);
    let key = RecoveryKey::generate(&mut env).unwrap();
    let recovery_id = RecoveryId::generate(&mut env).unwrap();
    let keys = RecoveryKeys::derive(
        &RecoverySecret::from_key(&key),
        person.account.master.account(),
        recovery_id,
    )
    .unwrap();
    SetUp { keys, recovery_id }
}

/// `PUT /v1/recovery` for `setup`.
async fn put_setup(person: &Person, setup: &SetUp) -> (StatusCode, Value) {
    person
        .api
        .put(
            "/v1/recovery",
            json!({
                "recovery_id": b64(setup.recovery_id.as_bytes()),
                "method": "key",
                "salt": null,
                "verifier": b64(&setup.keys.verifier()),
            }),
        )
        .await
}

/// A real backup item of `person` under `setup`, holding `records`.
fn item(person: &Person, setup: &SetUp, records: Vec<Record>) -> Vec<u8> {
    let mut rng = SystemRng::new();
    let mut env = Env::new(now(), &mut rng);
    BackupItem::seal(
        setup.keys.backup_key(),
        person.account.master.account(),
        setup.recovery_id,
        BackupItemId::generate(&mut env).unwrap(),
        person.keys(),
        &person.device().certificate,
        now(),
        &KeyBundle::new(records),
    )
    .unwrap()
    .encode()
}

/// A Pin record naming `username`.
fn pin(person: &Person, username: &str) -> Record {
    Record::Pin(PinRecord {
        account: person.account.master.account(),
        username: username.to_owned(),
        verified: true,
    })
}

/// The MasterKey record of `person`'s account.
fn master_record(slot: usize) -> Record {
    let pkcs8 = Zeroizing::new(sotto_proto::testing::fixed_pkcs8(4 * slot));
    Record::MasterKey(MasterKeyRecord::new(pkcs8).unwrap())
}

async fn upload(person: &Person, items: &[Vec<u8>]) -> (StatusCode, Value) {
    let items: Vec<String> = items.iter().map(|i| b64(i)).collect();
    person
        .api
        .post("/v1/recovery/items", json!({ "items": items }))
        .await
}

async fn unlock(api: &Api, access: &[u8], after: i64) -> (StatusCode, Value) {
    api.post(
        "/v1/recovery/unlock",
        json!({ "access": b64(access), "after": after }),
    )
    .await
}

#[tokio::test]
async fn a_set_up_stores_items_once_and_the_right_key_pages_them_back() {
    let server = TestServer::start().await;
    let alice = onboard(&server, 0, "alice").await;
    let (status, body) = alice.api.get("/v1/recovery").await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({ "configured": false }))
    );
    let setup = new_setup(&alice);
    let (status, body) = put_setup(&alice, &setup).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let items: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            let mut records = vec![pin(&alice, &format!("friend{i}"))];
            if i == 0 {
                records.push(master_record(0));
            }
            item(&alice, &setup, records)
        })
        .collect();
    let (status, body) = upload(&alice, &items).await;
    assert_eq!(
        (status, body["stored"].as_u64()),
        (StatusCode::OK, Some(3)),
        "{body}"
    );
    // A retry (the answer was lost) stores nothing twice.
    let (status, body) = upload(&alice, &items).await;
    assert_eq!(
        (status, body["stored"].as_u64()),
        (StatusCode::OK, Some(0)),
        "{body}"
    );
    let (_, status_view) = alice.api.get("/v1/recovery").await;
    assert_eq!(status_view["configured"], true);
    assert_eq!(status_view["method"], "key");
    assert_eq!(status_view["salt"], Value::Null);
    assert_eq!(status_view["items"], 3);
    assert_eq!(
        unb64(status_view["recovery_id"].as_str().unwrap()),
        setup.recovery_id.as_bytes().to_vec()
    );

    // A recovering device, logged in by password only, unlocks with the access key.
    let login = password_login(&server.api(), "alice").await;
    let (status, _) = login.get("/v1/recovery").await;
    assert_eq!(status, StatusCode::OK);
    let access = setup.keys.access_key().danger_bytes().to_vec();
    let (status, page) = unlock(&login, &access, 0).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let got: Vec<Vec<u8>> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| unb64(i["item"].as_str().unwrap()))
        .collect();
    assert_eq!(got, items, "in upload order");
    assert_eq!(page["next"], Value::Null);
    let second = page["items"][1]["seq"].as_i64().unwrap();
    let (_, rest) = unlock(&login, &access, second).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);

    // Items of another account, of another set-up, or not items at all are refused.
    let bob = onboard(&server, 1, "bob").await;
    let bobs = item(&bob, &new_setup(&bob), vec![pin(&bob, "x")]);
    let (status, body) = upload(&alice, &[bobs]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("rejected"))
    );
    let stale = item(&alice, &new_setup(&alice), vec![pin(&alice, "x")]);
    let (status, body) = upload(&alice, &[stale]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
    let (status, body) = upload(&alice, &[b"not an item".to_vec()]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let many: Vec<Vec<u8>> = (0..65).map(|_| b"x".to_vec()).collect();
    let (status, _) = upload(&alice, &many).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Only a device session sets recovery up or uploads.
    let (status, _) = upload_with(&login, &items).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A new set-up replaces the old one and deletes its items.
    let again = new_setup(&alice);
    let (status, _) = put_setup(&alice, &again).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, view) = alice.api.get("/v1/recovery").await;
    assert_eq!(view["items"], 0);
    let (status, body) = unlock(&login, &access, 0).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("recovery_rejected"))
    );
    let new_access = again.keys.access_key().danger_bytes().to_vec();
    let (status, page) = unlock(&login, &new_access, 0).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page["items"].as_array().unwrap().is_empty());

    // Turned off: everything goes.
    let (status, _) = alice
        .api
        .call(reqwest::Method::DELETE, "/v1/recovery", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, view) = alice.api.get("/v1/recovery").await;
    assert_eq!(view, json!({ "configured": false }));
    server.stop().await;
}

async fn upload_with(api: &Api, items: &[Vec<u8>]) -> (StatusCode, Value) {
    let items: Vec<String> = items.iter().map(|i| b64(i)).collect();
    api.post("/v1/recovery/items", json!({ "items": items }))
        .await
}

#[tokio::test]
async fn a_salt_comes_exactly_with_a_passphrase() {
    let server = TestServer::start().await;
    let alice = onboard(&server, 0, "alice").await;
    let put = |method: &str, salt: Value| {
        json!({
            "recovery_id": b64(&[1; 16]),
            "method": method,
            "salt": salt,
            "verifier": b64(&[2; 32]),
        })
    };
    for bad in [
        put("key", json!(b64(&[3; 16]))),
        put("passphrase", Value::Null),
    ] {
        let (status, body) = alice.api.put("/v1/recovery", bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let (status, _) = alice
        .api
        .put("/v1/recovery", put("passphrase", json!(b64(&[3; 16]))))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, view) = alice.api.get("/v1/recovery").await;
    assert_eq!(view["method"], "passphrase");
    assert_eq!(unb64(view["salt"].as_str().unwrap()), vec![3; 16]);
    server.stop().await;
}

/// A wrong key and an account without recovery look the same; five failures an hour per
/// account, then `429` with `Retry-After`, checked before the key; a success costs nothing.
#[tokio::test]
async fn wrong_keys_are_refused_alike_and_throttled_but_successes_are_free() {
    let server = TestServer::start().await;
    let alice = onboard(&server, 0, "alice").await;
    let bob = onboard(&server, 1, "bob").await;
    let setup = new_setup(&alice);
    put_setup(&alice, &setup).await;
    let right = setup.keys.access_key().danger_bytes().to_vec();
    let wrong = vec![0x42; 32];

    let (status, no_setup) = unlock(&bob.api, &wrong, 0).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, wrong_key) = unlock(&alice.api, &wrong, 0).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(no_setup, wrong_key, "one answer for both");
    assert_eq!(wrong_key["error"], "recovery_rejected");

    // Successes in between do not count.
    for _ in 0..10 {
        let (status, _) = unlock(&alice.api, &right, 0).await;
        assert_eq!(status, StatusCode::OK);
    }
    for _ in 0..4 {
        let (status, _) = unlock(&alice.api, &wrong, 0).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let resp = alice
        .api
        .client
        .post(format!("{}/v1/recovery/unlock", alice.api.base))
        .bearer_auth(alice.api.token.as_ref().unwrap())
        .json(&json!({ "access": b64(&right) }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right key, now"
    );
    let wait: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((600..=720).contains(&wait), "{wait}");
    // Bob's account has its own allowance (one failure so far), on the same address.
    let (status, _) = unlock(&bob.api, &wrong, 0).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Malformed access keys are refused before anything is counted.
    let (status, _) = unlock(&bob.api, &[1; 31], 0).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    server.stop().await;
}

/// Guesses sent all at once get no more tries than guesses sent one by one: each attempt is
/// judged only after the one before it recorded its failure.
#[tokio::test]
async fn a_burst_of_wrong_keys_sent_at_once_gets_five_tries_not_more() {
    let server = TestServer::start().await;
    let alice = onboard(&server, 0, "alice").await;
    let setup = new_setup(&alice);
    put_setup(&alice, &setup).await;
    let guesses: Vec<Vec<u8>> = (0u8..30).map(|i| vec![i; 32]).collect();
    let answers =
        futures_util::future::join_all(guesses.iter().map(|g| unlock(&alice.api, g, 0))).await;
    let refused = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::FORBIDDEN)
        .count();
    let throttled = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((refused, throttled), (5, 25), "{answers:?}");
    server.stop().await;
}

/// Past either cap an upload stores nothing.
#[tokio::test]
async fn the_backup_caps_refuse_what_would_pass_them() {
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.limits.max_backup_items_per_account = 2;
    })
    .await
    .unwrap();
    let alice = onboard(&server, 0, "alice").await;
    let setup = new_setup(&alice);
    put_setup(&alice, &setup).await;
    let items: Vec<Vec<u8>> = (0..3)
        .map(|i| item(&alice, &setup, vec![pin(&alice, &format!("f{i}"))]))
        .collect();
    let (status, body) = upload(&alice, &items).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("capacity"))
    );
    let (_, view) = alice.api.get("/v1/recovery").await;
    assert_eq!(view["items"], 0);
    let (status, _) = upload(&alice, &items[..2]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = upload(&alice, &items[2..]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    server.stop().await;

    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.limits.max_backup_bytes_per_account = 1000;
    })
    .await
    .unwrap();
    let alice = onboard(&server, 0, "alice").await;
    let setup = new_setup(&alice);
    put_setup(&alice, &setup).await;
    let big = item(&alice, &setup, vec![pin(&alice, "f")]);
    assert!(
        big.len() > 1000,
        "an item carries a certificate: {}",
        big.len()
    );
    let (status, body) = upload(&alice, &[big]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("capacity"))
    );
    server.stop().await;
}

/// Planted secrets: the backup's plaintext (a marker username), the backup key, the access key
/// and the master key's PKCS#8 appear nowhere in the database file or its WAL.
#[tokio::test]
async fn the_database_holds_no_backup_plaintext_and_no_recovery_key_material() {
    let server = TestServer::start().await;
    let alice = onboard(&server, 0, "alice").await;
    let setup = new_setup(&alice);
    put_setup(&alice, &setup).await;
    let items = vec![item(
        &alice,
        &setup,
        vec![master_record(0), pin(&alice, MARKER)],
    )];
    let (status, _) = upload(&alice, &items).await;
    assert_eq!(status, StatusCode::OK);
    let access = setup.keys.access_key().danger_bytes().to_vec();
    let (status, _) = unlock(&alice.api, &access, 0).await;
    assert_eq!(status, StatusCode::OK);

    let master = sotto_proto::testing::fixed_pkcs8(0);
    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("marker", MARKER.as_bytes().to_vec()),
        (
            "backup key",
            setup.keys.backup_key().danger_bytes().to_vec(),
        ),
        ("access key", access.clone()),
        // Slices of the private parts of the PKCS#8 (its modulus is public and stored as the
        // account's master key): inside the private exponent, and the CRT coefficient at the end.
        ("master key (private exponent)", master[500..564].to_vec()),
        (
            "master key (CRT coefficient)",
            master[master.len() - 64..].to_vec(),
        ),
    ];
    let mut scanned = 0;
    // The scan does find what is stored: the verifier is kept as is.
    let verifier = setup.keys.verifier();
    let mut verifier_seen = false;
    for entry in std::fs::read_dir(server.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        verifier_seen |= bytes.windows(32).any(|w| w == verifier.as_slice());
        for (what, secret) in &secrets {
            let hex_form = hex::encode(secret);
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_slice())
                || String::from_utf8_lossy(&bytes).contains(&hex_form);
            assert!(!found, "{what} found in {}", path.display());
        }
        scanned += 1;
    }
    assert!(scanned >= 2, "the database and its WAL");
    assert!(verifier_seen, "the scan reads the stored rows");
    // The item itself is there, as ciphertext.
    let stored = server
        .state()
        .store
        .backup_items(alice_user(&server).await, 0, 10)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    server.stop().await;
}

async fn alice_user(server: &TestServer) -> sotto_server::store::UserId {
    server
        .state()
        .store
        .user_by_name("alice")
        .await
        .unwrap()
        .unwrap()
        .id
}
