/**
 * Retention (`docs/protocol.md` §6.7): how long a conversation's messages are kept, by the server
 * and by every member's devices. The verified group state holds the last SetRetention value;
 * before any, the server's published default applies. This module owns the rule a client keeps
 * (a message is neither kept nor shown once `sent_at + retention` has passed), the choices the
 * members panel offers, and their wording. Pure: the client applies it on load and on a timer.
 */

import type { StoredMessage } from "./stored";

/** Seconds; `0` keeps messages for good (§6.7). */
export type RetentionSecs = number;

const HOUR = 3600;
const DAY = 24 * HOUR;

/**
 * What the members panel offers: the short ones are disappearing messages. All are within the
 * protocol's bounds (0, or 60 s to ten years).
 */
export const RETENTION_CHOICES: readonly {
  readonly secs: RetentionSecs;
  readonly label: string;
}[] = [
  { secs: HOUR, label: "1 hour" },
  { secs: DAY, label: "1 day" },
  { secs: 7 * DAY, label: "7 days" },
  { secs: 30 * DAY, label: "30 days" },
  { secs: 365 * DAY, label: "1 year" },
  { secs: 0, label: "Forever" },
];

/** The protocol's bounds for a SetRetention value (§6.7). */
export const MIN_RETENTION_SECS = 60;
export const MAX_RETENTION_SECS = 315_360_000;

/** Whether `secs` is a value SetRetention may carry. */
export function isValidRetention(secs: number): boolean {
  return (
    Number.isInteger(secs) &&
    (secs === 0 || (secs >= MIN_RETENTION_SECS && secs <= MAX_RETENTION_SECS))
  );
}

/** "Messages kept for 7 days" style wording of a retention ("forever" for 0). */
export function describeRetention(secs: RetentionSecs): string {
  if (secs === 0) return "forever";
  const choice = RETENTION_CHOICES.find((c) => c.secs === secs);
  if (choice !== undefined) return choice.label;
  const units: readonly [number, string][] = [
    [365 * DAY, "year"],
    [DAY, "day"],
    [HOUR, "hour"],
    [60, "minute"],
  ];
  for (const [size, name] of units) {
    if (secs % size === 0) {
      const n = secs / size;
      return `${String(n)} ${name}${n === 1 ? "" : "s"}`;
    }
  }
  return `${String(secs)} seconds`;
}

/**
 * The retention in force: the log's last SetRetention value, else the server default (§6.7).
 * `undefined` for the default means it is not known yet: nothing is deleted until it is.
 */
export function effectiveRetention(
  logValue: RetentionSecs | undefined,
  serverDefault: RetentionSecs | undefined,
): RetentionSecs | undefined {
  return logValue ?? serverDefault;
}

/** Whether a message sent at `sentAt` (ms) is past `retention` at `now` (ms). */
export function isExpired(sentAt: number, retention: RetentionSecs | undefined, now: number) {
  return retention !== undefined && retention !== 0 && sentAt + retention * 1000 <= now;
}

/**
 * Removes, in place, the messages past `retention` at `now`; returns how many went. Entries
 * that stand for messages (gaps, "could not be verified") follow the same clock.
 */
export function dropExpired(
  messages: StoredMessage[],
  retention: RetentionSecs | undefined,
  now: number,
): number {
  if (retention === undefined || retention === 0) return 0;
  const before = messages.length;
  let w = 0;
  for (const m of messages) if (!isExpired(m.sentAt, retention, now)) messages[w++] = m;
  messages.length = w;
  return before - w;
}

/**
 * When the next message of `messages` expires (ms), so a timer can run then; `undefined` when
 * none will.
 */
export function nextExpiry(
  messages: readonly StoredMessage[],
  retention: RetentionSecs | undefined,
): number | undefined {
  if (retention === undefined || retention === 0) return undefined;
  let first: number | undefined;
  for (const m of messages) {
    const at = m.sentAt + retention * 1000;
    if (first === undefined || at < first) first = at;
  }
  return first;
}
