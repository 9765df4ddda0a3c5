//! `sotto-server backup`.

use std::path::Path;

use crate::config::Config;
use crate::error::{Error, Result};

/// Runs `sotto-server backup`; returns what to print.
pub async fn run(config: &Config, file: &Path) -> Result<String> {
    let _ = (config, file);
    Err(Error::Config {
        reason: "not built yet".to_owned(),
    })
}
