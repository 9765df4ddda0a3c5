//! The server's check of a group change before it stores it, as a second line of defence
//! (clients verify the whole log themselves and alarm on forks and rollbacks).
//!
//! What is checked today: the change is a well-formed `Signed` structure within
//! `MAX_GROUP_CHANGE_LEN`, its body carries the `sotto/group-change` domain label, and its
//! signature verifies under the certified signing key of the device that uploads it. A change
//! forged by anyone who does not hold that device's key is therefore refused. The full rules
//! (admin rights, hash chain, epochs) are `sotto_proto::group::GroupState`'s; the server adopts
//! them once that module is released, replaying the stored log.

use sotto_proto::domain::Domain;
use sotto_proto::identity::VerifiedDevice;
use sotto_proto::limits::MAX_GROUP_CHANGE_LEN;
use sotto_proto::signed::Signed;

use crate::error::{Error, Result};

/// Checks one change uploaded by `author`.
pub fn check_change(bytes: &[u8], author: &VerifiedDevice) -> Result<()> {
    let signed = Signed::decode(bytes, MAX_GROUP_CHANGE_LEN)
        .map_err(|e| Error::rejected("group change", e.into()))?;
    if !signed
        .unverified_body()
        .starts_with(&Domain::GroupChange.encoded())
    {
        return Err(Error::InvalidField {
            field: "change",
            reason: "not a group change",
        });
    }
    signed
        .verify("group change", author.signing_key())
        .map_err(|e| Error::rejected("group change", e))?;
    Ok(())
}
