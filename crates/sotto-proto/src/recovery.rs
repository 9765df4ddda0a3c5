//! The recovery key and the keys derived from it (`docs/protocol.md` §14).
//!
//! A [`RecoveryKey`] is 28 random bytes and a 2-byte checksum, shown once as 48 Crockford base32
//! characters in 12 groups of 4. Its secret, or an Argon2id hash of a passphrase chosen instead,
//! is the [`RecoverySecret`], from which [`RecoveryKeys::derive`] makes the backup key (never
//! leaves the client), the access key (unlocks the backup on the server) and the access key's
//! verifier (what the server keeps to compare with).
//!
//! ```text
//! root       = HKDF(ikm = s, info = domain("sotto/recovery/root") ‖ account ‖ recovery id)
//! backup key = HKDF(ikm = root, info = domain("sotto/recovery/backup-key"))
//! access key = HKDF(ikm = root, info = domain("sotto/recovery/access"))
//! verifier   = SHA-256(domain("sotto/recovery/verifier") ‖ access key)
//! ```

use std::fmt;

use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

use crate::codec::Writer;
use crate::crypto::{ct_eq, hkdf_sha256, sha256_parts};
use crate::domain::Domain;
use crate::env::Env;
use crate::error::{Error, RecoveryError};
use crate::ids::AccountId;

/// Random bytes of a recovery key (224 bits).
pub const RECOVERY_SECRET_LEN: usize = 28;
/// Bytes of a recovery key: the secret and its 2-byte checksum.
pub const RECOVERY_KEY_LEN: usize = RECOVERY_SECRET_LEN + 2;
/// Characters of a recovery key's text, without separators (240 bits, 5 per character).
pub const RECOVERY_KEY_CHARS: usize = 48;
/// Bytes of a recovery id and of a passphrase salt.
pub const RECOVERY_ID_LEN: usize = 16;
/// Bytes of a passphrase salt.
pub const PASSPHRASE_SALT_LEN: usize = 16;
/// The shortest passphrase accepted, in characters.
pub const MIN_PASSPHRASE_CHARS: usize = 12;
/// Argon2id memory for a passphrase, in KiB (256 MiB): each guess of an attacker who holds the
/// server's database costs that much memory (§14.2).
pub const PASSPHRASE_MEMORY_KIB: u32 = 262_144;
/// Argon2id passes.
pub const PASSPHRASE_PASSES: u32 = 3;
/// Argon2id lanes.
pub const PASSPHRASE_LANES: u32 = 1;

/// Crockford's base32 alphabet: no `I`, `L`, `O`, `U`, so a key read aloud or copied by hand
/// keeps its meaning.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters per displayed group.
const GROUP_CHARS: usize = 4;

/// The 16 random bytes that identify one recovery set-up; a new set-up gives unrelated keys
/// even from the same passphrase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecoveryId([u8; RECOVERY_ID_LEN]);

impl RecoveryId {
    /// Wraps bytes (from the server's answer or a decoded header).
    pub const fn from_bytes(bytes: [u8; RECOVERY_ID_LEN]) -> Self {
        Self(bytes)
    }

    /// A fresh id for a new set-up.
    pub fn generate(env: &mut Env<'_>) -> Result<Self, Error> {
        Ok(Self(env.random()?))
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; RECOVERY_ID_LEN] {
        &self.0
    }
}

/// A recovery key: the 28-byte secret and its checksum. Not `Clone`, and its `Debug` prints
/// nothing of it.
pub struct RecoveryKey(Zeroizing<[u8; RECOVERY_KEY_LEN]>);

impl RecoveryKey {
    /// A new key from the environment's randomness.
    pub fn generate(env: &mut Env<'_>) -> Result<Self, Error> {
        let secret = Zeroizing::new(env.random::<RECOVERY_SECRET_LEN>()?);
        Ok(Self::from_secret(&secret))
    }

