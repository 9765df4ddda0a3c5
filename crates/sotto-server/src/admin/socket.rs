//! The admin socket: a Unix socket in the data folder (`DATA_DIR/admin.sock`) through which
//! `sotto-server admin …` reaches the running server, and both of its sides.
//!
//! Protocol: the client writes one [`AdminRequest`] as a JSON line and the server answers one
//! [`Reply`] line (`{"ok": …}` or `{"error": {"code", "message"}}`), then closes; one request
//! per connection. Who may ask: the socket file is 0600 inside the 0700 data folder, and the
//! server also checks each peer's uid (`SO_PEERCRED`) against its own (the socket file's owner)
//! or root, so a wrong folder mode does not open it to other users.

use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use crate::admin::{execute, AdminRequest, AdminResponse, AdminTarget};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::state::AppState;

/// The longest request line the server reads: a request is an op and a username or an id,
/// well under a kilobyte; anything longer is refused unread.
pub const MAX_REQUEST_LINE: u64 = 64 * 1024;

/// The longest answer the client reads: `users list` grows with the accounts (about 100 bytes
/// each), so this allows well over 100 000 of them.
pub const MAX_REPLY_LINE: u64 = 16 * 1024 * 1024;

/// How long the server waits for the request line: the client writes it at once.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the client waits for the answer: deleting an account with a long queue is one
/// transaction that may take a while on a busy server.
const REPLY_TIMEOUT: Duration = Duration::from_secs(120);

/// Admin connections served at once; an operator runs one command at a time.
const MAX_CONNECTIONS: usize = 4;

/// Where the running server listens for admin requests.
pub fn path(config: &Config) -> PathBuf {
    config.data_dir.join("admin.sock")
}

/// One answer line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// The request ran.
    Ok(AdminResponse),
    /// It was refused or failed.
    Error(ReplyError),
}

/// Why a request was refused or failed.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReplyError {
    /// The stable code (the API's codes, plus `forbidden_peer` and `bad_request`).
    pub code: String,
    /// What happened, for the operator.
    pub message: String,
}

impl ReplyError {
    fn from_error(error: &Error) -> Self {
        Self {
            code: error.status_and_code().1.as_str().to_owned(),
            // The operator also reads the server's log; the cause helps them here.
            message: error.to_string(),
        }
    }
}

/// Whether a peer with uid `peer` may use the socket of a server running as `own`.
pub fn peer_allowed(peer: u32, own: u32) -> bool {
    peer == own || peer == 0
}

/// The listening admin socket; dropping it does not remove the file, [`AdminSocket::stop`]
/// does.
#[derive(Debug)]
pub struct AdminSocket {
    path: PathBuf,
    task: JoinHandle<()>,
}

impl AdminSocket {
    /// Waits for the accept loop to end (it ends on the shutdown signal) and removes the file.
    pub async fn stop(self) {
        let _ = self.task.await;
        if let Err(error) = std::fs::remove_file(&self.path) {
            if error.kind() != ErrorKind::NotFound {
                tracing::warn!(path = %self.path.display(), %error, "removing the admin socket");
            }
        }
    }
}

/// Starts serving admin requests on `path` for the running server until `shutdown`. A socket
/// file left by a server that crashed is replaced; one a live server answers on is an error.
pub async fn serve(
    path: &Path,
    state: AppState,
    mut shutdown: watch::Receiver<bool>,
) -> Result<AdminSocket> {
    let io = |what| move |source| Error::Io { what, source };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if UnixStream::connect(path).await.is_ok() {
                return Err(Error::Config {
                    reason: format!(
                        "a server already answers on {}: is another one using this data folder?",
                        path.display()
                    ),
                });
            }
            std::fs::remove_file(path).map_err(io("removing a stale admin socket"))?;
        }
        Ok(_) => {
            return Err(Error::Config {
                reason: format!("{} exists and is not a socket", path.display()),
            })
        }
        Err(error) if error.kind() == ErrorKind::NotFound => {}
        Err(source) => {
            return Err(Error::Io {
                what: "reading the admin socket's path",
                source,
            })
        }
    }
    let listener = UnixListener::bind(path).map_err(io("binding the admin socket"))?;
    // The folder is 0700 already, so nobody else could reach the file in between.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(io("setting the admin socket's mode"))?;
    let own = std::fs::metadata(path)
        .map_err(io("reading the admin socket's owner"))?
        .uid();
    let target = Arc::new(AdminTarget::Live(state));
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let task = tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                // The guard `wait_for` returns is not `Send`: dropped at once.
                () = async { drop(shutdown.wait_for(|stop| *stop).await) } => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        tracing::warn!(%error, "admin socket accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                // Busy: the connection closes unanswered, the client reports it.
                continue;
            };
            let target = target.clone();
            tokio::spawn(async move {
                handle(stream, own, &target).await;
                drop(slot);
            });
        }
    });
    tracing::info!(path = %path.display(), "admin socket listening");
    Ok(AdminSocket {
        path: path.to_owned(),
        task,
    })
}

