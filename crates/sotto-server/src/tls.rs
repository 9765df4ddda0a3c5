//! TLS: the certificate (configured, or self-signed and kept in the data folder on first start),
//! its reload on request (SIGHUP, [`crate::Server::reload_tls`]), its validity dates and the
//! expiry warnings, and the rustls server configuration (aws-lc-rs provider; TLS 1.3, with TLS
//! 1.2 allowed only with ECDHE + AEAD suites as a fallback for older clients).
//!
//! The server configuration is built once and never replaced: it asks a [`CertCell`] for the
//! certificate at each handshake, and a reload swaps what the cell holds. Connections already
//! open keep the certificate they were set up with; new handshakes get the new one. A reload
//! reads and checks the whole pair first (readable PEM, at least one certificate, a leaf whose
//! dates parse, a private key that matches the leaf's public key) and changes nothing when any
//! check fails.
//!
//! The generated self-signed certificate is valid from 1975 to 4096 (rcgen's defaults), so it
//! is never renewed: clients pin its fingerprint, and a new one would break every pin.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::crypto::aws_lc_rs as provider;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use crate::config::Config;
use crate::error::{Error, Result};

/// How close to its end a certificate starts being warned about: Let's Encrypt clients renew
/// with 30 days left, so a certificate still this close to its end missed its renewal.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(30 * 24 * 3600);
/// How often a running server looks at its certificate's dates again (one warning a day).
pub const EXPIRY_CHECK_INTERVAL: Duration = Duration::from_secs(24 * 3600);

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
    /// The leaf's notBefore.
    pub not_before: SystemTime,
    /// The leaf's notAfter.
    pub not_after: SystemTime,
}

/// The certificate in service and the files it is read from.
#[derive(Debug)]
pub struct Tls {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    cell: Arc<CertCell>,
    config: Arc<ServerConfig>,
}

impl Tls {
    /// Loads the configured certificate or the one in `data_dir/tls/`, creating it on first
    /// start, and builds the server configuration that serves it.
    pub fn open(config: &Config) -> Result<Self> {
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
        let provider = Arc::new(filtered_provider());
        let (key, mut cert) = read_pair(&cert_path, &key_path, &provider)?;
        cert.generated = generated;
        let cell = Arc::new(CertCell {
            current: RwLock::new(Arc::new(Served { key, cert })),
        });
        let config = build(provider.clone(), cell.clone())?;
        Ok(Self {
            cert_path,
            key_path,
            provider,
            cell,
            config,
        })
    }

    /// The rustls configuration; the same for the server's whole life.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.config.clone()
    }

    /// The certificate new handshakes get.
    pub fn current(&self) -> ServerCert {
        self.cell.get().cert.clone()
    }

    /// Reads the certificate and key files again and serves them to new handshakes. A pair that
    /// fails any check is refused and the certificate in service stays.
    pub fn reload(&self) -> Result<ServerCert> {
        let (key, cert) = read_pair(&self.cert_path, &self.key_path, &self.provider)?;
        self.cell.set(Served {
            key,
            cert: cert.clone(),
        });
        Ok(cert)
    }
}

/// What handshakes are answered with: the key and chain, and their details.
#[derive(Debug)]
struct Served {
    key: Arc<CertifiedKey>,
    cert: ServerCert,
}

/// The cell the server configuration reads the certificate from at each handshake.
#[derive(Debug)]
pub struct CertCell {
    current: RwLock<Arc<Served>>,
}

impl CertCell {
    fn get(&self) -> Arc<Served> {
        // A panic while holding the lock cannot leave a half-written value (the write is one
        // pointer swap), so a poisoned lock still holds a whole certificate.
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn set(&self, served: Served) {
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(served);
    }
}

impl ResolvesServerCert for CertCell {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get().key.clone())
    }
}

/// Loads the configured certificate or the one in `data_dir/tls/`, creating it on first start.
/// Returns the rustls configuration and the certificate details.
pub fn load_or_create(config: &Config) -> Result<(Arc<ServerConfig>, ServerCert)> {
    let tls = Tls::open(config)?;
    Ok((tls.server_config(), tls.current()))
}

/// Reads and checks the pair at these paths exactly as a start or a reload does (what
/// `sotto-server check` reports on).
pub fn check_pair(cert_path: &Path, key_path: &Path) -> Result<ServerCert> {
    read_pair(cert_path, key_path, &filtered_provider()).map(|(_, cert)| cert)
}

