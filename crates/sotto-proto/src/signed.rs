//! The wire form of a signed structure: `u32 len ‖ body ‖ u32 len ‖ signature`.
//!
//! The body is kept exactly as received and the signature is checked over those bytes; nothing
//! is ever re-serialised before verification, so two encodings of "the same" value cannot both
//! verify. Every body starts with its domain label, so the signature is domain-separated.

use crate::codec::{Reader, Writer};
use crate::crypto::rsa::{SigningKeyPair, VerifyingKey, MAX_RSA_OUTPUT_LEN};
use crate::error::{DecodeError, Error};

/// A body and the signature over exactly its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    body: Vec<u8>,
    signature: Vec<u8>,
}

impl Signed {
    /// Signs `body` with `key`.
    pub fn sign(body: Vec<u8>, key: &SigningKeyPair) -> Result<Self, Error> {
        let signature = key.sign(&body)?;
        Ok(Self { body, signature })
    }

    /// Reassembles a signed structure from parts (for tests that tamper with one of them).
    pub fn from_parts(body: Vec<u8>, signature: Vec<u8>) -> Self {
        Self { body, signature }
    }

    /// Decodes the wire form; the body may be at most `max_body` bytes.
    pub fn decode(bytes: &[u8], max_body: usize) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let signed = Self::decode_from(&mut reader, max_body)?;
        reader.finish()?;
        Ok(signed)
    }

    /// Decodes the wire form from inside a larger structure.
    pub fn decode_from(reader: &mut Reader<'_>, max_body: usize) -> Result<Self, DecodeError> {
        let body = reader.bytes("signed body", max_body)?.to_vec();
        let signature = reader.bytes("signature", MAX_RSA_OUTPUT_LEN)?.to_vec();
        Ok(Self { body, signature })
    }

    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut writer = Writer::default();
        self.encode_into(&mut writer);
        writer.finish()
    }

    /// Writes the wire form inside a larger structure.
    pub fn encode_into(&self, writer: &mut Writer) {
        writer.bytes(&self.body);
        writer.bytes(&self.signature);
    }

    /// Checks the signature and returns the body it covers.
    pub fn verify(&self, what: &'static str, key: &VerifyingKey) -> Result<&[u8], Error> {
        key.verify(what, &self.body, &self.signature)?;
        Ok(&self.body)
    }

    /// The body, not yet verified: only for reading which key should verify it.
    pub fn unverified_body(&self) -> &[u8] {
        &self.body
    }

    /// The signature bytes.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }
}

/// The wire form of a signed header plus ciphertext (envelopes and key distributions):
/// `u32 len ‖ header ‖ u32 len ‖ ciphertext ‖ u32 len ‖ signature`. The signature covers the first
/// two fields exactly as written, so it binds the header (with its domain label and version) and
/// every ciphertext byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedSealed {
    header: Vec<u8>,
    ciphertext: Vec<u8>,
    signature: Vec<u8>,
}

impl SignedSealed {
    /// The bytes the sender signs: `u32 len ‖ header ‖ u32 len ‖ ciphertext`.
    pub fn signing_input(header: &[u8], ciphertext: &[u8]) -> Vec<u8> {
        let mut writer = Writer::default();
        writer.bytes(header);
        writer.bytes(ciphertext);
        writer.finish()
    }

    /// Signs a header and ciphertext.
    pub fn sign(header: Vec<u8>, ciphertext: Vec<u8>, key: &SigningKeyPair) -> Result<Self, Error> {
        let signature = key.sign(&Self::signing_input(&header, &ciphertext))?;
        Ok(Self {
            header,
            ciphertext,
            signature,
        })
    }

    /// Reassembles parts (for tests that tamper with one of them).
    pub fn from_parts(header: Vec<u8>, ciphertext: Vec<u8>, signature: Vec<u8>) -> Self {
        Self {
            header,
            ciphertext,
            signature,
        }
    }

    /// Decodes the wire form within the given bounds.
    pub fn decode(
        bytes: &[u8],
        max_header: usize,
        max_ciphertext: usize,
    ) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let sealed = Self {
            header: reader.bytes("header", max_header)?.to_vec(),
            ciphertext: reader.bytes("ciphertext", max_ciphertext)?.to_vec(),
            signature: reader.bytes("signature", MAX_RSA_OUTPUT_LEN)?.to_vec(),
        };
        reader.finish()?;
        Ok(sealed)
    }

    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut writer = Writer::default();
        writer.bytes(&self.header);
        writer.bytes(&self.ciphertext);
        writer.bytes(&self.signature);
        writer.finish()
    }

    /// Checks the signature over header and ciphertext.
    pub fn verify(&self, what: &'static str, key: &VerifyingKey) -> Result<(), Error> {
        key.verify(
            what,
            &Self::signing_input(&self.header, &self.ciphertext),
            &self.signature,
        )
    }

    /// The header bytes exactly as received.
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// The ciphertext bytes.
    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }

    /// The signature bytes.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }
}
