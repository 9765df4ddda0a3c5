//! The prekey endpoints (`docs/api.md` "Prekeys", protocol §18.4): uploading this device's
//! signed one-time prekeys, asking how many are left, and claiming one prekey of each of a list
//! of devices (the server hands each one out once). Everything that comes back is verified by
//! the caller against the device's certificate; nothing here trusts the server.

use std::collections::BTreeMap;

use reqwest::Method;
use sotto_proto::ids::DeviceId;
pub use sotto_wire::api::{
    PrekeyClaim, PrekeyClaimed, PrekeyCount, PrekeyUpload, MAX_PREKEY_CLAIM_DEVICES,
    MAX_PREKEY_UPLOAD,
};

use super::{b64, Api};
use crate::error::Result;

impl Api {
    /// `POST /v1/devices/current/prekeys`: uploads signed one-time prekeys (at most 100);
    /// returns how many the server now holds.
    pub async fn upload_prekeys(
        &self,
        token: &str,
        prekeys: &[Vec<u8>],
        replace: bool,
    ) -> Result<u64> {
        let body = PrekeyUpload {
            prekeys: prekeys.iter().map(|p| b64(p)).collect(),
            replace,
        };
        let answer: PrekeyCount = self
            .call(
                Method::POST,
                "/v1/devices/current/prekeys",
                Some(token),
                Some(&body),
            )
            .await?;
        Ok(answer.remaining)
    }

    /// `GET /v1/devices/current/prekeys`: how many one-time prekeys the server holds.
    pub async fn prekeys_remaining(&self, token: &str) -> Result<u64> {
        let answer: PrekeyCount = self
            .call(
                Method::GET,
                "/v1/devices/current/prekeys",
                Some(token),
                None::<&()>,
            )
            .await?;
        Ok(answer.remaining)
    }

    /// `POST /v1/prekeys/claim`: one signed prekey (base64) per device, or `None`; more than
    /// [`MAX_PREKEY_CLAIM_DEVICES`] devices are claimed in several requests. Devices the answer
    /// leaves out count as `None`; devices it adds are ignored by the caller.
    pub async fn claim_prekeys(
        &self,
        token: &str,
        devices: &[DeviceId],
    ) -> Result<BTreeMap<DeviceId, Option<String>>> {
        let mut prekeys = BTreeMap::new();
        for part in devices.chunks(MAX_PREKEY_CLAIM_DEVICES) {
            let body = PrekeyClaim {
                devices: part.to_vec(),
            };
            let answer: PrekeyClaimed = self
                .call(Method::POST, "/v1/prekeys/claim", Some(token), Some(&body))
                .await?;
            prekeys.extend(answer.prekeys);
        }
        Ok(prekeys)
    }
}
