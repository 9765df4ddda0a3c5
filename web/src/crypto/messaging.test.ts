import { beforeAll, describe, expect, it } from "vitest";

import { decryptAttachment, encryptAttachment } from "./attachment";
import { type MessageBody as MessageBodyT, MessageBody, pad, paddedLength, unpad } from "./body";
import { bytesEqual } from "./bytes";
import { KeyDistribution, KeyRequest } from "./distribution";
import { DangerSeededRng, type Env } from "./env";
import { Envelope } from "./envelope";
import { GroupState } from "./group";
import { ConversationId, MessageId, exchangeKeyIdOf } from "./ids";
import { DAY, HOUR, MAX_SKIPPED_KEYS } from "./limits";
import { sha256 } from "./primitives";
import { type LocalDevice, ReceiverState, localDevice } from "./receiver";
import { SenderChain } from "./sender";
import { Signed, SignedSealed } from "./signed";
import {
  T0,
  type TestAccount,
  type TestDevice,
  expectCode,
  flipped,
  groupKind,
  testAccount,
  testSecondDevice,
} from "./test-support";

const CONV = ConversationId.fromBytes(new Uint8Array(16).fill(7));

let alice: TestAccount;
let bob: TestAccount;
let carol: TestAccount;
let group: GroupState;
let bobDevice: LocalDevice;

function env(now: bigint, seed = 1): Env {
  return { now, rng: new DangerSeededRng(new Uint8Array(32).fill(seed)) };
}

function text(t: string): MessageBodyT {
  return { type: "text", text: t };
}

function msgId(n: number): MessageId {
  return MessageId.fromBytes(new Uint8Array(16).fill(n));
}

beforeAll(async () => {
  [alice, bob, carol] = await Promise.all([
    testAccount(0, "alice"),
    testAccount(1, "bob"),
    testAccount(2, "carol"),
  ]);
  const genesis = await GroupState.create(
    CONV,
    groupKind("Chat"),
    [alice.member(true), bob.member(false), carol.member(false)],
    alice.master.account,
    alice.device.keys,
    T0,
  );
  group = await GroupState.genesis(genesis, alice.device.verified);
  bobDevice = await localDevice(bob.master.account, bob.device.keys.device, [bob.device.exchange]);
});

/** Alice starts a chain and distributes it to Bob, who accepts it. */
async function aliceChainToBob(
  now = T0,
  seed = 1,
): Promise<{ chain: SenderChain; receiver: ReceiverState; kdm: KeyDistribution }> {
  const chain = await SenderChain.start(
    CONV,
    group.epoch,
    alice.master.account,
    alice.device.keys.device,
    undefined,
    env(now, seed),
  );
  const kdm = await chain.distribute(group, bob.device.verifiedExchange, alice.device.keys, now);
  const receiver = new ReceiverState();
  const accepted = await receiver.acceptDistribution(
    KeyDistribution.decode(kdm.encode()),
    alice.device.verified,
    bobDevice,
    group,
    now,
  );
  expect(accepted).toMatchObject({
    chain: chain.chain,
    duplicate: false,
    missingInPrevious: [],
    previousUnknown: false,
  });
  return { chain, receiver, kdm };
}

async function send(
  chain: SenderChain,
  body: MessageBodyT,
  n: number,
  now = T0,
): Promise<Envelope> {
  const reserved = await chain.reserve(now);
  const envelope = await reserved.seal(body, msgId(n), now, alice.device.keys);
  return Envelope.decode(envelope.encode());
}

