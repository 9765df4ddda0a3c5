//! Tells devices that a conversation's group log changed (`{"type": "conversation"}`,
//! docs/api.md "Server → client"), so an invitee sees a new group at once and a removed member
//! learns of its removal instead of finding out when its next message is refused.
//!
//! The notice is best effort, sent after the change is committed: it carries only the
//! conversation id (never the change), a device that misses it (offline, full queue) finds the
//! change on its next fetch, and a failure here never fails the change.

use std::sync::Arc;

use sotto_proto::ids::ConversationId;
use sotto_wire::ServerFrame;

use crate::hub::Push;
use crate::state::AppState;
use crate::store::{DeviceState, UserId};

/// Pushes the notice to every active device of each of `users` that has a socket, on every
/// node (a pending device cannot open one; a revoked one has none).
pub async fn group_changed(state: &AppState, conversation: ConversationId, users: &[UserId]) {
    let frame: Arc<str> = Arc::from(ServerFrame::Conversation { conversation }.to_json());
    let push = Push::Frame(frame);
    for &user in users {
        match state.store.devices_of(user).await {
            Ok(devices) => {
                for device in devices.iter().filter(|d| d.state == DeviceState::Active) {
                    state.hub.push(&device.device, &push);
                }
            }
            Err(error) => {
                tracing::warn!(?error, %conversation, "telling members of a group change failed");
            }
        }
    }
}
