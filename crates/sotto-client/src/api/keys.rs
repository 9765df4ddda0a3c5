//! The endpoints of the key backup, hand-overs and the history archive (`docs/api.md`
//! "recovery", "hand-over", "history"): one typed method each, on [`Api`].

use reqwest::Method;
use sotto_proto::ids::{ConversationId, DeviceId};

use sotto_wire::Secret;

use super::{b64, Api};
use crate::error::Result;
pub use sotto_wire::api::{
    ArchivedView, BackupItemView, BackupPage, BackupStored, BackupUpload, HandoverList,
    HandoverRequest, HandoverStored, HandoverView, HistoryPage, PolicyView, RecoveryMethod,
    RecoverySetup, RecoverySetupView, RecoveryStatus, RecoveryUnlock, MAX_BACKUP_ITEMS_PER_REQUEST,
    MAX_HISTORY_PAGE,
};
pub use sotto_wire::HandoverId;

impl Api {
    /// `GET /v1/recovery`.
    pub async fn recovery_status(&self, token: &str) -> Result<RecoveryStatus> {
        self.call(Method::GET, "/v1/recovery", Some(token), None::<&()>)
            .await
    }

    /// `PUT /v1/recovery`: replaces any earlier set-up (and its items).
    pub async fn set_up_recovery(&self, token: &str, setup: &RecoverySetup) -> Result<()> {
        let request = self
            .http
            .put(self.url("/v1/recovery")?)
            .bearer_auth(token)
            .json(setup);
        self.send(request).await.map(|_| ())
    }

    /// `DELETE /v1/recovery`.
    pub async fn delete_recovery(&self, token: &str) -> Result<()> {
        self.no_content(Method::DELETE, "/v1/recovery", token).await
    }

    /// `POST /v1/recovery/items`: at most 64 items; returns how many were new.
    pub async fn store_backup_items(&self, token: &str, items: &[Vec<u8>]) -> Result<u64> {
        let body = BackupUpload {
            items: items.iter().map(|i| b64(i)).collect(),
        };
        let stored: BackupStored = self
            .call(Method::POST, "/v1/recovery/items", Some(token), Some(&body))
            .await?;
        Ok(stored.stored)
    }

    /// `POST /v1/recovery/unlock`: one page of items after `after`.
    pub async fn unlock_recovery(
        &self,
        token: &str,
        access: &[u8],
        after: i64,
    ) -> Result<BackupPage> {
        let body = RecoveryUnlock {
            access: Secret::new(b64(access)),
            after,
        };
        self.call(
            Method::POST,
            "/v1/recovery/unlock",
            Some(token),
            Some(&body),
        )
        .await
    }

    /// `POST /v1/devices/{device}/handovers`.
    pub async fn send_handover(
        &self,
        token: &str,
        device: DeviceId,
        handover: &[u8],
    ) -> Result<HandoverStored> {
        let path = format!("/v1/devices/{device}/handovers");
        let body = HandoverRequest {
            handover: b64(handover),
        };
        self.call(Method::POST, &path, Some(token), Some(&body))
            .await
    }

    /// `GET /v1/handovers`: those addressed to this device.
    pub async fn handovers(&self, token: &str) -> Result<Vec<HandoverView>> {
        let list: HandoverList = self
            .call(Method::GET, "/v1/handovers", Some(token), None::<&()>)
            .await?;
        Ok(list.handovers)
    }

    /// `DELETE /v1/handovers/{id}`.
    pub async fn delete_handover(&self, token: &str, id: HandoverId) -> Result<()> {
        let path = format!("/v1/handovers/{id}");
        self.no_content(Method::DELETE, &path, token).await
    }

    /// `GET /v1/conversations/{c}/history?before=SEQ&limit=N`: newest first.
    pub async fn history(
        &self,
        token: &str,
        conversation: ConversationId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<HistoryPage> {
        let path = match before {
            Some(seq) => {
                format!("/v1/conversations/{conversation}/history?before={seq}&limit={limit}")
            }
            None => format!("/v1/conversations/{conversation}/history?limit={limit}"),
        };
        self.call(Method::GET, &path, Some(token), None::<&()>)
            .await
    }

    /// `GET /v1/policy`: the server's default retention.
    pub async fn policy(&self, token: &str) -> Result<PolicyView> {
        self.call(Method::GET, "/v1/policy", Some(token), None::<&()>)
            .await
    }
}
