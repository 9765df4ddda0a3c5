//! Identity chain checks: pentest checklist A1 (server-injected device), A4 (expired or rolled-back
//! exchange key), A5 (swapped master key) and B3 (other PSS salt lengths), plus key-size rules.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use sotto_proto::crypto::rsa::{RsaPublicKey, VerifyingKey};
use sotto_proto::identity::{AccountIdentity, DeviceKeys, MasterKey};
use sotto_proto::testing::{fixed_exchange_key, fixed_signing_key, TestAccount, T0};
use sotto_proto::{Error, KeyRejection, Timestamp};

#[test]
fn a1_device_with_valid_keys_but_no_master_signature_is_never_verified() {
    let bob = TestAccount::new(1, "bob");
    // The server mints a device for Bob and "certifies" it with a key of its own.
    let server_key = MasterKey::from_key(fixed_signing_key(20));
    let injected = DeviceKeys::from_keys(fixed_signing_key(21), fixed_signing_key(22)).unwrap();
    let fake_cert = server_key
        .certify_device(
            injected.signing().verifying_key(),
            injected.auth().verifying_key(),
            "bob's phone",
            T0,
        )
        .unwrap();
    let err = bob.identity.verify_device(&fake_cert, &[]).unwrap_err();
    assert!(matches!(err, Error::WrongAccount { .. }), "{err:?}");
    // Same, but the body claims Bob's account: the signature is not Bob's master key's.
    let mut body =
        sotto_proto::identity::DeviceCertificate::decode(fake_cert.unverified_body()).unwrap();
    body.account = bob.master.account();
    let forged = sotto_proto::signed::Signed::sign(body.encode(), server_key.key_pair()).unwrap();
    let err = bob.identity.verify_device(&forged, &[]).unwrap_err();
    assert!(matches!(err, Error::BadSignature { .. }), "{err:?}");
}

#[test]
fn device_id_must_match_its_key_and_revoked_devices_are_refused() {
    let alice = TestAccount::new(0, "alice");
    let mut body = sotto_proto::identity::DeviceCertificate::decode(
        alice.device.certificate.unverified_body(),
    )
    .unwrap();
    body.device = sotto_proto::ids::DeviceId::from_bytes([7; 32]);
    let signed = sotto_proto::signed::Signed::sign(body.encode(), alice.master.key_pair()).unwrap();
    assert!(matches!(
        alice.identity.verify_device(&signed, &[]),
        Err(Error::IdMismatch { .. })
    ));

    let revocation = alice
        .master
        .revoke(alice.device.keys.device(), 1, T0)
        .unwrap();
    let verified = alice.identity.verify_revocation(&revocation).unwrap();
    let err = alice
        .identity
        .verify_device(&alice.device.certificate, &[verified])
        .unwrap_err();
    assert!(matches!(err, Error::DeviceRevoked { .. }));
    // A revocation signed by someone else is refused outright.
    let bob = TestAccount::new(1, "bob");
    assert!(bob.identity.verify_revocation(&revocation).is_err());
}

#[test]
fn a4_expired_future_or_rolled_back_exchange_keys_are_refused() {
    let alice = TestAccount::new(0, "alice");
    let device = &alice.device.verified;
    let cert = &alice.device.exchange_certificate;
    // Valid T0-1d .. T0+29d, serial 1.
    assert!(device.verify_exchange_key(cert, T0, Some(1)).is_ok());
    assert!(matches!(
        device.verify_exchange_key(cert, T0.plus(29 * Timestamp::DAY), None),
        Err(Error::ExchangeKeyNotValidNow)
    ));
    assert!(matches!(
        device.verify_exchange_key(cert, T0.minus(2 * Timestamp::DAY), None),
        Err(Error::ExchangeKeyNotValidNow)
    ));
    assert!(matches!(
        device.verify_exchange_key(cert, T0, Some(2)),
        Err(Error::ExchangeKeyRollback { seen: 2, got: 1 })
    ));
    // A certificate for the exchange key signed by another device of another account.
    let bob = TestAccount::new(1, "bob");
    assert!(matches!(
        bob.device.verified.verify_exchange_key(cert, T0, None),
        Err(Error::WrongAccount { .. })
    ));
    // Validity longer than 30 days cannot even be issued.
    assert!(alice
        .device
        .keys
        .certify_exchange_key(
            alice.master.account(),
            fixed_exchange_key(3).encrypting_key(),
            2,
            T0,
            T0.plus(31 * Timestamp::DAY)
        )
        .is_err());
}

