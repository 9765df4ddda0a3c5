//! One-time prekeys over real TLS (docs/protocol.md §18.4; docs/api.md "Prekeys"), on SQLite
//! and PostgreSQL: a device uploads signed prekeys and reads its count; a claim hands each
//! prekey out once, oldest first, also to claimers racing on one node or on two nodes of one
//! database; only the device's own account and accounts sharing a conversation get one; a
//! forged or malformed prekey stores nothing; the per-device cap, a re-key's replace, a
//! revocation and the per-account claim limit.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{json, Value};
use sotto_proto::crypto::prekey::PrekeyPair;
use sotto_proto::ids::{AccountId, DeviceId, PrekeyId};
use sotto_proto::prekey::OneTimePrekey;
use sotto_proto::signed::Signed;
use sotto_proto::testing::TestDevice;
use sotto_proto::Timestamp;
use support::*;

/// A fresh prekey pair (random id).
fn pair() -> PrekeyPair {
    let id = PrekeyId::from_bytes(sotto_server::auth::tokens::random().unwrap());
    PrekeyPair::generate(id).unwrap()
}

/// A one-time prekey body (`sotto/prekey`, version 2) with fresh keys, signed by `signer` and
/// naming `account` and `device` (the signer's own unless a test forges).
fn prekey_named(signer: &TestDevice, account: AccountId, device: DeviceId) -> Vec<u8> {
    let body = OneTimePrekey {
        account,
        device,
        created_at: now(),
        public: pair().public().clone(),
    };
    Signed::sign(body.encode(), signer.keys.signing())
        .unwrap()
        .encode()
}

/// A valid prekey of `person`'s device, made as a device makes one.
fn prekey(person: &Person) -> Vec<u8> {
    person
        .keys()
        .sign_one_time_prekey(person.account.master.account(), pair().public(), now())
        .unwrap()
        .encode()
}

async fn upload(api: &Api, prekeys: &[Vec<u8>], replace: bool) -> (StatusCode, Value) {
    let prekeys: Vec<String> = prekeys.iter().map(|p| b64(p)).collect();
    api.post(
        "/v1/devices/current/prekeys",
        json!({ "prekeys": prekeys, "replace": replace }),
    )
    .await
}

async fn remaining(api: &Api) -> u64 {
    let (status, body) = api.get("/v1/devices/current/prekeys").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["remaining"].as_u64().unwrap()
}

