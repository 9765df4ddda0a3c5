/**
 * Edits, deletes and reactions (`docs/protocol.md` §8.5, §8.6) applied to a conversation's stored
 * history: pure functions over the record's messages, so the receive path, the send path (own
 * amendments apply locally at once) and the pending queue share one rule.
 *
 * An amendment whose target is not held yet waits in the record's `pending` list (at most
 * {@link MAX_PENDING} per conversation, for at most {@link PENDING_MS}) and is applied when the
 * target is committed, never before. What is decided by "the greatest `(sent_at, message id)`"
 * keeps every accepted amendment, so arrival order never changes the outcome.
 */

import {
  AccountId,
  ConversationId,
  MessageId,
  checkAmendment,
  compareAmendments,
  isProtocolError,
  type MessageBody,
} from "../../crypto";
import type { StoredEdit, StoredMessage, StoredReaction } from "./stored";

/** Amendments kept per conversation while their target is missing (§8.5). */
export const MAX_PENDING = 1000;
/** How long an amendment waits for its target (§8.5: 30 days). */
export const PENDING_MS = 30 * 24 * 3600 * 1000;

/** The fields every amendment has: its own id, its sender account and its times. */
interface AmendmentBase {
  readonly id: string;
  readonly from: string;
  readonly sentAt: number;
  readonly receivedAt: number;
  readonly target: string;
}

export type Amendment =
  | (AmendmentBase & {
      readonly kind: "edit";
      readonly text: string;
      readonly mentions: readonly string[];
    })
  | (AmendmentBase & { readonly kind: "delete" })
  | (AmendmentBase & {
      readonly kind: "reaction";
      readonly emoji: string;
      readonly added: boolean;
    });

/** What became of an amendment. */
export type AmendOutcome =
  | "applied"
  /** Accepted, but changes nothing shown (an edit of a deleted message, a repeat). */
  | "ignored"
  /** Its target is not held: kept in `pending`. */
  | "pending"
  | "message/wrong-target"
  | "message/not-author";

/** Whether `m` is a content message (Text, Message or Attachment; §8.5 check 2). */
export function isContent(m: StoredMessage): boolean {
  return m.content.type === "text" || m.content.type === "attachment";
}

/** `(sent_at, message id)` order, ids compared as bytes (§8.5; `crypto/amend.ts`). */
export function amendmentOrder(
  a: { readonly sentAt: number; readonly id: string },
  b: { readonly sentAt: number; readonly id: string },
): number {
  const key = (x: { readonly sentAt: number; readonly id: string }) => ({
    sentAt: BigInt(x.sentAt),
    id: MessageId.parse(x.id),
  });
  return compareAmendments(key(a), key(b));
}

/**
 * The §8.5 checks against a held target (`checkAmendment`, shared with the Rust core):
 * `pending` when the target is not held (a "could not be verified" entry under its id is not the
 * message), a refusal code, or `undefined` when the amendment applies.
 */
export function checkTarget(
  a: Amendment,
  conv: string,
  target: { readonly conv: string; readonly message: StoredMessage } | undefined,
): AmendOutcome | undefined {
  if (target === undefined || target.message.content.type === "unverified") return "pending";
  try {
    checkAmendment(
      {
        conversation: ConversationId.parse(target.conv),
        sender: AccountId.parse(target.message.from),
        class: isContent(target.message) ? "content" : "not-content",
      },
      { conversation: ConversationId.parse(conv), sender: AccountId.parse(a.from), kind: a.kind },
    );
  } catch (e) {
    if (isProtocolError(e, "message/wrong-target")) return "message/wrong-target";
    if (isProtocolError(e, "message/not-author")) return "message/not-author";
    throw e;
  }
  return undefined;
}

/** The deleted form of a message: its author and time only (§8.5). */
function deletedForm(m: StoredMessage): StoredMessage {
  const kept: StoredMessage = {
    id: m.id,
    from: m.from,
    fromUsername: m.fromUsername,
    mine: m.mine,
    sentAt: m.sentAt,
    receivedAt: m.receivedAt,
    content: { type: "text", text: "" },
    deleted: true,
  };
  return {
    ...kept,
    ...(m.status !== undefined ? { status: m.status } : {}),
    ...(m.chain !== undefined ? { chain: m.chain } : {}),
    ...(m.index !== undefined ? { index: m.index } : {}),
  };
}

