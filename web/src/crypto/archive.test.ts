import { beforeAll, describe, expect, it } from "vitest";

import { HistoryKeys, openArchived } from "./archive";
import type { MessageBody } from "./body";
import type { ChainRecord } from "./bundle";
import { DangerSeededRng, type Env } from "./env";
import { Envelope } from "./envelope";
import { GroupState } from "./group";
import { ConversationId, MessageId } from "./ids";
import { DAY } from "./limits";
import { ChainKey } from "./ratchet";
import { ReceiverState } from "./receiver";
import { SenderChain } from "./sender";
import { SignedSealed } from "./signed";
import { T0, type TestAccount, expectCode, flipped, groupKind, testAccount } from "./test-support";

const CONV = ConversationId.fromBytes(new Uint8Array(16).fill(0x33));

let alice: TestAccount;
let bob: TestAccount;
let carol: TestAccount;
let dave: TestAccount;
/** Epoch 0: alice (admin), bob, carol. */
let epoch0: GroupState;
/** Epoch 1: carol removed. Epoch 2: dave added. */
let now: GroupState;

function env(seed: number, at = T0): Env {
  return { now: at, rng: new DangerSeededRng(new Uint8Array(32).fill(seed)) };
}

function text(t: string): MessageBody {
  return { type: "text", text: t };
}

async function chainOf(who: TestAccount, epoch: bigint, seed: number): Promise<SenderChain> {
  return SenderChain.start(
    CONV,
    epoch,
    who.master.account,
    who.device.keys.device,
    undefined,
    env(seed),
  );
}

async function send(chain: SenderChain, who: TestAccount, t: string, n: number): Promise<Envelope> {
  const reserved = await chain.reserve(T0);
  const sealed = await reserved.seal(
    text(t),
    MessageId.fromBytes(new Uint8Array(16).fill(n)),
    T0,
    who.device.keys,
  );
  return Envelope.decode(sealed.encode());
}

beforeAll(async () => {
  [alice, bob, carol, dave] = await Promise.all([
    testAccount(0, "alice"),
    testAccount(1, "bob"),
    testAccount(2, "carol"),
    testAccount(3, "dave"),
  ]);
  const genesis = await GroupState.create(
    CONV,
    groupKind("History"),
    [alice.member(true), bob.member(false), carol.member(false)],
    alice.master.account,
    alice.device.keys,
    T0,
  );
  epoch0 = await GroupState.genesis(genesis, alice.device.verified);
  const removal = await epoch0.propose(
    { type: "remove-member", account: carol.master.account },
    alice.master.account,
    alice.device.keys,
    T0,
  );
  const epoch1 = await epoch0.apply(removal, alice.device.verified);
  const add = await epoch1.propose(
    { type: "add-member", member: dave.member(false) },
    alice.master.account,
    alice.device.keys,
    T0,
  );
  now = await epoch1.apply(add, alice.device.verified);
});

