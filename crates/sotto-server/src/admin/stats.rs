//! The counts an operator watches.

use serde::{Deserialize, Serialize};

use crate::admin::AdminTarget;
use crate::error::{Error, Result};

/// `stats`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Stats {}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

/// Collects the counts.
pub async fn collect(target: &AdminTarget) -> Result<Stats> {
    let _ = target;
    Err(Error::Config {
        reason: "not built yet".to_owned(),
    })
}
