//! Certificate reload on SIGHUP and expiry warnings, against the real `sotto-server` binary with
//! `SOTTO_TLS_CERT`/`SOTTO_TLS_KEY` pointing at PEM files written here: a new pair is served to
//! new connections while an open keep-alive connection goes on working; a bad pair is refused
//! and the certificate in service stays; a certificate near (or past) its end is logged.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// A certificate and key in PEM, and the certificate's SHA-256 fingerprint.
struct Pair {
    cert: String,
    key: String,
    fingerprint: String,
}

/// A self-signed pair for localhost valid until `not_after`.
fn pair(not_after: time::OffsetDateTime) -> Pair {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(60);
    params.not_after = not_after;
    let cert = params.self_signed(&key).unwrap();
    Pair {
        fingerprint: sotto_server::tls::fingerprint(cert.der()),
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

fn long_lived() -> Pair {
    pair(time::OffsetDateTime::now_utc() + time::Duration::days(365))
}

/// The running binary and everything it has printed (log lines included; ANSI colours removed).
struct Process {
    child: Child,
    output: Arc<Mutex<String>>,
    addr: SocketAddr,
    cert_path: PathBuf,
    key_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Process {
    fn start(first: &Pair) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cert_path = dir.path().join("fullchain.pem");
        let key_path = dir.path().join("privkey.pem");
        std::fs::write(&cert_path, &first.cert).unwrap();
        std::fs::write(&key_path, &first.key).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_sotto-server"))
            .env_clear()
            .env("SOTTO_LISTEN", "127.0.0.1:0")
            .env("SOTTO_DATA_DIR", dir.path().join("data"))
            .env("SOTTO_TLS_CERT", &cert_path)
            .env("SOTTO_TLS_KEY", &key_path)
            .env("SOTTO_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let mut all = output.lock().unwrap();
                    all.push_str(&strip_ansi(&line));
                    all.push('\n');
                }
            });
        }
        let mut process = Self {
            child,
            output,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            cert_path,
            key_path,
            _dir: dir,
        };
        let line = process.wait_for("Sotto is listening on");
        let addr = line
            .rsplit_once('(')
            .and_then(|(_, rest)| rest.strip_suffix(')'))
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        process.addr = addr.parse().unwrap();
        process
    }

    /// Waits (up to 10 s) for a printed line containing `needle` that was not there before
    /// `skip` bytes of output, and returns it.
    fn wait_for_after(&self, skip: usize, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            {
                let output = self.output.lock().unwrap();
                if let Some(line) = output[skip..].lines().find(|l| l.contains(needle)) {
                    return line.to_owned();
                }
            }
            assert!(
                Instant::now() < deadline,
                "no line with {needle:?} in:\n{}",
                self.output.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_for(&self, needle: &str) -> String {
        self.wait_for_after(0, needle)
    }

    fn printed(&self) -> usize {
        self.output.lock().unwrap().len()
    }

    fn install(&self, pair: &Pair) {
        replace(&self.cert_path, &pair.cert);
        replace(&self.key_path, &pair.key);
    }

    /// Sends SIGHUP and returns the output length before it, to look for what it logs.
    fn hangup(&self) -> usize {
        let before = self.printed();
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        before
    }

    fn assert_alive(&mut self) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the server exited:\n{}",
            self.output.lock().unwrap()
        );
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `contents` beside `path` and renames it over `path`, as certbot's deploy does.
fn replace(path: &Path, contents: &str) {
    let staged = path.with_extension("new");
    std::fs::write(&staged, contents).unwrap();
    std::fs::rename(&staged, path).unwrap();
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI sequences end with a letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Accepts any certificate whose handshake signature verifies, so the test can see which one
/// the server presents.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS connection (HTTP/1.1, no ALPN) and the fingerprint of the certificate it was shown.
async fn connect(addr: SocketAddr) -> (TlsStream<TcpStream>, String) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    let leaf = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    (tls, sotto_server::tls::fingerprint(&leaf))
}

/// Sends `GET /healthz` on a keep-alive connection and returns the status line.
async fn healthz(tls: &mut TlsStream<TcpStream>) -> String {
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf))
            .await
            .expect("an answer within 5 s")
            .unwrap();
        assert!(n > 0, "the connection closed");
        response.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&response).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .expect("a content-length");
            if body.len() >= length {
                return head.lines().next().unwrap().to_owned();
            }
        }
    }
}

