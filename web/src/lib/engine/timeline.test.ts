import { describe, expect, it } from "vitest";

import { ApiError, apiError } from "../api";
import { isTransient, retryDelay } from "./delivery";
import type { StoredMessage } from "./stored";
import { isDisplayed, placeMessage } from "./timeline";

function msg(id: string, sentAt: number, chain?: string, index?: number): StoredMessage {
  return {
    id,
    from: "acct:a",
    fromUsername: "alice",
    mine: false,
    sentAt,
    receivedAt: sentAt,
    content: { type: "text", text: id },
    ...(chain === undefined ? {} : { chain }),
    ...(index === undefined ? {} : { index }),
  };
}

const ids = (ms: readonly StoredMessage[]) => ms.map((m) => m.id);

describe("displayed history", () => {
  it("a verified message takes the place of a 'could not be verified' entry under its id, never the reverse", () => {
    const bad: StoredMessage = {
      ...msg("msg:1", 5),
      content: { type: "unverified", code: "bad-signature" },
    };
    const ms: StoredMessage[] = [bad];
    expect(isDisplayed(ms, msg("msg:1", 10, "chain:x", 0))).toBe(false);
    expect(placeMessage(ms, msg("msg:1", 10, "chain:x", 0))).toBe(true);
    expect(ms.map((m) => [m.id, m.content.type])).toEqual([["msg:1", "text"]]);
    // Once shown, neither another bad copy nor the message again is placed.
    expect(placeMessage(ms, bad)).toBe(false);
    expect(placeMessage(ms, msg("msg:1", 10, "chain:x", 0))).toBe(false);
    expect(ms.map((m) => [m.id, m.content.type])).toEqual([["msg:1", "text"]]);
  });

  it("shows a message once, whether it comes back under its id or its (chain, index)", () => {
    const ms: StoredMessage[] = [];
    expect(placeMessage(ms, msg("msg:1", 10, "chain:x", 0))).toBe(true);
    expect(placeMessage(ms, msg("msg:1", 10, "chain:x", 0))).toBe(false); // redelivered copy
    expect(placeMessage(ms, msg("msg:other", 10, "chain:x", 0))).toBe(false); // same slot, other id
    expect(placeMessage(ms, msg("msg:2", 10, "chain:y", 0))).toBe(true); // same index, other chain
    expect(ids(ms)).toEqual(["msg:1", "msg:2"]);
    expect(isDisplayed(ms, { id: "msg:3", chain: "chain:y", index: 0 })).toBe(true);
    expect(isDisplayed(ms, { id: "msg:3" })).toBe(false);
  });

  it("keeps each sender's order: by index within a chain, by time across senders", () => {
    const ms: StoredMessage[] = [];
    // Alice's 0, 2 and 3 arrive; 1 was held for its key and comes last, all in the same millisecond.
    placeMessage(ms, msg("a0", 100, "chain:a", 0));
    placeMessage(ms, msg("a2", 100, "chain:a", 2));
    placeMessage(ms, msg("b0", 101, "chain:b", 0));
    placeMessage(ms, msg("a3", 102, "chain:a", 3));
    placeMessage(ms, msg("a1", 100, "chain:a", 1));
    expect(ids(ms)).toEqual(["a0", "a1", "a2", "b0", "a3"]);
    // Own messages (no chain) go by time, after equal times already shown.
    placeMessage(ms, { ...msg("mine", 101), mine: true });
    expect(ids(ms)).toEqual(["a0", "a1", "a2", "b0", "mine", "a3"]);
  });
});

describe("delivery", () => {
  it("retries what the network or an overloaded server refused, never what the server judged", () => {
    expect(isTransient(new ApiError("network", 0, "offline"))).toBe(true);
    expect(isTransient(new ApiError("unavailable", 503, "restarting"))).toBe(true);
    expect(isTransient(new ApiError("throttled", 429, "slow down"))).toBe(true);
    expect(isTransient(apiError(502, "<html>Bad Gateway</html>"))).toBe(true);
    expect(isTransient(apiError(503, null))).toBe(true);
    expect(isTransient(apiError(400, null))).toBe(false);
    expect(isTransient(new ApiError("bad_response", 200, "odd json"))).toBe(false);
    expect(isTransient(new ApiError("not_found", 404, "not a member"))).toBe(false);
    expect(isTransient(new ApiError("conflict", 409, "duplicate"))).toBe(false);
    expect(isTransient(new Error("bug"))).toBe(false);
  });

  it("backs off with full jitter up to 30 s", () => {
    expect(retryDelay(1, () => 0.999)).toBeLessThanOrEqual(1000);
    expect(retryDelay(3, () => 0.999)).toBeGreaterThan(3000);
    expect(retryDelay(50, () => 0.999)).toBeLessThanOrEqual(30_000);
    expect(retryDelay(50, () => 0)).toBe(250);
  });
});
