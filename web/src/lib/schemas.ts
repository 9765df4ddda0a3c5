/** Every server payload is parsed here, at the edge, before anything else sees it. */

import { z } from "zod";

const b64 = z.string().regex(/^[A-Za-z0-9+/=]*$/, "base64");
const devId = z.string().regex(/^dev:[0-9a-f]{64}$/);
const acctId = z.string().regex(/^acct:[0-9a-f]{64}$/);
const convId = z.string().regex(/^conv:[0-9a-f]{32}$/);
const msgId = z.string().regex(/^msg:[0-9a-f]{32}$/);

export const ErrorBody = z.object({
  error: z.string(),
  message: z.string(),
  code: z.string().optional(),
});
export const Registered = z.object({ username: z.string() });
/** `GET /v1/registration`: how the server accepts new accounts. */
export const RegistrationView = z.object({ mode: z.enum(["open", "invite", "closed"]) });
export type RegistrationMode = z.infer<typeof RegistrationView>["mode"];
export const LoginTokenView = z.object({
  username: z.string(),
  login_token: z.string(),
  expires_in: z.number(),
});
export const Challenge = z.object({ challenge: b64, nonce: b64 });
export type Challenge = z.infer<typeof Challenge>;
export const SessionTokens = z.object({
  session: z.string(),
  access_token: z.string(),
  expires_in: z.number(),
  refresh_token: z.string(),
});
export type SessionTokens = z.infer<typeof SessionTokens>;
export const AccountView = z.object({ account: acctId });
export const DeviceIdView = z.object({ device: devId });
export const SerialView = z.object({ serial: z.number() });
/** One-time prekeys the server still holds for this device (docs/api.md "Prekeys"). */
export const PrekeyCount = z.object({ remaining: z.number().int().nonnegative() });
/** Claimed one-time prekeys by device: a signed prekey (base64) or null when none is given. */
export const PrekeyClaim = z.object({
  prekeys: z.record(devId, b64.max(4096).nullable()),
});
export const DeviceView = z.object({
  device: devId,
  state: z.enum(["pending", "active", "revoked"]),
  name: z.string(),
  signing_key: b64,
  auth_key: b64,
  certificate: b64.nullable(),
  exchange_key: b64.nullable(),
  created_at: z.number(),
});
export type DeviceView = z.infer<typeof DeviceView>;
export const DeviceList = z.array(DeviceView);
/** `GET /v1/recovery`, as far as logging out needs it: the rest of the answer is not read here. */
export const DirectoryView = z.object({
  username: z.string(),
  account: acctId,
  master_key: b64,
  devices: z.array(DeviceView),
  revocations: z.array(b64),
});
export type DirectoryView = z.infer<typeof DirectoryView>;
export const ConversationCreated = z.object({ conversation: convId, epoch: z.number() });
export const ConversationList = z.array(convId);
export const ConversationLog = z.object({
  conversation: convId,
  members: z.array(acctId),
  changes: z.array(
    z.object({ epoch: z.number(), change: b64, author: devId, created_at: z.number() }),
  ),
});
export type ConversationLog = z.infer<typeof ConversationLog>;
export const UndeliveredReason = z.enum([
  "queue_full",
  "sender_share_full",
  "request_limit",
  "blocked",
  "declined",
]);
export type UndeliveredReason = z.infer<typeof UndeliveredReason>;
export const Undelivered = z.object({ device: devId, reason: UndeliveredReason });
export type Undelivered = z.infer<typeof Undelivered>;
export const MessageSent = z.object({
  message_id: msgId,
  recipients: z.number(),
  undelivered: z.array(Undelivered).default([]),
});
/** `GET /v1/requests`: conversations the caller was added to by someone not yet a contact. */
export const RequestView = z.object({
  conversation: convId,
  from: acctId,
  from_username: z.string(),
  members: z.number(),
  created_at: z.number(),
  queued: z.number(),
});
export type RequestView = z.infer<typeof RequestView>;
export const RequestList = z.object({ requests: z.array(RequestView) });
/** `GET /v1/blocks`. */
export const BlockedView = z.object({ account: acctId, username: z.string() });
export type BlockedView = z.infer<typeof BlockedView>;
export const BlockList = z.object({ blocked: z.array(BlockedView) });
export const AttachmentCreated = z.object({ attachment: z.string().regex(/^att:[0-9a-f]{32}$/) });
export const Ticket = z.object({ ticket: z.string(), expires_in: z.number() });

