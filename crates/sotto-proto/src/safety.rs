//! Safety numbers (`docs/protocol.md` §5): what two people compare to know that nobody sits
//! between them.
//!
//! ```text
//! f_0      = SHA-256(domain("sotto/safety-number") ‖ u32 len ‖ master SPKI)
//! f_{i+1}  = SHA-256(f_i ‖ master SPKI)                  for i < 1024; fingerprint = f_1024
//! digits   = for each of the first six 5-byte chunks c of the fingerprint:
//!            (c as a big-endian integer) mod 100000, as 5 decimal digits   (30 digits)
//! number   = digits(lower fingerprint) ‖ digits(higher fingerprint)        (60 digits)
//! qr       = domain("sotto/safety-qr") ‖ lower fingerprint ‖ higher fingerprint
//! ```
//!
//! Ordering the two fingerprints makes the number the same on both sides; the iterations make
//! finding a key whose number collides with a target's costlier.

use crate::codec::Writer;
use crate::crypto::{ct_eq, sha256, sha256_parts};
use crate::domain::Domain;

/// Hash iterations per fingerprint.
pub const ITERATIONS: usize = 1024;

/// The safety number of two accounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafetyNumber {
    digits: String,
    qr: Vec<u8>,
}

/// The iterated fingerprint of one master key.
pub fn fingerprint(master_spki: &[u8]) -> [u8; 32] {
    let mut w = Writer::for_domain(Domain::SafetyNumber);
    w.bytes(master_spki);
    let mut f = sha256(&w.finish());
    for _ in 0..ITERATIONS {
        f = sha256_parts(&[&f, master_spki]);
    }
    f
}

fn digits(fingerprint: &[u8; 32], out: &mut String) {
    for chunk in fingerprint.chunks_exact(5).take(6) {
        let value = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        out.push_str(&format!("{:05}", value % 100_000));
    }
}

impl SafetyNumber {
    /// The safety number of the accounts with these master keys (SPKI DER), in either order.
    pub fn new(master_a: &[u8], master_b: &[u8]) -> Self {
        let (fa, fb) = (fingerprint(master_a), fingerprint(master_b));
        let (low, high) = if fa <= fb { (fa, fb) } else { (fb, fa) };
        let mut number = String::with_capacity(60);
        digits(&low, &mut number);
        digits(&high, &mut number);
        let mut qr = Writer::for_domain(Domain::SafetyQr);
        qr.fixed(&low);
        qr.fixed(&high);
        Self {
            digits: number,
            qr: qr.finish(),
        }
    }

    /// The 60 digits.
    pub fn digits(&self) -> &str {
        &self.digits
    }

    /// The digits in twelve groups of five, as people read them aloud.
    pub fn groups(&self) -> Vec<&str> {
        (0..12)
            .filter_map(|i| self.digits.get(5 * i..5 * i + 5))
            .collect()
    }

    /// The bytes a QR code carries.
    pub fn qr_payload(&self) -> &[u8] {
        &self.qr
    }

    /// Whether a scanned QR payload shows the same number (compared in constant time).
    pub fn matches_qr(&self, scanned: &[u8]) -> bool {
        ct_eq(&self.qr, scanned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fixed_signing_key;

    #[test]
    fn equal_on_both_sides_and_different_when_a_key_differs() {
        let a = fixed_signing_key(0);
        let b = fixed_signing_key(4);
        let c = fixed_signing_key(8);
        let (a, b, c) = (
            a.verifying_key().spki(),
            b.verifying_key().spki(),
            c.verifying_key().spki(),
        );
        let ab = SafetyNumber::new(a, b);
        assert_eq!(ab, SafetyNumber::new(b, a));
        assert_eq!(ab.digits().len(), 60);
        assert!(ab.digits().bytes().all(|d| d.is_ascii_digit()));
        assert_eq!(ab.groups().len(), 12);
        assert_ne!(ab, SafetyNumber::new(a, c));
        assert_ne!(ab, SafetyNumber::new(c, b));
        assert!(ab.matches_qr(SafetyNumber::new(b, a).qr_payload()));
        assert!(!ab.matches_qr(SafetyNumber::new(a, c).qr_payload()));
    }
}