/// Serves one connection: checks the peer, reads one request line, answers one line.
async fn handle(stream: UnixStream, own: u32, target: &AdminTarget) {
    let peer = stream.peer_cred().map(|c| c.uid());
    let (read, mut write) = stream.into_split();
    let reply = match peer {
        Ok(uid) if peer_allowed(uid, own) => match read_request(read).await {
            Ok(request) => {
                tracing::info!(op = request_op(&request), "admin request");
                match execute(target, request).await {
                    Ok(response) => Reply::Ok(response),
                    Err(error) => {
                        if error.is_internal() {
                            tracing::error!(?error, "admin request failed");
                        }
                        Reply::Error(ReplyError::from_error(&error))
                    }
                }
            }
            Err(error) => Reply::Error(error),
        },
        Ok(uid) => {
            tracing::warn!(uid, "admin socket: refused a peer running as another user");
            Reply::Error(ReplyError {
                code: "forbidden_peer".to_owned(),
                message: "only the server's own user or root may use the admin socket".to_owned(),
            })
        }
        Err(error) => {
            tracing::warn!(%error, "admin socket: the peer's credentials are unreadable");
            Reply::Error(ReplyError {
                code: "forbidden_peer".to_owned(),
                message: "the peer's credentials are unreadable".to_owned(),
            })
        }
    };
    let mut line = serde_json::to_vec(&reply).unwrap_or_else(|_| {
        br#"{"error":{"code":"internal","message":"the answer could not be encoded"}}"#.to_vec()
    });
    line.push(b'\n');
    let _ = tokio::time::timeout(READ_TIMEOUT, write.write_all(&line)).await;
    let _ = write.shutdown().await;
}

/// The op's name for the log (never the username: the log needs no names to say what ran).
fn request_op(request: &AdminRequest) -> &'static str {
    match request {
        AdminRequest::UsersList => "users_list",
        AdminRequest::UserDisable { .. } => "user_disable",
        AdminRequest::UserEnable { .. } => "user_enable",
        AdminRequest::UserDelete { .. } => "user_delete",
        AdminRequest::Stats => "stats",
        AdminRequest::InviteCreate { .. } => "invite_create",
        AdminRequest::InviteList => "invite_list",
        AdminRequest::InviteRevoke { .. } => "invite_revoke",
    }
}

/// Reads and decodes the one request line, bounded in size and time.
async fn read_request(
    read: tokio::net::unix::OwnedReadHalf,
) -> std::result::Result<AdminRequest, ReplyError> {
    let bad = |message: String| ReplyError {
        code: "bad_request".to_owned(),
        message,
    };
    let line = read_line(read, MAX_REQUEST_LINE, READ_TIMEOUT)
        .await
        .map_err(bad)?;
    serde_json::from_slice(&line).map_err(|e| bad(format!("not an admin request: {e}")))
}

/// One line of at most `max` bytes (without its newline), read within `timeout`.
async fn read_line<R: tokio::io::AsyncRead + Unpin>(
    read: R,
    max: u64,
    timeout: Duration,
) -> std::result::Result<Vec<u8>, String> {
    let mut reader = BufReader::new(read).take(max + 1);
    let mut line = Vec::new();
    match tokio::time::timeout(timeout, reader.read_until(b'\n', &mut line)).await {
        Err(_) => return Err("timed out waiting for a line".to_owned()),
        Ok(Err(error)) => return Err(format!("reading: {error}")),
        Ok(Ok(_)) => {}
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    } else if line.len() as u64 > max {
        return Err(format!("the line is longer than {max} bytes"));
    } else if line.is_empty() {
        return Err("the connection closed before a line".to_owned());
    }
    Ok(line)
}

/// Sends one request to the server listening at `path`; `None` when no server listens there
/// (no socket file, or nobody accepts on it: a server that stopped without removing it).
pub async fn request(path: &Path, request: &AdminRequest) -> Result<Option<AdminResponse>> {
    let mut stream = match UnixStream::connect(path).await {
        Ok(stream) => stream,
        Err(error)
            if matches!(
                error.kind(),
                ErrorKind::NotFound | ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(source) => {
            return Err(Error::Io {
                what: "connecting to the admin socket",
                source,
            })
        }
    };
    let io = |what| move |source| Error::Io { what, source };
    let mut line = serde_json::to_vec(request).map_err(|e| Error::Config {
        reason: format!("encoding the request: {e}"),
    })?;
    line.push(b'\n');
    stream
        .write_all(&line)
        .await
        .map_err(io("writing to the admin socket"))?;
    let answer = read_line(stream, MAX_REPLY_LINE, REPLY_TIMEOUT)
        .await
        .map_err(|reason| Error::Config {
            reason: format!("no answer on the admin socket: {reason}"),
        })?;
    let reply: Reply = serde_json::from_slice(&answer).map_err(|e| Error::Config {
        reason: format!("unreadable answer on the admin socket: {e}"),
    })?;
    match reply {
        Reply::Ok(response) => Ok(Some(response)),
        Reply::Error(e) => Err(Error::AdminRefused {
            code: e.code,
            message: e.message,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_servers_own_user_or_root_may_connect() {
        assert!(peer_allowed(1000, 1000));
        assert!(peer_allowed(0, 1000));
        assert!(peer_allowed(0, 0));
        assert!(!peer_allowed(1001, 1000));
        assert!(!peer_allowed(1000, 0));
    }

    #[tokio::test]
    async fn a_line_longer_than_the_bound_is_refused_unread() {
        let long = [b'x'; 100];
        let err = read_line(&long[..], 10, READ_TIMEOUT).await.unwrap_err();
        assert!(err.contains("longer than 10"), "{err}");
        let ok = read_line(&b"{\"op\":\"stats\"}\nrest"[..], 64, READ_TIMEOUT)
            .await
            .unwrap();
        assert_eq!(ok, b"{\"op\":\"stats\"}");
        assert!(read_line(&b""[..], 10, READ_TIMEOUT).await.is_err());
    }

    #[tokio::test]
    async fn no_socket_file_means_no_server() {
        let dir = tempfile::tempdir().unwrap();
        let answer = request(&dir.path().join("admin.sock"), &AdminRequest::Stats)
            .await
            .unwrap();
        assert!(answer.is_none());
    }

    #[tokio::test]
    async fn a_stale_socket_file_means_no_server() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let answer = request(&path, &AdminRequest::Stats).await.unwrap();
        assert!(answer.is_none());
    }
}
