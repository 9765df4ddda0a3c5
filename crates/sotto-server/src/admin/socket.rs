//! The admin socket: a Unix socket in the data folder through which `sotto-server admin …`
//! reaches the running server.

use std::path::{Path, PathBuf};

use crate::admin::{AdminRequest, AdminResponse};
use crate::config::Config;
use crate::error::{Error, Result};

/// Where the running server listens for admin requests.
pub fn path(config: &Config) -> PathBuf {
    config.data_dir.join("admin.sock")
}

/// Sends one request to the server listening at `path`; `None` when no server listens there.
pub async fn request(path: &Path, request: &AdminRequest) -> Result<Option<AdminResponse>> {
    let _ = (path, request);
    Err(Error::Config {
        reason: "the admin socket is not built yet".to_owned(),
    })
}
