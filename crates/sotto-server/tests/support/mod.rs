//! Shared helpers for the integration tests: a real server on a loopback port with real TLS
//! (its generated certificate trusted explicitly, nothing else), an HTTPS client, a WSS client,
//! and clients that hold real `sotto-proto` keys (the fixed test keys) and make real envelopes
//! and group changes.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod cluster;
pub mod pg;
pub mod services;

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sotto_proto::auth::AuthChallenge;
use sotto_proto::body::MessageBody;
use sotto_proto::chain::SenderChain;
use sotto_proto::group::{GroupState, Member};
use sotto_proto::identity::DeviceKeys;
use sotto_proto::ids::{ConversationId, DeviceId, MessageId};
use sotto_proto::testing::{TestAccount, TestDevice};
use sotto_proto::{Env, SystemRng, Timestamp};
use sotto_server::config::Config;
use sotto_server::Server;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::Message;
use tokio_tungstenite::WebSocketStream;

/// Which store a test server uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the test's data folder.
    Sqlite,
    /// A fresh schema in `SOTTO_TEST_DATABASE_URL`.
    Postgres,
}

/// A running server and what a client needs to reach it.
pub struct TestServer {
    pub server: Option<Server>,
    pub dir: tempfile::TempDir,
    pub base: String,
    pub cert_der: Vec<u8>,
    pub pg: Option<pg::Schema>,
    pub config: Config,
}

/// A configuration for tests: loopback port 0, weak Argon2 (fast), sign-up limits raised (the
/// suites register many accounts from 127.0.0.1; `pentest_signup.rs` tests the defaults),
/// everything else default.
pub fn test_config(dir: &std::path::Path) -> Config {
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    config.argon2.memory_kib = 64;
    config.argon2.iterations = 1;
    config.limits.shutdown_grace_secs = 2;
    config.limits.registrations_per_ip_per_hour = 10_000;
    config.limits.registrations_per_minute = 10_000;
    config.metrics_token = Some(sotto_server::config::MetricsToken::new(METRICS_TOKEN));
    config
}

/// The `/metrics` token of [`test_config`].
pub const METRICS_TOKEN: &str = "test-metrics-token-0123456789abcdef";

impl TestServer {
    /// A server on SQLite with the default test configuration.
    pub async fn start() -> Self {
        Self::start_with(Backend::Sqlite, |_| {}).await.unwrap()
    }

    /// A server on `backend` (`None` if Postgres is wanted but not configured).
    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path());
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(pg::Schema::fresh().await?),
        };
        if let Some(pg) = &pg {
            config.database_url = Some(pg.url.clone());
            config.database_schema = Some(pg.name.clone());
        }
        tweak(&mut config);
        Some(Self::launch(dir, config, pg).await)
    }

    async fn launch(dir: tempfile::TempDir, config: Config, pg: Option<pg::Schema>) -> Self {
        let server = sotto_server::start(config.clone()).await.unwrap();
        let base = format!("https://localhost:{}", server.local_addr.port());
        let cert_der = server.cert.chain[0].as_ref().to_vec();
        Self {
            server: Some(server),
            dir,
            base,
            cert_der,
            pg,
            config,
        }
    }

    /// The running server.
    pub fn server(&self) -> &Server {
        self.server.as_ref().unwrap()
    }

    /// The shared state (to inspect the store).
    pub fn state(&self) -> &sotto_server::state::AppState {
        &self.server().state
    }

    /// Stops the server gracefully and starts a new one on the same data (same port not kept).
    pub async fn restart(mut self) -> Self {
        self.server.take().unwrap().stop().await.unwrap();
        let mut config = self.config.clone();
        config.listen = "127.0.0.1:0".parse().unwrap();
        Self::launch(self.dir, config, self.pg).await
    }

    /// Stops the server and drops its Postgres schema.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await.unwrap();
        }
        if let Some(pg) = self.pg.take() {
            pg.drop().await;
        }
    }

    /// The `/metrics` text, fetched with the test token.
    pub async fn metrics(&self) -> String {
        let resp = self
            .api()
            .client
            .get(format!("{}/metrics", self.base))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        resp.text().await.unwrap()
    }

    /// An HTTPS client trusting exactly this server's certificate.
    pub fn api(&self) -> Api {
        self.api_with(reqwest::Client::builder())
    }

    /// [`TestServer::api`] connecting from the loopback address `from` (per-address limits and
    /// the login throttle count per address).
    pub fn api_from(&self, from: std::net::IpAddr) -> Api {
        self.api_with(
            reqwest::Client::builder()
                .local_address(from)
                .resolve("localhost", self.server().local_addr),
        )
    }

    fn api_with(&self, builder: reqwest::ClientBuilder) -> Api {
        let cert = reqwest::Certificate::from_der(&self.cert_der).unwrap();
        let client = builder
            .tls_certs_only([cert])
            .https_only(true)
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Api {
            client,
            base: self.base.clone(),
            token: None,
        }
    }

    /// A rustls client configuration trusting exactly this server's certificate.
    pub fn tls(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(
                self.cert_der.clone(),
            ))
            .unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    /// Opens a raw WebSocket (no ticket sent yet) with extra request headers.
    pub async fn ws_raw(&self, headers: &[(&str, &str)]) -> Result<Ws, String> {
        let addr = self.server().local_addr;
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let connector = tokio_rustls::TlsConnector::from(self.tls());
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        let mut request = format!("wss://localhost:{}/v1/ws", addr.port())
            .into_client_request()
            .unwrap();
        for (k, v) in headers {
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap();
            request.headers_mut().insert(name, v.parse().unwrap());
        }
        let (stream, _) = tokio_tungstenite::client_async(request, tls)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Ws { stream })
    }
}