describe("sending and receiving (§7, §9)", () => {
  it("delivers in order and out of order, reporting gaps", async () => {
    const { chain, receiver } = await aliceChainToBob();
    const e0 = await send(chain, text("zero"), 0);
    const e1 = await send(chain, text("one"), 1);
    const e2 = await send(chain, text("two"), 2);
    const r2 = await receiver.receive(e2, alice.device.verified, group, T0);
    expect(r2.body).toEqual(text("two"));
    expect(r2.gap).toEqual([0, 1]);
    expect(receiver.missing(chain.chain)).toEqual([0, 1]);
    expect(receiver.skippedKeyCount()).toBe(2);
    expect((await receiver.receive(e0, alice.device.verified, group, T0)).body).toEqual(
      text("zero"),
    );
    expect((await receiver.receive(e1, alice.device.verified, group, T0)).gap).toEqual([]);
    expect(receiver.missing(chain.chain)).toEqual([]);
    expect(receiver.skippedKeyCount()).toBe(0);
    await expectCode(
      () => receiver.receive(e1, alice.device.verified, group, T0),
      "receive/replay",
    );
  });

  it("opens without changing anything; two opens commit once", async () => {
    const { chain, receiver } = await aliceChainToBob();
    const e0 = await send(chain, text("hi"), 0);
    const a = await receiver.open(e0, alice.device.verified, group, T0);
    const b = await receiver.open(e0, alice.device.verified, group, T0);
    expect(receiver.chain(chain.chain)?.nextIndex).toBe(0);
    receiver.commit(a, T0);
    await expectCode(() => receiver.commit(b, T0), "receive/replay");
  });

  it("refuses tampering, in check order", async () => {
    const { chain, receiver } = await aliceChainToBob();
    const e = await send(chain, text("secret"), 0);
    const s = e.sealed;
    const tamperedCiphertext = Envelope.fromSealed(
      SignedSealed.fromParts(s.header, flipped(s.ciphertext, 3), s.signature),
    );
    await expectCode(
      () => receiver.open(tamperedCiphertext, alice.device.verified, group, T0),
      "bad-signature",
    );
    const resigned = Envelope.fromSealed(
      await SignedSealed.sign(s.header, flipped(s.ciphertext, 3), alice.device.keys.signing),
    );
    await expectCode(
      () => receiver.open(resigned, alice.device.verified, group, T0),
      "decryption-failed",
    );
    await expectCode(
      () => receiver.open(e, carol.device.verified, group, T0),
      "receive/sender-mismatch",
    );
    // Nothing was recorded: the genuine message still opens.
    expect((await receiver.receive(e, alice.device.verified, group, T0)).body).toEqual(
      text("secret"),
    );
  });

  it("refuses the far future, unknown chains and epochs, and removed members", async () => {
    const { chain, receiver } = await aliceChainToBob();
    const late = await (
      await chain.reserve(T0)
    ).seal(text("x"), msgId(1), T0 + 3n * HOUR + 1n, alice.device.keys);
    await expectCode(
      () => receiver.open(late, alice.device.verified, group, T0),
      "receive/far-future",
    );
    const edge = await (
      await chain.reserve(T0)
    ).seal(text("x"), msgId(2), T0 + 3n * HOUR, alice.device.keys);
    await receiver.receive(edge, alice.device.verified, group, T0);
    const other = await SenderChain.start(
      CONV,
      group.epoch,
      alice.master.account,
      alice.device.keys.device,
      undefined,
      env(T0, 9),
    );
    await expectCode(
      async () => receiver.open(await send(other, text("?"), 3), alice.device.verified, group, T0),
      "receive/unknown-chain",
    );
    const ahead = await SenderChain.start(
      CONV,
      group.epoch + 1n,
      alice.master.account,
      alice.device.keys.device,
      undefined,
      env(T0, 8),
    );
    await expectCode(
      async () => receiver.open(await send(ahead, text("?"), 4), alice.device.verified, group, T0),
      "receive/unknown-epoch",
    );
    const carolChain = await SenderChain.start(
      CONV,
      group.epoch,
      carol.master.account,
      carol.device.keys.device,
      undefined,
      env(T0, 5),
    );
    const carolKdm = await carolChain.distribute(
      group,
      bob.device.verifiedExchange,
      carol.device.keys,
      T0,
    );
    await receiver.acceptDistribution(carolKdm, carol.device.verified, bobDevice, group, T0);
    const withoutCarol = await group.apply(
      await group.propose(
        { type: "remove-member", account: carol.master.account },
        alice.master.account,
        alice.device.keys,
        T0,
      ),
      alice.device.verified,
    );
    const fromCarol = await (
      await carolChain.reserve(T0)
    ).seal(text("still here?"), msgId(5), T0, carol.device.keys);
    await expectCode(
      () => receiver.open(fromCarol, carol.device.verified, withoutCarol, T0),
      "receive/sender-not-member",
    );
    await receiver.receive(fromCarol, carol.device.verified, group, T0);
  });

  it("bounds indexes and rotates chains", async () => {
    const { chain, receiver } = await aliceChainToBob();
    for (let i = 0; i < 100; i++) await chain.reserve(T0);
    await expectCode(() => chain.reserve(T0), "chain-needs-rotation");
    expect(chain.end()).toEqual({ chain: chain.chain, finalIndex: 99 });
    const fresh = await SenderChain.start(
      CONV,
      group.epoch,
      alice.master.account,
      alice.device.keys.device,
      undefined,
      env(T0, 3),
    );
    await expectCode(() => fresh.reserve(T0 + 7n * DAY), "chain-needs-rotation");
    // Version 2 (§18.8): a sending chain is replaced 24 hours after it started.
    expect(fresh.needsRotation(T0 + DAY - 1n, group.epoch, [])).toBe(false);
    expect(fresh.needsRotation(T0 + DAY, group.epoch, [])).toBe(true);
    expect(fresh.needsRotation(T0, group.epoch, [])).toBe(false);
    expect(fresh.needsRotation(T0, group.epoch + 1n, [])).toBe(true);
    expect(fresh.needsRotation(T0, group.epoch, [bob.device.keys.device])).toBe(true);
    // A message at index 99 skips 99 keys, the chain's whole bound.
    const { chain: chain2, receiver: receiver2 } = await aliceChainToBob(T0, 4);
    for (let i = 0; i < 99; i++) await chain2.reserve(T0);
    const last = await send(chain2, text("last"), 99);
    expect((await receiver2.receive(last, alice.device.verified, group, T0)).gap).toHaveLength(99);
    expect(receiver.chain(chain.chain)?.nextIndex).toBe(0);
  });

  it("hands out each index once, even to concurrent reserves", async () => {
    const { chain } = await aliceChainToBob();
    const reserved = await Promise.all(Array.from({ length: 10 }, () => chain.reserve(T0)));
    expect(reserved.map((r) => r.index).sort((a, b) => a - b)).toEqual([
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
    ]);
    const one = reserved[0];
    if (one === undefined) throw new Error("reserve");
    await one.seal(text("a"), msgId(1), T0, alice.device.keys);
    await expectCode(() => one.seal(text("b"), msgId(2), T0, alice.device.keys), "invalid-input");
    await expectCode(
      async () => (await chain.reserve(T0)).seal(text("c"), msgId(3), T0, bob.device.keys),
      "invalid-input",
    );
  });

  it("announces a chain's end so a truncated tail shows (A13)", async () => {
    const { chain, receiver } = await aliceChainToBob();
    await receiver.receive(await send(chain, text("0"), 0), alice.device.verified, group, T0);
    await send(chain, text("1"), 1); // withheld
    await send(chain, text("2"), 2); // withheld
    const next = await chain.successor(group.epoch, env(T0, 2));
    const kdm = await next.distribute(group, bob.device.verifiedExchange, alice.device.keys, T0);
    const accepted = await receiver.acceptDistribution(
      kdm,
      alice.device.verified,
      bobDevice,
      group,
      T0,
    );
    expect(accepted.missingInPrevious).toEqual([1, 2]);
    // Nothing beyond the announced end is accepted on the old chain.
    const beyond = await send(chain, text("3"), 3);
    await expectCode(
      () => receiver.open(beyond, alice.device.verified, group, T0),
      "receive/index-out-of-bounds",
    );
  });

  it("accepts a re-sent distribution as a duplicate and refuses conflicts", async () => {
    const { chain, receiver, kdm } = await aliceChainToBob();
    expect(
      (await receiver.acceptDistribution(kdm, alice.device.verified, bobDevice, group, T0))
        .duplicate,
    ).toBe(true);
    const again = await chain.distribute(
      group,
      bob.device.verifiedExchange,
      alice.device.keys,
      T0 + HOUR,
    );
    expect(
      (await receiver.acceptDistribution(again, alice.device.verified, bobDevice, group, T0))
        .duplicate,
    ).toBe(true);
    await expectCode(
      () => receiver.acceptDistribution(kdm, carol.device.verified, bobDevice, group, T0),
      "receive/sender-mismatch",
    );
    const carolDevice = await localDevice(carol.master.account, carol.device.keys.device, [
      carol.device.exchange,
    ]);
    await expectCode(
      () =>
        new ReceiverState().acceptDistribution(kdm, alice.device.verified, carolDevice, group, T0),
      "receive/wrong-recipient",
    );
    await expectCode(
      () =>
        new ReceiverState().acceptDistribution(
          kdm,
          alice.device.verified,
          bobDevice,
          group,
          T0 - 4n * HOUR,
        ),
      "receive/far-future",
    );
    await expectCode(
      () =>
        new ReceiverState().acceptDistribution(
          kdm,
          alice.device.verified,
          bobDevice,
          group,
          T0 + 120n * DAY + 1n,
        ),
      "receive/stale-distribution",
    );
    const noKeys = await localDevice(bob.master.account, bob.device.keys.device, []);
    await expectCode(
      () => new ReceiverState().acceptDistribution(kdm, alice.device.verified, noKeys, group, T0),
      "receive/wrong-recipient",
    );
  });

  it("forgets chains after 180 days and refuses the replayed distribution", async () => {
    const { chain, receiver, kdm } = await aliceChainToBob();
    const e0 = await send(chain, text("old"), 0);
    receiver.prune(T0 + 180n * DAY + 1n);
    expect(receiver.size).toBe(0);
    await expectCode(
      () => receiver.open(e0, alice.device.verified, group, T0 + 180n * DAY + 1n),
      "receive/unknown-chain",
    );
    await expectCode(
      () =>
        receiver.acceptDistribution(
          kdm,
          alice.device.verified,
          bobDevice,
          group,
          T0 + 180n * DAY + 1n,
        ),
      "receive/stale-distribution",
    );
  });

  it("evicts skipped keys after 30 days and beyond 2000", async () => {
    const { chain, receiver } = await aliceChainToBob();
    const e0 = await send(chain, text("0"), 0);
    for (let i = 1; i < 5; i++) await chain.reserve(T0);
    const e5 = await send(chain, text("5"), 5);
    expect((await receiver.receive(e5, alice.device.verified, group, T0)).gap).toEqual([
      0, 1, 2, 3, 4,
    ]);
    receiver.prune(T0 + 30n * DAY);
    expect(receiver.skippedKeyCount()).toBe(5);
    receiver.prune(T0 + 30n * DAY + 1n);
    expect(receiver.skippedKeyCount()).toBe(0);
    await expectCode(
      () => receiver.open(e0, alice.device.verified, group, T0 + 30n * DAY + 1n),
      "receive/key-evicted",
    );
    // 21 chains × 99 skipped keys > 2000: the oldest go first.
    const many = new ReceiverState();
    let now = T0;
    for (let c = 0; c < 21; c++) {
      now += 1n;
      const sender = await SenderChain.start(
        CONV,
        group.epoch,
        alice.master.account,
        alice.device.keys.device,
        undefined,
        env(now, 100 + c),
      );
      await many.acceptDistribution(
        await sender.distribute(group, bob.device.verifiedExchange, alice.device.keys, now),
        alice.device.verified,
        bobDevice,
        group,
        now,
      );
      for (let i = 0; i < 99; i++) await sender.reserve(now);
      await many.receive(
        await send(sender, text("end"), 99, now),
        alice.device.verified,
        group,
        now,
      );
      expect(many.skippedKeyCount()).toBe(Math.min(99 * (c + 1), MAX_SKIPPED_KEYS));
    }
  }, 120_000);

  it("answers key requests only from intended recipients", async () => {
    const { chain } = await aliceChainToBob();
    const request = (
      by: TestAccount,
      ownerDevice = alice.device.keys.device,
      device: TestDevice = by.device,
    ) =>
      Signed.sign(
        KeyRequest.encode({
          conversation: CONV,
          epoch: group.epoch,
          chain: chain.chain,
          ownerDevice,
          requesterAccount: by.master.account,
          requesterDevice: device.keys.device,
          requesterKey: device.verifiedExchange.keyId,
          requestedAt: T0,
        }),
        device.keys.signing,
      );
    const answer = await chain.answerKeyRequest(
      await request(bob),
      bob.device.verified,
      bob.device.verifiedExchange,
      group,
      alice.device.keys,
      T0,
    );
    expect(
      bytesEqual(answer.header.recipientKey, await exchangeKeyIdOf(bob.device.exchange.spki)),
    ).toBe(true);
    // Carol's account was a member at the chain's epoch: she was meant to read it (§7.6).
    const toCarol = await chain.answerKeyRequest(
      await request(carol),
      carol.device.verified,
      carol.device.verifiedExchange,
      group,
      alice.device.keys,
      T0,
    );
    expect(bytesEqual(toCarol.header.recipientDevice, carol.device.keys.device)).toBe(true);
    // So is a device Bob's account certified after the chain started.
    const laptop = await testSecondDevice(bob);
    const toLaptop = await chain.answerKeyRequest(
      await request(bob, alice.device.keys.device, laptop),
      laptop.verified,
      laptop.verifiedExchange,
      group,
      alice.device.keys,
      T0,
    );
    expect(bytesEqual(toLaptop.header.recipientDevice, laptop.keys.device)).toBe(true);
    // Dave's account was never a member: it waits for a chain of its own epoch.
    const dave = await testAccount(3, "dave");
    await expectCode(
      async () =>
        chain.answerKeyRequest(
          await request(dave),
          dave.device.verified,
          dave.device.verifiedExchange,
          group,
          alice.device.keys,
          T0,
        ),
      "receive/wrong-recipient",
    );
    await expectCode(
      async () =>
        chain.answerKeyRequest(
          await request(bob),
          carol.device.verified,
          carol.device.verifiedExchange,
          group,
          alice.device.keys,
          T0,
        ),
      "receive/sender-mismatch",
    );
    await expectCode(
      async () =>
        chain.answerKeyRequest(
          await request(bob, carol.device.keys.device),
          bob.device.verified,
          bob.device.verifiedExchange,
          group,
          alice.device.keys,
          T0,
        ),
      "receive/chain-owner-mismatch",
    );
    await expectCode(
      async () =>
        chain.answerKeyRequest(
          await request(bob),
          bob.device.verified,
          bob.device.verifiedExchange,
          group,
          alice.device.keys,
          T0 - 4n * HOUR,
        ),
      "receive/far-future",
    );
  });

  it("distributes only to members' valid exchange keys", async () => {
    const chain = await SenderChain.start(
      CONV,
      group.epoch,
      alice.master.account,
      alice.device.keys.device,
      undefined,
      env(T0),
    );
    const keys = [
      alice.device.verifiedExchange,
      bob.device.verifiedExchange,
      carol.device.verifiedExchange,
    ];
    expect(chain.recipientsIn(group, keys)).toEqual([
      bob.device.verifiedExchange,
      carol.device.verifiedExchange,
    ]);
    await expectCode(
      () => chain.distribute(group, bob.device.verifiedExchange, alice.device.keys, T0 + 30n * DAY),
      "exchange-key-not-valid-now",
    );
    await expectCode(
      () => chain.distribute(group, bob.device.verifiedExchange, bob.device.keys, T0),
      "invalid-input",
    );
    const withoutBob = await group.apply(
      await group.propose(
        { type: "remove-member", account: bob.master.account },
        alice.master.account,
        alice.device.keys,
        T0,
      ),
      alice.device.verified,
    );
    await expectCode(
      () => chain.distribute(withoutBob, carol.device.verifiedExchange, alice.device.keys, T0),
      "chain-needs-rotation",
    );
    const next = await chain.successor(withoutBob.epoch, env(T0, 2));
    await expectCode(
      () => next.distribute(withoutBob, bob.device.verifiedExchange, alice.device.keys, T0),
      "recipient-not-member",
    );
  });
});