#[tokio::test]
async fn sighup_serves_a_new_pair_to_new_connections_keeps_open_ones_and_refuses_a_bad_pair() {
    let first = long_lived();
    let mut server = Process::start(&first);

    let (mut open, seen) = connect(server.addr).await;
    assert_eq!(seen, first.fingerprint);
    assert_eq!(healthz(&mut open).await, "HTTP/1.1 200 OK");

    // A renewed pair, as a deploy hook installs it, then `systemctl reload sotto`.
    let second = long_lived();
    server.install(&second);
    let mark = server.hangup();
    let line = server.wait_for_after(mark, "reloaded");
    assert!(line.contains(&second.fingerprint), "{line}");
    let (_, seen) = connect(server.addr).await;
    assert_eq!(
        seen, second.fingerprint,
        "a new connection gets the new certificate"
    );
    assert_eq!(
        healthz(&mut open).await,
        "HTTP/1.1 200 OK",
        "the connection opened before the reload still answers"
    );

    // A key that belongs to another certificate.
    let stranger = long_lived();
    replace(&server.cert_path, &stranger.cert);
    replace(&server.key_path, &first.key);
    let mark = server.hangup();
    let line = server.wait_for_after(mark, "TLS reload refused");
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("does not match"), "{line}");
    let (_, seen) = connect(server.addr).await;
    assert_eq!(seen, second.fingerprint, "the certificate in service stays");

    // Files that are not PEM at all (a half-written file, a wrong path in a hook).
    replace(&server.cert_path, "not a certificate\n");
    replace(&server.key_path, &second.key);
    let mark = server.hangup();
    server.wait_for_after(mark, "TLS reload refused");
    let (_, seen) = connect(server.addr).await;
    assert_eq!(seen, second.fingerprint);

    // An empty key file.
    server.install(&second);
    replace(&server.key_path, "");
    let mark = server.hangup();
    server.wait_for_after(mark, "TLS reload refused");

    assert_eq!(healthz(&mut open).await, "HTTP/1.1 200 OK");
    server.assert_alive();
    assert!(
        !server.output.lock().unwrap().contains("PRIVATE KEY"),
        "no key material in the log"
    );
}

#[tokio::test]
async fn a_certificate_near_its_end_is_warned_about_at_start_and_an_expired_one_on_reload() {
    let soon = pair(time::OffsetDateTime::now_utc() + time::Duration::days(10));
    let server = Process::start(&soon);
    let line = server.wait_for("days left");
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("fullchain.pem"), "names the file: {line}");
    let expected = time::OffsetDateTime::now_utc() + time::Duration::days(10);
    let date = format!(
        "{:04}-{:02}-{:02}",
        expected.year(),
        u8::from(expected.month()),
        expected.day()
    );
    assert!(line.contains(&date), "names the date {date}: {line}");
    assert!(
        line.contains("(9 days left)") || line.contains("(10 days left)"),
        "{line}"
    );

    let gone = pair(time::OffsetDateTime::now_utc() - time::Duration::days(1));
    server.install(&gone);
    let mark = server.hangup();
    // Served all the same (refusing it would take the server down with it), and logged.
    server.wait_for_after(mark, "reloaded");
    let line = server.wait_for_after(mark, "expired on");
    assert!(line.contains("ERROR"), "{line}");
    let (_, seen) = connect(server.addr).await;
    assert_eq!(seen, gone.fingerprint);

    let fine = long_lived();
    server.install(&fine);
    let mark = server.hangup();
    server.wait_for_after(mark, "reloaded");
    // Give a warning the time to appear, then check there is none for a far-off date.
    std::thread::sleep(Duration::from_millis(200));
    let output = server.output.lock().unwrap()[mark..].to_owned();
    assert!(
        !output.contains("WARN") && !output.contains("ERROR"),
        "{output}"
    );
}
