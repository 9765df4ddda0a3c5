//! TLS trust for every connection the client makes (HTTPS and WSS share one rustls
//! configuration).
//!
//! Two modes, never a third: the system's trust store (a real, CA-issued certificate works as
//! is), or a pinned SHA-256 fingerprint of the server's certificate (the self-signed certificate
//! `sotto-server` creates on first start). A pin replaces CA and host-name checks by an exact
//! match on the certificate the server presents; the handshake signature is still verified, so
//! the server must hold the certificate's private key. There is no "accept any certificate".
//!
//! Failures are recorded so the API layer can turn an opaque connection error into a
//! [`Error::PinMismatch`] or [`Error::UntrustedCertificate`] a person understands.

use std::fmt;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use sotto_proto::crypto::{ct_eq, sha256};

use crate::error::{Error, Result};

/// A SHA-256 certificate fingerprint.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// Parses 64 hex digits, upper or lower case, with or without `:` separators.
    pub fn parse(text: &str) -> Result<Self> {
        let hex: String = text
            .trim()
            .chars()
            .filter(|c| *c != ':' && *c != ' ')
            .collect();
        let bytes = hex::decode(hex.to_ascii_lowercase()).map_err(|_| Error::BadPin)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| Error::BadPin)?;
        Ok(Self(bytes))
    }

    /// The fingerprint of a DER certificate.
    pub fn of(cert: &[u8]) -> Self {
        Self(sha256(cert))
    }
}

impl fmt::Display for Fingerprint {
    /// `AB:CD:…`, the form `sotto-server` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why the last handshake was refused, for error messages.
#[derive(Clone, Copy, Debug)]
enum Refusal {
    Mismatch {
        expected: Fingerprint,
        got: Fingerprint,
    },
    Untrusted {
        got: Fingerprint,
    },
}

/// The trust settings of one client: a rustls configuration and the reason of the last refusal.
#[derive(Clone)]
pub struct Trust {
    config: ClientConfig,
    refusal: Arc<Mutex<Option<Refusal>>>,
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trust").finish_non_exhaustive()
    }
}

impl Trust {
    /// Trust the pinned certificate if `pin` is given, the system's trust store otherwise.
    pub fn new(pin: Option<Fingerprint>) -> Result<Self> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let refusal = Arc::new(Mutex::new(None));
        let verifier: Arc<dyn ServerCertVerifier> = match pin {
            Some(pin) => Arc::new(PinnedVerifier {
                pin,
                provider: provider.clone(),
                refusal: refusal.clone(),
            }),
            None => Arc::new(SystemVerifier {
                inner: rustls_platform_verifier::Verifier::new(provider.clone())
                    .map_err(Error::Tls)?,
                refusal: refusal.clone(),
            }),
        };
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(Error::Tls)?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self { config, refusal })
    }

    /// The rustls configuration (HTTP/1.1 ALPN).
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The error to report for a failed connection, if the failure was a certificate refusal.
    pub fn explain(&self) -> Option<Error> {
        let refusal = *self.refusal.lock().ok()?;
        refusal.map(|r| match r {
            Refusal::Mismatch { expected, got } => Error::PinMismatch {
                expected: expected.to_string(),
                got: got.to_string(),
            },
            Refusal::Untrusted { got } => Error::UntrustedCertificate {
                got: got.to_string(),
            },
        })
    }

    fn record(refusal: &Mutex<Option<Refusal>>, value: Refusal) {
        if let Ok(mut slot) = refusal.lock() {
            *slot = Some(value);
        }
    }
}

/// Accepts exactly the certificate whose SHA-256 is the pin.
#[derive(Debug)]
struct PinnedVerifier {
    pin: Fingerprint,
    provider: Arc<CryptoProvider>,
    refusal: Arc<Mutex<Option<Refusal>>>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = Fingerprint::of(end_entity.as_ref());
        if ct_eq(&got.0, &self.pin.0) {
            return Ok(ServerCertVerified::assertion());
        }
        Trust::record(
            &self.refusal,
            Refusal::Mismatch {
                expected: self.pin,
                got,
            },
        );
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::ApplicationVerificationFailure,
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The platform's verifier, recording the fingerprint of a refused certificate.
#[derive(Debug)]
struct SystemVerifier {
    inner: rustls_platform_verifier::Verifier,
    refusal: Arc<Mutex<Option<Refusal>>>,
}

impl ServerCertVerifier for SystemVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        if result.is_err() {
            Trust::record(
                &self.refusal,
                Refusal::Untrusted {
                    got: Fingerprint::of(end_entity.as_ref()),
                },
            );
        }
        result
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn fingerprints_parse_in_both_forms_and_print_like_the_server() {
        let colon = "AB:".repeat(31) + "CD";
        let a = Fingerprint::parse(&colon).unwrap();
        let b = Fingerprint::parse(&colon.replace(':', "").to_lowercase()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), colon);
        assert!(Fingerprint::parse("abcd").is_err());
        assert!(Fingerprint::parse(&"zz".repeat(32)).is_err());
    }
}
