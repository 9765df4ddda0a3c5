//! `loadgen prekeys DEVICES BATCH CLAIMERS`: one-time prekey throughput (docs/api.md
//! "Prekeys") against a separately running `sotto-server`, bounded in count and time.
//!
//! - **Upload**: [`UPLOADERS`] real devices (RSA-3072 keys made at setup, their master-signed
//!   certificates stored) each post [`UPLOAD_ROUNDS`] uploads of 100 signed prekeys with
//!   `replace`, one at a time; the server decodes and verifies every prekey of every upload.
//! - **Claim**: DEVICES devices hold 100 prekeys each (rows written straight into the store, as
//!   the relay modes write theirs), one claimer account shares a conversation with all of
//!   them, and CLAIMERS clients post claims naming BATCH devices each, until every prekey has
//!   been handed out. Every prekey must come back exactly once.
//!
//! It prints uploads/s and prekeys verified/s, device claims/s, request latency p50/p99 of
//! each phase, and the server's CPU time per phase.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sotto_proto::crypto::prekey::PrekeyPair;
use sotto_proto::crypto::rsa::RsaBits;
use sotto_proto::identity::{DeviceKeys, MasterKey};
use sotto_proto::ids::{AccountId, ConversationId, DeviceId, PrekeyId};
use sotto_server::auth::tokens::{self, random, TokenKind};
use sotto_server::store::{
    ChangeRecord, DeviceRecord, DeviceState, NewMember, NewPrekey, SessionId, SessionRecord, Store,
    UserId,
};

use crate::options::Options;
use crate::procfs::{clock_ticks, cpu_seconds, load_average};
use crate::server::Nodes;
use crate::stats::percentile_ms;

/// Devices that upload through the API (each needs real RSA keys, made at setup).
const UPLOADERS: usize = 4;
/// Uploads of 100 prekeys each uploader posts.
const UPLOAD_ROUNDS: usize = 10;
/// Prekeys a device holds (the protocol's and the server's cap).
const PER_DEVICE: usize = 100;
/// Bytes of a stored prekey in the claim phase: about a signed prekey's size (a 1351-byte
/// body and a 384-byte RSA-3072 signature with their length prefixes).
const BODY_BYTES: usize = 1750;
/// The most a phase may take.
const DEADLINE: Duration = Duration::from_secs(300);

/// An account with one device and an access token, written straight into the store.
async fn account(
    store: &dyn Store,
    name: &str,
    account: AccountId,
    master_spki: &[u8],
    device: DeviceRecord,
) -> (UserId, DeviceId, String) {
    let user = store.create_user(name, "unused", 0).await.unwrap();
    store
        .set_master_key(user, &account, master_spki)
        .await
        .unwrap();
    let id = device.device;
    store
        .activate_device(&DeviceRecord { user, ..device })
        .await
        .unwrap();
    let (token, hash) = tokens::issue(TokenKind::Access).unwrap();
    store
        .insert_session(&SessionRecord {
            id: SessionId(random().unwrap()),
            user,
            device: Some(id),
            access_hash: hash,
            access_expires: i64::MAX,
            refresh_hash: None,
            refresh_expires: i64::MAX,
            previous_refresh_hash: None,
            pair_used_at: None,
            created_at: 0,
        })
        .await
        .unwrap();
    (user, id, token.expose().to_owned())
}

/// A device row with placeholder keys (the claim phase never verifies them).
fn placeholder(device: DeviceId) -> DeviceRecord {
    DeviceRecord {
        device,
        user: UserId(0),
        state: DeviceState::Active,
        signing_key: vec![],
        auth_key: vec![],
        name: "bench".into(),
        certificate: Some(vec![]),
        exchange_cert: None,
        exchange_serial: None,
        created_at: 0,
    }
}

/// A signed one-time prekey of `keys`' device with fresh keys, made as a device makes one.
fn signed_prekey(keys: &DeviceKeys, account: AccountId) -> String {
    let pair = PrekeyPair::generate(PrekeyId::from_bytes(random().unwrap())).unwrap();
    let signed = keys
        .sign_one_time_prekey(account, pair.public(), sotto_server::clock::now())
        .unwrap();
    sotto_server::http::extract::to_b64(&signed.encode())
}

async fn post(client: &reqwest::Client, url: &str, token: &str, body: &Value) -> Value {
    let resp = client
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let value: Value = resp.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{url}: {status} {value}");
    value
}