    /// The key of a given secret (its checksum computed).
    pub fn from_secret(secret: &[u8; RECOVERY_SECRET_LEN]) -> Self {
        let check = checksum(secret);
        let mut key = Zeroizing::new([0u8; RECOVERY_KEY_LEN]);
        for (dst, src) in key.iter_mut().zip(secret.iter().chain(check.iter())) {
            *dst = *src;
        }
        Self(key)
    }

    /// Reads a key as a person typed it (§14.1): spaces, tabs and `-` are ignored, letters may
    /// be lower case, `O` reads as `0` and `I`, `L` as `1`. Anything else outside the alphabet,
    /// or a length other than 48, is `recovery/malformed`; a wrong checksum (a typo) is
    /// `recovery/bad-checksum`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut key = Zeroizing::new([0u8; RECOVERY_KEY_LEN]);
        let mut bits: u32 = 0;
        let mut held: u32 = 0;
        let mut chars = 0usize;
        let mut written = 0usize;
        for byte in text.bytes() {
            if matches!(byte, b' ' | b'\t' | b'-') {
                continue;
            }
            let value = digit_value(byte.to_ascii_uppercase()).ok_or(RecoveryError::Malformed)?;
            chars += 1;
            if chars > RECOVERY_KEY_CHARS {
                return Err(RecoveryError::Malformed.into());
            }
            bits = (bits << 5) | u32::from(value);
            held += 5;
            if held >= 8 {
                held -= 8;
                let slot = key.get_mut(written).ok_or(RecoveryError::Malformed)?;
                // The low 8 bits above `held` are the next byte.
                *slot = ((bits >> held) & 0xff) as u8;
                written += 1;
                bits &= (1 << held) - 1;
            }
        }
        if chars != RECOVERY_KEY_CHARS || written != RECOVERY_KEY_LEN {
            return Err(RecoveryError::Malformed.into());
        }
        let (secret, check) = key.split_at(RECOVERY_SECRET_LEN);
        if !ct_eq(&checksum(secret), check) {
            return Err(RecoveryError::BadChecksum.into());
        }
        Ok(Self(key))
    }

    /// The text shown once to the user: 48 characters in 12 groups of 4 joined by `-`.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut plain = Zeroizing::new(String::with_capacity(RECOVERY_KEY_CHARS));
        let mut bits: u32 = 0;
        let mut held: u32 = 0;
        for byte in self.0.iter() {
            bits = (bits << 8) | u32::from(*byte);
            held += 8;
            while held >= 5 {
                held -= 5;
                plain.push(char::from(alphabet_char((bits >> held) & 0x1f)));
            }
            bits &= (1 << held) - 1;
        }
        let mut text = Zeroizing::new(String::with_capacity(
            RECOVERY_KEY_CHARS + RECOVERY_KEY_CHARS / GROUP_CHARS,
        ));
        for (i, c) in plain.chars().enumerate() {
            if i > 0 && i % GROUP_CHARS == 0 {
                text.push('-');
            }
            text.push(c);
        }
        text
    }

    /// The 28 secret bytes (the recovery secret of §14.2).
    pub fn danger_secret(&self) -> &[u8] {
        self.0.get(..RECOVERY_SECRET_LEN).unwrap_or(&[])
    }

    /// All 30 bytes, secret and checksum (for test vectors).
    pub fn danger_bytes(&self) -> &[u8; RECOVERY_KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for RecoveryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryKey(<secret>)")
    }
}

/// `SHA-256(domain("sotto/recovery-key") ‖ secret)[0..2]`.
fn checksum(secret: &[u8]) -> [u8; 2] {
    let hash = sha256_parts(&[&Domain::RecoveryKey.encoded(), secret]);
    [hash[0], hash[1]]
}

fn alphabet_char(value: u32) -> u8 {
    ALPHABET
        .get(usize::try_from(value).unwrap_or(usize::MAX))
        .copied()
        .unwrap_or(b'0')
}