#[test]
fn a5_swapped_master_key_does_not_verify_against_the_pinned_one() {
    let bob = TestAccount::new(1, "bob");
    // The server now presents a new master key for "bob" with a device certified by it.
    let swapped = TestAccount::new(3, "bob");
    let err = bob
        .identity
        .verify_device(&swapped.device.certificate, &[])
        .unwrap_err();
    assert!(matches!(err, Error::WrongAccount { .. }));
    // The pinned identity differs, so does the account id (which is what group state records).
    assert_ne!(bob.identity.account(), swapped.identity.account());
}

#[test]
fn keys_below_3072_bits_or_with_small_exponents_are_refused() {
    let small = KeyPair::generate(KeySize::Rsa2048).unwrap();
    use aws_lc_rs::signature::KeyPair as _;
    let spki = small.public_key().as_der().unwrap();
    assert!(matches!(
        AccountIdentity::from_master_spki(spki.as_ref()),
        Err(Error::KeyRejected(KeyRejection::TooSmall { bits: 2048 }))
    ));
    // Same 3072-bit modulus, exponent 3.
    let big = fixed_signing_key(0);
    let parsed = aws_lc_rs::rsa::PublicKey::from_der(big.verifying_key().spki()).unwrap();
    let n = parsed.modulus().big_endian_without_leading_zero().to_vec();
    let e3 = PublicKeyComponents {
        n: n.as_slice(),
        e: &[3u8][..],
    };
    let spki_e3 = e3.as_der().unwrap();
    assert!(matches!(
        RsaPublicKey::from_spki(spki_e3.as_ref()),
        Err(Error::KeyRejected(KeyRejection::BadExponent))
    ));
    assert!(VerifyingKey::from_spki(big.verifying_key().spki()).is_ok());
}

#[test]
fn b3_pss_signatures_with_another_salt_length_fail() {
    let alice = TestAccount::new(0, "alice");
    let body = alice.device.certificate.unverified_body().to_vec();
    for salt in [0, 20, 64] {
        let sig = alice
            .master
            .key_pair()
            .danger_sign_with_salt_len(&body, salt)
            .unwrap();
        let signed = sotto_proto::signed::Signed::from_parts(body.clone(), sig);
        assert!(
            matches!(
                alice.identity.verify_device(&signed, &[]),
                Err(Error::BadSignature { .. })
            ),
            "salt {salt}"
        );
    }
}

#[test]
fn a_device_may_not_reuse_the_master_key_as_signing_or_auth_key() {
    let alice = TestAccount::new(0, "alice");
    let master = alice.master.verifying_key();
    let signing = alice.device.keys.signing().verifying_key();
    assert!(matches!(
        alice.master.certify_device(signing, master, "laptop", T0),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        alice.master.certify_device(master, signing, "laptop", T0),
        Err(Error::InvalidInput { .. })
    ));
    // A certificate built by hand with the master key as auth key is refused by the verifier.
    let mut body = sotto_proto::identity::DeviceCertificate::decode(
        alice.device.certificate.unverified_body(),
    )
    .unwrap();
    body.auth_key = master.spki().to_vec();
    let signed = sotto_proto::signed::Signed::sign(body.encode(), alice.master.key_pair()).unwrap();
    assert!(matches!(
        alice.identity.verify_device(&signed, &[]),
        Err(Error::InvalidInput { .. })
    ));
}
