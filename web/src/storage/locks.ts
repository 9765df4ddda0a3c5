/**
 * Cross-tab locks: Web Locks (`navigator.locks`) when present, an in-page queue otherwise (Node
 * tests). Names are scoped by the account's namespace (`lockName`), so tabs of one account
 * coordinate (one writer per sending chain, one token refresh, one socket) while another
 * account's tabs in the same browser never wait for them.
 */

const local = new Map<string, Promise<unknown>>();

/** The lock (or channel) `name` of the namespace whose database is `scope` (`sotto:alice`). */
export function lockName(scope: string, name: string): string {
  return `${scope}:${name}`;
}

export async function withLock<T>(name: string, run: () => Promise<T>): Promise<T> {
  if (typeof navigator !== "undefined" && "locks" in navigator) {
    return navigator.locks.request(name, { mode: "exclusive" }, run);
  }
  const prev = local.get(name) ?? Promise.resolve();
  const next = prev.catch(() => undefined).then(run);
  local.set(name, next);
  return next;
}
