import { describe, expect, it } from "vitest";

import type { StoredMessage } from "./stored";
import {
  RETENTION_CHOICES,
  describeRetention,
  dropExpired,
  effectiveRetention,
  isValidRetention,
  nextExpiry,
} from "./retention";

function msg(id: string, sentAt: number): StoredMessage {
  return {
    id,
    from: "acct:a",
    fromUsername: "alice",
    mine: false,
    sentAt,
    receivedAt: sentAt,
    content: { type: "text", text: id },
  };
}

describe("retention", () => {
  it("a message is dropped once sent_at + retention has passed, measured from its own sent_at", () => {
    const messages = [msg("old", 0), msg("edge", 1_000), msg("new", 50_000)];
    // 60 s retention at t = 61 s: "old" (sent at 0) and "edge" (1 s) have passed or reach it.
    expect(dropExpired(messages, 60, 61_000)).toBe(2);
    expect(messages.map((m) => m.id)).toEqual(["new"]);
  });

  it("keeps everything for good (0) and while the server default is not known yet", () => {
    const messages = [msg("a", 0)];
    expect(dropExpired(messages, 0, Number.MAX_SAFE_INTEGER)).toBe(0);
    expect(dropExpired(messages, undefined, Number.MAX_SAFE_INTEGER)).toBe(0);
    expect(messages).toHaveLength(1);
  });

  it("the log's value wins over the server default; the default applies before any", () => {
    expect(effectiveRetention(3600, 86_400)).toBe(3600);
    expect(effectiveRetention(0, 86_400)).toBe(0);
    expect(effectiveRetention(undefined, 86_400)).toBe(86_400);
  });

  it("offers only values the protocol accepts, and names them", () => {
    for (const c of RETENTION_CHOICES) {
      expect(isValidRetention(c.secs)).toBe(true);
      expect(describeRetention(c.secs)).toBe(c.secs === 0 ? "forever" : c.label);
    }
    expect(isValidRetention(59)).toBe(false);
    expect(isValidRetention(315_360_001)).toBe(false);
    expect(describeRetention(120)).toBe("2 minutes");
  });

  it("tells when the next message expires so a timer can remove it then", () => {
    expect(nextExpiry([msg("a", 5_000), msg("b", 1_000)], 60)).toBe(61_000);
    expect(nextExpiry([msg("a", 5_000)], 0)).toBeUndefined();
  });
});
