/**
 * The receiver's rules for edits, deletes and reactions (`docs/protocol.md` §8.5, §8.6): whether
 * an amendment may touch the message it names ({@link checkAmendment}), and which of several
 * accepted amendments decides what is shown ({@link amendmentWins}, {@link winningAmendment}).
 *
 * Pure functions over what the receiver already verified (the envelopes' conversations and sender
 * accounts, the decoded bodies): the caller commits both messages first, then asks here. The Rust
 * core has the same rules in `sotto-proto/src/body/amend.rs`; `test-vectors/amendment.json` holds
 * both to them.
 */

import { compareBytes } from "./bytes";
import { type MessageBody, isContentBody } from "./body";
import { ProtocolError, unreachable } from "./errors";
import { AccountId, ConversationId, type MessageId } from "./ids";

/** What an amendment does to its target. */
export type AmendmentKind = "edit" | "delete" | "reaction";

/** Whether a body is a content message (Text, Message, Attachment) or not. */
export type BodyClass = "content" | "not-content";

/** What the check needs to know about the target: from its verified envelope and body. */
export interface TargetInfo {
  readonly conversation: ConversationId;
  readonly sender: AccountId;
  readonly class: BodyClass;
}

/** What the check needs to know about the amendment: from its verified envelope and body. */
export interface AmendmentInfo {
  readonly conversation: ConversationId;
  /** The amendment's sender account (any of its devices may amend). */
  readonly sender: AccountId;
  readonly kind: AmendmentKind;
}

/** The class of a decoded body. */
export function bodyClass(body: MessageBody): BodyClass {
  return isContentBody(body) ? "content" : "not-content";
}

/** What `body` amends and how, or `undefined` when it is not an Edit, Delete or Reaction. */
export function amendmentOf(
  body: MessageBody,
): { readonly kind: AmendmentKind; readonly target: MessageId } | undefined {
  switch (body.type) {
    case "edit":
    case "delete":
    case "reaction":
      return { kind: body.type, target: body.target };
    case "text":
    case "attachment":
    case "receipt":
    case "group-name":
    case "message":
      return undefined;
    default:
      return unreachable(body);
  }
}

/** Whether only the target's author may send an amendment of this kind (§8.5 check 3). */
export function isAuthorOnly(kind: AmendmentKind): boolean {
  switch (kind) {
    case "edit":
    case "delete":
      return true;
    case "reaction":
      return false;
    default:
      return unreachable(kind);
  }
}

/**
 * Checks an amendment against its target in the order of §8.5: the same conversation and a
 * content target (`message/wrong-target`), then for an edit or delete the same sender account
 * (`message/not-author`). Throws a {@link ProtocolError}; returns when the amendment applies.
 */
export function checkAmendment(target: TargetInfo, amendment: AmendmentInfo): void {
  if (!ConversationId.equals(target.conversation, amendment.conversation)) {
    throw new ProtocolError("message/wrong-target", "another conversation");
  }
  if (target.class !== "content") {
    throw new ProtocolError("message/wrong-target", "not a content message");
  }
  if (isAuthorOnly(amendment.kind) && !AccountId.equals(target.sender, amendment.sender)) {
    throw new ProtocolError("message/not-author");
  }
}

/** Where an amendment stands in the order that decides between amendments of one target. */
export interface AmendmentOrder {
  /** The amendment's envelope `sent_at`. */
  readonly sentAt: bigint;
  /** The amendment's message id. */
  readonly id: MessageId;
}

/**
 * Compares two amendments: positive when `a` decides over `b`. The greater `(sent_at, message
 * id)` wins, ids compared as bytes, so every receiver picks the same one in any arrival order.
 */
export function compareAmendments(a: AmendmentOrder, b: AmendmentOrder): number {
  if (a.sentAt !== b.sentAt) return a.sentAt > b.sentAt ? 1 : -1;
  return compareBytes(a.id, b.id);
}

/** Whether amendment `a` decides over `b`. */
export function amendmentWins(a: AmendmentOrder, b: AmendmentOrder): boolean {
  return compareAmendments(a, b) > 0;
}

/** The amendment that decides among `amendments`, or `undefined` when there is none. */
export function winningAmendment<T extends AmendmentOrder>(amendments: Iterable<T>): T | undefined {
  let best: T | undefined;
  for (const candidate of amendments) {
    if (best === undefined || amendmentWins(candidate, best)) best = candidate;
  }
  return best;
}
