//! Criterion benchmarks of the protocol's costly operations, beside the primitives they are made
//! of, so `bench/README.md` can compare "send one message" with one RSA-PSS signature and "read
//! one message" with one verification.
//!
//! Run: `cargo bench -p sotto-proto --bench proto -- --sample-size 20`.
//! Keys are the fixed test keys (`sotto_proto::testing`), the world the one of
//! `fuzz/targets_common.rs`.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../../fuzz/targets_common.rs"]
mod targets_common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sotto_proto::body::{pad, MessageBody};
use sotto_proto::chain::{ReceiverState, SenderChain};
use sotto_proto::crypto::aead::AeadKey;
use sotto_proto::crypto::prekey::PrekeyPair;
use sotto_proto::crypto::rsa::{RsaBits, SigningKeyPair};
use sotto_proto::env::{DangerSeededRng, Env};
use sotto_proto::envelope::Envelope;
use sotto_proto::ids::MessageId;
use sotto_proto::ids::PrekeyId;
use sotto_proto::testing::{fixed_signing_key, T0};
use targets_common::{fixture, local};

/// A fresh chain of Alice's at the fixture's epoch (no RSA: two random draws).
fn alice_chain(rng: &mut DangerSeededRng) -> SenderChain {
    let f = fixture();
    let mut env = Env::new(T0, rng);
    SenderChain::start(
        f.group.conversation(),
        f.group.epoch(),
        f.alice.master.account(),
        f.alice.device.keys.device(),
        None,
        &mut env,
    )
    .unwrap()
}

fn short_text() -> MessageBody {
    MessageBody::Text("Meeting moved to 15:00, room 4.".into())
}

fn messages(c: &mut Criterion) {
    let f = fixture();
    let mut group = c.benchmark_group("message");

    // Encrypt + sign: reserve an index, pad, AES-256-GCM, RSA-PSS over header ‖ ciphertext.
    let mut rng = DangerSeededRng::new([1; 32]);
    group.bench_function("send_text_reserve_seal", |b| {
        b.iter_batched(
            || alice_chain(&mut rng),
            |mut chain| {
                chain
                    .reserve(T0)
                    .unwrap()
                    .seal(
                        &short_text(),
                        MessageId::from_bytes([1; 16]),
                        T0,
                        &f.alice.device.keys,
                    )
                    .unwrap()
            },
            BatchSize::SmallInput,
        );
    });

    // Verify + decrypt: decode the wire form, then ReceiverState::open (signature, membership,
    // chain checks, ratchet step, AES-GCM, unpad, body decode), changing nothing.
    let wire = {
        let mut chain = f.alice_chain.lock().unwrap();
        chain
            .reserve(T0)
            .unwrap()
            .seal(
                &short_text(),
                MessageId::from_bytes([2; 16]),
                T0,
                &f.alice.device.keys,
            )
            .unwrap()
            .encode()
    };
    group.bench_function("read_text_decode_open", |b| {
        b.iter(|| {
            let envelope = Envelope::decode(black_box(&wire)).unwrap();
            f.bob_receiver
                .open(&envelope, &f.alice.device.verified, &f.group, T0)
                .unwrap()
        });
    });
    group.finish();
}

