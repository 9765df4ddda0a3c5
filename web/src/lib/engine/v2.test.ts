/**
 * Protocol version 2 in the engine: a recipient device with a version-2 certificate and one-time
 * prekeys on the relay; the sender claims one per recipient device in one request and sends a
 * version-2 distribution; the recipient consumes the prekey in the same write as the chain, and
 * the server's count goes down. Without prekeys on the server, the last-resort prekey is used.
 */

import "fake-indexeddb/auto";

import { describe, expect, it, vi } from "vitest";

import {
  DAY,
  DeviceId,
  KeyDistribution,
  PrekeyId,
  PrekeyPair,
  PrekeyRing,
  type StoredPrekeyRing,
  exchangeKeyIdOf,
  systemRandom,
} from "../../crypto";
import { T0 } from "../../crypto/test-support";
import { fromB64, toB64 } from "../b64";
import type { EnvelopeFrame } from "../schemas";
import { PREKEY_RING } from "./keystore";
import { replenishPrekeys, v2Stats } from "./prekeys";
import {
  type Relay,
  type Side,
  aliceAndBob,
  createConversation,
  dateFrozenAtT0,
  deliver,
  fakeApi,
  kind,
  newRelay,
  settle,
  side,
  texts,
} from "./test-world";

dateFrozenAtT0();
const [alice, bob] = await aliceAndBob();
const BOB_DEVICE = DeviceId.toText(bob.device.keys.device);

/** Makes Bob's device version 2: a v2 certificate (serial 2) on the relay, its last-resort prekey in his ring. */
async function upgradeBob(relay: Relay, b: Side): Promise<void> {
  const lastResort = await PrekeyPair.generate(PrekeyId.fromBytes(systemRandom(16)));
  const cert = await bob.device.keys.certifyExchangeKeyV2(
    bob.master.account,
    bob.device.exchange.encryptingKey,
    lastResort.publicPart,
    2n,
    T0 - DAY,
    T0 + 6n * DAY,
  );
  b.keys.prekeys.addLastResort(await exchangeKeyIdOf(bob.device.exchange.spki), lastResort);
  for (const [who, view] of relay.views) {
    if (view.username !== bob.name) continue;
    relay.views.set(who, {
      ...view,
      devices: view.devices.map((d) =>
        d.device === BOB_DEVICE ? { ...d, exchange_key: toB64(cert.encode()) } : d,
      ),
    });
  }
}

function distributionsTo(frames: readonly EnvelopeFrame[]): KeyDistribution[] {
  return frames
    .filter((f) => kind(f) === "distribution")
    .map((f) => KeyDistribution.decode(fromB64(f.envelope)));
}

