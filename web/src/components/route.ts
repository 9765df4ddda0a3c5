/**
 * The app's addresses: one per screen and one per conversation, kept in the URL's hash
 * (`#/c/<conversation id>?m=<message id>`). Hash routing because the server answers `/` with
 * index.html and every other path is the API's or a static file's: a reload or a shared link
 * must never reach the server as a path it does not know. Back/Forward move between entries
 * because every navigation is a history entry (`navigate`), and a reload reads the hash again.
 *
 * Shared code, so any feature can read where it is (the chat view reads `m`, the message to
 * scroll to) without importing the app.
 */

import { useMemo, useSyncExternalStore } from "react";

export type Route =
  | { readonly kind: "home" }
  /** `m`: a message to scroll to and highlight (a search hit). */
  | { readonly kind: "chat"; readonly conv: string; readonly m?: string }
  | { readonly kind: "members"; readonly conv: string }
  | { readonly kind: "new" }
  | { readonly kind: "devices" }
  | { readonly kind: "requests" }
  | { readonly kind: "request"; readonly conv: string }
  | { readonly kind: "blocked" }
  | { readonly kind: "settings" }
  /**
   * The search screen. Its words are never part of the address: the browser keeps addresses in
   * its history, unencrypted on disk, outside the sealed store.
   */
  | { readonly kind: "search" }
  | { readonly kind: "safety"; readonly account: string };

/** The hash of a route, `#/…`; ids are percent-encoded (they hold `:` and may hold `/`). */
export function routeHash(route: Route): string {
  const e = encodeURIComponent;
  switch (route.kind) {
    case "home":
      return "#/";
    case "chat":
      return route.m === undefined
        ? `#/c/${e(route.conv)}`
        : `#/c/${e(route.conv)}?m=${e(route.m)}`;
    case "members":
      return `#/c/${e(route.conv)}/members`;
    case "new":
      return "#/new";
    case "devices":
      return "#/devices";
    case "requests":
      return "#/requests";
    case "request":
      return `#/requests/${e(route.conv)}`;
    case "blocked":
      return "#/blocked";
    case "settings":
      return "#/settings";
    case "search":
      return "#/search";
    case "safety":
      return `#/safety/${e(route.account)}`;
  }
}

function decode(part: string): string | undefined {
  try {
    const s = decodeURIComponent(part);
    return s === "" ? undefined : s;
  } catch {
    return undefined;
  }
}

/** The route a hash names; anything unknown or malformed is home. */
export function parseRoute(hash: string): Route {
  const raw = hash.startsWith("#") ? hash.slice(1) : hash;
  const q = raw.indexOf("?");
  const path = q < 0 ? raw : raw.slice(0, q);
  const params = new URLSearchParams(q < 0 ? "" : raw.slice(q + 1));
  const parts = path.split("/").filter((p) => p !== "");
  const [head, id, tail] = parts;
  const conv = id === undefined ? undefined : decode(id);
  switch (head) {
    case "c":
      if (conv === undefined || parts.length > 3) break;
      if (tail === "members") return { kind: "members", conv };
      if (tail !== undefined) break;
      return params.get("m") === null
        ? { kind: "chat", conv }
        : { kind: "chat", conv, m: params.get("m") ?? "" };
    case "new":
      return { kind: "new" };
    case "devices":
      return { kind: "devices" };
    case "requests":
      return conv === undefined ? { kind: "requests" } : { kind: "request", conv };
    case "blocked":
      return { kind: "blocked" };
    case "settings":
      return { kind: "settings" };
    case "search":
      return { kind: "search" };
    case "safety":
      if (conv !== undefined) return { kind: "safety", account: conv };
      break;
    case undefined:
    default:
      break;
  }
  return { kind: "home" };
}

/** Whether this page load made a history entry of its own: Back then stays in the app. */
let navigated = false;

/**
 * Goes to `route` as a new history entry (Back returns); `replace` rewrites the current one (a
 * search box as the user types, a redirect). Navigating to where one is adds nothing.
 */
export function navigate(route: Route, opts?: { replace?: boolean }): void {
  const hash = routeHash(route);
  if (location.hash === hash) return;
  if (opts?.replace === true) {
    history.replaceState(history.state, "", hash);
    // replaceState fires no hashchange: tell the subscribers ourselves.
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  } else {
    navigated = true;
    location.hash = hash;
  }
}

/**
 * Leaves a screen opened on top of another (a safety number): Back when this page load went
 * there itself, else `fallback` (it was opened from a link or reloaded, and Back would leave).
 */
export function goBack(fallback: Route): void {
  if (navigated) history.back();
  else navigate(fallback, { replace: true });
}

function subscribe(onChange: () => void): () => void {
  window.addEventListener("hashchange", onChange);
  return () => {
    window.removeEventListener("hashchange", onChange);
  };
}

function currentHash(): string {
  return location.hash;
}

/** The current route; the component renders again when it changes (links, Back, Forward). */
export function useRoute(): Route {
  const hash = useSyncExternalStore(subscribe, currentHash, () => "");
  return useMemo(() => parseRoute(hash), [hash]);
}
