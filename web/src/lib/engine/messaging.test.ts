/**
 * The client's messaging engine between two devices over an in-memory relay: outbox (rotate,
 * distribute, reserve → persist → seal → send), inbox (commit with the receiver state), receipts,
 * held messages, replays, tampering, and a restart from the sealed store.
 */

import "fake-indexeddb/auto";

import { beforeAll, describe, expect, it, vi } from "vitest";

import {
  AccountId,
  ChainId,
  ConversationId,
  DeviceId,
  MessageId,
  systemRandom,
} from "../../crypto";
import { T0, type TestAccount, groupKind, testAccount } from "../../crypto/test-support";
import { toB64 } from "../b64";
import { wireKind } from "./messaging";
import {
  type Relay,
  type Side,
  aliceAndBob,
  createConversation,
  dateFrozenAtT0,
  deliver,
  directoryView,
  kind,
  newRelay as newWorldRelay,
  settle,
  shownOf,
  side,
  texts,
  until,
} from "./test-world";

dateFrozenAtT0();
const [alice, bob] = await aliceAndBob();

function newRelay() {
  return newWorldRelay([alice, bob]);
}

function conversation(a: Side): Promise<string> {
  return createConversation(a, [bob]);
}

describe("messaging engine", () => {
  it("sends, receives, sends receipts back, and survives a restart without replays", async () => {
    const relay = newRelay();
    const a = await side(relay, alice, "m1-alice");
    const b = await side(relay, bob, "m1-bob");
    const conv = await conversation(a);
    const id = await a.messaging.send(conv, { type: "text", text: "hello bob" });
    await settle(a);
    expect(shownOf(a, conv).find((m) => m.id === id)?.status).toBe("sent");
    const frames = deliver(relay, b);
    expect(frames.map(kind)).toEqual(["distribution", "envelope"]);
    await settle(b);
    expect(texts(b, conv)).toEqual(["hello bob"]);
    expect(b.convs.records.get(conv)?.unread).toBe(1);
    expect(b.acked).toEqual(frames.map((f) => f.message_id));
    // Bob's delivered receipt (after its own distribution) reaches Alice.
    await vi.waitFor(async () => {
      deliver(relay, a);
      await settle(a);
      expect(shownOf(a, conv).find((m) => m.id === id)?.status).toBe("delivered");
    });
    // A replayed copy changes nothing.
    const envelopeFrame = frames[1];
    if (envelopeFrame === undefined) throw new Error("two frames");
    b.messaging.onFrame({ ...envelopeFrame, seq: 99 });
    await settle(b);
    expect(texts(b, conv)).toEqual(["hello bob"]);
    // Restart from the sealed store: the receiver state comes back, the replay is still refused.
    const b2 = await side(relay, bob, "m1-bob", b.store);
    expect(texts(b2, conv)).toEqual(["hello bob"]);
    b2.messaging.onFrame({ ...envelopeFrame, seq: 100 });
    await settle(b2);
    expect(texts(b2, conv)).toEqual(["hello bob"]);
    expect(b2.messaging.undecryptable).toBe(0);
    // And the restored sender chain continues: the next message is read.
    await a.messaging.send(conv, { type: "text", text: "second" });
    await settle(a);
    deliver(relay, b2);
    await settle(b2);
    expect(texts(b2, conv)).toEqual(["hello bob", "second"]);
  });

  it("the chain's owner and its recipient both keep its start key as a history key (§17.2)", async () => {
    const relay = newRelay();
    const a = await side(relay, alice, "hk-alice");
    const b = await side(relay, bob, "hk-bob");
    const conv = await conversation(a);
    await a.messaging.send(conv, { type: "text", text: "for the archive" });
    await settle(a);
    deliver(relay, b);
    await settle(b);
    expect(texts(b, conv)).toEqual(["for the archive"]);
    // Alice's own chain; Bob's: Alice's, and his own (his receipts).
    const aliceDevice = DeviceId.toText(alice.device.keys.device);
    const ofAlice = (s: Side) =>
      s.historyKeys.filter((k) => DeviceId.toText(k.ownerDevice) === aliceDevice);
    expect(a.historyKeys).toHaveLength(1);
    expect(ofAlice(b)).toHaveLength(1);
    const [mine, theirs] = [ofAlice(a)[0], ofAlice(b)[0]];
    if (mine === undefined || theirs === undefined) throw new Error("no history key");
    expect(theirs.startIndex).toBe(0);
    expect(toB64(theirs.key.dangerBytes())).toBe(toB64(mine.key.dangerBytes()));
    expect(ChainId.toText(theirs.chain)).toBe(ChainId.toText(mine.chain));
  });

  it("a device that never got a chain reads its messages from the archive once a bundle (hand-over or backup) gives it the keys, each once, without notifying (§15–§17)", async () => {
    const relay = newRelay();
    const a = await side(relay, alice, "arch-alice");
    const b = await side(relay, bob, "arch-bob");
    const conv = await conversation(a);
    await a.messaging.send(conv, { type: "text", text: "first, before the new device" });
    await a.messaging.send(conv, { type: "text", text: "second, before the new device" });
    await settle(a);
    deliver(relay, b);
    await settle(b);
    // A device of bob's with nothing: no receiver state, no history keys (a recovered or newly
    // approved device; what it is handed is bob's device's history keys).
    relay.inbox.set("dev:fresh", []);
    const fresh = await side(relay, bob, "arch-bob-fresh");
    await fresh.convs.sync(conv);
    const before = await fresh.continuity.archive.loadEarlier(conv);
    expect(before.added).toBe(0);
    // Alice's two messages and bob's receipt for them: no key for any.
    expect(before.skipped).toBe(3);
    const sources = await b.continuity.sources();
    await fresh.continuity.take(sources.keys.map((k) => ({ type: "chain" as const, ...k })));
    const after = await fresh.continuity.archive.loadEarlier(conv);
    expect(after).toEqual({ added: 2, skipped: 0 });
    expect(texts(fresh, conv)).toEqual([
      "first, before the new device",
      "second, before the new device",
    ]);
    const shown = shownOf(fresh, conv);
    expect(shown.every((m) => m.status === "read" && !m.mine)).toBe(true);
    expect(fresh.convs.records.get(conv)?.unread).toBe(0);
    // Read again: nothing is shown twice.
    fresh.continuity.archive.reset(conv);
    expect((await fresh.continuity.archive.loadEarlier(conv)).added).toBe(0);
    expect(texts(fresh, conv)).toHaveLength(2);
    // The chain was introduced live too (its epoch is current): the next message on it, which
    // its owner sends without a new distribution, opens at once (§16).
    await a.messaging.send(conv, { type: "text", text: "third, after the hand-over" });
    await settle(a);
    const frames = deliver(relay, fresh);
    expect(frames.map(kind)).toEqual(["envelope"]);
    await settle(fresh);
    expect(texts(fresh, conv)).toEqual([
      "first, before the new device",
      "second, before the new device",
      "third, after the hand-over",
    ]);
  });

  it("a SetRetention entry makes both sides delete their local messages once sent_at + retention has passed (§6.7)", async () => {
    const relay = newRelay();
    const a = await side(relay, alice, "ret-alice");
    const b = await side(relay, bob, "ret-bob");
    const conv = await conversation(a);
    await a.messaging.send(conv, { type: "text", text: "disappears in an hour" });
    await settle(a);
    deliver(relay, b);
    await settle(b);
    // Either member of a 1:1 may set it (§6.3): bob does.
    await b.convs.change(
      conv,
      { type: "set-retention", seconds: 3600n },
      { account: bob.master.account, keys: bob.device.keys, device: bob.device.verified },
      BigInt(Date.now()),
    );
    await a.convs.sync(conv);
    expect(a.continuity.retention(conv)).toBe(3600);
    expect(b.continuity.retention(conv)).toBe(3600);
    const sentAt = shownOf(a, conv)[0]?.sentAt ?? 0;
    await a.continuity.sweep(sentAt + 3_599_999);
    expect(texts(a, conv)).toEqual(["disappears in an hour"]);
    for (const s of [a, b]) await s.continuity.sweep(sentAt + 3_600_000);
    expect(texts(a, conv)).toEqual([]);
    expect(texts(b, conv)).toEqual([]);
  });

  it("a send that waits is retried with the same id and the same sealed bytes", async () => {
    const relay = newRelay();
    const a = await side(relay, alice, "m4-alice");
    const b = await side(relay, bob, "m4-bob");
    const conv = await conversation(a);
    relay.failNext = 2; // the distribution and the message were stored, but the answers were lost
    const id = await a.messaging.send(conv, { type: "text", text: "once only" });
    const status = () => shownOf(a, conv).find((m) => m.id === id)?.status;
    await until(() => {
      expect(status()).toBe("waiting");
    });
    await a.messaging.retry(conv, id);
    await settle(a);
    // The automatic retry (backoff) may get there before this "Retry": either way it ends sent,
    // and "Retry" on a message already sent leaves it sent.
    await a.messaging.retry(conv, id);
    await until(() => {
      expect(status()).toBe("sent");
    });
    expect(a.messaging.outbox).toHaveLength(0);
    await a.messaging.retry(conv, id);
    await settle(a);
    expect(status()).toBe("sent");
    deliver(relay, b);
    await until(() => {
      expect(texts(b, conv)).toEqual(["once only"]);
    });
  });

  it("holds a message that arrives before its distribution and opens it when the key comes", async () => {
    const relay = newRelay();
    const a = await side(relay, alice, "m2-alice");
    const b = await side(relay, bob, "m2-bob");
    const conv = await conversation(a);
    await a.messaging.send(conv, { type: "text", text: "early" });
    await settle(a);
    deliver(relay, b, (f) => kind(f) === "envelope");
    await settle(b);
    expect(b.messaging.held).toHaveLength(1);
    expect(texts(b, conv)).toEqual([]);
    deliver(relay, b);
    await settle(b);
    expect(b.messaging.held).toHaveLength(0);
    expect(texts(b, conv)).toEqual(["early"]);
    expect(b.messaging.undecryptable).toBe(0);
  });

  it("shows a tampered envelope as unverified, never as text, and counts it", async () => {
    const relay = newRelay();
    const a = await side(relay, alice, "m3-alice");
    const b = await side(relay, bob, "m3-bob");
    const conv = await conversation(a);
    relay.tamper = (bytes) => {
      if (wireKind(bytes) !== "envelope") return undefined;
      const out = Uint8Array.from(bytes);
      out[out.length - 300] = (out[out.length - 300] ?? 0) ^ 1; // inside the ciphertext
      return out;
    };
    await a.messaging.send(conv, { type: "text", text: "secret" });
    await settle(a);
    const frames = deliver(relay, b);
    await settle(b);
    const messages = shownOf(b, conv);
    expect(messages.map((m) => m.content.type)).toEqual(["unverified"]);
    expect(JSON.stringify(messages)).not.toContain("secret");
    expect(b.messaging.undecryptable).toBe(1);
    expect(MessageId.parse(messages[0]?.id ?? "")).toBeDefined();
    // The same bad copy again (its acknowledgement was lost): still one, counted once.
    const envelopeFrame = frames.find((f) => kind(f) === "envelope");
    if (envelopeFrame === undefined) throw new Error("an envelope");
    b.messaging.onFrame({ ...envelopeFrame, seq: 99 });
    await settle(b);
    expect(shownOf(b, conv).map((m) => m.content.type)).toEqual(["unverified"]);
    expect(b.messaging.undecryptable).toBe(1);
  });

  it("shows the genuine message when it comes after a tampered copy under the same id", async () => {
    const relay = newRelay();
    const a = await side(relay, alice, "m9-alice");
    const b = await side(relay, bob, "m9-bob");
    const conv = await conversation(a);
    relay.tamper = (bytes) => {
      if (wireKind(bytes) !== "envelope") return undefined;
      const out = Uint8Array.from(bytes);
      out[out.length - 300] = (out[out.length - 300] ?? 0) ^ 1; // inside the ciphertext
      return out;
    };
    const id = await a.messaging.send(conv, { type: "text", text: "the real one" });
    await settle(a);
    const frames = deliver(relay, b);
    await settle(b);
    expect(shownOf(b, conv).map((m) => m.content.type)).toEqual(["unverified"]);
    // The genuine bytes come later under the same (unauthenticated) id: they verify and are shown,
    // in place of the "could not be verified" entry; the bad copy stays counted.
    const tampered = frames.find((f) => kind(f) === "envelope");
    const genuine = relay.stored.get(id);
    if (tampered === undefined || genuine === undefined) throw new Error("an envelope");
    b.messaging.onFrame({ ...tampered, seq: 99, envelope: genuine });
    await settle(b);
    expect(shownOf(b, conv).map((m) => [m.id, m.content.type])).toEqual([[id, "text"]]);
    expect(texts(b, conv)).toEqual(["the real one"]);
    expect(b.messaging.undecryptable).toBe(1);
    // Replay protection for the verified message is unchanged: neither the genuine copy nor the
    // tampered one again changes anything.
    b.messaging.onFrame({ ...tampered, seq: 100, envelope: genuine });
    b.messaging.onFrame({ ...tampered, seq: 101 });
    await settle(b);
    expect(shownOf(b, conv).map((m) => [m.id, m.content.type])).toEqual([[id, "text"]]);
    expect(b.messaging.undecryptable).toBe(1);
  });

  it("keeps the outbox across a restart and sends each message exactly once, in order", async () => {
    const relay = newRelay();
    const a = await side(relay, alice, "m5-alice");
    const b = await side(relay, bob, "m5-bob");
    const conv = await conversation(a);
    const status = (s: Side, id: string) => shownOf(s, conv).find((m) => m.id === id)?.status;
    relay.down = true;
    const first = await a.messaging.send(conv, { type: "text", text: "queued 1" });
    const second = await a.messaging.send(conv, { type: "text", text: "queued 2" });
    await until(() => {
      expect(status(a, second)).toBe("waiting");
    });
    // Shown as waiting (with Retry), and persisted: the tab is closed now.
    expect(status(a, first)).toBe("waiting");
    a.messaging.stop();
    const a2 = await side(relay, alice, "m5-alice", a.store);
    expect(texts(a2, conv)).toEqual(["queued 1", "queued 2"]);
    expect(a2.messaging.outbox.filter((o) => o.kind === "message").map((o) => o.messageId)).toEqual(
      [first, second],
    );
    // Back online, but the answer to the first send (the key distribution) is lost: stored by
    // the server, failed for the client.
    relay.down = false;
    relay.failNext = 1;
    a2.messaging.kick();
    await until(() => {
      expect(relay.failNext).toBe(0);
    });
    a2.messaging.stop();
    // Another restart: what is left is sent again with the same ids and bytes ("conflict" = stored).
    const a3 = await side(relay, alice, "m5-alice", a.store);
    a3.messaging.kick();
    await until(() => {
      expect(a3.messaging.outbox).toHaveLength(0);
    });
    expect([status(a3, first), status(a3, second)]).toEqual(["sent", "sent"]);
    deliver(relay, b);
    await until(() => {
      expect(texts(b, conv)).toEqual(["queued 1", "queued 2"]);
    });
    expect(b.messaging.undecryptable).toBe(0);
    a3.messaging.stop();
  });

  it("holds what arrives while the server is unreachable, never counts it undecryptable, and shows it once", async () => {
    const relay = newRelay();
    const a = await side(relay, alice, "m6-alice");
    const b = await side(relay, bob, "m6-bob");
    const conv = await conversation(a);
    await a.messaging.send(conv, { type: "text", text: "while you were away" });
    await until(() => {
      expect(a.messaging.outbox).toHaveLength(0);
    });
    // Bob gets the copies but cannot fetch the group log to check them.
    relay.down = true;
    const frames = deliver(relay, b);
    const [distribution, envelope] = frames;
    if (distribution === undefined || envelope === undefined) throw new Error("two frames");
    // A held payload is acknowledged just after it is stored: both are awaited.
    await until(() => {
      expect(b.messaging.held.map((h) => h.messageId)).toEqual([envelope.message_id]);
      expect(b.acked).toEqual([envelope.message_id]);
    });
    expect(b.messaging.undecryptable).toBe(0);
    // The distribution is not acknowledged (the server would hand it over again after a reload).
    await settle(b);
    expect(b.acked).toEqual([envelope.message_id]);
    expect(texts(b, conv)).toEqual([]);
    // The server is back; the socket never dropped. Retried on the engine's own backoff.
    relay.down = false;
    // The distribution is acknowledged once it is stored, which may come just after the
    // message it released is shown: both are awaited.
    await until(() => {
      expect(texts(b, conv)).toEqual(["while you were away"]);
      expect(b.acked).toEqual([envelope.message_id, distribution.message_id]);
    });
    // A reconnect replays copies whose acknowledgement was lost: nothing changes.
    b.messaging.onFrame(distribution);
    b.messaging.onFrame(envelope);
    await b.messaging.retryHeld(); // runs after both copies on the inbox chain
    expect(texts(b, conv)).toEqual(["while you were away"]);
    expect(b.messaging.held).toHaveLength(0);
    expect(b.messaging.undecryptable).toBe(0);
    expect(shownOf(b, conv).filter((m) => m.content.type !== "text")).toEqual([]);
  });

  it("never expires nor asks a key for a message held because the server could not be reached; once checked and missing its key, its key clock starts then", async () => {
    const relay = newRelay();
    const a = await side(relay, alice, "m10-alice");
    const b = await side(relay, bob, "m10-bob");
    const conv = await conversation(a);
    const id = await a.messaging.send(conv, { type: "text", text: "after the outage" });
    await until(() => {
      expect(a.messaging.outbox).toHaveLength(0);
    });
    // Bob gets the message (its distribution is withheld for now) while the server is down.
    relay.down = true;
    deliver(relay, b, (f) => kind(f) === "envelope");
    await until(() => {
      expect(b.messaging.held.map((h) => [h.messageId, h.reason])).toEqual([[id, "server"]]);
    });
    const outage = Number(T0) + 2 * 60 * 60_000;
    vi.setSystemTime(outage);
    try {
      // Two hours of outage: nothing says its key is missing, so it is neither given up nor
      // asked for.
      await b.messaging.requestMissingKeys();
      await settle(b);
      expect(b.messaging.held.map((h) => h.messageId)).toEqual([id]);
      expect(b.messaging.undecryptable).toBe(0);
      expect(shownOf(b, conv)).toEqual([]);
      expect(b.messaging.outbox.filter((o) => o.kind === "raw")).toEqual([]);
      // The server is back: checked now, its chain is unknown, so it waits for its key from now.
      relay.down = false;
      await b.messaging.retryHeld();
      await settle(b);
      expect(b.messaging.held.map((h) => [h.messageId, h.reason, h.since])).toEqual([
        [id, "key", outage],
      ]);
      // Within the hour from then (though long after it arrived) it is not given up, and a key
      // request goes to alice.
      vi.setSystemTime(outage + 59 * 60_000);
      await b.messaging.requestMissingKeys();
      await settle(b);
      expect(b.messaging.held.map((h) => h.messageId)).toEqual([id]);
      expect(b.messaging.undecryptable).toBe(0);
      const requests = (relay.inbox.get(DeviceId.toText(alice.device.keys.device)) ?? []).filter(
        (f) => kind(f) === "key-request",
      );
      expect(requests).toHaveLength(1);
      deliver(relay, a);
      await settle(a);
      deliver(relay, b);
      await until(() => {
        expect(texts(b, conv)).toEqual(["after the outage"]);
      });
      expect(b.messaging.held).toHaveLength(0);
      expect(b.messaging.undecryptable).toBe(0);
    } finally {
      vi.setSystemTime(Number(T0));
    }
    b.messaging.stop();
  });

  it("keeps loading held messages stored without a reason, as key waits", async () => {
    const relay = newRelay();
    const a = await side(relay, alice, "m11-alice");
    const b = await side(relay, bob, "m11-bob");
    const conv = await conversation(a);
    const id = await a.messaging.send(conv, { type: "text", text: "stored long ago" });
    await settle(a);
    deliver(relay, b, (f) => kind(f) === "envelope");
    await settle(b);
    expect(b.messaging.held.map((h) => h.reason)).toEqual(["key"]);
    // As a client before reasons existed stored it.
    const stored = (await b.store.get<Record<string, unknown>[]>("held")) ?? [];
    await b.store.put([
      [
        "held",
        stored.map((h) => {
          const old = { ...h };
          delete old["reason"];
          return old;
        }),
      ],
    ]);
    b.messaging.stop();
    const b2 = await side(relay, bob, "m11-bob", b.store);
    expect(b2.messaging.held.map((h) => [h.messageId, h.reason])).toEqual([[id, undefined]]);
    // A key wait, as then: given up an hour after it arrived.
    vi.setSystemTime(Number(T0) + 61 * 60_000);
    try {
      await b2.messaging.requestMissingKeys();
      await settle(b2);
      expect(b2.messaging.held).toHaveLength(0);
      expect(b2.messaging.undecryptable).toBe(1);
      expect(shownOf(b2, conv).map((m) => m.content.type)).toEqual(["unverified"]);
    } finally {
      vi.setSystemTime(Number(T0));
    }
    b2.messaging.stop();
  });

  it("retries a send on its own after a transient failure, without a reconnect", async () => {
    const relay = newRelay();
    const a = await side(relay, alice, "m7-alice");
    const b = await side(relay, bob, "m7-bob");
    const conv = await conversation(a);
    relay.down = true; // a 503 or a throttle: the socket stays up, so no reconnect will kick the outbox
    const id = await a.messaging.send(conv, { type: "text", text: "eventually" });
    const status = () => shownOf(a, conv).find((m) => m.id === id)?.status;
    await until(() => {
      expect(status()).toBe("waiting");
    });
    relay.down = false;
    await until(() => {
      expect(status()).toBe("sent");
    });
    deliver(relay, b);
    await until(() => {
      expect(texts(b, conv)).toEqual(["eventually"]);
    });
    a.messaging.stop();
  });

  it("leaves a queued message out of the view until it is stored, and drops it if it cannot be", async () => {
    const relay = newRelay();
    const a = await side(relay, alice, "m8-alice");
    const conv = await conversation(a);
    relay.down = true;
    const pending = a.messaging.send(conv, { type: "text", text: "stored first" });
    expect(a.messaging.unsaved.size).toBe(1); // in the record, not yet in the store: not shown
    const id = await pending;
    expect(a.messaging.unsaved.size).toBe(0);
    const restarted = await side(relay, alice, "m8-alice", a.store);
    expect(shownOf(restarted, conv).map((m) => m.id)).toEqual([id]);
    // A store that refuses the write: the send fails, nothing is shown or queued.
    const put = a.store.put.bind(a.store);
    a.store.put = () => Promise.reject(new Error("quota exceeded"));
    await expect(a.messaging.send(conv, { type: "text", text: "never stored" })).rejects.toThrow(
      "quota exceeded",
    );
    a.store.put = put;
    expect(texts(a, conv)).toEqual(["stored first"]);
    expect(a.messaging.outbox.filter((o) => o.kind === "message").map((o) => o.messageId)).toEqual([
      id,
    ]);
    a.messaging.stop();
    restarted.messaging.stop();
  });
});