describe("bodies and padding (§8.2, §8.3)", () => {
  it("pads to buckets and refuses malformed padding", async () => {
    expect([0, 255, 256, 65_535].map(paddedLength)).toEqual([256, 256, 512, 65_536]);
    expect(pad(Uint8Array.of(1, 2)).length).toBe(256);
    expect([...unpad(pad(Uint8Array.of(1, 2)))]).toEqual([1, 2]);
    expect(unpad(pad(new Uint8Array(0))).length).toBe(0);
    await expectCode(() => unpad(new Uint8Array(256)), "decryption-failed");
    await expectCode(() => unpad(flipped(pad(Uint8Array.of(1)), 255)), "decryption-failed");
    await expectCode(() => unpad(pad(Uint8Array.of(1)).subarray(0, 128)), "decryption-failed");
    await expectCode(() => pad(new Uint8Array(131_072)), "invalid-input");
  });

  it("round-trips every kind and refuses out-of-bounds content", async () => {
    const bodies: MessageBodyT[] = [
      text("héllo"),
      { type: "receipt", kind: "read", messages: [msgId(3)] },
      {
        type: "attachment",
        attachment: {
          blobId: "blob1",
          fileName: "a.png",
          mediaType: "image/png",
          size: 10n,
          secret: new Uint8Array(32).fill(1),
          blobSha256: new Uint8Array(32).fill(2),
        },
        caption: "",
      },
    ];
    for (const b of bodies) expect(MessageBody.decode(MessageBody.encode(b))).toEqual(b);
    await expectCode(() => MessageBody.encode(text("x".repeat(65_536))), "invalid-input");
    await expectCode(
      () =>
        MessageBody.encode({
          type: "receipt",
          kind: "delivered",
          messages: Array.from({ length: 257 }, () => msgId(1)),
        }),
      "invalid-input",
    );
  });
});