describe("history keys and archived envelopes (§17.2)", () => {
  it("opens archived messages in any order, as often as asked, without touching receiver state", async () => {
    const chain = await chainOf(alice, 0n, 1);
    const history = new HistoryKeys();
    expect(await history.add(chain.historyRecord())).toBe("added");
    const envelopes = [
      await send(chain, alice, "zero", 0),
      await send(chain, alice, "one", 1),
      await send(chain, alice, "two", 2),
    ];
    for (const e of [envelopes[2], envelopes[0], envelopes[2], envelopes[1]]) {
      if (e === undefined) throw new Error("missing envelope");
      const opened = await openArchived(e, alice.device.verified, now, history, T0);
      expect(opened.header.index).toBe(e.header.index);
    }
    const zero = envelopes[0];
    if (zero === undefined) throw new Error("missing envelope");
    expect((await openArchived(zero, alice.device.verified, now, history, T0)).body).toEqual(
      text("zero"),
    );
  });

  it("a16 does not hide history: a removed member's messages from when it was a member open", async () => {
    const chain = await chainOf(carol, 0n, 2);
    const history = new HistoryKeys();
    await history.add(chain.historyRecord());
    const e = await send(chain, carol, "before I left", 5);
    const opened = await openArchived(e, carol.device.verified, now, history, T0);
    expect(opened.body).toEqual(text("before I left"));
    // Live, the same envelope is refused: carol is not a member now.
    await expectCode(
      () => new ReceiverState().open(e, carol.device.verified, now, T0),
      "receive/sender-not-member",
    );
  });

  it("refuses a message claiming an epoch at which its sender was not a member", async () => {
    const chain = await chainOf(dave, 0n, 3);
    const history = new HistoryKeys();
    await history.add(chain.historyRecord());
    const e = await send(chain, dave, "I was not there", 6);
    await expectCode(
      () => openArchived(e, dave.device.verified, now, history, T0),
      "receive/sender-not-member",
    );
    const later = await chainOf(carol, 1n, 4);
    await history.add(later.historyRecord());
    const afterRemoval = await send(later, carol, "after removal", 7);
    await expectCode(
      () => openArchived(afterRemoval, carol.device.verified, now, history, T0),
      "receive/sender-not-member",
    );
  });

  it("without a history key the chain is unknown, and nothing is requested", async () => {
    const chain = await chainOf(alice, 0n, 5);
    const e = await send(chain, alice, "no key", 8);
    await expectCode(
      () => openArchived(e, alice.device.verified, now, new HistoryKeys(), T0),
      "receive/unknown-chain",
    );
  });

  it("a6/a9: a forged or altered archived envelope is refused by its signature", async () => {
    const chain = await chainOf(alice, 0n, 6);
    const history = new HistoryKeys();
    await history.add(chain.historyRecord());
    const e = await send(chain, alice, "original", 9);
    const forged = Envelope.fromSealed(
      SignedSealed.fromParts(e.sealed.header, flipped(e.sealed.ciphertext, 0), e.sealed.signature),
    );
    await expectCode(
      () => openArchived(forged, alice.device.verified, now, history, T0),
      "bad-signature",
    );
    await expectCode(
      () => openArchived(e, bob.device.verified, now, history, T0),
      "receive/sender-mismatch",
    );
  });

  it("a record from a later index cannot open earlier messages (receive/key-evicted)", async () => {
    const chain = await chainOf(alice, 0n, 7);
    const full = chain.historyRecord();
    const e0 = await send(chain, alice, "zero", 10);
    const e1 = await send(chain, alice, "one", 11);
    const history = new HistoryKeys();
    const late: ChainRecord = { ...full, startIndex: 1, key: await full.key.next() };
    expect(await history.add(late)).toBe("added");
    expect((await openArchived(e1, alice.device.verified, now, history, T0)).body).toEqual(
      text("one"),
    );
    await expectCode(
      () => openArchived(e0, alice.device.verified, now, history, T0),
      "receive/key-evicted",
    );
    // The full record reaches further back and replaces the later one.
    expect(await history.add(full)).toBe("extended");
    expect(await history.add(full)).toBe("duplicate");
    // Held from index 0 now: a record from index 1 cannot show it is the same key.
    await expectCode(() => history.add(late), "receive/chain-key-conflict");
    expect((await openArchived(e0, alice.device.verified, now, history, T0)).body).toEqual(
      text("zero"),
    );
  });

  it("refuses a second record of a chain with another key, owner or place", async () => {
    const chain = await chainOf(alice, 0n, 8);
    const record = chain.historyRecord();
    const history = new HistoryKeys();
    await history.add(record);
    const conflicts: ChainRecord[] = [
      { ...record, key: ChainKey.fromBytes(new Uint8Array(32).fill(1)) },
      { ...record, ownerDevice: bob.device.keys.device },
      { ...record, epoch: 1n },
      { ...record, conversation: ConversationId.fromBytes(new Uint8Array(16)) },
    ];
    for (const conflict of conflicts) {
      await expectCode(() => history.add(conflict), "receive/chain-key-conflict");
    }
    expect(history.get(record.chain)?.key.dangerBytes()).toEqual(record.key.dangerBytes());
  });

  it("keeps history keys across a restart and forgets them once retention has passed", async () => {
    const history = new HistoryKeys();
    await history.add((await chainOf(alice, 0n, 9)).historyRecord());
    const restored = HistoryKeys.restore(history.snapshot());
    expect(restored.size).toBe(1);
    expect(restored.recordsOf(CONV)).toHaveLength(1);
    expect(restored.prune(() => 0n, T0 + 10_000n * DAY)).toBe(0);
    expect(restored.prune(() => 86_400n, T0 + 8n * DAY)).toBe(0);
    expect(restored.prune(() => 86_400n, T0 + 9n * DAY)).toBe(1);
    expect(restored.size).toBe(0);
  });

  it("a bundle's chain of the current epoch is introduced like a distribution; others are history only", async () => {
    const chain = await chainOf(bob, now.epoch, 10);
    const me = alice.device.keys.device;
    const receiver = new ReceiverState();
    expect(await receiver.takeRecord(chain.historyRecord(), now, me)).toBe("introduced");
    expect(await receiver.takeRecord(chain.historyRecord(), now, me)).toBe("duplicate");
    const e = await send(chain, bob, "live", 12);
    expect((await receiver.receive(e, bob.device.verified, now, T0)).body).toEqual(text("live"));
    const old = await chainOf(bob, 0n, 11);
    expect(await receiver.takeRecord(old.historyRecord(), now, me)).toBe("history-only");
    const removed = await chainOf(carol, now.epoch, 12);
    expect(await receiver.takeRecord(removed.historyRecord(), now, me)).toBe("history-only");
    const mine = await chainOf(alice, now.epoch, 13);
    expect(await receiver.takeRecord(mine.historyRecord(), now, me)).toBe("history-only");
    await expectCode(
      () =>
        receiver.takeRecord(
          { ...chain.historyRecord(), key: ChainKey.fromBytes(new Uint8Array(32)) },
          now,
          me,
        ),
      "receive/chain-key-conflict",
    );
    await expectCode(
      () => receiver.takeRecord({ ...chain.historyRecord(), epoch: 0n }, now, me),
      "receive/chain-key-conflict",
    );
  });

  it("acceptChainRecord refuses what takeRecord sets aside for history", async () => {
    const chain = await chainOf(bob, now.epoch, 15);
    const receiver = new ReceiverState();
    expect(await receiver.acceptChainRecord(chain.historyRecord(), now, T0)).toEqual({
      duplicate: false,
    });
    expect(await receiver.acceptChainRecord(chain.historyRecord(), now, T0)).toEqual({
      duplicate: true,
    });
    const old = await chainOf(bob, 0n, 16);
    await expectCode(
      () => receiver.acceptChainRecord(old.historyRecord(), now, T0),
      "receive/epoch-mismatch",
    );
    const removed = await chainOf(carol, now.epoch, 17);
    await expectCode(
      () => receiver.acceptChainRecord(removed.historyRecord(), now, T0),
      "receive/sender-not-member",
    );
    const stale = {
      ...(await chainOf(bob, now.epoch, 18)).historyRecord(),
      createdAt: T0 - 121n * DAY,
    };
    await expectCode(
      () => receiver.acceptChainRecord(stale, now, T0),
      "receive/stale-distribution",
    );
  });

  it("a record that starts before the distribution received matches it by the ratcheted key", async () => {
    const chain = await chainOf(bob, now.epoch, 14);
    const full = chain.historyRecord();
    const receiver = new ReceiverState();
    const late: ChainRecord = { ...full, startIndex: 2, key: await (await full.key.next()).next() };
    expect(await receiver.takeRecord(late, now, alice.device.keys.device)).toBe("introduced");
    expect(await receiver.takeRecord(full, now, alice.device.keys.device)).toBe("duplicate");
    const later: ChainRecord = { ...late, startIndex: 3, key: await late.key.next() };
    await expectCode(
      () => receiver.takeRecord(later, now, alice.device.keys.device),
      "receive/chain-key-conflict",
    );
  });
});
