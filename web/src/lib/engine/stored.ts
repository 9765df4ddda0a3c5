/**
 * A message as the sealed store keeps it. The view (`view.ts`) derives the UI's `ChatMessage`
 * from it: names, reply quotes and reactions are read at view time, so a later rename, edit or
 * delete of another message shows without rewriting this one.
 *
 * Amendments (protocol §8.5, §8.6) are kept with their target once checked: `edits` and
 * `reactions` hold every accepted one, so the winner by `(sent_at, message id)` is decided the
 * same way whatever order they arrived in. A delete clears the text, the edits and the reactions
 * from the store for good.
 */

import type { MessageContent, MessageStatus, UndeliveredState } from "./model";

/** An accepted edit of a message (§8.5). */
export interface StoredEdit {
  readonly id: string;
  readonly text: string;
  readonly sentAt: number;
  readonly mentions: readonly string[];
}

/** An accepted reaction of one account (§8.6): added or taken back. */
export interface StoredReaction {
  readonly id: string;
  readonly account: string;
  readonly emoji: string;
  readonly added: boolean;
  readonly sentAt: number;
}

export interface StoredMessage {
  readonly id: string;
  readonly from: string;
  readonly fromUsername: string;
  readonly mine: boolean;
  readonly sentAt: number;
  readonly receivedAt: number;
  /** The original content (an edit never rewrites it); text "" once deleted. */
  readonly content: MessageContent;
  readonly status?: MessageStatus;
  readonly undelivered?: UndeliveredState;
  readonly chain?: string;
  readonly index?: number;
  /** With status `refused`: why, in words. */
  readonly refusal?: string;
  /** The id of the message this one answers (§8.4). */
  readonly replyTo?: string;
  /** Account ids the original mentions (an accepted edit's list replaces it in the view). */
  readonly mentions?: readonly string[];
  readonly edits?: readonly StoredEdit[];
  readonly deleted?: boolean;
  readonly reactions?: readonly StoredReaction[];
}
