//! Conversations: the signed group-state log and the membership the server routes by, plus the
//! envelopes and attachments posted to them. A non-member can neither read nor post; to a
//! non-member, a conversation and its attachments look exactly like ones that do not exist.

use sotto_proto::group::GroupState;
use sotto_proto::ids::{AccountId, ConversationId, DeviceId, MessageId};
use sotto_proto::limits::MAX_ENVELOPE_LEN;

use crate::auth::tokens;
use crate::clock;
use crate::error::{Error, Result};
use crate::service::devices::verified_device;
use crate::service::sessions::Authed;
use crate::service::{announce, consent, group, payload};
use crate::state::AppState;
use crate::store::{ChangeRecord, NewEnvelope, NewMember, UserId, WriteOp, WriteOutcome};

/// A conversation as a member sees it.
#[derive(Clone, Debug)]
pub struct ConversationView {
    /// Current members.
    pub members: Vec<AccountId>,
    /// Log entries from the requested epoch on.
    pub changes: Vec<ChangeRecord>,
}

/// Maps the verified state's members to users; each must be registered here.
async fn member_users(state: &AppState, group: &GroupState) -> Result<Vec<UserId>> {
    let mut users = Vec::with_capacity(group.members().len());
    for account in group.members().keys() {
        let user = state
            .store
            .user_by_account(account)
            .await?
            .ok_or(Error::InvalidField {
                field: "members",
                reason: "every member must be an account registered on this server",
            })?;
        users.push(user.id);
    }
    users.sort_unstable();
    users.dedup();
    Ok(users)
}

/// `NotFound` unless `user` is a current member.
pub async fn require_member(
    state: &AppState,
    conversation: &ConversationId,
    user: UserId,
) -> Result<()> {
    if state.store.is_member(conversation, user).await? {
        Ok(())
    } else {
        Err(Error::NotFound {
            what: "conversation",
        })
    }
}

/// Creates a conversation from its signed genesis, verified under the uploading device;
/// returns the conversation id the genesis names.
pub async fn create(state: &AppState, authed: &Authed, genesis: &[u8]) -> Result<ConversationId> {
    let device = authed.device()?;
    consent::check_creation_rate(state, authed.user.id).await?;
    let (author, _) = verified_device(state, &device).await?;
    let group = group::verify_genesis(genesis, &author)?;
    let users = member_users(state, &group).await?;
    let mut members = Vec::new();
    for &user in &users {
        members.push(consent::joining(state, authed.user.id, user).await?);
    }
    let record = ChangeRecord {
        epoch: 0,
        change: genesis.to_vec(),
        author: device,
        created_at: clock::now_ms(),
    };
    let conversation = group.conversation();
    state
        .store
        .create_conversation(&conversation, &record, authed.user.id, &members)
        .await?;
    state.groups.put(group);
    announce::group_changed(state, conversation, &users).await;
    Ok(conversation)
}

/// Appends the next change after verifying it against the current state; returns its epoch.
/// Members are routed by the resulting state.
pub async fn append(
    state: &AppState,
    authed: &Authed,
    conversation: ConversationId,
    change: &[u8],
) -> Result<u64> {
    let device = authed.device()?;
    require_member(state, &conversation, authed.user.id).await?;
    let current = group::current(state, &conversation)
        .await?
        .ok_or(Error::NotFound {
            what: "conversation",
        })?;
    let (author, _) = verified_device(state, &device).await?;
    let next = group::verify_next(&current, change, &author)?;
    let before = state.store.members(&conversation).await?;
    let after = member_users(state, &next).await?;
    let mut members = Vec::new();
    for &user in &after {
        members.push(if before.contains(&user) {
            // Stays as they are; the store keeps their status.
            NewMember::accepted(user)
        } else {
            consent::joining(state, authed.user.id, user).await?
        });
    }
    let record = ChangeRecord {
        epoch: next.epoch(),
        change: change.to_vec(),
        author: device,
        created_at: clock::now_ms(),
    };
    // The retention the verified log now sets, kept beside the conversation for the purge.
    state
        .store
        .append_change(
            &conversation,
            &record,
            &members,
            next.retention().map(|r| r.secs()),
        )
        .await?;
    let epoch = next.epoch();
    state.groups.put(next);
    // The members after the change and those it removed.
    let removed = before.into_iter().filter(|u| !after.contains(u));
    let told: Vec<UserId> = after.iter().copied().chain(removed).collect();
    announce::group_changed(state, conversation, &told).await;
    Ok(epoch)
}