/// Reads and checks a certificate chain and its private key.
fn read_pair(
    cert_path: &Path,
    key_path: &Path,
    provider: &CryptoProvider,
) -> Result<(Arc<CertifiedKey>, ServerCert)> {
    let chain = CertificateDer::pem_file_iter(cert_path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|source| Error::Pem {
            path: cert_path.display().to_string(),
            source,
        })?;
    let refused = |path: &Path, reason: String| Error::Certificate {
        path: path.display().to_string(),
        reason,
    };
    let leaf = chain
        .first()
        .ok_or_else(|| refused(cert_path, "holds no certificate".to_owned()))?;
    let fingerprint = fingerprint(leaf);
    let (not_before, not_after) =
        validity(leaf).map_err(|reason| refused(cert_path, reason.to_owned()))?;
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|source| Error::Pem {
        path: key_path.display().to_string(),
        source,
    })?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|error| refused(key_path, format!("unusable private key: {error}")))?;
    let certified = CertifiedKey::new(chain.clone(), signing);
    // Unlike `with_single_cert`, an unknown match is refused too: every aws-lc-rs key reports
    // its public key, so "unknown" would mean something unexpected.
    certified.keys_match().map_err(|_| {
        refused(
            key_path,
            format!(
                "the private key does not match the certificate in {}",
                cert_path.display()
            ),
        )
    })?;
    Ok((
        Arc::new(certified),
        ServerCert {
            chain,
            fingerprint,
            cert_path: cert_path.to_path_buf(),
            generated: false,
            not_before,
            not_after,
        },
    ))
}

fn validity(
    leaf: &CertificateDer<'_>,
) -> std::result::Result<(SystemTime, SystemTime), &'static str> {
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|_| "the leaf certificate cannot be parsed")?;
    let validity = parsed.validity();
    let not_before = system_time(validity.not_before.timestamp())
        .ok_or("the leaf certificate's notBefore is out of range")?;
    let not_after = system_time(validity.not_after.timestamp())
        .ok_or("the leaf certificate's notAfter is out of range")?;
    Ok((not_before, not_after))
}

fn system_time(unix_secs: i64) -> Option<SystemTime> {
    let magnitude = Duration::from_secs(unix_secs.unsigned_abs());
    if unix_secs >= 0 {
        UNIX_EPOCH.checked_add(magnitude)
    } else {
        UNIX_EPOCH.checked_sub(magnitude)
    }
}

/// Where a certificate stands against its dates at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Valid, and not within [`EXPIRY_WARNING`] of its end.
    Valid,
    /// Valid for this many more whole days (within [`EXPIRY_WARNING`]).
    ExpiresSoon {
        /// Whole days left.
        days_left: u64,
    },
    /// Past its notAfter.
    Expired,
    /// Before its notBefore.
    NotYetValid,
}

impl Standing {
    /// Where a certificate valid from `not_before` to `not_after` stands at `now`.
    pub fn at(not_before: SystemTime, not_after: SystemTime, now: SystemTime) -> Self {
        if now < not_before {
            return Self::NotYetValid;
        }
        match not_after.duration_since(now) {
            Err(_) => Self::Expired,
            Ok(left) if left <= EXPIRY_WARNING => Self::ExpiresSoon {
                days_left: left.as_secs() / (24 * 3600),
            },
            Ok(_) => Self::Valid,
        }
    }
}

/// Logs a warning when `cert` is within [`EXPIRY_WARNING`] of its end or not valid yet, an
/// error when it has expired; nothing otherwise.
pub fn log_expiry(cert: &ServerCert, now: SystemTime) {
    let path = cert.cert_path.display();
    let until = utc(cert.not_after);
    match Standing::at(cert.not_before, cert.not_after, now) {
        Standing::Valid => {}
        Standing::ExpiresSoon { days_left } => tracing::warn!(
            "TLS certificate {path} expires on {until} ({days_left} days left): renew it, \
             then reload the server (systemctl reload sotto, or kill -HUP)"
        ),
        Standing::Expired => tracing::error!(
            "TLS certificate {path} expired on {until}: clients refuse it; renew it, then \
             reload the server (systemctl reload sotto, or kill -HUP)"
        ),
        Standing::NotYetValid => tracing::warn!(
            "TLS certificate {path} is not valid before {}: clients refuse it until then",
            utc(cert.not_before)
        ),
    }
}

/// Looks at the certificate in service once every [`EXPIRY_CHECK_INTERVAL`] and logs what
/// [`log_expiry`] says, until `shutdown` turns true.
pub async fn watch_expiry(tls: Arc<Tls>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(EXPIRY_CHECK_INTERVAL) => {}
            _ = crate::clock::until_true(&mut shutdown) => return,
        }
        log_expiry(&tls.current(), SystemTime::now());
    }
}