fn distribution(c: &mut Criterion) {
    let f = fixture();
    let mut group = c.benchmark_group("distribution");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));

    // One chain to 100 devices: 100 × (RSA-OAEP encrypt + RSA-PSS sign). Two fixed exchange keys
    // (Bob's and Carol's) stand in for the 100 devices; the per-device cost does not depend on it.
    let keys = [
        &f.bob.device.verified_exchange,
        &f.carol.device.verified_exchange,
    ];
    let mut rng = DangerSeededRng::new([2; 32]);
    group.bench_function("distribute_to_100_devices", |b| {
        b.iter_batched(
            || alice_chain(&mut rng),
            |mut chain| {
                for i in 0..100 {
                    black_box(
                        chain
                            .distribute(&f.group, keys[i % 2], &f.alice.device.keys, T0)
                            .unwrap(),
                    );
                }
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();

    let mut group = c.benchmark_group("distribution_one");
    let mut rng = DangerSeededRng::new([3; 32]);
    group.bench_function("distribute_to_1_device", |b| {
        b.iter_batched(
            || alice_chain(&mut rng),
            |mut chain| {
                chain
                    .distribute(&f.group, keys[0], &f.alice.device.keys, T0)
                    .unwrap()
            },
            BatchSize::SmallInput,
        );
    });
    // Receiving one: verify + RSA-OAEP decrypt + new chain.
    let kdm = f.kdm_to_bob.clone();
    group.bench_function("accept_distribution", |b| {
        b.iter(|| {
            ReceiverState::new()
                .accept_distribution(&kdm, &f.alice.device.verified, &local(&f.bob), &f.group, T0)
                .unwrap()
        });
    });
    group.finish();
}

/// Version 2 (§18) against version 1, in one group so the ratios come from one run: making a
/// distribution (v2: ephemeral ECDH, ML-KEM-768 encapsulation, RSA-OAEP of 32 bytes, HKDF,
/// AES-GCM, RSA-PSS) and accepting one (v2: adds ECDH and ML-KEM decapsulation to v1's work).
fn distributions_v2(c: &mut Criterion) {
    let f = fixture();
    let mut group = c.benchmark_group("distribution_v2");
    let prekey = f
        .bob
        .device
        .verified
        .verify_one_time_prekey(&f.bob_v2.one_time[0], T0)
        .unwrap();
    let mut rng = DangerSeededRng::new([4; 32]);
    group.bench_function("distribute_v1", |b| {
        b.iter_batched(
            || alice_chain(&mut rng),
            |mut chain| {
                chain
                    .distribute(
                        &f.group,
                        &f.bob.device.verified_exchange,
                        &f.alice.device.keys,
                        T0,
                    )
                    .unwrap()
            },
            BatchSize::SmallInput,
        );
    });
    group.bench_function("distribute_with_v2_one_time", |b| {
        b.iter_batched(
            || alice_chain(&mut rng),
            |mut chain| {
                chain
                    .distribute_with(
                        &f.group,
                        &f.bob_v2.verified_exchange,
                        Some(&prekey),
                        &f.alice.device.keys,
                        T0,
                    )
                    .unwrap()
            },
            BatchSize::SmallInput,
        );
    });
    let v2_kdm = alice_chain(&mut rng)
        .distribute_with(
            &f.group,
            &f.bob_v2.verified_exchange,
            Some(&prekey),
            &f.alice.device.keys,
            T0,
        )
        .unwrap();
    let v1_kdm = f.kdm_to_bob.clone();
    group.bench_function("accept_distribution_v1", |b| {
        b.iter(|| {
            ReceiverState::new()
                .accept_distribution(
                    &v1_kdm,
                    &f.alice.device.verified,
                    &local(&f.bob),
                    &f.group,
                    T0,
                )
                .unwrap()
        });
    });
    // Accepting reads the ring and reports the prekey to consume, so the same one serves again.
    let me = sotto_proto::chain::LocalDevice {
        prekeys: &f.bob_v2.ring,
        ..local(&f.bob)
    };
    group.bench_function("accept_distribution_v2_one_time", |b| {
        b.iter(|| {
            ReceiverState::new()
                .accept_distribution(&v2_kdm, &f.alice.device.verified, &me, &f.group, T0)
                .unwrap()
        });
    });
    group.bench_function("prekey_generate", |b| {
        b.iter(|| PrekeyPair::generate(PrekeyId::from_bytes([9; 16])).unwrap());
    });
    group.finish();
}

fn keygen(c: &mut Criterion) {
    let mut group = c.benchmark_group("keygen");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(30));
    group.bench_function("rsa3072_signing_keypair", |b| {
        b.iter(|| SigningKeyPair::generate(RsaBits::Rsa3072).unwrap());
    });
    group.finish();
}

fn primitives(c: &mut Criterion) {
    let mut group = c.benchmark_group("primitive");
    let key = fixed_signing_key(0);
    let message = vec![0x5au8; 600];
    group.bench_function("rsa3072_pss_sign", |b| {
        b.iter(|| key.sign(black_box(&message)).unwrap());
    });
    let signature = key.sign(&message).unwrap();
    let verifying = key.verifying_key();
    group.bench_function("rsa3072_pss_verify", |b| {
        b.iter(|| {
            verifying
                .verify("bench", black_box(&message), black_box(&signature))
                .unwrap()
        });
    });
    let exchange = &fixture().bob.device.exchange;
    let label = [7u8; 32];
    group.bench_function("rsa3072_oaep_encrypt", |b| {
        b.iter(|| {
            exchange
                .encrypting_key()
                .encrypt(black_box(&[1u8; 70]), &label)
                .unwrap()
        });
    });
    let ciphertext = exchange
        .encrypting_key()
        .encrypt(&[1u8; 70], &label)
        .unwrap();
    group.bench_function("rsa3072_oaep_decrypt", |b| {
        b.iter(|| exchange.decrypt(black_box(&ciphertext), &label).unwrap());
    });

    // AES-256-GCM over a padded 1 KiB bucket (a ~600-byte body pads to 1024).
    let padded = pad(&[0x41u8; 600]).unwrap();
    assert_eq!(padded.len(), 1024);
    let aead = AeadKey::new([9u8; 32].into(), [3u8; 12]);
    let aad = [0u8; 150];
    group.throughput(Throughput::Bytes(padded.len() as u64));
    group.bench_function("aes256gcm_seal_1KiB", |b| {
        b.iter(|| aead.seal(black_box(&aad), black_box(&padded)).unwrap());
    });
    let sealed = aead.seal(&aad, &padded).unwrap();
    group.bench_function("aes256gcm_open_1KiB", |b| {
        b.iter(|| aead.open(black_box(&aad), black_box(&sealed)).unwrap());
    });
    group.finish();
}

criterion_group!(
    benches,
    primitives,
    messages,
    distribution,
    distributions_v2,
    keygen
);
criterion_main!(benches);
