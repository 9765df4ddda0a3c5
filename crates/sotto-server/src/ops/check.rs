//! `sotto-server check`.

use crate::config::Config;
use crate::error::{Error, Result};

/// Runs `sotto-server check`; returns what to print.
pub async fn run(config: &Config) -> Result<String> {
    let _ = config;
    Err(Error::Config {
        reason: "not built yet".to_owned(),
    })
}
