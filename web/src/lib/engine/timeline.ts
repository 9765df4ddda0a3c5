/**
 * A conversation's displayed history: each message at most once, in order.
 *
 * Copies come back after a reconnect, a reload (the acknowledgement was lost) or a server restart
 * (the copy was never acknowledged); the receiver state refuses them as replays, and this is the
 * second line: a message is never displayed twice, whether it comes back under the same message
 * id or — from a buggy or hostile sender — under another id with the same (chain, index).
 */

import type { ChatMessage } from "./model";

/** `chain:index`, the position a received message holds in its sender's chain. */
function slot(m: ChatMessage): string | undefined {
  return m.chain === undefined || m.index === undefined ? undefined : `${m.chain}:${m.index}`;
}

/** Whether `m` is already displayed (same message id, or same chain and index). */
export function isDisplayed(messages: readonly ChatMessage[], m: Pick<ChatMessage, "id" | "chain" | "index">): boolean {
  const key = m.chain === undefined || m.index === undefined ? undefined : `${m.chain}:${m.index}`;
  return messages.some((x) => x.id === m.id || (key !== undefined && slot(x) === key));
}

/**
 * Display order: by the time the sender put on the message; messages of one chain by their index
 * (two messages sealed in the same millisecond, or one released from the held queue after a later
 * one, keep their sender's order); otherwise the order they arrived in (the sort is stable).
 */
export function compareMessages(a: ChatMessage, b: ChatMessage): number {
  if (a.chain !== undefined && a.chain === b.chain && a.index !== undefined && b.index !== undefined) return a.index - b.index;
  return a.sentAt - b.sentAt;
}

/**
 * Adds `m` to `messages` in display order unless it is already displayed; returns whether it was
 * added. `messages` is changed in place.
 */
export function placeMessage(messages: ChatMessage[], m: ChatMessage): boolean {
  if (isDisplayed(messages, m)) return false;
  // From the end: new messages usually belong there.
  let at = messages.length;
  while (at > 0) {
    const before = messages[at - 1];
    if (before === undefined || compareMessages(before, m) <= 0) break;
    at -= 1;
  }
  messages.splice(at, 0, m);
  return true;
}
