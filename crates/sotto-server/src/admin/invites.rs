//! Single-use invitation codes for `registration = "invite"`.

use serde::{Deserialize, Serialize};

use crate::admin::AdminTarget;
use crate::error::{Error, Result};

/// `invite create`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InviteCreated {}

/// `invite list`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InviteList {}

/// `invite revoke`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InviteRevoked {}

macro_rules! text {
    ($($t:ty),*) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{self:?}")
            }
        }
    )*};
}
text!(InviteCreated, InviteList, InviteRevoked);

fn not_built() -> Error {
    Error::Config {
        reason: "not built yet".to_owned(),
    }
}

/// A new code valid for `expires_secs`.
pub async fn create(target: &AdminTarget, expires_secs: u64) -> Result<InviteCreated> {
    let _ = (target, expires_secs);
    Err(not_built())
}

/// The unused, unexpired invitations.
pub async fn list(target: &AdminTarget) -> Result<InviteList> {
    let _ = target;
    Err(not_built())
}

/// Withdraws an unused invitation.
pub async fn revoke(target: &AdminTarget, id: &str) -> Result<InviteRevoked> {
    let _ = (target, id);
    Err(not_built())
}
