/** The client's view model: plain, serialisable values the UI renders. */

import type { UndeliveredReason } from "../schemas";
import type { ConnectionState } from "../ws";
import type { RequestInfo } from "./consent";
import type { TrustState } from "./directory";

/**
 * A message's delivery. `waiting`: kept in the outbox and sent by itself once the connection or
 * the server allows; `refused`: it could not be sent and never will be (`refusal` says why).
 */
export type MessageStatus = "sending" | "waiting" | "sent" | "delivered" | "read" | "refused";

/** The message a reply answers, as it is now (protocol §8.4). */
export interface ReplyQuote {
  /** The target's message id. */
  readonly id: string;
  /** `missing`: this device does not hold the target (a reply is never refused for it). */
  readonly state: "available" | "deleted" | "missing";
  /** When available or deleted. */
  readonly fromUsername?: string;
  /** The first ≤120 characters of the current text, caption or file name, when available. */
  readonly preview?: string;
}

/** One reaction on a message, with who gave it (protocol §8.6). */
export interface ReactionView {
  readonly emoji: string;
  /** Account ids, in the order the reactions were given. */
  readonly accounts: readonly string[];
  readonly usernames: readonly string[];
  readonly mine: boolean;
}

/** An earlier text of an edited message (protocol §8.5). */
export interface EditRecord {
  readonly text: string;
  readonly sentAt: number;
}

/**
 * A verified group-log change shown in the timeline. `actor` and `subject` are usernames (account
 * ids while the name is unknown).
 */
export type TimelineEvent =
  | { readonly kind: "created"; readonly actor: string }
  | { readonly kind: "added" | "removed"; readonly actor: string; readonly subject: string }
  | { readonly kind: "left"; readonly actor: string }
  /** `name`: once this device holds the name the change commits to (§6.5). */
  | { readonly kind: "renamed"; readonly actor: string; readonly name?: string }
  | {
      readonly kind: "admin-granted" | "admin-revoked";
      readonly actor: string;
      readonly subject: string;
    }
  | { readonly kind: "retention"; readonly actor: string; readonly seconds: number };

export interface AttachmentInfo {
  readonly blobId: string;
  readonly fileName: string;
  readonly mediaType: string;
  readonly size: number;
  readonly secret: Uint8Array;
  readonly blobSha256: Uint8Array;
}

export type MessageContent =
  | { readonly type: "text"; readonly text: string }
  | { readonly type: "attachment"; readonly attachment: AttachmentInfo; readonly caption: string }
  /** A message whose signature, keys or ciphertext did not check out: never shown as text. */
  | { readonly type: "unverified"; readonly code: string }
  /** Messages that should have arrived and did not (a gap or a truncated chain). */
  | {
      readonly type: "gap";
      readonly count: number;
      readonly from: string;
      readonly chain?: string;
      readonly indices?: readonly number[];
    }
  /** A group-log change (id `event:<epoch>`): never sent, never receipted. */
  | { readonly type: "event"; readonly event: TimelineEvent };

/** A member device the server did not give a copy of a sent message, named for the user. */
export interface UndeliveredNote {
  readonly device: string;
  readonly username: string;
  readonly reason: UndeliveredReason;
}

/**
 * A sent message some member device did not get. `kept`: the outbox still holds it, so Retry
 * (and the automatic retries) can deliver it; false once the user dismissed it.
 */
export interface UndeliveredState {
  readonly missing: readonly UndeliveredNote[];
  readonly kept: boolean;
}

/** Why a device did not get a message, in words. */
export const REASON_TEXT: Record<UndeliveredReason, string> = {
  queue_full: "queue full",
  sender_share_full: "queue full",
  request_limit: "waiting for them to accept",
  blocked: "blocked",
  declined: "declined",
};

/**
 * One line per person and reason ("Not delivered to alice (blocked)"): a person's devices
 * refused for the same reason are one line.
 */
export function undeliveredLines(missing: readonly UndeliveredNote[]): string[] {
  const lines: string[] = [];
  for (const n of missing) {
    const line = `Not delivered to ${n.username} (${REASON_TEXT[n.reason]})`;
    if (!lines.includes(line)) lines.push(line);
  }
  return lines;
}

export interface ChatMessage {
  readonly id: string;
  readonly from: string;
  readonly fromUsername: string;
  readonly mine: boolean;
  readonly sentAt: number;
  readonly receivedAt: number;
  readonly content: MessageContent;
  readonly status?: MessageStatus;
  /** Mine, stored by the server, but not delivered to every member device. */
  readonly undelivered?: UndeliveredState;
  /** A received message's sending chain (`chain:…`) and index in it: its position for dedup and order. */
  readonly chain?: string;
  readonly index?: number;
  /** The message this one answers (protocol §8.4). */
  readonly replyTo?: ReplyQuote;
  /** Account ids the message mentions (the list decides, not the text). */
  readonly mentions: readonly string[];
  /** This account is among `mentions`. */
  readonly mentionsMe: boolean;
  /** Earlier texts, oldest first: present iff the message was edited. */
  readonly edits?: readonly EditRecord[];
  /** Deleted by its author: `content` is then text "" and must not be shown. */
  readonly deleted?: boolean;
  readonly reactions: readonly ReactionView[];
  /** With status `refused`: why, in words. */
  readonly refusal?: string;
}

