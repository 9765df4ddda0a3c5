//! Fixed keys for tests and vectors. RSA key generation is slow and not deterministic, so tests
//! load the committed keys in `testdata/keys.txt` (16 RSA-3072 PKCS#8 keys, never used for real).

#![allow(clippy::expect_used, clippy::panic)]

use crate::crypto::rsa::{ExchangeKeyPair, SigningKeyPair};

const KEYS: &str = include_str!("../testdata/keys.txt");

/// The PKCS#8 DER of fixed key `index` (0..16).
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
