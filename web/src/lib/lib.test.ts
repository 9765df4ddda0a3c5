import { describe, expect, it, vi } from "vitest";

import { ApiClient, isApiError } from "./api";
import { fromB64, toB64 } from "./b64";
import { approvalCode } from "./engine/model";
import { wireKind } from "./engine/messaging";
import { ServerFrame } from "./schemas";
import { decodeTagged, encodeTagged } from "./tagged-json";
import { backoffDelay } from "./ws";
import { withLock } from "../storage/locks";

describe("base64", () => {
  it("round-trips and refuses what is not standard padded base64", () => {
    const bytes = Uint8Array.from({ length: 70_000 }, (_, i) => i % 256);
    expect(fromB64(toB64(bytes))).toEqual(bytes);
    expect(() => fromB64("abc")).toThrow(TypeError);
    expect(() => fromB64("ab-_")).toThrow(TypeError);
    expect(() => fromB64("YQ")).toThrow(TypeError);
    expect(fromB64("YQ==")).toEqual(Uint8Array.of(0x61));
  });
});

describe("tagged JSON", () => {
  it("keeps bigint and bytes, drops undefined fields", () => {
    const value = {
      a: 1n << 64n,
      b: Uint8Array.of(1, 2, 3),
      c: [undefined, "x"],
      d: undefined,
      e: null,
      f: { g: 2 },
    };
    const back = decodeTagged(encodeTagged(value));
    expect(back).toEqual({
      a: 1n << 64n,
      b: Uint8Array.of(1, 2, 3),
      c: [null, "x"],
      e: null,
      f: { g: 2 },
    });
  });
  it("refuses functions", () => {
    expect(() => encodeTagged({ f: () => 1 })).toThrow(TypeError);
  });
});

describe("backoff", () => {
  it("uses full jitter under an exponential cap, at least 250 ms", () => {
    const b = { baseMs: 1000, maxMs: 30_000 };
    expect(backoffDelay(0, b, () => 0)).toBe(250);
    expect(backoffDelay(0, b, () => 0.999)).toBeLessThanOrEqual(1000);
    expect(backoffDelay(3, b, () => 0.999)).toBeLessThanOrEqual(8000);
    expect(backoffDelay(3, b, () => 0.999)).toBeGreaterThan(7000);
    expect(backoffDelay(40, b, () => 0.999)).toBeLessThanOrEqual(30_000);
  });
});

describe("server frames", () => {
  const acct = `acct:${"a".repeat(64)}`;
  const dev = `dev:${"b".repeat(64)}`;
  const conv = `conv:${"c".repeat(32)}`;
  const msg = `msg:${"d".repeat(32)}`;
  it("parses the documented frames", () => {
    expect(
      ServerFrame.safeParse({ type: "ready", account: acct, device: dev, session: "sess:1" })
        .success,
    ).toBe(true);
    expect(
      ServerFrame.safeParse({
        type: "envelope",
        seq: 1,
        conversation: conv,
        message_id: msg,
        sender_account: acct,
        sender_device: dev,
        received_at: 5,
        envelope: "AAAA",
      }).success,
    ).toBe(true);
    expect(
      ServerFrame.safeParse({
        type: "signal",
        conversation: conv,
        kind: "typing",
        from_account: acct,
        from_device: dev,
        payload: null,
      }).success,
    ).toBe(true);
    expect(
      ServerFrame.safeParse({ type: "error", id: null, error: "conflict", message: "dup" }).success,
    ).toBe(true);
  });
  it("refuses unknown types, malformed ids and wrong types", () => {
    expect(ServerFrame.safeParse({ type: "surprise" }).success).toBe(false);
    expect(
      ServerFrame.safeParse({ type: "ready", account: "acct:XYZ", device: dev, session: "s" })
        .success,
    ).toBe(false);
    expect(
      ServerFrame.safeParse({
        type: "signal",
        conversation: conv,
        kind: "shout",
        from_account: acct,
        from_device: dev,
      }).success,
    ).toBe(false);
    expect(ServerFrame.safeParse({ type: "acked", count: "1" }).success).toBe(false);
  });
});

describe("wire kinds", () => {
  const framed = (label: string) => {
    const l = new TextEncoder().encode(label);
    return Uint8Array.of(0, 0, 0, l.length + 2, l.length, ...l, 1);
  };
  it("tells envelopes, distributions and key requests apart by domain", () => {
    expect(wireKind(framed("sotto/msg"))).toBe("envelope");
    expect(wireKind(framed("sotto/kdm"))).toBe("distribution");
    expect(wireKind(framed("sotto/key-request"))).toBe("key-request");
    expect(wireKind(framed("sotto/body"))).toBe("unknown");
    expect(wireKind(Uint8Array.of(1, 2))).toBe("unknown");
  });
});