/// An HTTPS JSON client.
#[derive(Clone)]
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
}

impl Api {
    /// The same client with a bearer token.
    pub fn with_token(&self, token: &str) -> Self {
        Self {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    /// Sends a JSON request; returns the status and the JSON body (`Null` if none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let bytes = resp.bytes().await.unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    /// A `GET` whose answer is raw bytes (an attachment).
    pub async fn get_bytes(&self, path: &str) -> (StatusCode, Vec<u8>) {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.bytes().await.unwrap().to_vec())
    }

    /// Sends raw bytes with a content type.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap_or(Value::Null);
        (status, value)
    }
}

/// Standard base64.
pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard base64.
pub fn unb64(text: &str) -> Vec<u8> {
    STANDARD.decode(text).unwrap()
}

/// Now, as a protocol timestamp.
pub fn now() -> Timestamp {
    sotto_server::clock::now()
}

/// Signs the challenge the server issues for `device` with its auth key; returns
/// `{nonce, signature}` to post.
pub async fn answer_challenge(api: &Api, keys: &DeviceKeys, origin: &str) -> Value {
    let (status, body) = api
        .post(
            "/v1/auth/challenge",
            json!({ "device": keys.device().to_string() }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let challenge = AuthChallenge::decode(&unb64(body["challenge"].as_str().unwrap())).unwrap();
    assert_eq!(challenge.origin, origin, "the challenge names this server");
    assert_eq!(challenge.device, keys.device());
    let signature = keys.sign_auth_challenge(&challenge).unwrap();
    json!({ "nonce": body["nonce"], "signature": b64(&signature) })
}

/// A registered person with one logged-in device.
pub struct Person {
    pub account: TestAccount,
    /// Client with the device's access token.
    pub api: Api,
    pub refresh_token: String,
    pub session: String,
}

pub const PASSWORD: &str = "correct horse battery staple";

impl Person {
    pub fn device(&self) -> &TestDevice {
        &self.account.device
    }

    pub fn keys(&self) -> &DeviceKeys {
        &self.account.device.keys
    }

    pub fn member(&self, admin: bool) -> Member {
        self.account.member(admin)
    }
}

/// Registers account `slot` as `name`, uploads its master key and first device, logs the device
/// in and publishes a currently valid exchange key.
pub async fn onboard(server: &TestServer, slot: usize, name: &str) -> Person {
    onboard_at(&server.server().origin, server.api(), slot, name).await
}

/// [`onboard`] from the loopback address `from` (another address's sign-up allowance).
pub async fn onboard_from(server: &TestServer, slot: usize, name: &str, from: [u8; 4]) -> Person {
    onboard_at(
        &server.server().origin,
        server.api_from(from.into()),
        slot,
        name,
    )
    .await
}

/// [`onboard`] through `api`, on the server whose origin is `origin` (a node of a cluster, too).
pub async fn onboard_at(origin: &str, api: Api, slot: usize, name: &str) -> Person {
    let account = TestAccount::new(slot, name);
    let (status, body) = api
        .post(
            "/v1/accounts",
            json!({ "username": name, "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let login = password_login(&api, name).await;
    let (status, body) = login
        .put(
            "/v1/account/master-key",
            json!({ "master_key": b64(account.master.verifying_key().spki()) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["account"], account.master.account().to_string());
    let (status, body) = login
        .post(
            "/v1/devices",
            json!({ "certificate": b64(&account.device.certificate.encode()) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (api, refresh_token, session) = device_login_at(origin, &login, &account.device.keys).await;
    publish_exchange_key(&api, &account, &account.device, 1).await;
    Person {
        account,
        api,
        refresh_token,
        session,
    }
}

/// Password login; returns a client holding the login token.
pub async fn password_login(api: &Api, name: &str) -> Api {
    let (status, body) = api
        .post(
            "/v1/auth/login",
            json!({ "username": name, "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    api.with_token(body["login_token"].as_str().unwrap())
}

/// Device login with the login-token client; returns (access client, refresh token, session).
pub async fn device_login(
    server: &TestServer,
    login: &Api,
    keys: &DeviceKeys,
) -> (Api, String, String) {
    device_login_at(&server.server().origin, login, keys).await
}

/// [`device_login`] on the server whose origin is `origin`.
pub async fn device_login_at(
    origin: &str,
    login: &Api,
    keys: &DeviceKeys,
) -> (Api, String, String) {
    let answer = answer_challenge(login, keys, origin).await;
    let (status, body) = login.post("/v1/auth/device", answer).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        login.with_token(body["access_token"].as_str().unwrap()),
        body["refresh_token"].as_str().unwrap().to_owned(),
        body["session"].as_str().unwrap().to_owned(),
    )
}

/// Publishes an exchange-key certificate valid from an hour ago for 20 days.
pub async fn publish_exchange_key(
    api: &Api,
    account: &TestAccount,
    device: &TestDevice,
    serial: u64,
) {
    let now = now();
    let cert = device
        .keys
        .certify_exchange_key(
            account.master.account(),
            device.exchange.encrypting_key(),
            serial,
            now.minus(Timestamp::HOUR),
            now.plus(20 * Timestamp::DAY),
        )
        .unwrap();
    let (status, body) = api
        .put(
            "/v1/devices/current/exchange-key",
            json!({ "certificate": b64(&cert.encode()) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Creates a conversation with `members` (the creator first, as admin); returns its id.
pub async fn create_conversation(creator: &Person, others: &[&Person]) -> ConversationId {
    create_conversation_with_state(creator, others).await.0
}

/// [`create_conversation`], also returning the creator's verified group state. Every other
/// member accepts it (until then it would be a request: docs/api.md, "Requests and blocks").
pub async fn create_conversation_with_state(
    creator: &Person,
    others: &[&Person],
) -> (ConversationId, GroupState) {
    let (conversation, group) = create_request_with_state(creator, others).await;
    for other in others {
        let path = format!("/v1/conversations/{conversation}/accept");
        let (status, body) = other.api.post(&path, json!({})).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }
    (conversation, group)
}

/// A conversation `creator` starts with `others`, none of whom has accepted it (a request for
/// those who are not contacts of `creator` yet).
pub async fn create_request(creator: &Person, others: &[&Person]) -> ConversationId {
    create_request_with_state(creator, others).await.0
}

/// [`create_request`], also returning the creator's verified group state.
pub async fn create_request_with_state(
    creator: &Person,
    others: &[&Person],
) -> (ConversationId, GroupState) {
    let mut rng = SystemRng::new();
    let mut env = Env::new(now(), &mut rng);
    let conversation = ConversationId::from_bytes(env.random().unwrap());
    let mut members = vec![creator.member(true)];
    members.extend(others.iter().map(|p| p.member(false)));
    let genesis = GroupState::create(
        conversation,
        sotto_proto::testing::group_kind(conversation, "team"),
        members,
        creator.account.master.account(),
        creator.keys(),
        now(),
    )
    .unwrap();
    let (status, body) = creator
        .api
        .post(
            "/v1/conversations",
            json!({ "genesis": b64(&genesis.encode()) }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["conversation"], conversation.to_string());
    let group = GroupState::genesis(&genesis, &creator.device().verified).unwrap();
    (conversation, group)
}

/// A healthy client still sends and receives: Alice sends over her socket, Bob's socket gets it.
pub async fn healthy_round_trip(server: &TestServer, alice: &Person, bob: &Person, text: &str) {
    let conversation = create_conversation(alice, &[bob]).await;
    let mut a = connect(server, &alice.api, alice.keys()).await;
    let mut b = connect(server, &bob.api, bob.keys()).await;
    let (message, envelope) = seal(alice, conversation, text);
    a.send(send_frame(1, conversation, message, &envelope))
        .await;
    assert_eq!(a.expect("sent").await["recipients"], 1);
    let got = b.expect("envelope").await;
    assert_eq!(got["message_id"], message.to_string());
    assert_eq!(unb64(got["envelope"].as_str().unwrap()), envelope);
}

/// A real envelope from `person` (a fresh chain per message: the relay never sees keys).
pub fn seal(person: &Person, conversation: ConversationId, text: &str) -> (MessageId, Vec<u8>) {
    let mut rng = SystemRng::new();
    let now = now();
    let mut env = Env::new(now, &mut rng);
    let mut chain = SenderChain::start(
        conversation,
        0,
        person.account.master.account(),
        person.keys().device(),
        None,
        &mut env,
    )
    .unwrap();
    let message = MessageId::from_bytes(env.random().unwrap());
    let reserved = chain.reserve(now).unwrap();
    let envelope = reserved
        .seal(
            &MessageBody::Text(text.to_owned()),
            message,
            now,
            person.keys(),
        )
        .unwrap();
    (message, envelope.encode())
}

/// Opens an authenticated socket for a device with its access-token client.
pub async fn connect(server: &TestServer, api: &Api, keys: &DeviceKeys) -> Ws {
    let ticket = ticket(server, api, keys).await;
    let mut ws = server.ws_raw(&[]).await.unwrap();
    ws.send(json!({ "type": "auth", "ticket": ticket })).await;
    let ready = ws.expect("ready").await;
    assert_eq!(ready["device"], keys.device().to_string());
    ws
}

/// A fresh WebSocket ticket.
pub async fn ticket(server: &TestServer, api: &Api, keys: &DeviceKeys) -> String {
    let answer = answer_challenge(api, keys, &server.server().origin).await;
    let (status, body) = api.post("/v1/ws/ticket", answer).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["ticket"].as_str().unwrap().to_owned()
}

/// A WSS client.
pub struct Ws {
    pub stream: WebSocketStream<TlsStream<TcpStream>>,
}

/// How a socket ended, as seen by the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// A close frame with this code.
    Closed(u16),
    /// The stream ended without a close frame.
    Dropped,
}

impl Ws {
    pub async fn send(&mut self, frame: Value) {
        use futures_util::SinkExt;
        self.stream
            .send(Message::Text(frame.to_string().into()))
            .await
            .unwrap();
    }

    pub async fn send_text(&mut self, text: String) -> bool {
        use futures_util::SinkExt;
        self.stream.send(Message::Text(text.into())).await.is_ok()
    }

    /// The next JSON frame within `wait`; `Err` with how the socket ended.
    pub async fn next_within(&mut self, wait: Duration) -> Result<Option<Value>, Ended> {
        use futures_util::StreamExt;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next()).await;
            match next {
                Err(_) => return Ok(None),
                Ok(None) | Ok(Some(Err(_))) => return Err(Ended::Dropped),
                Ok(Some(Ok(Message::Text(t)))) => {
                    return Ok(Some(serde_json::from_str(t.as_str()).unwrap()))
                }
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return Err(Ended::Closed(frame.map_or(1005, |f| u16::from(f.code))))
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// The next JSON frame (5 s at most).
    pub async fn next(&mut self) -> Value {
        match self.next_within(Duration::from_secs(5)).await {
            Ok(Some(v)) => v,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    /// The next frame, which must have this `type`.
    pub async fn expect(&mut self, ty: &str) -> Value {
        let frame = self.next().await;
        assert_eq!(frame["type"], ty, "{frame}");
        frame
    }

    /// Waits for the socket to end (5 s at most).
    pub async fn ended(&mut self) -> Ended {
        loop {
            match self.next_within(Duration::from_secs(5)).await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("socket still open"),
                Err(end) => return end,
            }
        }
    }

    /// Nothing arrives within `wait`.
    pub async fn quiet(&mut self, wait: Duration) {
        match self.next_within(wait).await {
            Ok(None) => {}
            other => panic!("expected silence, got {other:?}"),
        }
    }
}

/// The send frame for an envelope.
pub fn send_frame(
    id: u64,
    conversation: ConversationId,
    message: MessageId,
    envelope: &[u8],
) -> Value {
    json!({
        "type": "send",
        "id": id,
        "conversation": conversation.to_string(),
        "message_id": message.to_string(),
        "envelope": b64(envelope),
    })
}

/// A device id's text form.
pub fn dev(d: DeviceId) -> String {
    d.to_string()
}
