/**
 * A conversation's displayed history: each message at most once, in order.
 *
 * Copies come back after a reconnect, a reload (the acknowledgement was lost) or a server restart
 * (the copy was never acknowledged); the receiver state refuses them as replays, and this is the
 * second line: a message is never displayed twice, whether it comes back under the same message
 * id or — from a buggy or hostile sender — under another id with the same (chain, index).
 *
 * A "could not be verified" entry does not count as the message its id names: that id came with a
 * payload that failed its checks, so it is unauthenticated, and a relay that sends a tampered copy
 * first must not be able to hide the genuine one (the Rust client never remembers the id of a
 * refused payload either). A verified copy under that id takes the entry's place.
 */

import type { StoredMessage } from "./stored";

/** `chain:index`, the position a received message holds in its sender's chain. */
function slot(m: StoredMessage): string | undefined {
  return m.chain === undefined || m.index === undefined ? undefined : `${m.chain}:${m.index}`;
}

/** What `isDisplayed` asks about; without `content`, any entry under the id counts. */
type Probe = Pick<StoredMessage, "id" | "chain" | "index"> & {
  readonly content?: StoredMessage["content"];
};

/** Whether `x` is only a "could not be verified" entry that `m`, a checked message, supersedes. */
function supersedes(m: Probe, x: StoredMessage): boolean {
  return (
    x.id === m.id &&
    x.content.type === "unverified" &&
    m.content !== undefined &&
    m.content.type !== "unverified"
  );
}

/**
 * Whether `m` is already displayed (same message id, or same chain and index). A checked message
 * is not displayed by a "could not be verified" entry under its id (see the top of this file).
 */
export function isDisplayed(messages: readonly StoredMessage[], m: Probe): boolean {
  const key = m.chain === undefined || m.index === undefined ? undefined : `${m.chain}:${m.index}`;
  return messages.some(
    (x) => (x.id === m.id && !supersedes(m, x)) || (key !== undefined && slot(x) === key),
  );
}

/**
 * Display order: by the time the sender put on the message; messages of one chain by their index
 * (two messages sealed in the same millisecond, or one released from the held queue after a later
 * one, keep their sender's order); otherwise the order they arrived in (the sort is stable).
 */
export function compareMessages(a: StoredMessage, b: StoredMessage): number {
  if (
    a.chain !== undefined &&
    a.chain === b.chain &&
    a.index !== undefined &&
    b.index !== undefined
  )
    return a.index - b.index;
  return a.sentAt - b.sentAt;
}

/**
 * Adds `m` to `messages` in display order unless it is already displayed; returns whether it was
 * added. `messages` is changed in place.
 *
 * A checked message replaces a "could not be verified" entry under its id rather than sitting
 * beside it: that entry was a copy of this very id that failed in transit, and showing both would
 * read as a second message that was lost (and give two entries one id, which receipts and statuses
 * address). The bad copy stays counted on the Devices screen.
 */
export function placeMessage(messages: StoredMessage[], m: StoredMessage): boolean {
  if (isDisplayed(messages, m)) return false;
  for (let i = messages.length - 1; i >= 0; i--) {
    const x = messages[i];
    if (x !== undefined && supersedes(m, x)) messages.splice(i, 1);
  }
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
