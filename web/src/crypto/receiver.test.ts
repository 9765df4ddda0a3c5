import { beforeAll, describe, expect, it } from "vitest";

import { encodeTagged, decodeTagged } from "../lib/tagged-json";
import type { MessageBody } from "./body";
import { DangerSeededRng, type Env } from "./env";
import { Envelope } from "./envelope";
import { GroupState } from "./group";
import { ConversationId, MessageId } from "./ids";
import {
  type LocalDevice,
  ReceiverState,
  type ReceiverStateSnapshot,
  gapsFrom,
  localDevice,
} from "./receiver";
import { SenderChain } from "./sender";
import { T0, type TestAccount, expectCode, groupKind, testAccount } from "./test-support";

const CONV = ConversationId.fromBytes(new Uint8Array(16).fill(0x44));

let alice: TestAccount;
let bob: TestAccount;
let group: GroupState;
let aliceDevice: LocalDevice;

function env(seed: number): Env {
  return { now: T0, rng: new DangerSeededRng(new Uint8Array(32).fill(seed)) };
}

function text(t: string): MessageBody {
  return { type: "text", text: t };
}

async function send(chain: SenderChain, t: string, n: number): Promise<Envelope> {
  const reserved = await chain.reserve(T0);
  const sealed = await reserved.seal(
    text(t),
    MessageId.fromBytes(new Uint8Array(16).fill(n)),
    T0,
    bob.device.keys,
  );
  return Envelope.decode(sealed.encode());
}

/** `count` messages on `chain` that never reach the receiver live. */
async function sendUnseen(chain: SenderChain, count: number): Promise<Envelope[]> {
  const out: Envelope[] = [];
  for (let i = 0; i < count; i++) out.push(await send(chain, "not live here", 100 + i));
  return out;
}

async function bobsChain(seed: number): Promise<SenderChain> {
  return SenderChain.start(
    CONV,
    group.epoch,
    bob.master.account,
    bob.device.keys.device,
    undefined,
    env(seed),
  );
}

/** Bob's chain, held by Alice's device from a key bundle at the chain's start (index 0). */
async function fromBundle(seed: number): Promise<{ chain: SenderChain; receiver: ReceiverState }> {
  const chain = await bobsChain(seed);
  const receiver = new ReceiverState();
  expect(await receiver.takeRecord(chain.historyRecord(), group, alice.device.keys.device)).toBe(
    "introduced",
  );
  return { chain, receiver };
}

/** Bob's next chain, announcing the end of `chain`, as Alice's device accepts it. */
async function announceEnd(chain: SenderChain, receiver: ReceiverState, seed: number) {
  const next = await chain.successor(group.epoch, env(seed));
  const kdm = await next.distribute(group, alice.device.verifiedExchange, bob.device.keys, T0);
  return receiver.acceptDistribution(kdm, bob.device.verified, aliceDevice, group, T0);
}

function roundTrip(receiver: ReceiverState): ReceiverState {
  return ReceiverState.restore(
    decodeTagged(encodeTagged(receiver.snapshot())) as ReceiverStateSnapshot,
  );
}

beforeAll(async () => {
  [alice, bob] = await Promise.all([testAccount(0, "alice"), testAccount(1, "bob")]);
  const genesis = await GroupState.create(
    CONV,
    groupKind("Gaps"),
    [alice.member(true), bob.member(false)],
    alice.master.account,
    alice.device.keys,
    T0,
  );
  group = await GroupState.genesis(genesis, alice.device.verified);
  aliceDevice = await localDevice(alice.master.account, alice.device.keys.device, [
    alice.device.exchange,
  ]);
});

