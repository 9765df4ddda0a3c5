//! `sotto-server restore`.

use std::path::Path;

use crate::config::Config;
use crate::error::{Error, Result};

/// Runs `sotto-server restore`; returns what to print.
pub async fn run(config: &Config, file: &Path, force: bool) -> Result<String> {
    let _ = (config, file, force);
    Err(Error::Config {
        reason: "not built yet".to_owned(),
    })
}
