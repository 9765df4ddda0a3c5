//! Replays the fuzz corpora without libFuzzer: every file under `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` goes through the same target body the fuzzer runs
//! (`fuzz/targets_common.rs`), and must not panic. A crash input found by the fuzzer is committed
//! under `fuzz/regressions/<target>/` and so becomes a regression test here.
//!
//! The seed corpus is (re)written from real encodings by
//! `cargo test -p sotto-proto --test fuzz_corpus -- --ignored write_seed_corpus`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../../fuzz/targets_common.rs"]
mod targets_common;

use std::panic::{catch_unwind, AssertUnwindSafe};

#[path = "../../../fuzz/corpus_files.rs"]
mod corpus_files;

use corpus_files::{files_in, fuzz_dir};

/// Runs `name`'s body over its corpus and regressions; returns how many seed files it saw.
fn replay(name: &str) -> usize {
    let (_, body) = targets_common::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .expect("known target");
    let mut failures = Vec::new();
    let mut seeds = 0;
    for kind in ["corpus", "regressions"] {
        for file in files_in(&fuzz_dir().join(kind).join(name)) {
            if file
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("seed-")
            {
                seeds += 1;
            }
            let data = std::fs::read(&file).unwrap();
            if catch_unwind(AssertUnwindSafe(|| body(&data))).is_err() {
                failures.push(file.display().to_string());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: inputs that panic: {failures:#?}"
    );
    seeds
}

macro_rules! replay_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let seeds = replay(stringify!($name));
                assert!(seeds > 0, "no seed corpus for {}", stringify!($name));
            }
        )*

        #[test]
        fn every_target_is_replayed() {
            let names: Vec<&str> = vec![$(stringify!($name)),*];
            let targets: Vec<&str> = targets_common::TARGETS.iter().map(|(n, _)| *n).collect();
            assert_eq!(names, targets);
        }
    };
}

replay_tests!(
    envelope,
    key_distribution,
    group_change,
    device_certificate,
    message_body,
    key_request,
    auth_challenge,
    ids_text,
    spki,
    malicious_member,
    payload,
    key_bundle,
    backup_item,
    handover,
    recovery_key,
    one_time_prekey,
    exchange_key_certificate_v2,
    prekey_ring,
);

#[test]
fn seeds_are_accepted_by_their_targets() {
    // Every seed is a real encoding: running it must not panic, and a few reach full
    // verification (checked by the assertions inside the target bodies).
    for seed in targets_common::seeds() {
        let (_, body) = targets_common::TARGETS
            .iter()
            .find(|(n, _)| *n == seed.target)
            .expect("seed for a known target");
        body(&seed.bytes);
    }
    let f = targets_common::fixture();
    let envelope = targets_common::seeds()
        .into_iter()
        .find(|s| s.target == "envelope" && s.label == "text")
        .unwrap();
    let envelope = sotto_proto::envelope::Envelope::decode(&envelope.bytes).unwrap();
    f.bob_receiver
        .open(
            &envelope,
            &f.alice.device.verified,
            &f.group,
            sotto_proto::testing::T0,
        )
        .expect("the seed envelope opens in a fresh process's fixture");
}

#[test]
#[ignore = "writes fuzz/corpus/*/seed-*; run by hand"]
fn write_seed_corpus() {
    for seed in targets_common::seeds() {
        let dir = fuzz_dir().join("corpus").join(seed.target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("seed-{}", seed.label)), &seed.bytes).unwrap();
    }
}

#[test]
fn committed_envelope_seed_opens() {
    // The fixture is deterministic, so an envelope written by another process still opens: the
    // fuzzer really reaches decryption and body decoding from this seed.
    let bytes = std::fs::read(fuzz_dir().join("corpus/envelope/seed-text")).unwrap();
    let envelope = sotto_proto::envelope::Envelope::decode(&bytes).unwrap();
    let f = targets_common::fixture();
    f.bob_receiver
        .open(
            &envelope,
            &f.alice.device.verified,
            &f.group,
            sotto_proto::testing::T0,
        )
        .unwrap();
}

#[test]
fn malicious_member_seeds_reach_the_receiver() {
    // The seeds get past signature, decryption and decoding, so the fuzzer mutates from inputs
    // the receiver accepts and explores the checks after them.
    for name in ["distribution", "envelope", "envelope-index-42"] {
        let bytes = std::fs::read(
            fuzz_dir()
                .join("corpus/malicious_member")
                .join(format!("seed-{name}")),
        )
        .unwrap();
        assert!(targets_common::malicious_member_accepted(&bytes), "{name}");
    }
}

#[test]
fn backup_and_hand_over_seeds_open() {
    // The committed seeds get through signature, decryption and bundle decoding, so mutations
    // start from inputs the openers accept.
    let f = targets_common::fixture();
    let item = std::fs::read(fuzz_dir().join("corpus/backup_item/seed-records")).unwrap();
    let opened = sotto_proto::backup::open_backup(
        &[&f.master_item, &item],
        f.alice.master.account(),
        targets_common::RECOVERY_SET_UP,
        f.recovery.backup_key(),
        &[],
    )
    .unwrap();
    assert!(opened.refused.is_empty());
    assert_eq!(opened.records.len(), 3);
    let wire = std::fs::read(fuzz_dir().join("corpus/handover/seed-records")).unwrap();
    let handover = sotto_proto::handover::Handover::decode(&wire).unwrap();
    let me = sotto_proto::chain::LocalDevice {
        prekeys: sotto_proto::PrekeyRing::empty(),
        account: f.alice.master.account(),
        device: f.laptop.keys.device(),
        exchange_keys: std::slice::from_ref(&f.laptop.exchange),
    };
    let bundle = sotto_proto::handover::open_handover(
        &handover,
        &f.alice.device.verified,
        &me,
        sotto_proto::testing::T0,
    )
    .unwrap();
    assert_eq!(bundle.records.len(), 3);
}

#[test]
fn committed_v2_seeds_are_accepted_by_a_fresh_fixture() {
    // The fixture's prekeys are the fixed ones of testdata/prekeys.txt, so a hybrid distribution
    // written by another process still opens here (full verification and decryption reached).
    let f = targets_common::fixture();
    for (label, one_time) in [("seed-v2-one-time", true), ("seed-v2-last-resort", false)] {
        let bytes = std::fs::read(fuzz_dir().join("corpus/key_distribution").join(label)).unwrap();
        let kdm = sotto_proto::distribution::KeyDistribution::decode(&bytes).unwrap();
        let me = sotto_proto::chain::LocalDevice {
            prekeys: &f.bob_v2.ring,
            ..targets_common::local(&f.bob)
        };
        let accepted = sotto_proto::chain::ReceiverState::new()
            .accept_distribution(
                &kdm,
                &f.alice.device.verified,
                &me,
                &f.group,
                sotto_proto::testing::T0,
            )
            .unwrap();
        assert_eq!(accepted.consumed_prekey.is_some(), one_time, "{label}");
    }
}