/** `GET /v1/recovery`: whether the account set up recovery (protocol §14), and how. */
export const RecoveryStatus = z.discriminatedUnion("configured", [
  z.object({ configured: z.literal(false) }),
  z.object({
    configured: z.literal(true),
    recovery_id: b64,
    method: z.enum(["key", "passphrase"]),
    salt: b64.nullable(),
    items: z.number(),
    created_at: z.number(),
  }),
]);
export type RecoveryStatus = z.infer<typeof RecoveryStatus>;
export const ItemsStored = z.object({ stored: z.number() });
/** `POST /v1/recovery/unlock`: one page of backup items by seq (protocol §15.2). */
export const BackupPage = z.object({
  items: z.array(z.object({ seq: z.number(), item: b64 })),
  next: z.number().nullable(),
});
export type BackupPage = z.infer<typeof BackupPage>;
const handoverId = z.string().regex(/^ho:[0-9a-f]{32}$/);
export const HandoverCreated = z.object({ id: handoverId });
/** `GET /v1/handovers`: hand-overs waiting for this device (protocol §16). */
export const HandoverView = z.object({
  id: handoverId,
  from: devId,
  handover: b64,
  created_at: z.number(),
});
export type HandoverView = z.infer<typeof HandoverView>;
export const HandoverList = z.object({ handovers: z.array(HandoverView) });
/** `GET /v1/conversations/{c}/history`: archived envelopes, newest first (protocol §17.1). */
export const ArchivedEnvelope = z.object({
  seq: z.number(),
  envelope: b64,
  received_at: z.number(),
});
export type ArchivedEnvelope = z.infer<typeof ArchivedEnvelope>;
export const HistoryPage = z.object({ envelopes: z.array(ArchivedEnvelope), more: z.boolean() });
export type HistoryPage = z.infer<typeof HistoryPage>;
/**
 * `GET /v1/policy`: the server default retention of protocol §6.7 (0 = for good), and the
 * largest attachment and message body the server takes (absent from older servers).
 */
export const Policy = z.object({
  default_retention_secs: z.number().int().nonnegative(),
  max_attachment_bytes: z.number().int().nonnegative().optional(),
  max_body_bytes: z.number().int().nonnegative().optional(),
});

export const SignalKind = z.enum(["typing", "stopped", "delivered", "read"]);
export type SignalKind = z.infer<typeof SignalKind>;

export const ServerFrame = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("ready"),
    account: acctId.nullable(),
    device: devId,
    session: z.string(),
  }),
  z.object({
    type: z.literal("envelope"),
    seq: z.number(),
    conversation: convId,
    message_id: msgId,
    sender_account: acctId,
    sender_device: devId,
    received_at: z.number(),
    envelope: b64,
  }),
  z.object({
    type: z.literal("sent"),
    id: z.number(),
    message_id: msgId,
    recipients: z.number(),
    undelivered: z.array(Undelivered).default([]),
  }),
  z.object({ type: z.literal("acked"), count: z.number() }),
  z.object({
    type: z.literal("signal"),
    conversation: convId,
    kind: SignalKind,
    from_account: acctId,
    from_device: devId,
    payload: b64.nullable().optional(),
  }),
  z.object({ type: z.literal("pong") }),
  /** A hand-over for this device was stored: fetch it (`GET /v1/handovers`). */
  z.object({ type: z.literal("handover") }),
  /** This conversation's group log changed: fetch it (`GET /v1/conversations/{c}`). */
  z.object({ type: z.literal("conversation"), conversation: convId }),
  z.object({
    type: z.literal("error"),
    id: z.number().nullable(),
    error: z.string(),
    message: z.string(),
  }),
]);
export type ServerFrame = z.infer<typeof ServerFrame>;
export type EnvelopeFrame = Extract<ServerFrame, { type: "envelope" }>;
