//! TLS: the certificate (configured, or self-signed and kept in the data folder on first start)
//! and the rustls server configuration (aws-lc-rs provider; TLS 1.3, with TLS 1.2 allowed only
//! with ECDHE + AEAD suites as a fallback for older clients).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::aws_lc_rs as provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

use crate::config::Config;
use crate::error::{Error, Result};

/// The certificate the server presents, with what operators need to pin it.
#[derive(Clone, Debug)]
pub struct ServerCert {
    /// The chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// SHA-256 of the leaf certificate's DER, as colon-separated upper-case hex.
    pub fingerprint: String,
    /// Where the leaf certificate's PEM lives (what a client passes to trust it).
    pub cert_path: PathBuf,
    /// Whether the certificate was created at this start.
    pub generated: bool,
}

/// Loads the configured certificate or the one in `data_dir/tls/`, creating it on first start.
/// Returns the rustls configuration and the certificate details.
pub fn load_or_create(config: &Config) -> Result<(Arc<ServerConfig>, ServerCert)> {
    let (cert_path, key_path, generated) = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone(), false),
        _ => {
            let dir = config.data_dir.join("tls");
            let cert = dir.join("cert.pem");
            let key = dir.join("key.pem");
            let generated = if cert.exists() && key.exists() {
                // A key made before it was created private, or copied with a looser mode.
                crate::private_files::tighten(&dir, 0o700)?;
                crate::private_files::tighten(&key, 0o600)?;
                false
            } else {
                generate(&dir, &cert, &key, &config.tls_hostnames)?;
                true
            };
            (cert, key, generated)
        }
    };
    let chain = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|source| Error::Pem {
            path: cert_path.display().to_string(),
            source,
        })?;
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|source| Error::Pem {
        path: key_path.display().to_string(),
        source,
    })?;
    let leaf = chain.first().ok_or_else(|| Error::Config {
        reason: format!("{} holds no certificate", cert_path.display()),
    })?;
    let fingerprint = fingerprint(leaf);
    let server_config = server_config(chain.clone(), key)?;
    Ok((
        server_config,
        ServerCert {
            chain,
            fingerprint,
            cert_path,
            generated,
        },
    ))
}

/// The rustls configuration: aws-lc-rs, TLS 1.3 and AEAD-only TLS 1.2, ALPN h2 and http/1.1.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>> {
    let mut provider = provider::default_provider();
    // Keep only AEAD suites with forward secrecy: every TLS 1.3 suite, and the ECDHE-GCM /
    // ChaCha20 TLS 1.2 ones (rustls offers no CBC or RSA-kx suites, this filter makes it explicit).
    provider.cipher_suites.retain(|suite| match suite {
        rustls::SupportedCipherSuite::Tls13(_) => true,
        rustls::SupportedCipherSuite::Tls12(s) => {
            let name = format!("{:?}", s.common.suite);
            name.starts_with("TLS_ECDHE_") && (name.contains("GCM") || name.contains("CHACHA20"))
        }
    });
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// SHA-256 of a certificate's DER as `AB:CD:…`.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = sotto_proto::crypto::sha256(cert.as_ref());
    digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn generate(dir: &Path, cert_path: &Path, key_path: &Path, extra: &[String]) -> Result<()> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    names.extend(extra.iter().cloned());
    let certified = rcgen::generate_simple_self_signed(names)?;
    crate::private_files::dir(dir)?;
    write_private(key_path, certified.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(cert_path, certified.cert.pem()).map_err(|source| Error::Io {
        what: "writing the certificate",
        source,
    })?;
    Ok(())
}

/// Writes a file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|source| Error::Io {
        what: "writing the private key",
        source,
    })?;
    file.write_all(bytes).map_err(|source| Error::Io {
        what: "writing the private key",
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_creates_then_reuses_the_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let (_, first) = load_or_create(&config).unwrap();
        assert!(first.generated);
        assert_eq!(first.fingerprint.len(), 32 * 3 - 1);
        let (_, second) = load_or_create(&config).unwrap();
        assert!(!second.generated);
        assert_eq!(first.fingerprint, second.fingerprint);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("tls/key.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0);
        }
    }
}
