//! Recovery and key backup (`docs/protocol.md` §14, §15): what a lost laptop's owner gets back
//! with the recovery key, and what the server, which holds the items, cannot do with them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use sotto_proto::backup::{open_backup, BackupItem, BackupItemHeader, BackupItemId};
use sotto_proto::bundle::{KeyBundle, MasterKeyRecord, PinRecord, Record};
use sotto_proto::env::Timestamp;
use sotto_proto::recovery::{RecoveryId, RecoveryKey, RecoveryKeys, RecoverySecret};
use sotto_proto::signed::SignedSealed;
use sotto_proto::testing::{TestAccount, T0};
use support::*;

const SET_UP: RecoveryId = RecoveryId::from_bytes([0x21; 16]);

fn keys(account: &TestAccount) -> RecoveryKeys {
    let key = RecoveryKey::from_secret(&[0x33; 28]);
    RecoveryKeys::derive(
        &RecoverySecret::from_key(&key),
        account.master.account(),
        SET_UP,
    )
    .unwrap()
}

fn master_record(account: &TestAccount) -> Record {
    Record::MasterKey(MasterKeyRecord::new(account.master.key_pair().to_pkcs8().unwrap()).unwrap())
}

fn pin(account: &TestAccount) -> Record {
    Record::Pin(PinRecord {
        account: account.master.account(),
        username: account.name.clone(),
        verified: true,
    })
}

fn item(w: &World, id: u8, written_at: Timestamp, records: Vec<Record>) -> Vec<u8> {
    BackupItem::seal(
        keys(&w.alice).backup_key(),
        w.alice.master.account(),
        SET_UP,
        BackupItemId::from_bytes([id; 16]),
        &w.alice.device.keys,
        &w.alice.device.certificate,
        written_at,
        &KeyBundle::new(records),
    )
    .unwrap()
    .encode()
}

#[test]
fn the_recovery_key_opens_every_item_and_gives_back_the_master_key() {
    let mut w = World::new();
    let chain = w.start_chain(Who::Alice);
    let first = item(&w, 1, T0, vec![master_record(&w.alice), pin(&w.bob)]);
    let second = item(&w, 2, T0, vec![Record::Chain(chain.history_record())]);
    // The server reads the header only: whose item, which set-up, which item.
    let header = BackupItemHeader::decode_item(&second).unwrap();
    assert_eq!(header.account, w.alice.master.account());
    assert_eq!(header.recovery_id, SET_UP);
    assert_eq!(header.item_id, BackupItemId::from_bytes([2; 16]));

    // On a new laptop: the key as typed, re-derived keys, the items from the server.
    let typed = RecoveryKey::from_secret(&[0x33; 28])
        .to_text()
        .to_lowercase();
    let secret = RecoverySecret::from_key(&RecoveryKey::parse(&typed).unwrap());
    let derived = RecoveryKeys::derive(&secret, w.alice.master.account(), SET_UP).unwrap();
    assert_eq!(derived.verifier(), keys(&w.alice).verifier());
    let opened = open_backup(
        &[&first, &second],
        w.alice.master.account(),
        SET_UP,
        derived.backup_key(),
        &[],
    )
    .unwrap();
    assert_eq!(opened.master.account(), w.alice.master.account());
    assert!(opened.refused.is_empty());
    assert_eq!(opened.records.len(), 2);
    assert!(matches!(&opened.records[0], Record::Pin(p) if p.username == "bob"));
    assert!(matches!(&opened.records[1], Record::Chain(c) if c.chain == chain.chain()));
}

#[test]
fn without_the_master_key_the_backup_is_no_use() {
    let w = World::new();
    let only_pins = item(&w, 1, T0, vec![pin(&w.bob)]);
    let err = open_backup(
        &[&only_pins],
        w.alice.master.account(),
        SET_UP,
        keys(&w.alice).backup_key(),
        &[],
    )
    .unwrap_err();
    assert_eq!(err.code(), "recovery/no-master-key");
}