/// The log from `since` and the current members; for a former member, the log up to and
/// including the change that removed it and the members as of that change.
pub async fn fetch(
    state: &AppState,
    authed: &Authed,
    conversation: ConversationId,
    since: u64,
) -> Result<ConversationView> {
    if !state.store.is_member(&conversation, authed.user.id).await? {
        return former_member_view(state, authed.user.id, conversation, since).await;
    }
    let changes = state.store.changes(&conversation, since).await?;
    let mut members = Vec::new();
    for user in state.store.members(&conversation).await? {
        if let Some(account) = state.store.user_by_id(user).await?.and_then(|u| u.account) {
            members.push(account);
        }
    }
    Ok(ConversationView { members, changes })
}

/// What a former member may still read (its client verifies its own removal): nothing after
/// the change that removed it. Anyone who never was a member gets `NotFound`, as for a
/// conversation that does not exist.
async fn former_member_view(
    state: &AppState,
    user: UserId,
    conversation: ConversationId,
    since: u64,
) -> Result<ConversationView> {
    let not_found = Error::NotFound {
        what: "conversation",
    };
    let removed = state
        .store
        .removed_at(&conversation, user)
        .await?
        .ok_or(not_found)?;
    let group = group::at(state, &conversation, removed)
        .await?
        .ok_or(Error::Corrupt {
            what: "removal epoch",
        })?;
    let mut changes = state.store.changes(&conversation, since).await?;
    changes.retain(|c| c.epoch <= removed);
    Ok(ConversationView {
        members: group.members().keys().copied().collect(),
        changes,
    })
}

/// The conversations the caller has accepted (requests are listed by [`consent::requests`]).
pub async fn list(state: &AppState, authed: &Authed) -> Result<Vec<ConversationId>> {
    state.store.conversations_of(authed.user.id).await
}

/// Queues an envelope (group commit); returns once it is durable.
pub async fn send(
    state: &AppState,
    authed: &Authed,
    conversation: ConversationId,
    message: MessageId,
    to: Option<DeviceId>,
    body: Vec<u8>,
) -> Result<WriteOutcome> {
    let device = authed.device()?;
    if body.is_empty() || body.len() > MAX_ENVELOPE_LEN {
        return Err(Error::TooLarge {
            what: "envelope",
            max: MAX_ENVELOPE_LEN,
        });
    }
    let account = authed.user.account.ok_or(Error::Conflict {
        what: "the account has no master key yet",
    })?;
    let claim = payload::Claim {
        conversation,
        message,
        account,
        device,
        to,
    };
    let to = payload::check(&body, &claim)?;
    let op = WriteOp::Enqueue(NewEnvelope {
        message,
        conversation,
        sender_user: authed.user.id,
        sender_account: account,
        sender_device: device,
        received_at: clock::now_ms(),
        to,
        body,
    });
    match state.relay.submit(op).await? {
        WriteOutcome::NotMember => Err(Error::NotFound {
            what: "conversation",
        }),
        WriteOutcome::Duplicate => Err(Error::Conflict {
            what: "duplicate message id",
        }),
        outcome => Ok(outcome),
    }
}

/// Acknowledges envelopes: their copies for this device are deleted.
pub async fn ack(state: &AppState, device: DeviceId, messages: Vec<MessageId>) -> Result<u64> {
    match state
        .relay
        .submit(WriteOp::Ack { device, messages })
        .await?
    {
        WriteOutcome::Acked(n) => Ok(n),
        _ => Err(Error::TaskGone),
    }
}

/// Stores an attachment for members of `conversation`; returns its random id.
pub async fn upload_attachment(
    state: &AppState,
    authed: &Authed,
    conversation: ConversationId,
    body: &[u8],
) -> Result<[u8; 16]> {
    require_member(state, &conversation, authed.user.id).await?;
    let max = state.settings.limits.max_attachment;
    if body.is_empty() || body.len() > max {
        return Err(Error::TooLarge {
            what: "attachment",
            max,
        });
    }
    let id = tokens::random::<16>()?;
    state
        .store
        .put_attachment(
            &id,
            &conversation,
            authed.user.id,
            body,
            state.settings.limits.max_attachment_bytes_per_account,
            clock::now_ms(),
        )
        .await?;
    Ok(id)
}

/// An attachment, for members of the conversation it was posted to only.
pub async fn download_attachment(
    state: &AppState,
    authed: &Authed,
    id: &[u8; 16],
) -> Result<Vec<u8>> {
    let (conversation, body) = state
        .store
        .attachment(id)
        .await?
        .ok_or(Error::NotFound { what: "attachment" })?;
    if !state.store.is_member(&conversation, authed.user.id).await? {
        return Err(Error::NotFound { what: "attachment" });
    }
    Ok(body)
}

/// The devices a signal (typing, receipt) from `device` goes to: every other active device of
/// the conversation's members. The caller must be a member.
pub async fn signal_targets(
    state: &AppState,
    authed: &Authed,
    device: DeviceId,
    conversation: ConversationId,
) -> Result<Vec<DeviceId>> {
    require_member(state, &conversation, authed.user.id).await?;
    state.store.member_devices(&conversation, &device).await
}