/// A time as `YYYY-MM-DD HH:MM:SS UTC` (dates before 1970 print as the epoch: certificates in
/// service are not that old, and the exact date would help nobody).
pub fn utc(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = crate::clock::civil_from_days(i64::try_from(days).unwrap_or(0));
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// aws-lc-rs with only the AEAD suites with forward secrecy: every TLS 1.3 suite, and the
/// ECDHE-GCM / ChaCha20 TLS 1.2 ones (rustls offers no CBC or RSA-kx suites, this filter makes
/// it explicit).
fn filtered_provider() -> CryptoProvider {
    let mut provider = provider::default_provider();
    provider.cipher_suites.retain(|suite| match suite {
        rustls::SupportedCipherSuite::Tls13(_) => true,
        rustls::SupportedCipherSuite::Tls12(s) => {
            let name = format!("{:?}", s.common.suite);
            name.starts_with("TLS_ECDHE_") && (name.contains("GCM") || name.contains("CHACHA20"))
        }
    });
    provider
}

/// TLS 1.3 and 1.2, no client certificates, ALPN h2 and http/1.1, certificates from `resolver`.
fn build(
    provider: Arc<CryptoProvider>,
    resolver: Arc<dyn ResolvesServerCert>,
) -> Result<Arc<ServerConfig>> {
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = alpn();
    Ok(Arc::new(config))
}

/// HTTP/2 first, HTTP/1.1 for clients without it.
fn alpn() -> Vec<Vec<u8>> {
    vec![b"h2".to_vec(), b"http/1.1".to_vec()]
}

/// The rustls configuration for one fixed certificate: aws-lc-rs, TLS 1.3 and AEAD-only TLS
/// 1.2, ALPN h2 and http/1.1.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(filtered_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = alpn();
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

    const DAY: Duration = Duration::from_secs(24 * 3600);

    #[test]
    fn the_generated_certificate_runs_until_4096_and_needs_no_warning() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let (_, cert) = load_or_create(&config).unwrap();
        assert_eq!(utc(cert.not_after), "4096-01-01 00:00:00 UTC");
        assert_eq!(
            Standing::at(cert.not_before, cert.not_after, SystemTime::now()),
            Standing::Valid
        );
    }

    #[test]
    fn a_reload_swaps_a_good_pair_and_refuses_a_key_of_another_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let tls = Tls::open(&config).unwrap();
        let first = tls.current();
        assert!(first.generated);
        let other = tempfile::tempdir().unwrap();
        let (cert, key) = (other.path().join("c.pem"), other.path().join("k.pem"));
        generate(&other.path().join("tls"), &cert, &key, &[]).unwrap();
        let tls_dir = dir.path().join("tls");

        // Only the certificate replaced: the key in place belongs to the old one.
        std::fs::copy(&cert, tls_dir.join("cert.pem")).unwrap();
        let refused = tls.reload().unwrap_err();
        assert!(refused.to_string().contains("does not match"), "{refused}");
        assert_eq!(tls.current().fingerprint, first.fingerprint);

        std::fs::copy(&key, tls_dir.join("key.pem")).unwrap();
        let second = tls.reload().unwrap();
        assert_ne!(second.fingerprint, first.fingerprint);
        assert!(!second.generated);
        assert_eq!(tls.current().fingerprint, second.fingerprint);

        std::fs::write(tls_dir.join("cert.pem"), "").unwrap();
        assert!(tls.reload().is_err(), "an empty chain is refused");
        assert_eq!(tls.current().fingerprint, second.fingerprint);
    }

    #[test]
    fn standing_warns_within_30_days_and_names_expired_and_early_certificates() {
        let now = UNIX_EPOCH + 20_000 * DAY;
        let from = now - 100 * DAY;
        assert_eq!(Standing::at(from, now + 31 * DAY, now), Standing::Valid);
        assert_eq!(
            Standing::at(from, now + 30 * DAY, now),
            Standing::ExpiresSoon { days_left: 30 }
        );
        assert_eq!(
            Standing::at(from, now + 10 * DAY - Duration::from_secs(1), now),
            Standing::ExpiresSoon { days_left: 9 }
        );
        assert_eq!(
            Standing::at(from, now, now),
            Standing::ExpiresSoon { days_left: 0 }
        );
        assert_eq!(
            Standing::at(from, now - Duration::from_secs(1), now),
            Standing::Expired
        );
        assert_eq!(
            Standing::at(now + DAY, now + 90 * DAY, now),
            Standing::NotYetValid
        );
    }

    #[test]
    fn utc_prints_calendar_dates() {
        assert_eq!(utc(UNIX_EPOCH), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            utc(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29 00:00:00 UTC"
        );
        assert_eq!(
            utc(UNIX_EPOCH + Duration::from_secs(1_798_761_599)),
            "2026-12-31 23:59:59 UTC"
        );
        assert_eq!(
            system_time(-1),
            UNIX_EPOCH.checked_sub(Duration::from_secs(1))
        );
    }
}