#[test]
fn a_tampered_item_another_set_up_and_a_wrong_key_are_skipped_one_by_one() {
    let w = World::new();
    let good = item(&w, 1, T0, vec![master_record(&w.alice)]);
    let mut flipped = item(&w, 2, T0, vec![pin(&w.bob)]);
    let last = flipped.len() - 400;
    flipped[last] ^= 1;
    let other_set_up = BackupItem::seal(
        keys(&w.alice).backup_key(),
        w.alice.master.account(),
        RecoveryId::from_bytes([0x22; 16]),
        BackupItemId::from_bytes([3; 16]),
        &w.alice.device.keys,
        &w.alice.device.certificate,
        T0,
        &KeyBundle::new(vec![pin(&w.carol)]),
    )
    .unwrap()
    .encode();
    let opened = open_backup(
        &[&good, &flipped, &other_set_up, b"garbage"],
        w.alice.master.account(),
        SET_UP,
        keys(&w.alice).backup_key(),
        &[],
    )
    .unwrap();
    let codes: Vec<_> = opened.refused.iter().map(|r| r.error.code()).collect();
    assert_eq!(
        codes,
        ["decryption-failed", "wrong-account", "decode/too-long"]
    );
    assert!(opened.records.is_empty());
    // The whole backup under another key opens nothing.
    let wrong = RecoveryKeys::derive(
        &RecoverySecret::from_key(&RecoveryKey::from_secret(&[0x34; 28])),
        w.alice.master.account(),
        SET_UP,
    )
    .unwrap();
    let err = open_backup(
        &[&good],
        w.alice.master.account(),
        SET_UP,
        wrong.backup_key(),
        &[],
    )
    .unwrap_err();
    assert_eq!(err.code(), "recovery/no-master-key");
}

#[test]
fn an_item_re_signed_by_another_device_or_written_after_its_writer_was_revoked_is_refused() {
    let w = World::new();
    let good = item(&w, 1, T0, vec![master_record(&w.alice)]);
    let later = item(&w, 2, T0.plus(Timestamp::HOUR), vec![pin(&w.bob)]);
    // Re-signed by Bob's device: the AEAD still opens (the header and ciphertext are intact),
    // the signature does not verify under the writer named by the certificate.
    let decoded = BackupItem::decode(&later).unwrap();
    let resigned = SignedSealed::sign(
        decoded.sealed().header().to_vec(),
        decoded.sealed().ciphertext().to_vec(),
        w.bob.device.keys.signing(),
    )
    .unwrap()
    .encode();
    let revocation = w
        .alice
        .master
        .revoke(w.alice.device.keys.device(), 1, T0.plus(Timestamp::SECOND))
        .unwrap();
    let opened = open_backup(
        &[&good, &resigned, &later],
        w.alice.master.account(),
        SET_UP,
        keys(&w.alice).backup_key(),
        &[revocation],
    )
    .unwrap();
    let codes: Vec<_> = opened.refused.iter().map(|r| r.error.code()).collect();
    assert_eq!(codes, ["bad-signature", "device-revoked"]);
}

#[test]
fn an_item_names_its_writer_and_the_certificate_must_be_that_device() {
    let w = World::new();
    // Bob's device signs, with Alice's device certificate: the certificate names another device.
    let mixed = BackupItem::seal(
        keys(&w.alice).backup_key(),
        w.alice.master.account(),
        SET_UP,
        BackupItemId::from_bytes([9; 16]),
        &w.bob.device.keys,
        &w.alice.device.certificate,
        T0,
        &KeyBundle::new(vec![master_record(&w.alice)]),
    )
    .unwrap()
    .encode();
    let good = item(&w, 1, T0, vec![master_record(&w.alice)]);
    let opened = open_backup(
        &[&good, &mixed],
        w.alice.master.account(),
        SET_UP,
        keys(&w.alice).backup_key(),
        &[],
    )
    .unwrap();
    let codes: Vec<_> = opened.refused.iter().map(|r| r.error.code()).collect();
    assert_eq!(codes, ["id-mismatch"]);
}