export interface MemberView {
  readonly account: string;
  readonly username: string;
  readonly admin: boolean;
  readonly trust: TrustState;
}

export interface ConversationView {
  readonly id: string;
  readonly name: string;
  readonly direct: boolean;
  readonly members: readonly MemberView[];
  readonly epoch: number;
  readonly messages: readonly ChatMessage[];
  readonly unread: number;
  readonly typing: readonly string[];
  /** A group-log problem (fork, rollback): the conversation is frozen. */
  readonly alarm?: string;
  /** Members whose identity changed: sending is blocked. */
  readonly blockedBy: readonly string[];
  readonly amAdmin: boolean;
  /** Whether this account may set the retention (an admin; either member of a 1:1, §6.3). */
  readonly canSetRetention: boolean;
  /** Seconds messages are kept (0: for good); `undefined` while the server default is unknown. */
  readonly retention: number | undefined;
  /** The server's archive of this conversation (protocol §17), as far as it was read. */
  readonly history: HistoryCursorView;
  /** This account is no longer a member (removed by `by`, or `left`): history stays readable. */
  readonly removed?: { readonly by?: string; readonly left: boolean };
  /** The last content message as one line ("You: …", "alice: …", "📎 file.pdf"). */
  readonly preview?: string;
  /** When the last message was sent, in ms. */
  readonly lastActivity?: number;
  /** Unread messages that mention this account. */
  readonly mentions: number;
  /** The first unread message when the conversation was opened or last marked read. */
  readonly firstUnread?: string;
}

/** One local search result (`SottoClient.search`). */
export interface SearchHit {
  readonly conv: string;
  readonly convName: string;
  readonly messageId: string;
  readonly fromUsername: string;
  readonly sentAt: number;
  readonly text: string;
}

/** What the server accepts, checked before anything is sealed or uploaded. */
export interface Limits {
  readonly maxAttachmentBytes: number;
  readonly maxBodyBytes: number;
}

/** Whether older messages may wait in the server's archive, and whether they are being read. */
export interface HistoryCursorView {
  readonly more: boolean;
  readonly loading: boolean;
}

/** What the user gives to recover an account (protocol §14): the key, or the passphrase. */
export type RecoverySecret =
  | { readonly kind: "key"; readonly text: string }
  | { readonly kind: "passphrase"; readonly passphrase: string };

/** A device of this account, as the "revoke the other devices?" offer lists it. */
export interface OtherDevice {
  readonly device: string;
  readonly name: string;
}

/** Recovery as the UI shows it, beyond the Devices screen's status. */
export interface RecoveryView {
  /**
   * The account was just created here and its master key can still be backed up (it is kept
   * non-extractable once this session ends): offer "Set up recovery".
   */
  readonly offer: boolean;
  /** This device was just recovered: the account's other devices, to offer revoking them. */
  readonly recovered?: readonly OtherDevice[];
}

/**
 * A conversation this account was added to by someone who is not a contact yet. `conversation`:
 * its verified state and what arrived so far, once its group log is here (shown only when the
 * user opens the request; reading it does not accept it and sends no receipt).
 */
export interface RequestEntry {
  readonly info: RequestInfo;
  readonly conversation?: ConversationView;
}

export interface IdentityAlert {
  readonly account: string;
  readonly username: string;
  readonly wasVerified: boolean;
  /** Payloads from this account held (not shown, not lost) until the user reviews the change. */
  readonly held: number;
}

export type Phase =
  | { readonly kind: "loading" }
  | { readonly kind: "signed-out"; readonly knownUsername?: string }
  | { readonly kind: "awaiting-approval"; readonly code: string; readonly device: string }
  | { readonly kind: "ready" };

export interface AppView {
  readonly phase: Phase;
  readonly connection: ConnectionState;
  readonly secondaryTab: boolean;
  readonly me?: {
    readonly username: string;
    readonly account: string;
    readonly device: string;
    readonly hasMaster: boolean;
  };
  /** Accepted conversations only. */
  readonly conversations: readonly ConversationView[];
  /** Pending requests, oldest first: apart from the conversations. */
  readonly requests: readonly RequestEntry[];
  readonly undecryptable: number;
  /** Messages waiting for their keys; those held for a changed identity count in its alert. */
  readonly held: number;
  readonly alerts: readonly IdentityAlert[];
  readonly recovery: RecoveryView;
  readonly limits: Limits;
  readonly error?: string;
}

/** The approval code shown on a new device and typed on the approving one. */
export function approvalCode(deviceText: string): string {
  const hex = deviceText.slice(4, 16);
  const n = parseInt(hex, 16) % 1_000_000;
  return n.toString().padStart(6, "0");
}