/// The value of an upper-cased character, with Crockford's readings of `O`, `I` and `L`.
fn digit_value(byte: u8) -> Option<u8> {
    let byte = match byte {
        b'O' => b'0',
        b'I' | b'L' => b'1',
        other => other,
    };
    ALPHABET
        .iter()
        .position(|&c| c == byte)
        .and_then(|i| u8::try_from(i).ok())
}

/// How a set-up protects its backup: a recovery key, or a passphrase the user chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoveryMethod {
    /// A generated recovery key (§14.1).
    Key,
    /// A passphrase hashed with Argon2id under a per-set-up salt (§14.2).
    Passphrase,
}

impl RecoveryMethod {
    /// The name the server API uses (`"key"`, `"passphrase"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Key => "key",
            Self::Passphrase => "passphrase",
        }
    }
}

/// The recovery secret `s` of §14.2: a recovery key's 28 secret bytes, or the 32-byte Argon2id
/// hash of a passphrase.
pub struct RecoverySecret(Zeroizing<Vec<u8>>);

impl RecoverySecret {
    /// The secret of a recovery key.
    pub fn from_key(key: &RecoveryKey) -> Self {
        Self(Zeroizing::new(key.danger_secret().to_vec()))
    }

    /// Argon2id (m = 256 MiB, t = 3, p = 1, 32 bytes) of a passphrase of at least 12 characters
    /// under the set-up's 16-byte salt. Takes about a second and 256 MiB of memory.
    pub fn from_passphrase(
        passphrase: &str,
        salt: &[u8; PASSPHRASE_SALT_LEN],
    ) -> Result<Self, Error> {
        if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
            return Err(Error::InvalidInput {
                field: "recovery passphrase",
                reason: "must be at least 12 characters",
            });
        }
        let crypto = |_| Error::Crypto {
            operation: "argon2id",
        };
        let params = Params::new(
            PASSPHRASE_MEMORY_KIB,
            PASSPHRASE_PASSES,
            PASSPHRASE_LANES,
            Some(32),
        )
        .map_err(crypto)?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut out = Zeroizing::new(vec![0u8; 32]);
        argon
            .hash_password_into(passphrase.as_bytes(), salt, out.as_mut_slice())
            .map_err(crypto)?;
        Ok(Self(out))
    }

    /// The secret bytes (for test vectors).
    pub fn danger_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for RecoverySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoverySecret(<secret>)")
    }
}

macro_rules! secret_key {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub struct $name(Zeroizing<[u8; 32]>);

        impl $name {
            /// Wraps 32 secret bytes.
            pub fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(Zeroizing::new(bytes))
            }

            /// The secret bytes.
            pub fn danger_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<secret>)"))
            }
        }
    };
}

secret_key!(
    /// The key the backup items are sealed under. Never leaves the client.
    BackupKey
);
secret_key!(
    /// The key that unlocks the backup on the server; the server keeps only its verifier.
    AccessKey
);

impl AccessKey {
    /// `SHA-256(domain("sotto/recovery/verifier") ‖ access key)`: what the server stores and
    /// compares a presented access key's verifier with.
    pub fn verifier(&self) -> [u8; 32] {
        access_verifier(&self.0)
    }
}

/// The verifier of a presented access key (`SHA-256(domain("sotto/recovery/verifier") ‖
/// access)`), for the server to compare in constant time with the stored one.
pub fn access_verifier(access: &[u8; 32]) -> [u8; 32] {
    sha256_parts(&[&Domain::RecoveryVerifier.encoded(), access])
}

/// The keys of one recovery set-up of one account.
pub struct RecoveryKeys {
    root: Zeroizing<[u8; 32]>,
    backup: BackupKey,
    access: AccessKey,
}