describe("a contact whose identity changed", () => {
  let carol: TestAccount;
  /** Another account under the username "alice" (what a malicious server shows instead of hers). */
  let impostor: TestAccount;

  beforeAll(async () => {
    [carol, impostor] = await Promise.all([testAccount(2, "carol"), testAccount(3, "alice")]);
  });

  function groupRelay(): Relay {
    const relay = newRelay();
    relay.views.set("carol", directoryView(carol));
    relay.views.set(AccountId.toText(carol.master.account), directoryView(carol));
    relay.inbox.set(DeviceId.toText(carol.device.keys.device), []);
    relay.members.push(AccountId.toText(carol.master.account));
    return relay;
  }

  /** The server answers bob's directory lookups of `who` with the impostor's entry. */
  function lieToBob(relay: Relay, who: readonly string[]): void {
    relay.lies = new Map([
      [
        DeviceId.toText(bob.device.keys.device),
        new Map(who.map((w) => [w, directoryView(impostor)] as const)),
      ],
    ]);
  }

  /**
   * A conversation bob creates with alice (and `others`) after he pinned another account as
   * "alice": the account alice writes from is a changed identity on bob's side.
   */
  async function withAliceChanged(
    relay: Relay,
    a: Side,
    b: Side,
    name: string,
    others: readonly [TestAccount, Side][] = [],
  ): Promise<string> {
    lieToBob(relay, ["alice"]);
    await b.directory.contact("alice");
    delete relay.lies;
    const conv = await b.convs.create(
      groupKind(name),
      [bob.member(true), alice.member(false), ...others.map(([who]) => who.member(false))],
      { account: bob.master.account, keys: bob.device.keys, device: bob.device.verified },
      T0,
      ConversationId.fromBytes(systemRandom(16)),
    );
    await a.convs.sync(conv);
    for (const [, other] of others) await other.convs.sync(conv);
    return conv;
  }

  it("holds only that sender's payloads, acknowledges them, keeps the others flowing, never expires them, and releases them in order when the user accepts", async () => {
    const relay = groupRelay();
    const a = await side(relay, alice, "i1-alice");
    const b = await side(relay, bob, "i1-bob");
    const c = await side(relay, carol, "i1-carol");
    const aliceId = AccountId.toText(alice.master.account);
    const conv = await withAliceChanged(relay, a, b, "team", [[carol, c]]);
    const heldId = await a.messaging.send(conv, { type: "text", text: "while changed" });
    await settle(a);
    await c.messaging.send(conv, { type: "text", text: "from carol" });
    await settle(c);
    const frames = deliver(relay, b);
    // alice's come first: nothing may wait behind them.
    expect(frames.slice(0, 2).map((f) => [kind(f), f.sender_account])).toEqual([
      ["distribution", aliceId],
      ["envelope", aliceId],
    ]);
    expect(frames[1]?.message_id).toBe(heldId);
    await settle(b);
    // Carol's message is shown; alice's payloads are held for the identity under review, not
    // shown, not counted, not recorded, and acknowledged like everything else.
    expect(texts(b, conv)).toEqual(["from carol"]);
    expect(b.messaging.held.map((h) => h.waitingFor)).toEqual([aliceId, aliceId]);
    expect(b.messaging.heldFor(aliceId)).toBe(2);
    expect(b.acked).toEqual(expect.arrayContaining(frames.map((f) => f.message_id)));
    expect(b.messaging.undecryptable).toBe(0);
    expect(shownOf(b, conv).map((m) => m.id)).not.toContain(heldId);
    // The same copy again (its acknowledgement was lost) is held once.
    const copy = frames.find((f) => f.message_id === heldId);
    if (copy === undefined) throw new Error("alice's copy");
    b.messaging.onFrame({ ...copy, seq: 99 });
    await settle(b);
    expect(b.messaging.held).toHaveLength(2);
    // Hours later it is still held: never given up as undecryptable, and no key request goes out
    // (no key can help with an identity nobody has accepted).
    vi.setSystemTime(Number(T0) + 3 * 60 * 60_000);
    try {
      await b.messaging.requestMissingKeys();
      await settle(b);
      expect(b.messaging.held.map((h) => h.messageId)).toContain(heldId);
      expect(b.messaging.held).toHaveLength(2);
      expect(b.messaging.undecryptable).toBe(0);
      const toAlice = relay.inbox.get(DeviceId.toText(alice.device.keys.device)) ?? [];
      expect(toAlice.filter((f) => kind(f) === "key-request")).toEqual([]);
      // Bob accepts: what was held is shown, then her next message, in her order.
      await b.messaging.acceptIdentity(aliceId);
      await a.messaging.send(conv, { type: "text", text: "after" });
      await settle(a);
      deliver(relay, b);
      await settle(b);
      expect(texts(b, conv)).toEqual(["from carol", "while changed", "after"]);
      expect(b.messaging.held).toHaveLength(0);
      expect(b.messaging.undecryptable).toBe(0);
    } finally {
      vi.setSystemTime(Number(T0));
    }
  });

  it("holds a sender's messages, with no identity warning, while the server answers its account id with another account under its name", async () => {
    const relay = groupRelay();
    const a = await side(relay, alice, "i5-alice");
    const b = await side(relay, bob, "i5-bob");
    const c = await side(relay, carol, "i5-carol");
    const conv = await a.convs.create(
      groupKind("team"),
      [alice.member(true), bob.member(false), carol.member(false)],
      { account: alice.master.account, keys: alice.device.keys, device: alice.device.verified },
      T0,
      ConversationId.fromBytes(systemRandom(16)),
    );
    await c.convs.sync(conv);
    await a.messaging.send(conv, { type: "text", text: "before" });
    await settle(a);
    deliver(relay, b);
    await settle(b);
    expect(texts(b, conv)).toEqual(["before"]);
    const aliceId = AccountId.toText(alice.master.account);
    const impostorId = AccountId.toText(impostor.master.account);
    // A malicious server answers bob's lookup of alice's account id with another "alice".
    lieToBob(relay, [aliceId, "alice"]);
    b.directory.invalidate(); // as when the 20 s cache expires
    const heldId = await a.messaging.send(conv, { type: "text", text: "while lying" });
    await settle(a);
    await c.messaging.send(conv, { type: "text", text: "from carol" });
    await settle(c);
    deliver(relay, b);
    await settle(b);
    // A bad answer, like an unreachable server: alice's message waits (not for any identity),
    // carol's is shown, and no pin or identity warning comes from the lie.
    expect(texts(b, conv)).toEqual(["before", "from carol"]);
    expect(b.messaging.held.map((h) => [h.messageId, h.waitingFor])).toEqual([[heldId, undefined]]);
    expect(b.messaging.heldFor(impostorId)).toBe(0);
    const pins = await b.directory.pinsList();
    expect(pins.map((p) => p.account)).not.toContain(impostorId);
    expect(pins.filter((p) => p.replaces !== undefined || p.pendingSpki !== undefined)).toEqual([]);
    expect(b.messaging.undecryptable).toBe(0);
    // The server answers rightly again: the retry shows it, once, and nothing is left to review.
    delete relay.lies;
    await b.messaging.retryHeld();
    await settle(b);
    expect(texts(b, conv)).toEqual(["before", "from carol", "while lying"]);
    expect(b.messaging.held).toHaveLength(0);
    expect((await b.directory.contact(aliceId, true)).trust).toBe("unverified");
    b.messaging.stop();
  });

  it("holds a sender's message, never recording it unverified, while the server answers its account id over another master key", async () => {
    const relay = newRelay();
    const a = await side(relay, alice, "i6-alice");
    const b = await side(relay, bob, "i6-bob");
    const conv = await conversation(a);
    const aliceId = AccountId.toText(alice.master.account);
    // Alice's id and name, the impostor's key and devices: an entry whose id is not its key's.
    relay.lies = new Map([
      [
        DeviceId.toText(bob.device.keys.device),
        new Map([[aliceId, { ...directoryView(impostor), account: aliceId }]]),
      ],
    ]);
    const id = await a.messaging.send(conv, { type: "text", text: "despite the lie" });
    await settle(a);
    deliver(relay, b);
    await settle(b);
    // A bad answer: the message waits (for the server, not for an identity), nothing is counted,
    // recorded or pinned.
    expect(b.messaging.held.map((h) => [h.messageId, h.waitingFor, h.reason])).toEqual([
      [id, undefined, "server"],
    ]);
    expect(b.messaging.undecryptable).toBe(0);
    expect(shownOf(b, conv)).toEqual([]);
    const pins = await b.directory.pinsList();
    expect(pins.filter((p) => p.pendingSpki !== undefined || p.replaces !== undefined)).toEqual([]);
    // A server that lies for hours cannot make it "could not be verified", and no key is asked
    // for it (nothing says one is missing).
    vi.setSystemTime(Number(T0) + 2 * 60 * 60_000);
    try {
      await b.messaging.requestMissingKeys();
      await settle(b);
    } finally {
      vi.setSystemTime(Number(T0));
    }
    expect(b.messaging.held.map((h) => h.messageId)).toEqual([id]);
    expect(b.messaging.undecryptable).toBe(0);
    expect(b.messaging.outbox.filter((o) => o.kind === "raw")).toEqual([]);
    delete relay.lies;
    await b.messaging.retryHeld();
    await settle(b);
    expect(texts(b, conv)).toEqual(["despite the lie"]);
    expect(b.messaging.held).toHaveLength(0);
    expect(b.messaging.undecryptable).toBe(0);
    b.messaging.stop();
  });

  it("releases what was held for a changed identity when the user accepts it, as if it had just arrived", async () => {
    const relay = newRelay();
    const a = await side(relay, alice, "i2-alice");
    const b = await side(relay, bob, "i2-bob");
    const aliceId = AccountId.toText(alice.master.account);
    const conv = await withAliceChanged(relay, a, b, "alice & bob");
    await a.messaging.send(conv, { type: "text", text: "new key, same alice" });
    await settle(a);
    const frames = deliver(relay, b);
    expect(frames.map(kind)).toEqual(["distribution", "envelope"]);
    await settle(b);
    // Both the distribution and the message wait for bob's decision, acknowledged.
    expect(texts(b, conv)).toEqual([]);
    expect(b.messaging.held.map((h) => h.waitingFor)).toEqual([aliceId, aliceId]);
    expect(b.messaging.heldFor(aliceId)).toBe(2);
    expect(b.acked).toEqual(frames.map((f) => f.message_id));
    expect(b.messaging.undecryptable).toBe(0);
    // A retry sweep while the change is not accepted changes nothing.
    await b.messaging.retryHeld();
    expect(b.messaging.held).toHaveLength(2);
    expect(texts(b, conv)).toEqual([]);
    await b.messaging.acceptIdentity(aliceId);
    await settle(b);
    expect(texts(b, conv)).toEqual(["new key, same alice"]);
    expect(b.messaging.held).toHaveLength(0);
    expect(b.messaging.undecryptable).toBe(0);
    // Held again after a restart? No: the release is persisted.
    const b2 = await side(relay, bob, "i2-bob", b.store);
    expect(b2.messaging.held).toHaveLength(0);
    expect(texts(b2, conv)).toEqual(["new key, same alice"]);
  });

  it("keeps an identity hold while the server is unreachable; once accepted, a message still missing its key is an ordinary held message", async () => {
    const relay = newRelay();
    const a = await side(relay, alice, "i3-alice");
    const b = await side(relay, bob, "i3-bob");
    const aliceId = AccountId.toText(alice.master.account);
    const conv = await withAliceChanged(relay, a, b, "alice & bob");
    const id = await a.messaging.send(conv, { type: "text", text: "its key comes later" });
    await settle(a);
    // Only the message (its distribution is withheld for now), from an identity under review.
    deliver(relay, b, (f) => kind(f) === "envelope");
    await settle(b);
    expect(b.messaging.held.map((h) => [h.messageId, h.waitingFor])).toEqual([[id, aliceId]]);
    // A retry that cannot reach the directory learns nothing: still held for the identity.
    relay.down = true;
    await b.messaging.retryHeld();
    expect(b.messaging.held.map((h) => h.waitingFor)).toEqual([aliceId]);
    relay.down = false;
    vi.setSystemTime(Number(T0) + 60_000);
    try {
      await b.messaging.acceptIdentity(aliceId);
      await settle(b);
      // Accepted and verified, but its chain is unknown: held for its key like any other message,
      // its clock starting now (not when it arrived).
      expect(b.messaging.held.map((h) => [h.messageId, h.waitingFor, h.since])).toEqual([
        [id, undefined, Number(T0) + 60_000],
      ]);
      expect(texts(b, conv)).toEqual([]);
      vi.setSystemTime(Number(T0) + 70_000);
      await b.messaging.requestMissingKeys();
      await settle(b);
      const toAlice = relay.inbox.get(DeviceId.toText(alice.device.keys.device)) ?? [];
      expect(toAlice.filter((f) => kind(f) === "key-request")).toHaveLength(1);
      deliver(relay, b);
      await settle(b);
      expect(texts(b, conv)).toEqual(["its key comes later"]);
      expect(b.messaging.held).toHaveLength(0);
      expect(b.messaging.undecryptable).toBe(0);
    } finally {
      vi.setSystemTime(Number(T0));
    }
    b.messaging.stop();
  });

  it("answers no key request while the server answers its sender's account id with another account, and answers it once the directory is right again", async () => {
    const relay = newRelay();
    const a = await side(relay, alice, "i4-alice");
    const b = await side(relay, bob, "i4-bob");
    const conv = await conversation(a);
    await b.convs.sync(conv);
    await b.messaging.send(conv, { type: "text", text: "for alice" });
    await settle(b);
    // Alice gets the message; the server drops its distribution; she asks bob for the key...
    const aliceDevice = DeviceId.toText(alice.device.keys.device);
    relay.inbox.set(
      aliceDevice,
      (relay.inbox.get(aliceDevice) ?? []).filter((f) => kind(f) !== "distribution"),
    );
    deliver(relay, a);
    await settle(a);
    expect(a.messaging.held).toHaveLength(1);
    vi.setSystemTime(Number(T0) + 5_000);
    try {
      await a.messaging.requestMissingKeys();
      await settle(a);
      // ...while the server shows bob another account for alice's id: the request is not
      // answered (an answer would hand the chain key to whoever the directory names), nor
      // acknowledged (tried again, like one that could not be checked), and nothing is pinned.
      lieToBob(relay, [AccountId.toText(alice.master.account), "alice"]);
      b.directory.invalidate();
      const requests = deliver(relay, b, (f) => kind(f) === "key-request");
      expect(requests).toHaveLength(1);
      await settle(b);
      const requestId = requests[0]?.message_id ?? "";
      expect(b.acked).not.toContain(requestId);
      expect(b.messaging.held).toHaveLength(0);
      expect((await b.directory.pinsList()).map((p) => p.account)).not.toContain(
        AccountId.toText(impostor.master.account),
      );
      expect(
        (relay.inbox.get(aliceDevice) ?? []).filter((f) => kind(f) === "distribution"),
      ).toEqual([]);
      // The directory shows alice's entry again: the retry answers, and alice reads it.
      delete relay.lies;
      await b.messaging.retryHeld();
      await settle(b);
      expect(b.acked).toContain(requestId);
      deliver(relay, a);
      await settle(a);
      expect(texts(a, conv)).toEqual(["for alice"]);
      expect(a.messaging.held).toHaveLength(0);
    } finally {
      vi.setSystemTime(Number(T0));
    }
    b.messaging.stop();
  });
});