pub async fn run(o: &Options) {
    let batch = o.messages.clamp(1, 1000);
    let claimers = o.knob.max(1);
    let hz = clock_ticks();
    let (config, dirs) = Nodes::prepare(o);
    let listen = config.listen;

    // Setup: the claim phase's devices, prekeys and conversation, and the uploaders' keys.
    let t0 = Instant::now();
    let store = sotto_server::open_store(&config).await.unwrap();
    let (claimer, claimer_device, claimer_token) = account(
        store.as_ref(),
        "claimer",
        AccountId::from_bytes(random().unwrap()),
        &random::<32>().unwrap(),
        placeholder(DeviceId::from_bytes(random().unwrap())),
    )
    .await;
    let mut members = vec![NewMember::accepted(claimer)];
    let mut targets = Vec::with_capacity(o.devices);
    for i in 0..o.devices {
        let (user, device, _) = account(
            store.as_ref(),
            &format!("target{i}"),
            AccountId::from_bytes(random().unwrap()),
            &random::<32>().unwrap(),
            placeholder(DeviceId::from_bytes(random().unwrap())),
        )
        .await;
        let prekeys: Vec<NewPrekey> = (0..PER_DEVICE)
            .map(|k| {
                let mut body = vec![0x5a; BODY_BYTES];
                body[..8].copy_from_slice(&((i * PER_DEVICE + k) as u64).to_be_bytes());
                NewPrekey {
                    id: PrekeyId::from_bytes(random().unwrap()),
                    body,
                }
            })
            .collect();
        store
            .put_prekeys(&device, &prekeys, false, PER_DEVICE as i64, 0)
            .await
            .unwrap();
        members.push(NewMember::accepted(user));
        targets.push(device);
    }
    let genesis = ChangeRecord {
        epoch: 0,
        change: vec![],
        author: claimer_device,
        created_at: 0,
    };
    store
        .create_conversation(
            &ConversationId::from_bytes(random().unwrap()),
            &genesis,
            claimer,
            &members,
        )
        .await
        .unwrap();
    let master = MasterKey::generate(RsaBits::Rsa3072).unwrap();
    let mut uploaders = Vec::with_capacity(UPLOADERS);
    for i in 0..UPLOADERS {
        let keys = DeviceKeys::generate(RsaBits::Rsa3072).unwrap();
        let certificate = master
            .certify_device(
                keys.signing().verifying_key(),
                keys.auth().verifying_key(),
                "bench",
                sotto_server::clock::now(),
            )
            .unwrap();
        let user = if i == 0 {
            None
        } else {
            store.user_by_name("uploader").await.unwrap().map(|u| u.id)
        };
        let record = DeviceRecord {
            signing_key: keys.signing().verifying_key().spki().to_vec(),
            auth_key: keys.auth().verifying_key().spki().to_vec(),
            certificate: Some(certificate.encode()),
            ..placeholder(keys.device())
        };
        let token = match user {
            // The first device makes the account; the others join it.
            None => {
                account(
                    store.as_ref(),
                    "uploader",
                    master.account(),
                    master.verifying_key().spki(),
                    record,
                )
                .await
                .2
            }
            Some(user) => {
                store
                    .activate_device(&DeviceRecord { user, ..record })
                    .await
                    .unwrap();
                let (token, hash) = tokens::issue(TokenKind::Access).unwrap();
                store
                    .insert_session(&SessionRecord {
                        id: SessionId(random().unwrap()),
                        user,
                        device: Some(keys.device()),
                        access_hash: hash,
                        access_expires: i64::MAX,
                        refresh_hash: None,
                        refresh_expires: i64::MAX,
                        previous_refresh_hash: None,
                        pair_used_at: None,
                        created_at: 0,
                    })
                    .await
                    .unwrap();
                token.expose().to_owned()
            }
        };
        let prekeys: Vec<String> = (0..PER_DEVICE)
            .map(|_| signed_prekey(&keys, master.account()))
            .collect();
        uploaders.push((token, prekeys));
    }
    store.close().await;
    drop(store);
    let (_, cert) = sotto_server::tls::load_or_create(&config).unwrap();
    eprintln!("setup: {:.1}s", t0.elapsed().as_secs_f64());

    // The claim limit is what a bench must not measure.
    let nodes = Nodes::start(o, config, dirs, "prekey_claims_per_hour = 4000000000\n");
    let pid = nodes.pids[0].clone();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_der(cert.chain[0].as_ref()).unwrap()])
        .https_only(true)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let base = format!("https://localhost:{}", listen.port());

    // Upload: every uploader posts its rounds one after the other, all uploaders at once.
    let upload_url = format!("{base}/v1/devices/current/prekeys");
    let cpu0 = cpu_seconds(&pid, hz);
    let start = Instant::now();
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = uploaders
        .into_iter()
        .map(|(token, prekeys)| {
            let (client, url, latencies) = (client.clone(), upload_url.clone(), latencies.clone());
            tokio::spawn(async move {
                let body = json!({ "prekeys": prekeys, "replace": true });
                for _ in 0..UPLOAD_ROUNDS {
                    if start.elapsed() > DEADLINE {
                        break;
                    }
                    let at = Instant::now();
                    let answer = post(&client, &url, &token, &body).await;
                    latencies.lock().unwrap().push(at.elapsed());
                    assert_eq!(answer["remaining"], PER_DEVICE);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let upload_secs = start.elapsed().as_secs_f64();
    let upload_cpu = cpu_seconds(&pid, hz) - cpu0;
    let mut upload_lat = latencies.lock().unwrap().clone();
    upload_lat.sort();

    // Claim: requests of `batch` devices, one round per prekey, pulled by the claimers.
    let requests: Arc<Vec<Vec<String>>> = Arc::new(
        (0..PER_DEVICE)
            .flat_map(|_| {
                targets
                    .chunks(batch)
                    .map(|c| c.iter().map(|d| d.to_string()).collect())
            })
            .collect(),
    );
    let claim_url = format!("{base}/v1/prekeys/claim");
    let next = Arc::new(AtomicUsize::new(0));
    let handed = Arc::new(Mutex::new(HashSet::new()));
    let nulls = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let cpu0 = cpu_seconds(&pid, hz);
    let start = Instant::now();
    let tasks: Vec<_> = (0..claimers)
        .map(|_| {
            let (client, url, token) = (client.clone(), claim_url.clone(), claimer_token.clone());
            let (requests, next, handed, nulls, latencies) = (
                requests.clone(),
                next.clone(),
                handed.clone(),
                nulls.clone(),
                latencies.clone(),
            );
            tokio::spawn(async move {
                while start.elapsed() < DEADLINE {
                    let Some(devices) = requests.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    let at = Instant::now();
                    let answer = post(&client, &url, &token, &json!({ "devices": devices })).await;
                    latencies.lock().unwrap().push(at.elapsed());
                    for value in answer["prekeys"].as_object().unwrap().values() {
                        match value.as_str() {
                            Some(b64) => assert!(
                                handed.lock().unwrap().insert(b64.to_owned()),
                                "a prekey was handed out twice"
                            ),
                            None => {
                                nulls.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let claim_secs = start.elapsed().as_secs_f64();
    let claim_cpu = cpu_seconds(&pid, hz) - cpu0;
    let load = load_average();
    let mut claim_lat = latencies.lock().unwrap().clone();
    claim_lat.sort();
    let handed = handed.lock().unwrap().len();
    nodes.stop().await;

    let backend = if o.database_url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    let uploads = upload_lat.len();
    println!(
        "mode=prekeys backend={backend} devices={} batch={batch} claimers={claimers} uploaders={UPLOADERS}",
        o.devices
    );
    println!(
        "upload: {uploads} uploads of {PER_DEVICE} in {upload_secs:.2}s => {:.1} uploads/s, {:.0} prekeys verified/s; latency ms p50={:.1} p99={:.1}; server cpu {upload_cpu:.1}s",
        uploads as f64 / upload_secs,
        (uploads * PER_DEVICE) as f64 / upload_secs,
        percentile_ms(&upload_lat, 0.50),
        percentile_ms(&upload_lat, 0.99),
    );
    println!(
        "claim: {} requests, {handed} prekeys handed out once each, {} null, in {claim_secs:.2}s => {:.0} device claims/s; latency ms p50={:.1} p99={:.1}; server cpu {claim_cpu:.1}s",
        claim_lat.len(),
        nulls.load(Ordering::Relaxed),
        (handed + nulls.load(Ordering::Relaxed)) as f64 / claim_secs,
        percentile_ms(&claim_lat, 0.50),
        percentile_ms(&claim_lat, 0.99),
    );
    println!("load average at end {load}");
    assert_eq!(
        handed,
        o.devices * PER_DEVICE,
        "every prekey handed out once"
    );
}
