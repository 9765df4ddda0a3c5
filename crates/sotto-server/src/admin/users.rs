//! Accounts as the operator sees them: list, disable, enable, delete.

use serde::{Deserialize, Serialize};

use crate::admin::AdminTarget;
use crate::error::{Error, Result};

/// `users list`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserList {}

/// `users disable|enable`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserState {}

/// `users delete`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Deleted {}

macro_rules! text {
    ($($t:ty),*) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{self:?}")
            }
        }
    )*};
}
text!(UserList, UserState, Deleted);

fn not_built() -> Error {
    Error::Config {
        reason: "not built yet".to_owned(),
    }
}

/// Every account.
pub async fn list(target: &AdminTarget) -> Result<UserList> {
    let _ = target;
    Err(not_built())
}

/// Disables or enables `username`.
pub async fn set_disabled(
    target: &AdminTarget,
    username: &str,
    disabled: bool,
) -> Result<UserState> {
    let _ = (target, username, disabled);
    Err(not_built())
}

/// Deletes `username`'s devices, sessions, queues and attachments.
pub async fn delete(target: &AdminTarget, username: &str) -> Result<Deleted> {
    let _ = (target, username);
    Err(not_built())
}
