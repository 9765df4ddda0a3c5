/** The client's view model: plain, serialisable values the UI renders. */

import type { UndeliveredReason } from "../schemas";
import type { ConnectionState } from "../ws";
import type { RequestInfo } from "./consent";
import type { TrustState } from "./directory";

export type MessageStatus = "sending" | "sent" | "delivered" | "read" | "failed";

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
    };

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
  readonly error?: string;
}

/** The approval code shown on a new device and typed on the approving one. */
export function approvalCode(deviceText: string): string {
  const hex = deviceText.slice(4, 16);
  const n = parseInt(hex, 16) % 1_000_000;
  return n.toString().padStart(6, "0");
}
