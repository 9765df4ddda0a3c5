/**
 * One writer per sending chain across tabs: Web Locks (`navigator.locks`) when present, an
 * in-page queue otherwise (Node tests).
 */

const local = new Map<string, Promise<unknown>>();

export async function withLock<T>(name: string, run: () => Promise<T>): Promise<T> {
  if (typeof navigator !== "undefined" && "locks" in navigator) {
    return navigator.locks.request(`sotto:${name}`, { mode: "exclusive" }, run);
  }
  const prev = local.get(name) ?? Promise.resolve();
  const next = prev.catch(() => undefined).then(run);
  local.set(name, next);
  return next;
}
