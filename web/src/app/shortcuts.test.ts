/** Shortcuts: chords act anywhere, printable keys only outside text fields. */

import { describe, expect, it } from "vitest";

import { shortcutFor } from "./shortcuts";
import { titleFor } from "./title";

const key = (k: string, mods: { ctrl?: boolean; meta?: boolean } = {}) => ({
  key: k,
  ctrlKey: mods.ctrl ?? false,
  metaKey: mods.meta ?? false,
  altKey: false,
  target: null,
});

describe("keyboard shortcuts", () => {
  it("Ctrl+K and Cmd+K open the switcher", () => {
    expect(shortcutFor(key("k", { ctrl: true }))).toBe("switcher");
    expect(shortcutFor(key("K", { meta: true }))).toBe("switcher");
  });

  it("/ and Ctrl+F open search; ? and Ctrl+/ the help", () => {
    expect(shortcutFor(key("/"))).toBe("search");
    expect(shortcutFor(key("f", { ctrl: true }))).toBe("search");
    expect(shortcutFor(key("?"))).toBe("help");
    expect(shortcutFor(key("/", { ctrl: true }))).toBe("help");
    expect(shortcutFor(key("k"))).toBeUndefined();
  });
});

describe("the document title", () => {
  it("holds the unread count and never a conversation's name (browser history is not sealed)", () => {
    expect(titleFor(0)).toBe("Sotto");
    expect(titleFor(3)).toBe("(3) Sotto");
  });
});