describe("gaps on a chain from a key bundle (§15.1 step 2)", () => {
  it("reports no gap before the first message received live, and gaps after it", async () => {
    const { chain, receiver } = await fromBundle(1);
    const before = await sendUnseen(chain, 5);
    expect(receiver.missing(chain.chain)).toEqual([]);
    const five = await receiver.receive(
      await send(chain, "five", 5),
      bob.device.verified,
      group,
      T0,
    );
    expect(five.header.index).toBe(5);
    expect(five.gap).toEqual([]);
    expect(receiver.missing(chain.chain)).toEqual([]);
    const known = receiver.chain(chain.chain);
    expect(known === undefined ? undefined : gapsFrom(known)).toBe(5);
    // From there on a gap is a gap, as on any chain.
    await sendUnseen(chain, 2);
    const eight = await receiver.receive(
      await send(chain, "eight", 8),
      bob.device.verified,
      group,
      T0,
    );
    expect(eight.gap).toEqual([6, 7]);
    expect(receiver.missing(chain.chain)).toEqual([6, 7]);
    // The keys below the first live index were kept: a late copy opens once, quietly.
    const two = before[2];
    if (two === undefined) throw new Error("five envelopes");
    expect((await receiver.receive(two, bob.device.verified, group, T0)).body).toEqual(
      text("not live here"),
    );
    await expectCode(() => receiver.receive(two, bob.device.verified, group, T0), "receive/replay");
    expect(receiver.missing(chain.chain)).toEqual([6, 7]);
    // The same after a restart from the local store.
    const restored = roundTrip(receiver);
    expect(restored.missing(chain.chain)).toEqual([6, 7]);
    await sendUnseen(chain, 1);
    const ten = await restored.receive(
      await send(chain, "ten", 10),
      bob.device.verified,
      group,
      T0,
    );
    expect(ten.gap).toEqual([9]);
    expect(restored.missing(chain.chain)).toEqual([6, 7, 9]);
  });

  it("keeps that rule across a restart before the first live message", async () => {
    const { chain, receiver } = await fromBundle(2);
    const restored = roundTrip(receiver);
    await sendUnseen(chain, 3);
    const three = await restored.receive(
      await send(chain, "three", 3),
      bob.device.verified,
      group,
      T0,
    );
    expect(three.gap).toEqual([]);
    expect(restored.missing(chain.chain)).toEqual([]);
  });

  it("acceptChainRecord introduces a chain with the same rule", async () => {
    const chain = await bobsChain(3);
    const receiver = new ReceiverState();
    await receiver.acceptChainRecord(chain.historyRecord(), group, T0);
    await sendUnseen(chain, 4);
    const four = await receiver.receive(
      await send(chain, "four", 4),
      bob.device.verified,
      group,
      T0,
    );
    expect(four.gap).toEqual([]);
  });

  it("a chain from a distribution still reports its gaps from its start", async () => {
    const chain = await bobsChain(4);
    const kdm = await chain.distribute(group, alice.device.verifiedExchange, bob.device.keys, T0);
    const receiver = new ReceiverState();
    await receiver.acceptDistribution(kdm, bob.device.verified, aliceDevice, group, T0);
    await sendUnseen(chain, 5);
    const five = await receiver.receive(
      await send(chain, "five", 5),
      bob.device.verified,
      group,
      T0,
    );
    expect(five.gap).toEqual([0, 1, 2, 3, 4]);
    expect(receiver.missing(chain.chain)).toEqual([0, 1, 2, 3, 4]);
    const known = receiver.chain(chain.chain);
    expect(known === undefined ? undefined : gapsFrom(known)).toBe(0);
  });

  it("a13: a truncated tail counts from the first message received live", async () => {
    const { chain, receiver } = await fromBundle(5);
    await sendUnseen(chain, 3);
    await receiver.receive(await send(chain, "three", 3), bob.device.verified, group, T0);
    await sendUnseen(chain, 2); // 4 and 5, withheld
    const accepted = await announceEnd(chain, receiver, 6);
    expect(accepted.missingInPrevious).toEqual([4, 5]);
    expect(receiver.missing(chain.chain)).toEqual([4, 5]);
  });

  it("the end of a chain that sent nothing live here leaves nothing missing", async () => {
    const { chain, receiver } = await fromBundle(7);
    await sendUnseen(chain, 4);
    const accepted = await announceEnd(chain, receiver, 8);
    expect(accepted.missingInPrevious).toEqual([]);
    expect(accepted.previousUnknown).toBe(false);
    expect(receiver.missing(chain.chain)).toEqual([]);
  });

  it("a snapshot taken before chains had an origin restores them as from distributions", async () => {
    const chain = await bobsChain(9);
    const kdm = await chain.distribute(group, alice.device.verifiedExchange, bob.device.keys, T0);
    const receiver = new ReceiverState();
    await receiver.acceptDistribution(kdm, bob.device.verified, aliceDevice, group, T0);
    await sendUnseen(chain, 1);
    await receiver.receive(await send(chain, "one", 1), bob.device.verified, group, T0);
    const snapshot = receiver.snapshot();
    const old: ReceiverStateSnapshot = {
      chains: snapshot.chains.map((c) => {
        const { origin, ...rest } = c;
        expect(origin).toEqual({ kind: "distribution" });
        return rest;
      }),
    };
    expect(old.chains[0]).not.toHaveProperty("origin");
    const restored = ReceiverState.restore(
      decodeTagged(encodeTagged(old)) as ReceiverStateSnapshot,
    );
    expect(restored.missing(chain.chain)).toEqual([0]);
    expect(restored.chain(chain.chain)?.origin).toEqual({ kind: "distribution" });
  });
});
