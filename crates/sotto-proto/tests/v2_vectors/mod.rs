//! Runs the version-2 vectors (`test-vectors/v2-prekey.json`, `test-vectors/v2-distribution.json`)
//! through the public API. Shared by the generator (`examples/gen_vectors_v2.rs`, which checks
//! its own output before writing it) and the runner (`tests/vectors_v2.rs`).
//!
//! A positive distribution vector is also re-derived step by step from `docs/protocol.md` §18.5
//! with the primitives alone (OAEP decryption, ECDH, ML-KEM decapsulation, HKDF, AES-GCM), and
//! every intermediate value is compared with the vector's.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::{json, Value};
use sotto_proto::chain::{LocalDevice, PrekeyRing, ReceiverState};
use sotto_proto::codec::{Reader, Writer};
use sotto_proto::crypto::aead::AeadKey;
use sotto_proto::crypto::prekey::PrekeyPair;
use sotto_proto::crypto::rsa::ExchangeKeyPair;
use sotto_proto::crypto::{hkdf_sha256, sha256};
use sotto_proto::distribution::hybrid::split_ciphertext;
use sotto_proto::distribution::{DistributionHeader, KeyDistribution};
use sotto_proto::domain::Domain;
use sotto_proto::env::Timestamp;
use sotto_proto::group::GroupState;
use sotto_proto::identity::{AccountIdentity, VerifiedDevice};
use sotto_proto::ids::{DeviceId, ExchangeKeyId, PrekeyId};
use sotto_proto::signed::Signed;
use sotto_proto::Error;

pub fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("hex")
}

fn now(v: &Value) -> Timestamp {
    Timestamp(v["now"].as_u64().expect("now"))
}

/// The verified device with this id among the file's `devices`.
pub fn device(file: &Value, id: &str) -> VerifiedDevice {
    let d = file["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device_id"] == id)
        .unwrap_or_else(|| panic!("no device {id}"));
    let identity = AccountIdentity::from_master_spki(&unhex(&d["master_spki"])).unwrap();
    assert_eq!(identity.account().to_string(), d["account_id"]);
    let signed = Signed::decode(&unhex(&d["device_certificate"]), 4096).unwrap();
    let verified = identity.verify_device(&signed, &[]).unwrap();
    assert_eq!(verified.device().to_string(), id);
    verified
}

/// One vector of `v2-prekey.json`: its outputs, or the refusal.
pub fn run_prekey(file: &Value, v: &Value) -> Result<Value, Error> {
    let verifier = device(file, v["device"].as_str().unwrap());
    let signed = Signed::decode(&unhex(&v["signed"]), 4096)?;
    match v["op"].as_str().unwrap() {
        "one_time_prekey" => {
            let prekey = verifier.verify_one_time_prekey(&signed, now(v))?;
            Ok(json!({
                "prekey_id": prekey.id().to_string(),
                "created_at": prekey.created_at().millis(),
                "ec_public": hex::encode(prekey.public().ec),
                "kem_public": hex::encode(&prekey.public().kem),
            }))
        }
        "exchange_key_certificate" => {
            let key = verifier.verify_exchange_key_after_v2(
                &signed,
                now(v),
                v["highest_serial_seen"].as_u64(),
                v["v2_seen"].as_bool().unwrap(),
            )?;
            Ok(json!({
                "version": if key.is_v2() { 2 } else { 1 },
                "serial": key.serial(),
                "exchange_key_id": key.key_id().to_string(),
                "last_resort": key.last_resort().map(|p| json!({
                    "prekey_id": p.id.to_string(),
                    "ec_public": hex::encode(p.ec),
                    "kem_public": hex::encode(&p.kem),
                })),
            }))
        }
        op => panic!("unknown op {op}"),
    }
}