describe("a message some member device did not get (never silent)", () => {
  const bobDevice = () => DeviceId.toText(bob.device.keys.device);
  const message = (s: Side, conv: string, id: string) => shownOf(s, conv).find((m) => m.id === id);

  it("shows who did not get it and why, keeps it without holding the queue, and a Retry once they accept delivers it once, in order", async () => {
    const relay = newRelay();
    relay.refuse = new Map([[bobDevice(), "request_limit"]]);
    const a = await side(relay, alice, "u1-alice");
    const b = await side(relay, bob, "u1-bob");
    const conv = await conversation(a);
    const first = await a.messaging.send(conv, { type: "text", text: "first" });
    const second = await a.messaging.send(conv, { type: "text", text: "second" });
    await settle(a);
    // Stored by the server, so neither failed nor blocking what comes after it.
    expect(a.messaging.outbox).toHaveLength(0);
    for (const id of [first, second]) {
      expect(message(a, conv, id)?.status).toBe("sent");
      expect(message(a, conv, id)?.undelivered).toEqual({
        missing: [{ device: bobDevice(), username: "bob", reason: "request_limit" }],
        kept: true,
      });
    }
    expect(deliver(relay, b)).toHaveLength(0);
    // Kept across a restart of the tab.
    const a2 = await side(relay, alice, "u1-alice", a.store);
    expect(message(a2, conv, second)?.undelivered?.kept).toBe(true);
    // Still refused: a Retry changes nothing but asks again.
    relay.posts = [];
    await a2.messaging.retry(conv, second);
    expect(relay.posts.length).toBeGreaterThan(0);
    expect(message(a2, conv, second)?.undelivered?.kept).toBe(true);
    // Bob accepts; Retry on the last message posts the distribution and both messages again.
    relay.refuse.clear();
    await a2.messaging.retry(conv, second);
    await settle(a2);
    for (const id of [first, second]) expect(message(a2, conv, id)?.undelivered).toBeUndefined();
    expect(deliver(relay, b).map(kind)).toEqual(["distribution", "envelope", "envelope"]);
    await settle(b);
    expect(texts(b, conv)).toEqual(["first", "second"]);
    // Nothing left undelivered: a further Retry posts nothing and shows nothing twice.
    relay.posts = [];
    await a2.messaging.retry(conv, second);
    await settle(a2);
    expect(relay.posts).toEqual([]);
    expect(deliver(relay, b)).toHaveLength(0);
    expect(texts(b, conv)).toEqual(["first", "second"]);
  });

  it("retries by itself while the refusal may clear on its own (a full queue draining)", async () => {
    const relay = newRelay();
    relay.refuse = new Map([[bobDevice(), "queue_full"]]);
    const a = await side(relay, alice, "u2-alice");
    const b = await side(relay, bob, "u2-bob");
    const conv = await conversation(a);
    const id = await a.messaging.send(conv, { type: "text", text: "when there is room" });
    await until(() => {
      expect(message(a, conv, id)?.undelivered?.missing[0]?.reason).toBe("queue_full");
    });
    relay.refuse.clear();
    await until(() => {
      expect(message(a, conv, id)?.undelivered).toBeUndefined();
    });
    deliver(relay, b);
    await settle(b);
    expect(texts(b, conv)).toEqual(["when there is room"]);
    a.messaging.stop();
  });

  it("a dismissed message keeps its note, is no longer retried, and a message to nobody else is plain sent", async () => {
    const relay = newRelay();
    relay.refuse = new Map([[bobDevice(), "blocked"]]);
    const a = await side(relay, alice, "u3-alice");
    const conv = await conversation(a);
    const id = await a.messaging.send(conv, { type: "text", text: "to a wall" });
    await settle(a);
    expect(message(a, conv, id)?.undelivered?.missing.map((n) => n.reason)).toEqual(["blocked"]);
    await a.messaging.dismissUndelivered(conv, id);
    expect(message(a, conv, id)?.undelivered?.kept).toBe(false);
    relay.refuse.clear();
    relay.posts = [];
    await a.messaging.retry(conv, id);
    a.messaging.redeliverNow();
    await settle(a);
    expect(relay.posts.filter((p) => p === id)).toEqual([]);
    expect(message(a, conv, id)?.undelivered?.kept).toBe(false);
    // A conversation whose only other device gets every copy: no note at all.
    const id2 = await a.messaging.send(conv, { type: "text", text: "now through" });
    await settle(a);
    expect(message(a, conv, id2)?.status).toBe("sent");
    expect(message(a, conv, id2)?.undelivered).toBeUndefined();
    // Both stored as shown: after a restart the first keeps its note, the second is sent.
    const a2 = await side(relay, alice, "u3-alice", a.store);
    expect(message(a2, conv, id)?.undelivered?.kept).toBe(false);
    expect(message(a2, conv, id2)?.status).toBe("sent");
  });
});
