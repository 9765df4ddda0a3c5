/**
 * Delivery under bad networks: which failures are worth retrying, and when.
 *
 * A failure is *transient* when it says nothing about the message or the key material: the
 * server could not be reached, was restarting, was overloaded or throttled us, or gave a directory
 * entry that does not answer the lookup (another account or username, or an account id that is not
 * its master key's: `DirectoryMismatchError`). Such a message is retried (sending) or held and
 * retried (receiving) — never dropped, never counted as undecryptable.
 */

import { isApiError } from "../api";
import { type Backoff, backoffDelay } from "../ws";
import { DirectoryMismatchError } from "./directory";

const TRANSIENT = ["network", "throttled", "capacity", "unavailable", "internal"] as const;

export function isTransient(e: unknown): boolean {
  // A wrong directory entry is a bad answer about the lookup (the Rust client refuses it as a bad
  // response), not about the message: the right one may come next time.
  if (e instanceof DirectoryMismatchError) return true;
  // An answer that is not the server's (a proxy's 502) reaches here as `unavailable`: the API
  // edge gave it the code its status means (`apiError`).
  return isApiError(e) && (TRANSIENT as readonly string[]).includes(e.code);
}

/**
 * The outbox's and the inbox's own retry schedule, for failures the socket does not notice (a
 * 503, a throttle, a directory that cannot be reached while the socket stays up).
 */
export const RETRY_BACKOFF: Backoff = { baseMs: 1000, maxMs: 30_000 };

/** Delay before trying again after `attempts` transient failures in a row (full jitter). */
export function retryDelay(attempts: number, random: () => number = Math.random): number {
  return backoffDelay(Math.max(0, attempts - 1), RETRY_BACKOFF, random);
}