describe("attachments (§10)", () => {
  it("round-trip and refuse any mismatch", async () => {
    const file = new TextEncoder().encode("%PDF-1.7 contract");
    const enc = await encryptAttachment(file, env(T0, 5));
    expect(bytesEqual(enc.blobSha256, await sha256(enc.blob))).toBe(true);
    expect(bytesEqual(await decryptAttachment(enc.blob, enc.secret, enc.blobSha256), file)).toBe(
      true,
    );
    const tampered = flipped(enc.blob, 40);
    await expectCode(
      () => decryptAttachment(tampered, enc.secret, enc.blobSha256),
      "decryption-failed",
    );
    await expectCode(
      async () => decryptAttachment(tampered, enc.secret, await sha256(tampered)),
      "decryption-failed",
    );
    const badCommitment = flipped(enc.blob, 0);
    await expectCode(
      async () => decryptAttachment(badCommitment, enc.secret, await sha256(badCommitment)),
      "decryption-failed",
    );
    await expectCode(
      () => decryptAttachment(enc.blob, new Uint8Array(32), enc.blobSha256),
      "decryption-failed",
    );
    await expectCode(
      async () => decryptAttachment(new Uint8Array(0), enc.secret, await sha256(new Uint8Array(0))),
      "decryption-failed",
    );
  });
});