/** `a` applied to its checked target: the new stored message, or `undefined` for no change. */
function amended(target: StoredMessage, a: Amendment): StoredMessage | undefined {
  switch (a.kind) {
    case "delete":
      return target.deleted === true ? undefined : deletedForm(target);
    case "edit": {
      if (target.deleted === true) return undefined;
      const edits = target.edits ?? [];
      if (edits.some((e) => e.id === a.id)) return undefined;
      const edit: StoredEdit = { id: a.id, text: a.text, sentAt: a.sentAt, mentions: a.mentions };
      return { ...target, edits: [...edits, edit].sort(amendmentOrder) };
    }
    case "reaction": {
      if (target.deleted === true) return undefined;
      const reactions = target.reactions ?? [];
      if (reactions.some((r) => r.id === a.id)) return undefined;
      const r: StoredReaction = {
        id: a.id,
        account: a.from,
        emoji: a.emoji,
        added: a.added,
        sentAt: a.sentAt,
      };
      // Only the latest per (reactor, reaction) matters; the others are dropped.
      const same = reactions.find((x) => x.account === r.account && x.emoji === r.emoji);
      if (same !== undefined && amendmentOrder(same, r) > 0) return undefined;
      return { ...target, reactions: [...reactions.filter((x) => x !== same), r] };
    }
  }
}

/** A conversation's history and its waiting amendments, changed in place. */
export interface AmendTarget {
  readonly id: string;
  messages: StoredMessage[];
  pending?: Amendment[];
}

/**
 * Applies `a` to `rec` (`elsewhere`: the conversation holding its target when that is not `rec`).
 * Refused amendments change nothing; one whose target is missing waits in `pending`.
 */
export function applyAmendment(
  rec: AmendTarget,
  a: Amendment,
  elsewhere: { readonly conv: string; readonly message: StoredMessage } | undefined,
  now: number,
): AmendOutcome {
  const at = rec.messages.findIndex((m) => m.id === a.target);
  const here = at < 0 ? undefined : rec.messages[at];
  const target = here !== undefined ? { conv: rec.id, message: here } : elsewhere;
  const refused = checkTarget(a, rec.id, target);
  if (refused === "pending") {
    keepPending(rec, a, now);
    return "pending";
  }
  if (refused !== undefined) return refused;
  if (here === undefined) return "pending";
  const next = amended(here, a);
  if (next === undefined) return "ignored";
  rec.messages[at] = next;
  return "applied";
}

/** Keeps `a` until its target arrives: the oldest go first past the cap, expired ones too. */
function keepPending(rec: AmendTarget, a: Amendment, now: number): void {
  const list = (rec.pending ?? []).filter((p) => p.id !== a.id && now - p.receivedAt < PENDING_MS);
  list.push(a);
  while (list.length > MAX_PENDING) list.shift();
  rec.pending = list;
}

/**
 * A content message was committed: the amendments waiting for it are applied now (in
 * `(sent_at, id)` order). Returns the outcomes of those applied or refused.
 */
export function applyPending(rec: AmendTarget, target: string, now: number): AmendOutcome[] {
  const pending = rec.pending;
  if (pending === undefined || pending.length === 0) return [];
  const live = pending.filter((p) => now - p.receivedAt < PENDING_MS);
  const due = live.filter((p) => p.target === target).sort(amendmentOrder);
  rec.pending = live.filter((p) => p.target !== target);
  if (due.length === 0) return [];
  return due.map((a) => applyAmendment(rec, a, undefined, now));
}

/** The text an edit shows: the latest accepted edit's, or the original's. */
export function currentText(m: StoredMessage): string {
  const last = m.edits?.[m.edits.length - 1];
  if (last !== undefined) return last.text;
  switch (m.content.type) {
    case "text":
      return m.content.text;
    case "attachment":
      return m.content.caption;
    case "event":
    case "gap":
    case "unverified":
      return "";
  }
}

/** The mentions shown: the latest accepted edit's list replaces the original's (§8.5). */
export function currentMentions(m: StoredMessage): readonly string[] {
  const last = m.edits?.[m.edits.length - 1];
  return last !== undefined ? last.mentions : (m.mentions ?? []);
}

/** The amendment a verified Edit, Delete or Reaction body makes; `undefined` for other kinds. */
export function amendmentFrom(
  body: MessageBody,
  meta: {
    readonly id: string;
    readonly from: string;
    readonly sentAt: number;
    readonly receivedAt: number;
  },
): Amendment | undefined {
  switch (body.type) {
    case "edit":
      return {
        ...meta,
        kind: "edit",
        target: MessageId.toText(body.target),
        text: body.text,
        mentions: body.mentions.map((a) => AccountId.toText(a)),
      };
    case "delete":
      return { ...meta, kind: "delete", target: MessageId.toText(body.target) };
    case "reaction":
      return {
        ...meta,
        kind: "reaction",
        target: MessageId.toText(body.target),
        emoji: body.reaction,
        added: body.added,
      };
    case "text":
    case "attachment":
    case "message":
    case "receipt":
    case "group-name":
      return undefined;
  }
}
