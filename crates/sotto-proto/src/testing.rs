//! Fixed keys for tests and vectors. RSA key generation is slow and not deterministic, so tests
//! load the committed keys in `testdata/keys.txt` (24 RSA-3072 PKCS#8 keys, never used for real).

#![allow(clippy::expect_used, clippy::panic)]

use crate::crypto::rsa::{ExchangeKeyPair, SigningKeyPair};

const KEYS: &str = include_str!("../testdata/keys.txt");

/// The PKCS#8 DER of fixed key `index` (0..24).
pub fn fixed_pkcs8(index: usize) -> Vec<u8> {
    let line = KEYS
        .lines()
        .filter(|l| !l.starts_with('#'))
        .nth(index)
        .expect("fixed key index out of range");
    let hex = line.split_once(' ').expect("index hex").1;
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Fixed key `index` as a signing key.
pub fn fixed_signing_key(index: usize) -> SigningKeyPair {
    SigningKeyPair::from_pkcs8(&fixed_pkcs8(index)).expect("fixed signing key")
}

/// Fixed key `index` as an exchange key.
pub fn fixed_exchange_key(index: usize) -> ExchangeKeyPair {
    ExchangeKeyPair::from_pkcs8(&fixed_pkcs8(index)).expect("fixed exchange key")
}

use crate::env::Timestamp;
use crate::group::Member;
use crate::identity::{
    AccountIdentity, DeviceKeys, MasterKey, VerifiedDevice, VerifiedExchangeKey,
};
use crate::signed::Signed;

/// The fixed "now" of tests and vectors: 2027-01-15T08:00:00Z.
pub const T0: Timestamp = Timestamp(1_800_000_000_000);

/// One device of a test account: its private keys, certificates and verified public view.
pub struct TestDevice {
    /// Signing and auth keys.
    pub keys: DeviceKeys,
    /// The current exchange key pair.
    pub exchange: ExchangeKeyPair,
    /// The master-signed device certificate.
    pub certificate: Signed,
    /// The device-signed exchange-key certificate (serial 1, valid `T0 - 1 day .. T0 + 29 days`).
    pub exchange_certificate: Signed,
    /// The device as a peer verifies it.
    pub verified: VerifiedDevice,
    /// The exchange key as a peer verifies it.
    pub verified_exchange: VerifiedExchangeKey,
}

/// A test account built from fixed keys: slot `n` uses keys `4n..4n+4` (master, device signing,
/// auth, exchange), so slots 0..6 are available.
pub struct TestAccount {
    /// The username.
    pub name: String,
    /// The master key.
    pub master: MasterKey,
    /// The pinned public identity.
    pub identity: AccountIdentity,
    /// The first device.
    pub device: TestDevice,
}

impl TestAccount {
    /// Builds account `slot` named `name`.
    pub fn new(slot: usize, name: &str) -> Self {
        let master = MasterKey::from_key(fixed_signing_key(4 * slot));
        let identity = AccountIdentity::from_key(master.verifying_key().clone());
        let device = Self::device_for(&master, &identity, 4 * slot + 1, "first device");
        Self {
            name: name.to_owned(),
            master,
            identity,
            device,
        }
    }

    /// Builds another device for this account from keys `first..first + 3`.
    pub fn device_for(
        master: &MasterKey,
        identity: &AccountIdentity,
        first: usize,
        name: &str,
    ) -> TestDevice {
        let keys = DeviceKeys::from_keys(fixed_signing_key(first), fixed_signing_key(first + 1))
            .expect("device keys");
        let exchange = fixed_exchange_key(first + 2);
        let certificate = master
            .certify_device(
                keys.signing().verifying_key(),
                keys.auth().verifying_key(),
                name,
                T0.minus(Timestamp::DAY),
            )
            .expect("certify device");
        let exchange_certificate = keys
            .certify_exchange_key(
                master.account(),
                exchange.encrypting_key(),
                1,
                T0.minus(Timestamp::DAY),
                T0.plus(29 * Timestamp::DAY),
            )
            .expect("certify exchange key");
        let verified = identity
            .verify_device(&certificate, &[])
            .expect("verify device");
        let verified_exchange = verified
            .verify_exchange_key(&exchange_certificate, T0, None)
            .expect("verify exchange key");
        TestDevice {
            keys,
            exchange,
            certificate,
            exchange_certificate,
            verified,
            verified_exchange,
        }
    }

    /// This account as a group member.
    pub fn member(&self, admin: bool) -> Member {
        Member {
            account: self.master.account(),
            admin,
        }
    }
}

/// The salt tests give every name commitment.
pub const TEST_NAME_SALT: [u8; crate::group::NAME_SALT_LEN] = [0x5a; crate::group::NAME_SALT_LEN];

/// The body that reveals `name` as set at `epoch`, with [`TEST_NAME_SALT`].
pub fn test_name(epoch: u64, name: &str) -> crate::group::NameReveal {
    crate::group::NameReveal {
        epoch,
        salt: TEST_NAME_SALT,
        name: crate::group::GroupName::new(name).expect("test group name"),
    }
}

/// The genesis kind of a group named `name` in `conversation` (commitment at epoch 0).
pub fn group_kind(
    conversation: crate::ids::ConversationId,
    name: &str,
) -> crate::group::CreateKind {
    crate::group::CreateKind::Group {
        name: test_name(0, name).commitment(conversation),
    }
}

/// A genesis body in the retired encoding (op tag `0x01`, `docs/protocol.md` §6.1): the group
/// name and a username per member in clear, each username whatever the signer wrote. Decoders
/// refuse it (`decode/unknown-tag`); tests use it to show that they do.
pub fn retired_create_body(
    conversation: crate::ids::ConversationId,
    signer_account: crate::ids::AccountId,
    signer_device: crate::ids::DeviceId,
    issued_at: crate::env::Timestamp,
    name: &str,
    members: &[(crate::ids::AccountId, &str, bool)],
) -> Vec<u8> {
    let mut w = crate::codec::Writer::for_domain(crate::domain::Domain::GroupChange);
    conversation.encode(&mut w);
    w.u64(0);
    w.fixed(&[0u8; 32]);
    signer_account.encode(&mut w);
    signer_device.encode(&mut w);
    w.u64(issued_at.millis());
    w.u8(crate::group::GroupOp::RETIRED[0]);
    w.text(name);
    w.count(members.len());
    for (account, username, admin) in members {
        account.encode(&mut w);
        w.text(username);
        w.bool(*admin);
    }
    w.finish()
}

/// A test device's version-2 keys: a last-resort prekey certified with the device's exchange key
/// (serial 2), a ring holding every private key, and signed one-time prekeys ready to upload.
pub struct TestV2Keys {
    /// The version-2 exchange-key certificate.
    pub certificate: Signed,
    /// Its verified form, as a sender holds it.
    pub verified_exchange: VerifiedExchangeKey,
    /// The device's prekey ring.
    pub ring: crate::chain::PrekeyRing,
    /// The signed one-time prekeys, in the order made.
    pub one_time: Vec<Signed>,
}

impl TestAccount {
    /// Makes this account's device a version-2 device with `one_time` fresh one-time prekeys.
    pub fn v2_keys(&self, one_time: usize) -> TestV2Keys {
        use crate::crypto::prekey::PrekeyPair;
        use crate::ids::PrekeyId;
        let last_resort = PrekeyPair::generate(PrekeyId::from_bytes([0xee; 16])).expect("prekey");
        let pairs = (0..one_time)
            .map(|n| {
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&(n as u64).to_be_bytes());
                id[15] = 0x01;
                PrekeyPair::generate(PrekeyId::from_bytes(id)).expect("prekey")
            })
            .collect();
        self.v2_keys_with(last_resort, pairs)
    }

    /// Makes this account's device a version-2 device (certificate serial 2, valid from a day
    /// before `T0`) with the given last-resort and one-time prekeys, signed at `T0`.
    pub fn v2_keys_with(
        &self,
        last_resort: crate::crypto::prekey::PrekeyPair,
        one_time: Vec<crate::crypto::prekey::PrekeyPair>,
    ) -> TestV2Keys {
        let device = &self.device;
        let mut ring = crate::chain::PrekeyRing::new();
        let certificate = device
            .keys
            .certify_exchange_key_v2(
                self.master.account(),
                device.exchange.encrypting_key(),
                last_resort.public(),
                2,
                T0.minus(Timestamp::DAY),
                T0.plus(29 * Timestamp::DAY),
            )
            .expect("certify exchange key v2");
        let verified_exchange = device
            .verified
            .verify_exchange_key(&certificate, T0, Some(1))
            .expect("verify exchange key v2");
        ring.add_last_resort(verified_exchange.key_id(), last_resort)
            .expect("last resort");
        let mut signed = Vec::new();
        for pair in one_time {
            signed.push(
                device
                    .keys
                    .sign_one_time_prekey(self.master.account(), pair.public(), T0)
                    .expect("sign prekey"),
            );
            ring.add_one_time(pair).expect("one-time prekey");
        }
        TestV2Keys {
            certificate,
            verified_exchange,
            ring,
            one_time: signed,
        }
    }
}

const PREKEYS: &str = include_str!("../testdata/prekeys.txt");

/// Fixed prekey `index` (0 to 7) of `testdata/prekeys.txt`, so tests, vectors and fuzz seeds
/// made in different processes agree (aws-lc's ML-KEM key generation cannot be seeded).
pub fn fixed_prekey(index: usize) -> crate::crypto::prekey::PrekeyPair {
    let line = PREKEYS
        .lines()
        .filter(|l| !l.starts_with('#'))
        .nth(index)
        .expect("fixed prekey index out of range");
    let mut fields = line.split(' ').skip(1);
    let mut field = || fields.next().expect("prekey field");
    let bytes = |hex: &str| -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect()
    };
    let id: [u8; 16] = bytes(field()).try_into().expect("prekey id");
    let (ec, kem) = (bytes(field()), bytes(field()));
    crate::crypto::prekey::PrekeyPair::from_private_keys(
        crate::ids::PrekeyId::from_bytes(id),
        &ec,
        &kem,
    )
    .expect("fixed prekey")
}
