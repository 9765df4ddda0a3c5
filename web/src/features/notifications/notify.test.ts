/** What a notification says: no message text unless the user chose it; only when useful. */

import { describe, expect, it } from "vitest";

import type { ChatMessage } from "../../lib/engine/model";
import { notificationText, shouldNotify } from "./notify";

const message = {
  id: "msg:1",
  from: "acct:a",
  fromUsername: "alice",
  mine: false,
  sentAt: 0,
  receivedAt: 0,
  content: { type: "text", text: "the secret plan" },
  mentions: [],
  mentionsMe: false,
  reactions: [],
} as ChatMessage;

describe("notifications", () => {
  it("by default say who wrote, never what", () => {
    const n = notificationText(message, { name: "alice", direct: true }, false);
    expect(n).toEqual({ title: "Sotto", body: "New message from alice" });
    const g = notificationText(message, { name: "Team", direct: false }, false);
    expect(g.body).toBe("New message from alice in Team");
    expect(JSON.stringify(g)).not.toContain("secret");
  });

  it("show the text when the user turned that on", () => {
    const n = notificationText(message, { name: "Team", direct: false }, true);
    expect(n).toEqual({ title: "alice in Team", body: "the secret plan" });
  });

  it("a mention says so", () => {
    const n = notificationText({ ...message, mentionsMe: true }, undefined, false);
    expect(n.body).toBe("alice mentioned you");
  });

  it("fire only when the page is hidden or another conversation is open", () => {
    expect(shouldNotify({ hidden: false, openConv: "c1", conv: "c1" })).toBe(false);
    expect(shouldNotify({ hidden: true, openConv: "c1", conv: "c1" })).toBe(true);
    expect(shouldNotify({ hidden: false, openConv: "c2", conv: "c1" })).toBe(true);
    expect(shouldNotify({ hidden: false, openConv: undefined, conv: "c1" })).toBe(true);
  });
});
