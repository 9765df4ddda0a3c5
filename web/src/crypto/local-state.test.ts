/** Local-state snapshots (§9.5): a restored chain or receiver continues exactly where it stopped. */

import { beforeAll, describe, expect, it } from "vitest";

import { decodeTagged, encodeTagged } from "../lib/tagged-json";
import { bytesEqual } from "./bytes";
import { KeyDistribution } from "./distribution";
import { DangerSeededRng, type Env } from "./env";
import { Envelope } from "./envelope";
import { GroupState, type GroupStateSnapshot } from "./group";
import { ConversationId, MessageId } from "./ids";
import {
  type LocalDevice,
  ReceiverState,
  type ReceiverStateSnapshot,
  localDevice,
} from "./receiver";
import { SenderChain, type SenderChainSnapshot } from "./sender";
import { T0, type TestAccount, expectCode, groupKind, testAccount } from "./test-support";

const CONV = ConversationId.fromBytes(new Uint8Array(16).fill(9));
let alice: TestAccount;
let bob: TestAccount;
let group: GroupState;
let bobDevice: LocalDevice;

function env(now: bigint): Env {
  return { now, rng: new DangerSeededRng(new Uint8Array(32).fill(3)) };
}

/** Through the same tagged JSON the sealed store uses. */
function roundTrip<T>(value: T): T {
  return decodeTagged(encodeTagged(value)) as T;
}

beforeAll(async () => {
  [alice, bob] = await Promise.all([testAccount(0, "alice"), testAccount(1, "bob")]);
  const genesis = await GroupState.create(
    CONV,
    groupKind("Chat"),
    [alice.member(true), bob.member(false)],
    alice.master.account,
    alice.device.keys,
    T0,
  );
  group = await GroupState.genesis(genesis, alice.device.verified);
  bobDevice = await localDevice(bob.master.account, bob.device.keys.device, [bob.device.exchange]);
});

describe("local state snapshots", () => {
  it("a restored sender chain continues at the persisted index with the same keys", async () => {
    const chain = await SenderChain.start(
      CONV,
      group.epoch,
      alice.master.account,
      alice.device.keys.device,
      undefined,
      env(T0),
    );
    const kdm = await chain.distribute(group, bob.device.verifiedExchange, alice.device.keys, T0);
    await chain.reserve(T0);
    const restored = SenderChain.restore(roundTrip<SenderChainSnapshot>(chain.snapshot()));
    expect(restored.nextIndex).toBe(1);
    expect(restored.recipients).toEqual(chain.recipients);
    expect(restored.needsRotation(T0, group.epoch, [bob.device.keys.device])).toBe(false);
    const a = await chain.reserve(T0);
    const b = await restored.reserve(T0);
    expect(a.index).toBe(1);
    expect(b.index).toBe(1);
    const ea = await a.seal(
      { type: "text", text: "x" },
      MessageId.fromBytes(new Uint8Array(16).fill(1)),
      T0,
      alice.device.keys,
    );
    const eb = await b.seal(
      { type: "text", text: "x" },
      MessageId.fromBytes(new Uint8Array(16).fill(1)),
      T0,
      alice.device.keys,
    );
    expect(bytesEqual(ea.sealed.ciphertext, eb.sealed.ciphertext)).toBe(true);

    const receiver = new ReceiverState();
    await receiver.acceptDistribution(
      KeyDistribution.decode(kdm.encode()),
      alice.device.verified,
      bobDevice,
      group,
      T0,
    );
    const got = await receiver.receive(
      Envelope.decode(eb.encode()),
      alice.device.verified,
      group,
      T0,
    );
    expect(got.gap).toEqual([0]);
  });

  it("a restored receiver refuses replays, keeps skipped keys and the gap", async () => {
    const chain = await SenderChain.start(
      CONV,
      group.epoch,
      alice.master.account,
      alice.device.keys.device,
      undefined,
      env(T0),
    );
    const kdm = await chain.distribute(group, bob.device.verifiedExchange, alice.device.keys, T0);
    const envelopes: Envelope[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await chain.reserve(T0);
      envelopes.push(
        await r.seal(
          { type: "text", text: `m${i}` },
          MessageId.fromBytes(new Uint8Array(16).fill(10 + i)),
          T0,
          alice.device.keys,
        ),
      );
    }
    const receiver = new ReceiverState();
    await receiver.acceptDistribution(
      KeyDistribution.decode(kdm.encode()),
      alice.device.verified,
      bobDevice,
      group,
      T0,
    );
    const [e0, e1, e2] = envelopes;
    if (e0 === undefined || e1 === undefined || e2 === undefined)
      throw new Error("three envelopes");
    await receiver.receive(e0, alice.device.verified, group, T0);
    await receiver.receive(e2, alice.device.verified, group, T0);
    const restored = ReceiverState.restore(roundTrip<ReceiverStateSnapshot>(receiver.snapshot()));
    expect(restored.skippedKeyCount()).toBe(1);
    expect(restored.missing(e0.header.chain)).toEqual([1]);
    await expectCode(
      () => restored.receive(e0, alice.device.verified, group, T0),
      "receive/replay",
    );
    await expectCode(
      () => restored.receive(e2, alice.device.verified, group, T0),
      "receive/replay",
    );
    const late = await restored.receive(e1, alice.device.verified, group, T0);
    expect(late.body).toEqual({ type: "text", text: "m1" });
    expect(restored.missing(e0.header.chain)).toEqual([]);
  });

  it("a restored group state keeps epoch, head, members and admins", () => {
    const restored = GroupState.restore(roundTrip<GroupStateSnapshot>(group.snapshot()));
    expect(restored.epoch).toBe(group.epoch);
    expect(bytesEqual(restored.head, group.head)).toBe(true);
    expect(restored.isAdmin(alice.master.account)).toBe(true);
    expect(restored.isMember(bob.master.account)).toBe(true);
    expect(restored.isAdmin(bob.master.account)).toBe(false);
  });

  it("refuses an empty group snapshot", async () => {
    await expectCode(
      () => GroupState.restore({ conversation: CONV, naming: null, members: [], hashes: [] }),
      "invalid-input",
    );
  });
});