impl RecoveryKeys {
    /// Derives the set-up's keys from its secret (§14.2).
    pub fn derive(
        secret: &RecoverySecret,
        account: AccountId,
        recovery_id: RecoveryId,
    ) -> Result<Self, Error> {
        let mut info = Writer::for_domain(Domain::RecoveryRoot);
        account.encode(&mut info);
        info.fixed(recovery_id.as_bytes());
        let mut root = Zeroizing::new([0u8; 32]);
        hkdf_sha256(&[], &secret.0, &info.finish(), root.as_mut())?;
        let mut backup = Zeroizing::new([0u8; 32]);
        hkdf_sha256(
            &[],
            root.as_ref(),
            &Domain::RecoveryBackupKey.encoded(),
            backup.as_mut(),
        )?;
        let mut access = Zeroizing::new([0u8; 32]);
        hkdf_sha256(
            &[],
            root.as_ref(),
            &Domain::RecoveryAccess.encoded(),
            access.as_mut(),
        )?;
        Ok(Self {
            root,
            backup: BackupKey(backup),
            access: AccessKey(access),
        })
    }

    /// The backup key.
    pub fn backup_key(&self) -> &BackupKey {
        &self.backup
    }

    /// The access key.
    pub fn access_key(&self) -> &AccessKey {
        &self.access
    }

    /// The access key's verifier, uploaded at set-up.
    pub fn verifier(&self) -> [u8; 32] {
        self.access.verifier()
    }

    /// The root key (for test vectors).
    pub fn danger_root(&self) -> &[u8; 32] {
        &self.root
    }
}

impl fmt::Debug for RecoveryKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryKeys(<secret>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> RecoveryKey {
        RecoveryKey::from_secret(&[0x42; RECOVERY_SECRET_LEN])
    }

    #[test]
    fn a_key_reads_back_from_its_text_however_it_was_typed() {
        let text = key().to_text();
        assert_eq!(text.len(), 48 + 11);
        assert_eq!(text.split('-').count(), 12);
        let parsed = RecoveryKey::parse(&text).unwrap();
        assert_eq!(parsed.danger_bytes(), key().danger_bytes());
        let sloppy = text.replace('-', " ").to_lowercase().replace('0', "o");
        let parsed = RecoveryKey::parse(&format!("\t{sloppy} ")).unwrap();
        assert_eq!(parsed.danger_bytes(), key().danger_bytes());
    }

    #[test]
    fn a_typo_is_caught_by_the_checksum_and_garbage_is_malformed() {
        let text = key().to_text();
        let mut typo: Vec<char> = text.chars().collect();
        typo[0] = if typo[0] == 'A' { 'B' } else { 'A' };
        let typo: String = typo.into_iter().collect();
        assert_eq!(
            RecoveryKey::parse(&typo).unwrap_err().code(),
            "recovery/bad-checksum"
        );
        for bad in [&text[..text.len() - 1], "U", "", &format!("{}0", &*text)] {
            assert_eq!(
                RecoveryKey::parse(bad).unwrap_err().code(),
                "recovery/malformed",
                "{bad:?}"
            );
        }
        let with_u = format!("U{}", &text[1..]);
        assert_eq!(
            RecoveryKey::parse(&with_u).unwrap_err().code(),
            "recovery/malformed"
        );
    }

    #[test]
    fn a_short_passphrase_is_refused_before_hashing() {
        let err = RecoverySecret::from_passphrase("elevenchars", &[0; 16]).unwrap_err();
        assert_eq!(err.code(), "invalid-input");
    }

    #[test]
    fn another_account_or_set_up_gives_unrelated_keys() {
        let secret = RecoverySecret::from_key(&key());
        let a = RecoveryKeys::derive(
            &secret,
            AccountId::from_bytes([1; 32]),
            RecoveryId::from_bytes([2; 16]),
        )
        .unwrap();
        let b = RecoveryKeys::derive(
            &secret,
            AccountId::from_bytes([1; 32]),
            RecoveryId::from_bytes([3; 16]),
        )
        .unwrap();
        assert_ne!(a.backup_key().danger_bytes(), b.backup_key().danger_bytes());
        assert_ne!(a.backup_key().danger_bytes(), a.access_key().danger_bytes());
        assert_eq!(a.verifier(), access_verifier(a.access_key().danger_bytes()));
        assert_eq!(format!("{a:?}"), "RecoveryKeys(<secret>)");
    }
}
