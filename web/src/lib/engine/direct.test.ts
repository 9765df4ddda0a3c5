/** The 1:1 rule (protocol §6.4) over verified group states built and signed like real ones. */

import { beforeAll, describe, expect, it } from "vitest";

import { type CreateKind, ConversationId, GroupState, HOUR, type Member } from "../../crypto";
import { T0, type TestAccount, groupKind, testAccount } from "../../crypto/test-support";
import { directDuplicates, directPeer, findDirect, isDirectWith, mergedMessages } from "./direct";

const DIRECT: CreateKind = { type: "direct" };

let alice: TestAccount;
let bob: TestAccount;
let carol: TestAccount;
let mallory: TestAccount;

beforeAll(async () => {
  [alice, bob, carol, mallory] = await Promise.all([
    testAccount(0, "alice"),
    testAccount(1, "bob"),
    testAccount(2, "carol"),
    testAccount(3, "mallory"),
  ]);
});

function convId(byte: number): string {
  return ConversationId.toText(ConversationId.fromBytes(new Uint8Array(16).fill(byte)));
}

/** A verified genesis signed by `creator`'s device, with `members` as the creator wrote them. */
async function group(
  id: string,
  kind: CreateKind,
  creator: TestAccount,
  members: Member[],
): Promise<GroupState> {
  const signed = await GroupState.create(
    ConversationId.parse(id),
    kind,
    members,
    creator.master.account,
    creator.device.keys,
    T0,
  );
  return GroupState.genesis(signed, creator.device.verified);
}

describe("the 1:1 rule", () => {
  it("a direct conversation of two accounts is their 1:1, from either side", async () => {
    const state = await group(convId(1), DIRECT, alice, [alice.member(true), carol.member(false)]);
    expect(isDirectWith(state, alice.master.account, carol.master.account)).toBe(true);
    expect(isDirectWith(state, carol.master.account, alice.master.account)).toBe(true);
    expect(directPeer(state, alice.master.account)).toEqual(carol.master.account);
    expect(directPeer(state, bob.master.account)).toBeUndefined();
  });

  it('a group named "alice & carol" is not their 1:1, whoever is in it', async () => {
    const withBob = await group(convId(2), groupKind("alice & carol"), alice, [
      alice.member(true),
      bob.member(false),
      carol.member(false),
    ]);
    expect(isDirectWith(withBob, alice.master.account, carol.master.account)).toBe(false);
    expect(directPeer(withBob, alice.master.account)).toBeUndefined();

    const onlyCarol = await group(convId(3), groupKind("alice & carol"), alice, [
      alice.member(true),
      carol.member(false),
    ]);
    expect(isDirectWith(onlyCarol, alice.master.account, carol.master.account)).toBe(false);
    expect(directPeer(onlyCarol, alice.master.account)).toBeUndefined();
  });

  it("mallory's 1:1 with alice is not alice's 1:1 with carol: accounts compare by id", async () => {
    const impostor = await group(convId(4), DIRECT, mallory, [
      alice.member(false),
      mallory.member(true),
    ]);
    expect(isDirectWith(impostor, alice.master.account, carol.master.account)).toBe(false);
    expect(
      findDirect([[convId(4), impostor]], alice.master.account, carol.master.account),
    ).toBeUndefined();
  });

  it("a group of the same two people under another name stays a group", async () => {
    const named = await group(convId(5), groupKind("Project Sotto"), alice, [
      alice.member(true),
      carol.member(false),
    ]);
    expect(directPeer(named, alice.master.account)).toBeUndefined();
    expect(
      findDirect([[convId(5), named]], alice.master.account, carol.master.account),
    ).toBeUndefined();
  });

  it("a 1:1 never gains a third member, and stops being one when a member leaves", async () => {
    const direct = await group(convId(6), DIRECT, alice, [alice.member(true), carol.member(false)]);
    const add = await direct.propose(
      { type: "add-member", member: bob.member(false) },
      alice.master.account,
      alice.device.keys,
      T0 + HOUR,
    );
    await expect(direct.apply(add, alice.device.verified)).rejects.toMatchObject({
      code: "group/direct-conversation",
    });
    const leave = await direct.propose(
      { type: "remove-member", account: carol.master.account },
      carol.master.account,
      carol.device.keys,
      T0 + HOUR,
    );
    const left = await direct.apply(leave, carol.device.verified);
    expect(isDirectWith(left, alice.master.account, carol.master.account)).toBe(false);
  });

  it("of several 1:1s of two accounts, both sides pick the smallest conversation id", async () => {
    const later = await group(convId(0x20), DIRECT, carol, [
      carol.member(true),
      alice.member(false),
    ]);
    const earlier = await group(convId(0x10), DIRECT, alice, [
      alice.member(true),
      carol.member(false),
    ]);
    const named = await group(convId(0x01), groupKind("Project Sotto"), alice, [
      alice.member(true),
      carol.member(false),
    ]);
    const all = [
      [convId(0x20), later],
      [convId(0x10), earlier],
      [convId(0x01), named],
    ] as const;
    expect(findDirect(all, alice.master.account, carol.master.account)).toBe(convId(0x10));
    expect(findDirect([...all].reverse(), carol.master.account, alice.master.account)).toBe(
      convId(0x10),
    );
    expect(findDirect(all, alice.master.account, bob.master.account)).toBeUndefined();
  });
});

describe("both sides create the 1:1 at the same time", () => {
  it("both keep the same one, list it once, and show the duplicate's messages in it", async () => {
    // Alice's is made first on her side, bob's on his; neither knew of the other's.
    const fromAlice = await group(convId(0x30), DIRECT, alice, [
      alice.member(true),
      bob.member(false),
    ]);
    const fromBob = await group(convId(0x05), DIRECT, bob, [bob.member(true), alice.member(false)]);
    // A group of the same two and a 1:1 with someone else are left alone.
    const team = await group(convId(0x01), groupKind("alice & bob"), alice, [
      alice.member(true),
      bob.member(false),
    ]);
    const withCarol = await group(convId(0x02), DIRECT, alice, [
      alice.member(true),
      carol.member(false),
    ]);
    const alicesView = [
      [convId(0x30), fromAlice],
      [convId(0x05), fromBob],
      [convId(0x01), team],
      [convId(0x02), withCarol],
    ] as const;
    const bobsView = [
      [convId(0x05), fromBob],
      [convId(0x01), team],
      [convId(0x30), fromAlice],
    ] as const;
    const onAlice = directDuplicates(alicesView, alice.master.account);
    const onBob = directDuplicates(bobsView, bob.master.account);
    expect([...onAlice]).toEqual([[convId(0x30), convId(0x05)]]);
    expect([...onBob]).toEqual([[convId(0x30), convId(0x05)]]);
    // Starting the chat again finds the kept one on both sides.
    expect(findDirect(alicesView, alice.master.account, bob.master.account)).toBe(convId(0x05));
    expect(findDirect(bobsView, bob.master.account, alice.master.account)).toBe(convId(0x05));
    // What each wrote in the conversation it made shows in the kept one, in time order.
    const messages = new Map([
      [convId(0x30), [{ id: "a1", sentAt: 10 }]],
      [
        convId(0x05),
        [
          { id: "b1", sentAt: 5 },
          { id: "b2", sentAt: 20 },
        ],
      ],
    ]);
    const merged = mergedMessages(
      convId(0x05),
      onAlice,
      (c) => messages.get(c) ?? [],
      (a, b) => a.sentAt - b.sentAt,
    );
    expect(merged.map((m) => m.id)).toEqual(["b1", "a1", "b2"]);
  });
});
