/** The kept undelivered items: retry order, the bound, dismissing, and the words shown. */

import { describe, expect, it } from "vitest";

import { type UndeliveredNote, undeliveredLines } from "./model";
import type { OutboxItem } from "./outbox";
import { MAX_KEPT_MESSAGES, UndeliveredItems } from "./undelivered";

const device = (n: number) => `dev:${n.toString(16).padStart(64, "0")}`;
const msg = (conv: string, id: string): OutboxItem => ({
  conv,
  messageId: id,
  kind: "message",
  body: { type: "text", text: id },
  wire: "AA==",
  attempts: 0,
});
const raw = (conv: string, id: string): OutboxItem => ({
  conv,
  messageId: id,
  kind: "raw",
  wire: "AA==",
  to: device(1),
  attempts: 0,
});
const refused = [{ device: device(1), reason: "request_limit" as const }];

describe("undelivered items", () => {
  it("a Retry posts the conversation's kept items up to that message, distributions first, in send order", () => {
    const u = new UndeliveredItems();
    u.record(raw("c1", "kdm"), refused);
    u.record(msg("c1", "m1"), refused);
    u.record(msg("c2", "other"), refused);
    u.record(msg("c1", "m2"), refused);
    u.record(msg("c1", "m3"), refused);
    expect(u.forRetry("m2").map((i) => i.messageId)).toEqual(["kdm", "m1", "m2"]);
    expect(u.rounds().map((r) => r.map((i) => i.messageId))).toEqual([
      ["kdm", "m1", "m2", "m3"],
      ["other"],
    ]);
    // A retry answered with a device still refused keeps the item in its place.
    u.record(msg("c1", "m1"), refused);
    expect(u.forRetry("m2").map((i) => i.messageId)).toEqual(["kdm", "m1", "m2"]);
  });

  it("drops a conversation's distributions once none of its messages is kept", () => {
    const u = new UndeliveredItems();
    u.record(raw("c1", "kdm"), refused);
    u.record(msg("c1", "m1"), refused);
    u.record(msg("c1", "m2"), refused);
    u.record(msg("c1", "m1"), []);
    expect(u.list().map((k) => k.item.messageId)).toEqual(["kdm", "m2"]);
    expect(u.dismiss("m2")?.messageId).toBe("m2");
    expect(u.list()).toEqual([]);
    expect(u.dismiss("kdm")).toBeUndefined();
  });

  it("keeps at most MAX_KEPT_MESSAGES messages, dismissing the oldest", () => {
    const u = new UndeliveredItems();
    for (let i = 0; i < MAX_KEPT_MESSAGES; i++)
      expect(u.record(msg("c", `m${i}`), refused)).toEqual([]);
    const evicted = u.record(msg("c", "newest"), refused);
    expect(evicted.map((i) => i.messageId)).toEqual(["m0"]);
    expect(u.messageCount).toBe(MAX_KEPT_MESSAGES);
    expect(u.get("newest")).toBeDefined();
  });

  it("retries soon only while some refusal clears without the recipient", () => {
    const u = new UndeliveredItems();
    u.record(msg("c", "a"), [{ device: device(1), reason: "blocked" }]);
    expect(u.anyClearsByItself()).toBe(false);
    u.record(msg("c", "b"), [{ device: device(2), reason: "sender_share_full" }]);
    expect(u.anyClearsByItself()).toBe(true);
  });

  it("names each person and reason once, in words", () => {
    const notes: UndeliveredNote[] = [
      { device: device(1), username: "alice", reason: "request_limit" },
      { device: device(2), username: "alice", reason: "request_limit" },
      { device: device(3), username: "bob", reason: "queue_full" },
      { device: device(4), username: "carol", reason: "blocked" },
      { device: device(5), username: "dan", reason: "declined" },
    ];
    expect(undeliveredLines(notes)).toEqual([
      "Not delivered to alice (waiting for them to accept)",
      "Not delivered to bob (queue full)",
      "Not delivered to carol (blocked)",
      "Not delivered to dan (declined)",
    ]);
  });
});