describe("approval code", () => {
  it("is six digits derived from the device id", () => {
    const code = approvalCode(`dev:${"0f".repeat(32)}`);
    expect(code).toMatch(/^\d{6}$/);
    expect(approvalCode(`dev:${"0f".repeat(32)}`)).toBe(code);
    expect(approvalCode(`dev:${"10".repeat(32)}`)).not.toBe(code);
  });
});

describe("locks", () => {
  it("serialises holders of one lock", async () => {
    const order: string[] = [];
    const slow = withLock("t", async () => {
      order.push("a-start");
      await new Promise((r) => setTimeout(r, 20));
      order.push("a-end");
    });
    const fast = withLock("t", () => {
      order.push("b");
      return Promise.resolve();
    });
    await Promise.all([slow, fast]);
    expect(order).toEqual(["a-start", "a-end", "b"]);
  });
});

describe("API client", () => {
  function respond(status: number, body: unknown): Response {
    return new Response(JSON.stringify(body), {
      status,
      headers: { "Content-Type": "application/json" },
    });
  }

  it("maps error bodies to stable codes and validates responses", async () => {
    const fetchMock = vi.fn<typeof fetch>();
    vi.stubGlobal("fetch", fetchMock);
    const api = new ApiClient("https://x", {
      bearer: () => "t",
      renew: () => Promise.resolve(false),
    });
    fetchMock.mockResolvedValueOnce(respond(409, { error: "conflict", message: "taken" }));
    await expect(api.register("alice", "pw")).rejects.toSatisfy((e) => isApiError(e, "conflict"));
    fetchMock.mockResolvedValueOnce(respond(201, { user: "alice" }));
    await expect(api.register("alice", "pw")).rejects.toSatisfy((e) =>
      isApiError(e, "bad_response"),
    );
    fetchMock.mockResolvedValueOnce(respond(418, { error: "teapot", message: "?" }));
    await expect(api.register("alice", "pw")).rejects.toSatisfy((e) =>
      isApiError(e, "bad_response"),
    );
    fetchMock.mockResolvedValueOnce(respond(201, { username: "alice" }));
    await expect(api.register("Alice", "pw")).resolves.toEqual({ username: "alice" });
    const init = fetchMock.mock.calls.at(-1)?.[1];
    expect(new Headers(init?.headers).get("Authorization")).toBe("Bearer t");
    vi.unstubAllGlobals();
  });

  it("keeps a refusal's protocol code and gives a bare proxy answer the code its status means", async () => {
    const fetchMock = vi.fn<typeof fetch>();
    vi.stubGlobal("fetch", fetchMock);
    const api = new ApiClient("https://x", {
      bearer: () => "t",
      renew: () => Promise.resolve(false),
    });
    fetchMock.mockResolvedValueOnce(
      respond(422, {
        error: "rejected",
        message: "group change rejected",
        code: "group/not-admin",
      }),
    );
    await expect(api.register("alice", "pw")).rejects.toSatisfy(
      (e) => isApiError(e, "rejected") && e.detail === "group/not-admin",
    );
    fetchMock.mockResolvedValueOnce(new Response("<html>Bad Gateway</html>", { status: 502 }));
    await expect(api.register("alice", "pw")).rejects.toSatisfy((e) =>
      isApiError(e, "unavailable"),
    );
    vi.unstubAllGlobals();
  });

  it("renews once on 401 and retries", async () => {
    const fetchMock = vi.fn<typeof fetch>();
    vi.stubGlobal("fetch", fetchMock);
    let token = "old";
    const renew = vi.fn(() => {
      token = "new";
      return Promise.resolve(true);
    });
    const api = new ApiClient("https://x", { bearer: () => token, renew });
    fetchMock.mockResolvedValueOnce(respond(401, { error: "unauthorized", message: "expired" }));
    fetchMock.mockResolvedValueOnce(respond(200, [`conv:${"1".repeat(32)}`]));
    await expect(api.conversations()).resolves.toEqual([`conv:${"1".repeat(32)}`]);
    expect(renew).toHaveBeenCalledTimes(1);
    expect(new Headers(fetchMock.mock.calls[1]?.[1]?.headers).get("Authorization")).toBe(
      "Bearer new",
    );
    vi.unstubAllGlobals();
  });
});
