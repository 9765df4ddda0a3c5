//! The cast of a chaos run: the server process, the proxy in front of it, three accounts (alice
//! with two devices, bob, carol), a group of the three and a 1:1 between alice and bob; and
//! mallory, who shares a conversation with alice and floods it in the `flood` scenario.
//!
//! Setup goes through the proxy with a clean network: the server's origin is the proxy's
//! address, because that is the address clients sign into their login challenges.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sotto_client::account::LoginStart;

use crate::device::{open_profile, PASSWORD};
use crate::error::{Error, Result};
use crate::flood::Flooder;
use crate::proxy::Proxy;
use crate::server::{ServeArgs, ServerProcess};

/// Access tokens live this long, so that renewals happen during the faults.
const ACCESS_TOKEN_SECS: u64 = 63;

/// One device of the cast.
#[derive(Debug, Clone)]
pub struct Device {
    /// `alice1`, `alice2`, `bob`, `carol`.
    pub label: String,
    /// Its account's username.
    pub account: String,
    /// Its profile folder.
    pub profile: PathBuf,
    /// Its run folder (plan, status, logs).
    pub run_dir: PathBuf,
}

/// One conversation of the cast.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// `group` or `ab`.
    pub label: String,
    /// `conv:…`.
    pub id: String,
    /// Member usernames.
    pub members: Vec<String>,
}

/// A server, its proxy and the cast.
#[derive(Debug)]
pub struct World {
    /// Where everything lives.
    pub root: PathBuf,
    /// The server process.
    pub server: ServerProcess,
    /// The faulty network in front of it.
    pub proxy: Proxy,
    /// The devices.
    pub devices: Vec<Device>,
    /// The conversations.
    pub conversations: Vec<Conversation>,
    /// Mallory and the conversation alice shares with her (outside the audited ones).
    pub flooder: Flooder,
    /// The `sotto-chaos` executable (for the server and client processes).
    pub exe: PathBuf,
}

/// A free loopback port (bound and released; the server binds it again at once).
fn free_port() -> Result<SocketAddr> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(Error::io("finding a port"))?;
    listener.local_addr().map_err(Error::io("finding a port"))
}

impl World {
    /// Starts the server and the proxy under `root` and creates the cast.
    pub async fn create(exe: &Path, root: &Path, seed: u64) -> Result<Self> {
        let server_addr = free_port()?;
        let proxy = Proxy::start(SocketAddr::from(([127, 0, 0, 1], 0)), server_addr, seed).await?;
        let url = format!("https://127.0.0.1:{}", proxy.addr().port());
        let args = ServeArgs {
            data_dir: root.join("server"),
            listen: server_addr,
            origin: format!("https://localhost:{}", proxy.addr().port()),
            access_token_secs: ACCESS_TOKEN_SECS,
        };
        let mut server = ServerProcess::new(exe, args, root.join("server.log"));
        server.start().await?;
        let pin = server.pin.clone();
        let device = |label: &str, account: &str| -> Result<Device> {
            let profile = root.join("profiles").join(label);
            let run_dir = root.join("run").join(label);
            for dir in [&profile, &run_dir] {
                std::fs::create_dir_all(dir).map_err(Error::io("creating a device folder"))?;
            }
            Ok(Device {
                label: label.to_owned(),
                account: account.to_owned(),
                profile,
                run_dir,
            })
        };
        let (a1, a2) = (device("alice1", "alice")?, device("alice2", "alice")?);
        let (b, c) = (device("bob", "bob")?, device("carol", "carol")?);
        let server_id = Some((url.as_str(), pin.as_str()));
        let mut alice = open_profile(&a1.profile, &a1.label, server_id)?;
        alice
            .register(&a1.account, PASSWORD, &a1.label)
            .await
            .map_err(Error::client("registering"))?;
        for d in [&b, &c] {
            open_profile(&d.profile, &d.label, server_id)?
                .register(&d.account, PASSWORD, &d.label)
                .await
                .map_err(Error::client("registering"))?;
        }
        let mut second = open_profile(&a2.profile, &a2.label, server_id)?;
        let start = second
            .login_start(&a2.account, PASSWORD, &a2.label)
            .await
            .map_err(Error::client("logging in a second device"))?;
        if let LoginStart::Pending { code, login_token } = start {
            alice
                .approve(&code)
                .await
                .map_err(Error::client("approving the second device"))?;
            second
                .login_wait(&login_token, Duration::from_secs(60))
                .await
                .map_err(Error::client("waiting for approval"))?;
        }
        drop(second);
        // Mallory: a member of a conversation alice started, so alice accepted it; the
        // `flood` scenario has her fill alice's queues from there.
        let mallory_profile = root.join("profiles").join("mallory");
        std::fs::create_dir_all(&mallory_profile).map_err(Error::io("creating a device folder"))?;
        open_profile(&mallory_profile, "mallory", server_id)?
            .register("mallory", PASSWORD, "mallory")
            .await
            .map_err(Error::client("registering"))?;
        let hostile = alice
            .create_group("with mallory", &["mallory".to_owned()], true)
            .await
            .map_err(Error::client("creating mallory's conversation"))?;
        let group = alice
            .create_group("chaos", &["bob".to_owned(), "carol".to_owned()], true)
            .await
            .map_err(Error::client("creating the group"))?;
        let direct = alice
            .direct_conversation("bob", true)
            .await
            .map_err(Error::client("creating the 1:1"))?;
        drop(alice);
        // Alice is nobody's contact yet: both conversations are requests for bob and carol,
        // which the server caps until they accept (the honest cast accepts at once).
        for (d, accepted) in [(&b, vec![group, direct]), (&c, vec![group])] {
            let mut member = open_profile(&d.profile, &d.label, server_id)?;
            for conversation in accepted {
                member
                    .accept(conversation)
                    .await
                    .map_err(Error::client("accepting the conversation"))?;
            }
        }
        let conversations = vec![
            Conversation {
                label: "group".to_owned(),
                id: group.to_string(),
                members: vec!["alice".to_owned(), "bob".to_owned(), "carol".to_owned()],
            },
            Conversation {
                label: "ab".to_owned(),
                id: direct.to_string(),
                members: vec!["alice".to_owned(), "bob".to_owned()],
            },
        ];
        Ok(Self {
            root: root.to_path_buf(),
            server,
            proxy,
            devices: vec![a1, a2, b, c],
            conversations,
            flooder: Flooder {
                profile: mallory_profile,
                conversation: hostile.to_string(),
                server: (url.clone(), pin.clone()),
            },
            exe: exe.to_path_buf(),
        })
    }
}
