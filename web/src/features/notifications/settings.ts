/**
 * The two notification settings, kept in localStorage (two booleans: never a message, a name or
 * anything else about the conversations). `enabled`: notify at all (on by default; permission is
 * still the browser's); `content`: show the message text (off by default: a locked screen or a
 * shared desk shows "New message from alice", not what alice wrote).
 */

import { useSyncExternalStore } from "react";

export interface NotificationSettings {
  readonly enabled: boolean;
  readonly content: boolean;
}

const KEY = "sotto-notifications";
const DEFAULTS: NotificationSettings = { enabled: true, content: false };

let cached: { raw: string | null; value: NotificationSettings } | undefined;
const listeners = new Set<() => void>();

function parse(raw: string | null): NotificationSettings {
  if (raw === null) return DEFAULTS;
  try {
    const v: unknown = JSON.parse(raw);
    if (typeof v !== "object" || v === null) return DEFAULTS;
    const o = v as { enabled?: unknown; content?: unknown };
    return {
      enabled: typeof o.enabled === "boolean" ? o.enabled : DEFAULTS.enabled,
      content: typeof o.content === "boolean" ? o.content : DEFAULTS.content,
    };
  } catch {
    return DEFAULTS;
  }
}

export function readSettings(): NotificationSettings {
  const raw = typeof localStorage === "undefined" ? null : localStorage.getItem(KEY);
  if (cached?.raw !== raw) cached = { raw, value: parse(raw) };
  return cached.value;
}

export function writeSettings(change: Partial<NotificationSettings>): void {
  const next = { ...readSettings(), ...change };
  localStorage.setItem(KEY, JSON.stringify({ enabled: next.enabled, content: next.content }));
  for (const l of listeners) l();
}

function subscribe(onChange: () => void): () => void {
  listeners.add(onChange);
  // Another tab changed them.
  window.addEventListener("storage", onChange);
  return () => {
    listeners.delete(onChange);
    window.removeEventListener("storage", onChange);
  };
}

export function useNotificationSettings(): NotificationSettings {
  return useSyncExternalStore(subscribe, readSettings, () => DEFAULTS);
}

/** The browser's permission, or "unsupported" where there is no Notification API. */
export type Permission = NotificationPermission | "unsupported";

export function permission(): Permission {
  return typeof Notification === "undefined" ? "unsupported" : Notification.permission;
}