describe("version 2 in the engine", () => {
  it("claims a one-time prekey, sends a v2 distribution, and the recipient consumes it atomically", async () => {
    const relay = newRelay([alice, bob]);
    const a = await side(relay, alice, "v2a-alice");
    const b = await side(relay, bob, "v2a-bob");
    await upgradeBob(relay, b);
    const deps = { api: fakeApi(relay, bob), store: b.store, now: () => T0 };
    expect(await replenishPrekeys(deps, b.keys)).toBe(100);
    expect(relay.prekeys?.get(BOB_DEVICE)?.length).toBe(100);
    expect(b.keys.prekeys.oneTimeCount()).toBe(100);
    // Enough left: nothing more is made.
    expect(await replenishPrekeys(deps, b.keys)).toBe(0);

    const before = { ...v2Stats };
    const conv = await createConversation(a, [bob]);
    await a.messaging.send(conv, { type: "text", text: "hybrid hello" });
    await settle(a);
    expect(relay.claims).toEqual([[BOB_DEVICE]]);
    expect(relay.prekeys?.get(BOB_DEVICE)?.length).toBe(99);

    const frames = deliver(relay, b);
    const [kdm] = distributionsTo(frames);
    expect(kdm?.version).toBe(2);
    expect(kdm?.header.hybrid?.prekeyKind).toBe("one-time");
    await settle(b);
    expect(texts(b, conv)).toEqual(["hybrid hello"]);
    expect(v2Stats.sentOneTime - before.sentOneTime).toBe(1);
    expect(v2Stats.receivedOneTime - before.receivedOneTime).toBe(1);

    const used = kdm?.header.hybrid?.prekey;
    if (used === undefined) throw new Error("a prekey id");
    expect(b.keys.prekeys.oneTimeCount()).toBe(99);
    expect(b.keys.prekeys.isConsumed(used)).toBe(true);
    // Written with the receiver state: the stored ring has it consumed too.
    const stored = PrekeyRing.fromStored(
      (await b.store.db.get("keys", PREKEY_RING)) as StoredPrekeyRing,
    );
    expect(stored.isConsumed(used)).toBe(true);
    expect(stored.oneTimeCount()).toBe(99);
    // The same distribution again is a harmless duplicate: dropped, nothing changes.
    const kdmFrame = frames.find((f) => kind(f) === "distribution");
    if (kdmFrame === undefined) throw new Error("a distribution frame");
    const warn = vi.spyOn(console, "warn");
    b.messaging.onFrame({ ...kdmFrame, seq: 999 });
    await settle(b);
    expect(warn.mock.calls.filter((c) => String(c[0]).includes("refused"))).toEqual([]);
    warn.mockRestore();
    expect(texts(b, conv)).toEqual(["hybrid hello"]);
    expect(b.keys.prekeys.oneTimeCount()).toBe(99);
  });

  it("renews every one-time prekey when the ring is full of ones the server no longer hands out", async () => {
    const relay = newRelay([alice, bob]);
    const b = await side(relay, bob, "v2-full-bob");
    await upgradeBob(relay, b);
    const deps = { api: fakeApi(relay, bob), store: b.store, now: () => T0 };
    expect(await replenishPrekeys(deps, b.keys)).toBe(100);
    // Nine rounds of claims nobody used: the server ends with none, the ring holds 1000.
    for (let round = 0; round < 9; round++) {
      relay.prekeys?.set(BOB_DEVICE, []);
      expect(await replenishPrekeys(deps, b.keys)).toBe(100);
    }
    expect(b.keys.prekeys.oneTimeCount()).toBe(1000);
    const stale = b.keys.prekeys.oneTimeIds()[0];
    if (stale === undefined) throw new Error("a held prekey");
    relay.prekeys?.set(BOB_DEVICE, []);
    // Before, this top-up was refused for good; now the whole set is renewed.
    expect(await replenishPrekeys(deps, b.keys)).toBe(100);
    expect(b.keys.prekeys.oneTimeCount()).toBe(100);
    expect(b.keys.prekeys.oneTimeIds()).not.toContainEqual(stale);
    expect(relay.prekeys?.get(BOB_DEVICE)?.length).toBe(100);
  });

  it("uses the last-resort prekey when the server has no one-time prekey for the device", async () => {
    const relay = newRelay([alice, bob]);
    const a = await side(relay, alice, "v2b-alice");
    const b = await side(relay, bob, "v2b-bob");
    await upgradeBob(relay, b);
    const before = { ...v2Stats };
    const conv = await createConversation(a, [bob]);
    await a.messaging.send(conv, { type: "text", text: "last resort" });
    await settle(a);
    const frames = deliver(relay, b);
    expect(distributionsTo(frames)[0]?.header.hybrid?.prekeyKind).toBe("last-resort");
    await settle(b);
    expect(texts(b, conv)).toEqual(["last resort"]);
    expect(v2Stats.sentLastResort - before.sentLastResort).toBe(1);
    expect(v2Stats.receivedLastResort - before.receivedLastResort).toBe(1);
  });

  it("a version-1 sender's distribution to a version-2 key is refused as a downgrade", async () => {
    const relay = newRelay([alice, bob]);
    const a = await side(relay, alice, "v2c-alice");
    const b = await side(relay, bob, "v2c-bob");
    // Bob's ring says his key is version 2, but Alice still sees his version-1 certificate.
    b.keys.prekeys.addLastResort(
      await exchangeKeyIdOf(bob.device.exchange.spki),
      await PrekeyPair.generate(PrekeyId.fromBytes(systemRandom(16))),
    );
    const conv = await createConversation(a, [bob]);
    await a.messaging.send(conv, { type: "text", text: "downgraded" });
    await settle(a);
    const frames = deliver(relay, b);
    expect(distributionsTo(frames)[0]?.version).toBe(1);
    await settle(b);
    expect(texts(b, conv)).toEqual([]);
  });
});
