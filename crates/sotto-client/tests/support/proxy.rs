//! The second lever: a TLS-terminating proxy in front of the server, presenting the server's own
//! certificate and key (a compromised server has them, so the pin matches), that rewrites HTTP
//! requests before they reach the real server. It speaks HTTP/1.1 with `Content-Length` bodies,
//! which is what the client and the API use; WebSocket upgrades are not proxied (the relay's
//! queue is rewritten through the store instead).

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use sotto_client::tls::{Fingerprint, Trust};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::World;

/// Rewrites a request path (`/v1/…`) before it is forwarded.
pub type PathRewrite = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// A running proxy; stops with the test's runtime.
pub struct Proxy {
    /// `https://127.0.0.1:…` to give a client instead of the server's URL.
    pub url: String,
}

impl World {
    /// Starts a proxy in front of this world's server that rewrites request paths.
    pub fn proxy(&self, rewrite: impl Fn(&str) -> String + Send + Sync + 'static) -> Proxy {
        let rewrite: PathRewrite = Arc::new(rewrite);
        let (server_config, cert) =
            sotto_server::tls::load_or_create(&super::config(self.dir.path().join("data")))
                .unwrap();
        assert_eq!(
            cert.fingerprint, self.pin,
            "the proxy shows the server's own certificate"
        );
        let acceptor = TlsAcceptor::from(server_config);
        let trust = Trust::new(Some(Fingerprint::parse(&self.pin).unwrap())).unwrap();
        let connector = TlsConnector::from(Arc::new(trust.config().clone()));
        let upstream = self.server_addr();
        let listener = self.rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!(
            "https://127.0.0.1:{}",
            listener.local_addr().unwrap().port()
        );
        self.rt.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, connector, rewrite) =
                    (acceptor.clone(), connector.clone(), rewrite.clone());
                tokio::spawn(async move {
                    let _ = serve(tcp, acceptor, connector, upstream, rewrite).await;
                });
            }
        });
        Proxy { url }
    }
}

/// One client connection: each request is read, rewritten, forwarded, and its answer relayed.
async fn serve(
    tcp: TcpStream,
    acceptor: TlsAcceptor,
    connector: TlsConnector,
    upstream: SocketAddr,
    rewrite: PathRewrite,
) -> std::io::Result<()> {
    let client = acceptor.accept(tcp).await?;
    let server = connector
        .connect(
            ServerName::try_from("127.0.0.1").unwrap(),
            TcpStream::connect(upstream).await?,
        )
        .await?;
    let (client_read, mut client_write) = tokio::io::split(client);
    let (server_read, mut server_write) = tokio::io::split(server);
    let mut client_read = BufReader::new(client_read);
    let mut server_read = BufReader::new(server_read);
    while let Some((head, body)) = read_message(&mut client_read).await? {
        let head = String::from_utf8_lossy(&head).into_owned();
        let (request_line, rest) = head.split_once("\r\n").unwrap_or((&head, ""));
        let mut parts: Vec<String> = request_line.split(' ').map(str::to_owned).collect();
        if let Some(path) = parts.get_mut(1) {
            *path = rewrite(path);
        }
        server_write
            .write_all(format!("{}\r\n{rest}", parts.join(" ")).as_bytes())
            .await?;
        server_write.write_all(&body).await?;
        let Some((head, body)) = read_message(&mut server_read).await? else {
            return Ok(());
        };
        client_write.write_all(&head).await?;
        client_write.write_all(&body).await?;
    }
    Ok(())
}

/// One HTTP/1.1 message: its head (through the blank line) and its `Content-Length` body.
async fn read_message<R: AsyncBufRead + Unpin>(
    reader: &mut R,
) -> std::io::Result<Option<(Vec<u8>, Vec<u8>)>> {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(None);
        }
        head.extend_from_slice(&line);
        if line == b"\r\n" {
            break;
        }
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(
        !text.contains("transfer-encoding: chunked") && !text.contains("upgrade: websocket"),
        "the proxy handles Content-Length HTTP/1.1 only"
    );
    let len = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse::<usize>().unwrap());
    let mut body = vec![0; len];
    reader.read_exact(&mut body).await?;
    Ok(Some((head, body)))
}
