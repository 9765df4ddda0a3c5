//! Device hand-over over real TLS (docs/protocol.md §16; docs/api.md "Hand-over"): a new device
//! announces its exchange key while pending; the approving device of the same account posts a
//! sealed hand-over to it, pending or active; the recipient's socket is told, it lists and
//! deletes its hand-overs; nobody else may post, read or delete them; a header naming another
//! sender or recipient is refused; a device holds a bounded number.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sotto_proto::bundle::{KeyBundle, PinRecord, Record};
use sotto_proto::handover::{Handover, HandoverId};
use sotto_proto::testing::{TestAccount, TestDevice};
use sotto_proto::{Env, SystemRng, Timestamp};
use support::*;

/// Bob's laptop (fixed keys 12..15), announced by password login with its exchange key.
async fn announce_laptop(server: &TestServer, bob: &Person) -> (TestDevice, Api) {
    let laptop = TestAccount::device_for(&bob.account.master, &bob.account.identity, 12, "laptop");
    let now = now();
    let exchange = laptop
        .keys
        .certify_exchange_key(
            bob.account.master.account(),
            laptop.exchange.encrypting_key(),
            1,
            now.minus(Timestamp::HOUR),
            now.plus(20 * Timestamp::DAY),
        )
        .unwrap();
    let login = password_login(&server.api(), "bob").await;
    let (status, body) = login
        .post(
            "/v1/devices/pending",
            json!({
                "signing_key": b64(laptop.keys.signing().verifying_key().spki()),
                "auth_key": b64(laptop.keys.auth().verifying_key().spki()),
                "name": "laptop",
                "exchange_key": b64(&exchange.encode()),
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (laptop, login)
}

/// A hand-over from `sender` to `recipient` (one Pin record).
fn sealed(sender: &Person, recipient: &TestDevice) -> Vec<u8> {
    let mut rng = SystemRng::new();
    let mut env = Env::new(now(), &mut rng);
    let id = HandoverId::generate(&mut env).unwrap();
    let bundle = KeyBundle::new(vec![Record::Pin(PinRecord {
        account: sender.account.master.account(),
        username: "alice".to_owned(),
        verified: true,
    })]);
    Handover::seal(
        sender.keys(),
        &recipient.verified,
        &recipient.verified_exchange,
        id,
        &bundle,
        &mut env,
    )
    .unwrap()
    .encode()
}

async fn post(api: &Api, to: &TestDevice, handover: &[u8]) -> (StatusCode, Value) {
    api.post(
        &format!("/v1/devices/{}/handovers", dev(to.keys.device())),
        json!({ "handover": b64(handover) }),
    )
    .await
}

#[tokio::test]
async fn the_approving_device_hands_its_keys_to_the_new_device_and_only_it() {
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.limits.max_handovers_per_device = 2;
    })
    .await
    .unwrap();
    let alice = onboard(&server, 0, "alice").await;
    let bob = onboard(&server, 1, "bob").await;
    let (laptop, login) = announce_laptop(&server, &bob).await;

    // The phone sees the pending laptop with its exchange key, and hands over at once.
    let (_, devices) = bob.api.get("/v1/devices").await;
    let pending = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["state"] == "pending")
        .unwrap()
        .clone();
    assert!(pending["exchange_key"].is_string(), "{pending}");
    let first = sealed(&bob, &laptop);
    let (status, body) = post(&bob.api, &laptop, &first).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let first_id = body["id"].as_str().unwrap().to_owned();
    assert!(
        first_id.starts_with("ho:") && first_id.len() == 35,
        "{first_id}"
    );

    // Approved and online, the laptop is told of the next one on its socket.
    let (status, body) = bob
        .api
        .post(
            "/v1/devices",
            json!({ "certificate": b64(&laptop.certificate.encode()) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (laptop_api, _, _) = device_login(&server, &login, &laptop.keys).await;
    let mut socket = connect(&server, &laptop_api, &laptop.keys).await;
    let second = sealed(&bob, &laptop);
    let (status, _) = post(&bob.api, &laptop, &second).await;
    assert_eq!(status, StatusCode::CREATED);
    let frame = socket.expect("handover").await;
    assert_eq!(frame, json!({ "type": "handover" }));

    // At most two wait at once.
    let (status, body) = post(&bob.api, &laptop, &sealed(&bob, &laptop)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("capacity"))
    );

    // The laptop reads both, oldest first, byte for byte.
    let (status, list) = laptop_api.get("/v1/handovers").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let got = list["handovers"].as_array().unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["id"], first_id);
    assert_eq!(got[0]["from"], dev(bob.keys().device()));
    assert_eq!(unb64(got[0]["handover"].as_str().unwrap()), first);
    assert_eq!(unb64(got[1]["handover"].as_str().unwrap()), second);
    // The phone has none, and cannot delete the laptop's.
    let (_, mine) = bob.api.get("/v1/handovers").await;
    assert!(mine["handovers"].as_array().unwrap().is_empty());
    let path = format!("/v1/handovers/{first_id}");
    let (status, _) = bob.api.call(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = laptop_api.call(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = laptop_api.call(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = laptop_api
        .call(Method::DELETE, "/v1/handovers/ho:nothex", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post(&bob.api, &laptop, &sealed(&bob, &laptop)).await;
    assert_eq!(status, StatusCode::CREATED, "room again");

    // Another account's device: the laptop does not exist for it.
    let (status, _) = post(&alice.api, &laptop, &sealed(&alice, &alice.account.device)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A login session (no device) cannot hand over.
    let fresh = password_login(&server.api(), "bob").await;
    let (status, _) = post(&fresh, &laptop, &second).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    server.stop().await;
}

#[tokio::test]
async fn a_header_naming_another_sender_or_recipient_is_refused() {
    let server = TestServer::start().await;
    let bob = onboard(&server, 1, "bob").await;
    let (laptop, login) = announce_laptop(&server, &bob).await;
    let (status, _) = bob
        .api
        .post(
            "/v1/devices",
            json!({ "certificate": b64(&laptop.certificate.encode()) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (laptop_api, _, _) = device_login(&server, &login, &laptop.keys).await;

    // Sealed for the laptop, posted to the phone.
    let for_laptop = sealed(&bob, &laptop);
    let (status, body) = post(&bob.api, &bob.account.device, &for_laptop).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_field"))
    );
    // Sealed by the phone, posted by the laptop (to the laptop itself).
    let (status, body) = post(&laptop_api, &laptop, &for_laptop).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_field"))
    );
    // Not a hand-over at all.
    let (status, body) = post(&bob.api, &laptop, b"garbage").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("rejected"))
    );
    let (_, list) = laptop_api.get("/v1/handovers").await;
    assert!(
        list["handovers"].as_array().unwrap().is_empty(),
        "nothing stored"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_pending_exchange_key_must_be_the_devices_own_and_valid() {
    let server = TestServer::start().await;
    let bob = onboard(&server, 1, "bob").await;
    let laptop = TestAccount::device_for(&bob.account.master, &bob.account.identity, 12, "laptop");
    let login = password_login(&server.api(), "bob").await;
    let now = now();
    let announce = |cert: Vec<u8>| {
        json!({
            "signing_key": b64(laptop.keys.signing().verifying_key().spki()),
            "auth_key": b64(laptop.keys.auth().verifying_key().spki()),
            "name": "laptop",
            "exchange_key": b64(&cert),
        })
    };
    // Signed by the phone's key, not the announced one.
    let by_phone = bob
        .keys()
        .certify_exchange_key(
            bob.account.master.account(),
            laptop.exchange.encrypting_key(),
            1,
            now.minus(Timestamp::HOUR),
            now.plus(Timestamp::DAY),
        )
        .unwrap();
    let (status, body) = login
        .post("/v1/devices/pending", announce(by_phone.encode()))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("rejected"))
    );
    // Expired.
    let expired = laptop
        .keys
        .certify_exchange_key(
            bob.account.master.account(),
            laptop.exchange.encrypting_key(),
            1,
            now.minus(10 * Timestamp::DAY),
            now.minus(Timestamp::DAY),
        )
        .unwrap();
    let (status, _) = login
        .post("/v1/devices/pending", announce(expired.encode()))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, devices) = bob.api.get("/v1/devices").await;
    assert_eq!(devices.as_array().unwrap().len(), 1, "nothing announced");
    server.stop().await;
}