/// Claims one prekey of `device`; its bytes or `None`.
async fn claim_one(api: &Api, device: DeviceId) -> Option<Vec<u8>> {
    let (status, body) = api
        .post("/v1/prekeys/claim", json!({ "devices": [dev(device)] }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer = &body["prekeys"][dev(device)];
    assert!(answer.is_null() || answer.is_string(), "{body}");
    answer.as_str().map(unb64)
}

async fn start(backend: Backend) -> Option<TestServer> {
    TestServer::start_with(backend, |_| {}).await
}

async fn each_prekey_is_handed_out_once_oldest_first(backend: Backend) {
    let Some(server) = start(backend).await else {
        return;
    };
    let alice = onboard(&server, 0, "alice").await;
    let bob = onboard(&server, 1, "bob").await;
    create_conversation(&alice, &[&bob]).await;

    assert_eq!(remaining(&bob.api).await, 0);
    let batch: Vec<Vec<u8>> = (1..=3).map(|_| prekey(&bob)).collect();
    let (status, body) = upload(&bob.api, &batch, false).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["remaining"], 3);
    // The same upload again (a retry whose answer was lost) stores nothing twice.
    let (status, body) = upload(&bob.api, &batch, false).await;
    assert_eq!(
        (status, body["remaining"].as_u64()),
        (StatusCode::OK, Some(3))
    );
    assert_eq!(remaining(&bob.api).await, 3);

    let bob_device = bob.keys().device();
    for expected in &batch {
        // (Compared without printing: a prekey is 1.8 KB.)
        assert!(claim_one(&alice.api, bob_device).await.as_ref() == Some(expected));
    }
    assert_eq!(remaining(&bob.api).await, 0);
    assert_eq!(claim_one(&alice.api, bob_device).await, None);

    // A device named twice is claimed once; an unknown device is null.
    let more = [prekey(&bob), prekey(&bob)];
    upload(&bob.api, &more, false).await;
    let unknown = DeviceId::from_bytes([7; 32]);
    let (status, body) = alice
        .api
        .post(
            "/v1/prekeys/claim",
            json!({ "devices": [dev(bob_device), dev(bob_device), dev(unknown)] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answers = body["prekeys"].as_object().unwrap();
    assert_eq!(answers.len(), 2, "{body}");
    assert!(answers[&dev(bob_device)].as_str().map(unb64) == Some(more[0].clone()));
    assert!(answers[&dev(unknown)].is_null());
    assert_eq!(remaining(&bob.api).await, 1);
}

#[tokio::test]
async fn each_prekey_is_handed_out_once_oldest_first_sqlite() {
    each_prekey_is_handed_out_once_oldest_first(Backend::Sqlite).await;
}

#[tokio::test]
async fn each_prekey_is_handed_out_once_oldest_first_postgres() {
    each_prekey_is_handed_out_once_oldest_first(Backend::Postgres).await;
}

/// `claimers` claims of `device` at once through `apis` (round robin); the prekeys handed out.
async fn race(apis: &[Api], device: DeviceId, claimers: usize) -> (Vec<Vec<u8>>, usize) {
    let tasks: Vec<_> = (0..claimers)
        .map(|i| {
            let api = apis[i % apis.len()].clone();
            tokio::spawn(async move { claim_one(&api, device).await })
        })
        .collect();
    let mut got = Vec::new();
    let mut nulls = 0;
    for task in tasks {
        match task.await.unwrap() {
            Some(p) => got.push(p),
            None => nulls += 1,
        }
    }
    (got, nulls)
}

async fn racing_claimers_get_distinct_prekeys_and_the_rest_null(backend: Backend) {
    let Some(server) = start(backend).await else {
        return;
    };
    let alice = onboard(&server, 0, "alice").await;
    let bob = onboard(&server, 1, "bob").await;
    let carol = onboard(&server, 2, "carol").await;
    create_conversation(&alice, &[&bob, &carol]).await;
    const PREKEYS: u8 = 12;
    const CLAIMERS: usize = 40;
    let batch: Vec<Vec<u8>> = (1..=PREKEYS).map(|_| prekey(&bob)).collect();
    assert_eq!(upload(&bob.api, &batch, false).await.0, StatusCode::OK);

    let (got, nulls) = race(
        &[alice.api.clone(), carol.api.clone()],
        bob.keys().device(),
        CLAIMERS,
    )
    .await;
    let distinct: BTreeSet<&Vec<u8>> = got.iter().collect();
    assert_eq!(got.len(), usize::from(PREKEYS));
    assert_eq!(distinct.len(), usize::from(PREKEYS));
    assert!(distinct == batch.iter().collect());
    assert_eq!(nulls, CLAIMERS - usize::from(PREKEYS));
    assert_eq!(remaining(&bob.api).await, 0);
}

#[tokio::test]
async fn racing_claimers_get_distinct_prekeys_and_the_rest_null_sqlite() {
    racing_claimers_get_distinct_prekeys_and_the_rest_null(Backend::Sqlite).await;
}

#[tokio::test]
async fn racing_claimers_get_distinct_prekeys_and_the_rest_null_postgres() {
    racing_claimers_get_distinct_prekeys_and_the_rest_null(Backend::Postgres).await;
}

#[tokio::test]
async fn claimers_racing_on_two_nodes_of_one_database_get_each_prekey_once() {
    let Some(a) = start(Backend::Postgres).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut config = a.config.clone();
    config.data_dir = dir.path().to_path_buf();
    config.listen = "127.0.0.1:0".parse().unwrap();
    let server = sotto_server::start(config.clone()).await.unwrap();
    let b = TestServer {
        base: format!("https://localhost:{}", server.local_addr.port()),
        cert_der: server.cert.chain[0].as_ref().to_vec(),
        server: Some(server),
        dir,
        pg: None,
        config,
    };
    let alice = onboard(&a, 0, "alice").await;
    let bob = onboard(&a, 1, "bob").await;
    create_conversation(&alice, &[&bob]).await;
    let batch: Vec<Vec<u8>> = (1..=20).map(|_| prekey(&bob)).collect();
    assert_eq!(upload(&bob.api, &batch, false).await.0, StatusCode::OK);
    let via_b = Api {
        token: alice.api.token.clone(),
        ..b.api()
    };

    let (got, nulls) = race(&[alice.api.clone(), via_b], bob.keys().device(), 60).await;
    let distinct: BTreeSet<&Vec<u8>> = got.iter().collect();
    assert_eq!((got.len(), distinct.len(), nulls), (20, 20, 40));
    assert!(distinct == batch.iter().collect());
}

#[tokio::test]
async fn a_stranger_or_a_blocked_account_gets_null_and_takes_nothing() {
    let server = TestServer::start().await;
    let alice = onboard(&server, 0, "alice").await;
    let bob = onboard(&server, 1, "bob").await;
    let carol = onboard(&server, 2, "carol").await;
    create_conversation(&alice, &[&bob]).await;
    let stored = [prekey(&bob), prekey(&bob)];
    upload(&bob.api, &stored, false).await;
    let bob_device = bob.keys().device();

    // Carol shares no conversation with Bob.
    assert_eq!(claim_one(&carol.api, bob_device).await, None);
    assert_eq!(remaining(&bob.api).await, 2);

    // Bob's own account may claim (a device sending to its sibling).
    assert!(claim_one(&bob.api, bob_device).await == Some(stored[0].clone()));

    // Once Bob blocks Alice, she gets none either.
    let (status, body) = bob.api.put("/v1/blocks/alice", json!({})).await;
    assert!(status.is_success(), "{body}");
    assert_eq!(claim_one(&alice.api, bob_device).await, None);
    assert_eq!(remaining(&bob.api).await, 1);

    // A login session (no device) may not claim.
    let login = password_login(&server.api(), "alice").await;
    let (status, body) = login
        .post("/v1/prekeys/claim", json!({ "devices": [dev(bob_device)] }))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

#[tokio::test]
async fn a_forged_or_malformed_prekey_is_refused_and_nothing_is_stored() {
    let server = TestServer::start().await;
    let alice = onboard(&server, 0, "alice").await;
    let bob = onboard(&server, 1, "bob").await;
    let bob_account = bob.account.master.account();
    let bob_device = bob.keys().device();
    // A body Bob's device signs as it is given (the keys, time and names of a test's choice).
    let signed_by_bob = |body: OneTimePrekey| {
        Signed::sign(body.encode(), bob.keys().signing())
            .unwrap()
            .encode()
    };
    let honest = OneTimePrekey {
        account: bob_account,
        device: bob_device,
        created_at: now(),
        public: pair().public().clone(),
    };
    let mut off_curve = honest.clone();
    off_curve.public.ec = [4; 65];
    let mut bad_kem = honest.clone();
    // Every coefficient 0xfff, above q = 3329: not an ML-KEM-768 encapsulation key.
    bad_kem.public.kem = vec![0xff; 1184];
    let future = OneTimePrekey {
        created_at: now().plus(4 * Timestamp::HOUR),
        ..honest.clone()
    };
    let forged = [
        // Naming Bob's device, signed by Alice's.
        (
            prekey_named(alice.device(), bob_account, bob_device),
            "bad-signature",
        ),
        // Signed by Bob's device, naming Alice's device.
        (
            prekey_named(
                bob.device(),
                alice.account.master.account(),
                alice.keys().device(),
            ),
            "wrong-account",
        ),
        // Signed by Bob's device, naming Alice's account.
        (
            prekey_named(bob.device(), alice.account.master.account(), bob_device),
            "wrong-account",
        ),
        // Keys that are no keys, and a date four hours ahead.
        (signed_by_bob(off_curve), "prekey/invalid-key"),
        (signed_by_bob(bad_kem), "prekey/invalid-key"),
        (signed_by_bob(future), "receive/far-future"),
        // Not a signed structure at all.
        (b"garbage".to_vec(), ""),
        // A good prekey with its signature's last byte flipped.
        (
            {
                let mut p = prekey(&bob);
                if let Some(last) = p.last_mut() {
                    *last ^= 1;
                }
                p
            },
            "bad-signature",
        ),
    ];
    for (bad, code) in &forged {
        // Alone, and after a good prekey in the same upload: nothing is stored either way.
        for batch in [vec![bad.clone()], vec![prekey(&bob), bad.clone()]] {
            let (status, body) = upload(&bob.api, &batch, false).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            assert_eq!(body["error"], "rejected", "{body}");
            if !code.is_empty() {
                assert_eq!(body["code"], *code, "{body}");
            }
        }
    }
    // The honest body, signed by Bob's device, is stored.
    let (status, body) = upload(&bob.api, &[signed_by_bob(honest)], false).await;
    assert_eq!(
        (status, body["remaining"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{body}"
    );
    let (status, body) = upload(&bob.api, &[], true).await;
    assert_eq!(
        (status, body["remaining"].as_u64()),
        (StatusCode::OK, Some(0)),
        "{body}"
    );
    let (status, body) = bob
        .api
        .post(
            "/v1/devices/current/prekeys",
            json!({ "prekeys": ["not base64!"] }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(remaining(&bob.api).await, 0);
}

#[tokio::test]
async fn the_cap_refuses_an_upload_past_it_and_replace_starts_over() {
    let server = TestServer::start().await;
    let bob = onboard(&server, 1, "bob").await;
    let hundred: Vec<Vec<u8>> = (0..100).map(|_| prekey(&bob)).collect();
    let (status, body) = upload(&bob.api, &hundred[..60], false).await;
    assert_eq!(
        (status, body["remaining"].as_u64()),
        (StatusCode::OK, Some(60))
    );
    // 60 stored and 50 more (10 of them already stored) would make 100: allowed.
    let (status, body) = upload(&bob.api, &hundred[50..], false).await;
    assert_eq!(
        (status, body["remaining"].as_u64()),
        (StatusCode::OK, Some(100)),
        "{body}"
    );
    // One more is refused and stores nothing.
    let (status, body) = upload(&bob.api, &[prekey(&bob)], false).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(remaining(&bob.api).await, 100);
    // More than 100 in one request, even replacing, is refused.
    let mut too_many = hundred.clone();
    too_many.push(prekey(&bob));
    let (status, body) = upload(&bob.api, &too_many, true).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(remaining(&bob.api).await, 100);
    // A re-key replaces everything stored.
    let fresh = [prekey(&bob), prekey(&bob)];
    let (status, body) = upload(&bob.api, &fresh, true).await;
    assert_eq!(
        (status, body["remaining"].as_u64()),
        (StatusCode::OK, Some(2))
    );
    assert!(claim_one(&bob.api, bob.keys().device()).await == Some(fresh[0].clone()));
}

#[tokio::test]
async fn revoking_a_device_deletes_its_prekeys() {
    let server = TestServer::start().await;
    let alice = onboard(&server, 0, "alice").await;
    let bob = onboard(&server, 1, "bob").await;
    create_conversation(&alice, &[&bob]).await;
    let laptop = sotto_proto::testing::TestAccount::device_for(
        &bob.account.master,
        &bob.account.identity,
        12,
        "laptop",
    );
    let (status, body) = bob
        .api
        .post(
            "/v1/devices",
            json!({ "certificate": b64(&laptop.certificate.encode()) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let login = password_login(&server.api(), "bob").await;
    let (laptop_api, _, _) = device_login(&server, &login, &laptop.keys).await;
    let bob_account = bob.account.master.account();
    let batch: Vec<Vec<u8>> = (1..=3)
        .map(|_| prekey_named(&laptop, bob_account, laptop.keys.device()))
        .collect();
    assert_eq!(upload(&laptop_api, &batch, false).await.0, StatusCode::OK);

    let revocation = bob
        .account
        .master
        .revoke(laptop.keys.device(), 1, now())
        .unwrap();
    let (status, body) = bob
        .api
        .post(
            "/v1/devices/revoke",
            json!({ "revocation": b64(&revocation.encode()) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let store = &server.state().store;
    assert_eq!(store.prekey_count(&laptop.keys.device()).await.unwrap(), 0);
    assert_eq!(claim_one(&alice.api, laptop.keys.device()).await, None);
}

#[tokio::test]
async fn claims_are_limited_per_account_by_the_devices_they_name() {
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.limits.prekey_claims_per_hour = 1000;
    })
    .await
    .unwrap();
    let alice = onboard(&server, 0, "alice").await;
    let bob = onboard(&server, 1, "bob").await;
    let many = |n: u8| -> Vec<String> {
        (0..=255u8)
            .flat_map(|a| {
                (0..4u8).map(move |b| {
                    dev(DeviceId::from_bytes(
                        [a, b, n, 0].repeat(8).try_into().unwrap(),
                    ))
                })
            })
            .take(600)
            .collect()
    };
    let (status, body) = alice
        .api
        .post("/v1/prekeys/claim", json!({ "devices": many(1) }))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["prekeys"].as_object().unwrap().len(), 600);
    // 400 left: 600 more are refused and cost nothing ...
    let (status, body) = alice
        .api
        .post("/v1/prekeys/claim", json!({ "devices": many(2) }))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"], "throttled");
    // ... so 400 still pass; another account has its own allowance.
    let (status, _) = alice
        .api
        .post(
            "/v1/prekeys/claim",
            json!({ "devices": many(3)[..400].to_vec() }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = bob
        .api
        .post("/v1/prekeys/claim", json!({ "devices": many(4) }))
        .await;
    assert_eq!(status, StatusCode::OK);

    // More than 1000 devices in one claim is malformed.
    let too_many = [many(5), many(6)].concat();
    let (status, body) = bob
        .api
        .post("/v1/prekeys/claim", json!({ "devices": too_many }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn version_2_exchange_key_certificates_are_stored_and_none_of_version_1_after_them() {
    let server = TestServer::start().await;
    let bob = onboard(&server, 1, "bob").await;
    let account = bob.account.master.account();
    let cert = |last_resort: &sotto_proto::crypto::prekey::PrekeyPublic, serial: u64| {
        bob.keys()
            .certify_exchange_key_v2(
                account,
                bob.device().exchange.encrypting_key(),
                last_resort,
                serial,
                now().minus(Timestamp::HOUR),
                now().plus(20 * Timestamp::DAY),
            )
            .unwrap()
            .encode()
    };
    let put = |cert: Vec<u8>| {
        let api = bob.api.clone();
        async move {
            api.put(
                "/v1/devices/current/exchange-key",
                json!({ "certificate": b64(&cert) }),
            )
            .await
        }
    };

    // A last-resort prekey that is no key is refused; a valid one is stored and served.
    let mut broken = pair().public().clone();
    broken.ec = [4; 65];
    // Signed as given (the device's own signer refuses to certify a broken key).
    let sign_as_is =
        |keys: &sotto_proto::identity::DeviceKeys,
         device: &TestDevice,
         last_resort: &sotto_proto::crypto::prekey::PrekeyPublic| {
            let body = sotto_proto::identity::ExchangeKeyCertificate {
                account,
                device: keys.device(),
                exchange_key: device.exchange.encrypting_key().spki().to_vec(),
                serial: 2,
                not_before: now().minus(Timestamp::HOUR),
                not_after: now().plus(20 * Timestamp::DAY),
                last_resort: Some(last_resort.clone()),
            };
            Signed::sign(body.encode(), keys.signing())
                .unwrap()
                .encode()
        };
    let (status, body) = put(sign_as_is(bob.keys(), bob.device(), &broken)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "prekey/invalid-key", "{body}");
    let v2 = cert(pair().public(), 2);
    let (status, body) = put(v2.clone()).await;
    assert_eq!(
        (status, body["serial"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{body}"
    );
    let (_, directory) = bob.api.get("/v1/directory/bob").await;
    assert_eq!(directory["devices"][0]["exchange_key"], b64(&v2));

    // A version-1 certificate after it, even with a higher serial, is an old one replayed.
    let v1 = bob
        .keys()
        .certify_exchange_key(
            account,
            bob.device().exchange.encrypting_key(),
            3,
            now().minus(Timestamp::HOUR),
            now().plus(20 * Timestamp::DAY),
        )
        .unwrap()
        .encode();
    let (status, body) = put(v1).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "exchange-key-rollback", "{body}");

    // A pending device announces a version-2 certificate; a broken last resort is refused.
    let laptop = sotto_proto::testing::TestAccount::device_for(
        &bob.account.master,
        &bob.account.identity,
        12,
        "laptop",
    );
    let laptop_cert = |last_resort: &sotto_proto::crypto::prekey::PrekeyPublic| {
        laptop
            .keys
            .certify_exchange_key_v2(
                account,
                laptop.exchange.encrypting_key(),
                last_resort,
                1,
                now().minus(Timestamp::HOUR),
                now().plus(20 * Timestamp::DAY),
            )
            .unwrap()
            .encode()
    };
    let login = password_login(&server.api(), "bob").await;
    let announce = |cert: Vec<u8>| {
        let login = login.clone();
        let laptop = &laptop;
        async move {
            login
                .post(
                    "/v1/devices/pending",
                    json!({
                        "signing_key": b64(laptop.keys.signing().verifying_key().spki()),
                        "auth_key": b64(laptop.keys.auth().verifying_key().spki()),
                        "name": "laptop",
                        "exchange_key": b64(&cert),
                    }),
                )
                .await
        }
    };
    let (status, body) = announce(sign_as_is(&laptop.keys, &laptop, &broken)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "prekey/invalid-key", "{body}");
    let good = laptop_cert(pair().public());
    let (status, body) = announce(good.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, devices) = bob.api.get("/v1/devices").await;
    let pending = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["state"] == "pending")
        .unwrap();
    assert_eq!(pending["exchange_key"], b64(&good));
}