/// A prekey pair of the file's `prekeys` list, by id.
fn prekey_pair(file: &Value, id: &str) -> PrekeyPair {
    let p = file["prekeys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["prekey_id"] == id)
        .unwrap_or_else(|| panic!("no prekey {id}"));
    let pair = PrekeyPair::from_private_keys(
        id.parse::<PrekeyId>().unwrap(),
        &unhex(&p["ec_private"]),
        &unhex(&p["kem_private"]),
    )
    .unwrap();
    assert_eq!(hex::encode(pair.public().ec), p["ec_public"]);
    assert_eq!(hex::encode(&pair.public().kem), p["kem_public"]);
    pair
}

/// The recipient's prekey ring as a vector describes it.
fn ring(file: &Value, v: &Value, xkey: ExchangeKeyId) -> PrekeyRing {
    let r = &v["ring"];
    let mut ring = PrekeyRing::new();
    if let Some(id) = r["last_resort"].as_str() {
        ring.add_last_resort(xkey, prekey_pair(file, id)).unwrap();
    }
    for id in r["one_time"].as_array().unwrap() {
        ring.add_one_time(prekey_pair(file, id.as_str().unwrap()))
            .unwrap();
    }
    for c in r["consumed"].as_array().unwrap() {
        let id = c["prekey_id"].as_str().unwrap();
        ring.add_one_time(prekey_pair(file, id)).unwrap();
        let hash: [u8; 32] = unhex(&c["wire_hash"]).try_into().unwrap();
        ring.consume(
            id.parse().unwrap(),
            hash,
            Timestamp(c["consumed_at"].as_u64().unwrap()),
        )
        .unwrap();
    }
    ring
}

/// One vector of `v2-distribution.json`: the accepted chain and, for a version-2 distribution,
/// the intermediate values of §18.5 re-derived with the primitives alone.
pub fn run_distribution(file: &Value, v: &Value) -> Result<Value, Error> {
    let recipient = &file["recipient"];
    let exchange = ExchangeKeyPair::from_pkcs8(&unhex(&recipient["exchange_pkcs8"])).unwrap();
    let xkey = ExchangeKeyId::from_spki(exchange.encrypting_key().spki());
    assert_eq!(xkey.to_string(), recipient["exchange_key_id"]);
    let ring = ring(file, v, xkey);
    let alice = device(file, file["group_signer"].as_str().unwrap());
    let genesis = Signed::decode(&unhex(&file["group_genesis"]), 1 << 18).unwrap();
    let group = GroupState::genesis(&genesis, &alice).unwrap();
    let sender = device(file, v["sender"].as_str().unwrap());
    let me = LocalDevice {
        account: recipient["account_id"].as_str().unwrap().parse().unwrap(),
        device: recipient["device_id"]
            .as_str()
            .unwrap()
            .parse::<DeviceId>()
            .unwrap(),
        exchange_keys: std::slice::from_ref(&exchange),
        prekeys: &ring,
    };
    let wire = unhex(&v["distribution"]);
    let kdm = KeyDistribution::decode(&wire)?;
    let accepted = ReceiverState::new().accept_distribution(&kdm, &sender, &me, &group, now(v))?;
    let mut out = json!({
        "chain": accepted.chain.to_string(),
        "start_index": accepted.history_key.start_index,
        "chain_key": hex::encode(accepted.history_key.key.danger_bytes()),
        "consumed_prekey": accepted.consumed_prekey.map(|(id, hash)| json!({
            "prekey_id": id.to_string(),
            "wire_hash": hex::encode(hash),
        })),
    });
    if let Some(hybrid) = &kdm.header().hybrid {
        let header = kdm.sealed().header();
        let pair = ring
            .one_time(&hybrid.prekey)
            .or_else(|| ring.last_resort(&xkey))
            .unwrap();
        let (rsa_ct, sealed) = split_ciphertext(kdm.sealed().ciphertext()).unwrap();
        let label = sha256(&[Domain::KeyDistributionLabelV2.encoded(), header.to_vec()].concat());
        assert_eq!(label, DistributionHeader::oaep_label_v2(header));
        let rsa_plain = exchange.decrypt(rsa_ct, &label).unwrap();
        let rsa_domain = Domain::KeyDistributionRsa.encoded();
        assert_eq!(&rsa_plain[..rsa_domain.len()], rsa_domain.as_slice());
        let r = &rsa_plain[rsa_domain.len()..];
        assert_eq!(r.len(), 32);
        let ss_e = pair.agree(&hybrid.ephemeral).unwrap();
        let ss_k = pair.decapsulate(&hybrid.kem_ciphertext).unwrap();
        let mut info = Writer::for_domain(Domain::KeyDistributionHybrid);
        for part in [
            header,
            rsa_ct,
            exchange.encrypting_key().spki(),
            &pair.public().ec[..],
            &pair.public().kem[..],
        ] {
            info.fixed(&sha256(part));
        }
        let info = info.finish();
        let ikm = [&ss_k[..], &ss_e[..], r].concat();
        let mut okm = [0u8; 44];
        hkdf_sha256(&[], &ikm, &info, &mut okm).unwrap();
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&okm[..32]);
        let payload = AeadKey::new(key, okm[32..].try_into().unwrap())
            .open(header, sealed)
            .unwrap();
        let mut p = Reader::for_domain(&payload, Domain::KeyDistributionPayloadV2).unwrap();
        p.take(16 + 4).unwrap();
        assert_eq!(hex::encode(p.take(32).unwrap()), out["chain_key"]);
        out["rsa_share"] = json!(hex::encode(r));
        out["oaep_label"] = json!(hex::encode(label));
        out["ss_e"] = json!(hex::encode(ss_e.as_ref()));
        out["ss_k"] = json!(hex::encode(ss_k.as_ref()));
        out["hkdf_info"] = json!(hex::encode(&info));
        out["okm"] = json!(hex::encode(okm));
        out["payload"] = json!(hex::encode(payload.as_slice()));
    }
    Ok(out)
}
