import { describe, expect, it } from "vitest";
import type { SealedStore } from "../../storage/sealed";
import { type HeldHost, type HeldItem, HeldPayloads, MAX_UNEXPIRING_HELD } from "./held";
import type { Outbox } from "./outbox";

/** Only what `hold` touches: the store's `put`; the host's `changed`. */
function holds(): HeldPayloads {
  const store = {
    put: () => Promise.resolve(),
    get: () => Promise.resolve(undefined),
  } as unknown as SealedStore;
  const host = { changed: () => undefined } as unknown as HeldHost;
  return new HeldPayloads(store, {} as unknown as Outbox, host);
}

function item(i: number, extra: Partial<HeldItem>): HeldItem {
  return {
    conv: "conv:1",
    messageId: `msg:${String(i)}`,
    wire: `w${String(i)}`,
    senderAccount: "acct:x",
    senderDevice: "dev:x",
    receivedAt: 0,
    since: 0,
    ...extra,
  };
}

describe("held payloads", () => {
  it("keep at most MAX_UNEXPIRING_HELD payloads that never expire; key waits, which expire, are not limited by them", async () => {
    const h = holds();
    for (let i = 0; i < MAX_UNEXPIRING_HELD; i++) {
      expect(
        await h.hold(item(i, i % 2 === 0 ? { reason: "server" } : { waitingFor: "acct:a" })),
      ).toBe(true);
    }
    // One more identity hold or server wait is refused; the same copy again is still "held".
    expect(await h.hold(item(MAX_UNEXPIRING_HELD, { waitingFor: "acct:a" }))).toBe(false);
    expect(await h.hold(item(MAX_UNEXPIRING_HELD + 1, { reason: "server" }))).toBe(false);
    expect(await h.hold(item(0, { reason: "server" }))).toBe(true);
    // A key wait still fits (it is given up within the hour anyway).
    expect(await h.hold(item(MAX_UNEXPIRING_HELD + 2, { reason: "key" }))).toBe(true);
    expect(h.items).toHaveLength(MAX_UNEXPIRING_HELD + 1);
  });
});
