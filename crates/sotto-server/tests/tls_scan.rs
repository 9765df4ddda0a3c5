//! Pentest D8: a TLS scan of the real server with `openssl s_client` (Debian's OpenSSL). The server
//! must offer TLS 1.3, TLS 1.2 only with ECDHE and an AEAD suite, and nothing below TLS 1.2: the
//! client here is deliberately permissive (`@SECLEVEL=0`), so every refusal is the server's.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::process::{Command, Stdio};

use support::TestServer;

/// What one handshake attempt negotiated: `(protocol, cipher)`, or `None` if it failed.
fn handshake(port: u16, args: &[&str]) -> Option<(String, String)> {
    let output = Command::new("openssl")
        .arg("s_client")
        .arg("-connect")
        .arg(format!("127.0.0.1:{port}"))
        .arg("-servername")
        .arg("localhost")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("openssl s_client runs (apt-get install openssl)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let line = text.lines().find(|l| l.contains(", Cipher is "))?;
    // "New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384" or "New, (NONE), Cipher is (NONE)".
    let (head, cipher) = line.split_once(", Cipher is ")?;
    let protocol = head.trim_start_matches("New, ").to_owned();
    (cipher != "(NONE)").then(|| (protocol, cipher.to_owned()))
}

#[tokio::test(flavor = "multi_thread")]
async fn d8_only_tls_1_2_and_1_3_with_ecdhe_and_aead_suites_are_offered() {
    let server = TestServer::start().await;
    let port = server.server().local_addr.port();
    let scan = tokio::task::spawn_blocking(move || {
        let weak = "ALL:@SECLEVEL=0";
        let tls13 = handshake(port, &["-tls1_3"]);
        let tls12 = handshake(port, &["-tls1_2", "-cipher", weak]);
        let tls11 = handshake(port, &["-tls1_1", "-cipher", weak]);
        let tls10 = handshake(port, &["-tls1", "-cipher", weak]);
        let cbc = handshake(
            port,
            &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384:AES128-SHA:AES256-SHA256:@SECLEVEL=0"],
        );
        let static_rsa = handshake(port, &["-tls1_2", "-cipher", "AES128-GCM-SHA256:AES256-GCM-SHA384:@SECLEVEL=0"]);
        (tls13, tls12, tls11, tls10, cbc, static_rsa)
    })
    .await
    .unwrap();
    let (tls13, tls12, tls11, tls10, cbc, static_rsa) = scan;

    let (protocol, _) = tls13.expect("TLS 1.3 is offered");
    assert_eq!(protocol, "TLSv1.3");
    if let Some((protocol, cipher)) = tls12 {
        assert_eq!(protocol, "TLSv1.2");
        assert!(
            cipher.starts_with("ECDHE-"),
            "TLS 1.2 without ECDHE: {cipher}"
        );
        assert!(
            cipher.contains("GCM") || cipher.contains("CHACHA20"),
            "TLS 1.2 without AEAD: {cipher}"
        );
    }
    assert_eq!(tls11, None, "TLS 1.1 must be refused");
    assert_eq!(tls10, None, "TLS 1.0 must be refused");
    assert_eq!(cbc, None, "CBC suites must be refused");
    assert_eq!(static_rsa, None, "static-RSA key exchange must be refused");
    server.stop().await;
}
