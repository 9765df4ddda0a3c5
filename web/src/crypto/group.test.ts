import { beforeAll, describe, expect, it } from "vitest";

import { bytesEqual } from "./bytes";
import {
  GroupChange,
  type GroupOp,
  GroupState,
  type Member,
  changeHash,
  decodeSignedChange,
  isPastRetention,
} from "./group";
import { type ConversationId, AccountId, ConversationId as ConversationIds } from "./ids";
import { HOUR } from "./limits";
import { Signed } from "./signed";
import {
  T0,
  type TestAccount,
  expectCode,
  fakeCommitment,
  flipped,
  groupKind,
  testAccount,
} from "./test-support";

const CONV: ConversationId = ConversationIds.fromBytes(new Uint8Array(16).fill(0x42));

let alice: TestAccount;
let bob: TestAccount;
let carol: TestAccount;
let dave: TestAccount;

beforeAll(async () => {
  [alice, bob, carol, dave] = await Promise.all([
    testAccount(0, "alice"),
    testAccount(1, "bob"),
    testAccount(2, "carol"),
    testAccount(3, "dave"),
  ]);
});

async function genesis(members?: Member[]): Promise<GroupState> {
  const signed = await GroupState.create(
    CONV,
    groupKind("Case 1"),
    members ?? [alice.member(true), bob.member(false), carol.member(false)],
    alice.master.account,
    alice.device.keys,
    T0,
  );
  return GroupState.genesis(signed, alice.device.verified);
}

async function step(state: GroupState, op: GroupOp, by: TestAccount): Promise<GroupState> {
  const signed = await state.propose(op, by.master.account, by.device.keys, T0 + HOUR);
  return state.apply(signed, by.device.verified);
}

describe("group log (§6)", () => {
  it("builds a log: add, promote, rename, remove", async () => {
    let s = await genesis();
    expect(s.epoch).toBe(0n);
    expect(s.members()).toHaveLength(3);
    expect(s.kind).toBe("group");
    s = await step(s, { type: "add-member", member: dave.member(false) }, alice);
    expect(s.member(dave.master.account)?.sinceEpoch).toBe(1n);
    s = await step(s, { type: "set-admin", account: bob.master.account, admin: true }, alice);
    s = await step(s, { type: "rename", nameCommitment: fakeCommitment("Case 2") }, bob);
    s = await step(s, { type: "remove-member", account: carol.master.account }, alice);
    expect(s.epoch).toBe(4n);
    expect(s.naming).toEqual({ epoch: 3n, commitment: fakeCommitment("Case 2") });
    expect(s.isMember(carol.master.account)).toBe(false);
    expect(s.isAdmin(bob.master.account)).toBe(true);
    expect(s.hashAt(4n)).toEqual(s.head);
    expect(s.hashAt(5n)).toBeUndefined();
  });

  it("chains hashes over the signed wire form", async () => {
    const s = await genesis();
    const signed = await s.propose(
      { type: "rename", nameCommitment: fakeCommitment("Other") },
      alice.master.account,
      alice.device.keys,
      T0,
    );
    const next = await s.apply(signed, alice.device.verified);
    expect(bytesEqual(next.head, await changeHash(signed))).toBe(true);
    expect(bytesEqual(GroupChange.decode(signed.body).previous, s.head)).toBe(true);
    expect(bytesEqual(decodeSignedChange(signed.encode()).body, signed.body)).toBe(true);
  });

  it("lets a non-admin leave but nothing else", async () => {
    const s = await genesis();
    const left = await step(s, { type: "remove-member", account: bob.master.account }, bob);
    expect(left.isMember(bob.master.account)).toBe(false);
    await expectCode(
      () => step(s, { type: "remove-member", account: carol.master.account }, bob),
      "group/signer-not-admin",
    );
    await expectCode(
      () => step(s, { type: "rename", nameCommitment: fakeCommitment("Mine") }, bob),
      "group/signer-not-admin",
    );
    await expectCode(
      () => step(s, { type: "add-member", member: dave.member(false) }, dave),
      "group/signer-not-member",
    );
  });

  it("refuses operations that make no sense", async () => {
    const s = await genesis();
    await expectCode(
      () => step(s, { type: "add-member", member: bob.member(false) }, alice),
      "group/already-member",
    );
    await expectCode(
      () => step(s, { type: "remove-member", account: dave.master.account }, alice),
      "group/not-member",
    );
    await expectCode(
      () => step(s, { type: "set-admin", account: dave.master.account, admin: true }, alice),
      "group/not-member",
    );
    await expectCode(
      () => step(s, { type: "set-admin", account: alice.master.account, admin: true }, alice),
      "group/no-op",
    );
    await expectCode(
      () => step(s, { type: "rename", nameCommitment: fakeCommitment("Case 1") }, alice),
      "group/no-op",
    );
    await expectCode(
      () => step(s, { type: "set-admin", account: alice.master.account, admin: false }, alice),
      "group/last-admin",
    );
    await expectCode(
      () => step(s, { type: "remove-member", account: alice.master.account }, alice),
      "group/last-admin",
    );
    await expectCode(
      () =>
        step(s, { type: "create", kind: groupKind("again"), members: [alice.member(true)] }, alice),
      "group/not-genesis",
    );
    // The last member may leave: an empty group is final.
    const solo = await genesis([alice.member(true)]);
    const empty = await step(solo, { type: "remove-member", account: alice.master.account }, alice);
    expect(empty.members()).toHaveLength(0);
  });

  it("detects replays, forks, gaps and a wrong previous hash", async () => {
    const s0 = await genesis();
    const c1 = await s0.propose(
      { type: "rename", nameCommitment: fakeCommitment("One") },
      alice.master.account,
      alice.device.keys,
      T0,
    );
    const s1 = await s0.apply(c1, alice.device.verified);
    await expectCode(() => s1.apply(c1, alice.device.verified), "group/replayed");
    const other = await s0.propose(
      { type: "rename", nameCommitment: fakeCommitment("Uno") },
      alice.master.account,
      alice.device.keys,
      T0,
    );
    await expectCode(() => s1.apply(other, alice.device.verified), "group/fork");
    // A re-signed copy of the applied change is a different change: a fork, not a replay.
    const resigned = await Signed.sign(c1.body, alice.device.keys.signing);
    await expectCode(() => s1.apply(resigned, alice.device.verified), "group/fork");
    const c2 = await s1.propose(
      { type: "rename", nameCommitment: fakeCommitment("Two") },
      alice.master.account,
      alice.device.keys,
      T0,
    );
    const c3 = await (
      await s1.apply(c2, alice.device.verified)
    ).propose(
      { type: "rename", nameCommitment: fakeCommitment("Three") },
      alice.master.account,
      alice.device.keys,
      T0,
    );
    await expectCode(() => s1.apply(c3, alice.device.verified), "group/epoch-gap");
    const wrongPrevious = GroupChange.encode({
      ...GroupChange.decode(c2.body),
      previous: new Uint8Array(32),
    });
    await expectCode(
      async () =>
        s1.apply(
          await Signed.sign(wrongPrevious, alice.device.keys.signing),
          alice.device.verified,
        ),
      "group/previous-hash-mismatch",
    );
  });

  it("binds the signer device and signature", async () => {
    const s = await genesis();
    const c = await s.propose(
      { type: "rename", nameCommitment: fakeCommitment("X") },
      alice.master.account,
      alice.device.keys,
      T0,
    );
    await expectCode(() => s.apply(c, bob.device.verified), "group/signer-mismatch");
    await expectCode(
      () => s.apply(Signed.fromParts(c.body, flipped(c.signature, 7)), alice.device.verified),
      "bad-signature",
    );
    // Alice's account named with Bob's device (signed by Bob): the device does not match the account.
    const lying = GroupChange.encode({
      ...GroupChange.decode(c.body),
      signerDevice: bob.device.keys.device,
    });
    await expectCode(
      async () => s.apply(await Signed.sign(lying, bob.device.keys.signing), bob.device.verified),
      "group/signer-mismatch",
    );
    const otherConversation = GroupChange.encode({
      ...GroupChange.decode(c.body),
      conversation: ConversationIds.fromBytes(new Uint8Array(16)),
    });
    await expectCode(
      async () =>
        s.apply(
          await Signed.sign(otherConversation, alice.device.keys.signing),
          alice.device.verified,
        ),
      "group/wrong-conversation",
    );
  });

  it("checks the genesis in order", async () => {
    const make = (members: Member[], signerAccount = alice.master.account) =>
      GroupState.create(CONV, groupKind("G"), members, signerAccount, alice.device.keys, T0);
    await expectCode(
      async () => GroupState.genesis(await make([bob.member(true)]), alice.device.verified),
      "group/signer-not-member",
    );
    await expectCode(
      async () => GroupState.genesis(await make([alice.member(false)]), alice.device.verified),
      "group/signer-not-admin",
    );
    await expectCode(
      async () =>
        GroupState.genesis(
          await make([alice.member(true), alice.member(false)]),
          alice.device.verified,
        ),
      "group/already-member",
    );
    const s = await genesis();
    const notCreate = await s.propose(
      { type: "rename", nameCommitment: fakeCommitment("R") },
      alice.master.account,
      alice.device.keys,
      T0,
    );
    await expectCode(
      () => GroupState.genesis(notCreate, alice.device.verified),
      "group/not-genesis",
    );
    const epoch1 = GroupChange.encode({
      ...GroupChange.decode((await make([alice.member(true)])).body),
      epoch: 1n,
    });
    await expectCode(
      async () =>
        GroupState.genesis(
          await Signed.sign(epoch1, alice.device.keys.signing),
          alice.device.verified,
        ),
      "group/not-genesis",
    );
    // A 1:1 lists exactly two members.
    await expectCode(
      async () =>
        GroupState.genesis(
          await GroupState.create(
            CONV,
            { type: "direct" },
            [alice.member(true), bob.member(false), carol.member(false)],
            alice.master.account,
            alice.device.keys,
            T0,
          ),
          alice.device.verified,
        ),
      "group/direct-conversation",
    );
  });

  it("caps members at 1000", async () => {
    const members: Member[] = [alice.member(true)];
    for (let i = 1; i < 1000; i++) {
      const account = new Uint8Array(32);
      new DataView(account.buffer).setUint32(0, i);
      members.push({ account: AccountId.fromBytes(account), admin: false });
    }
    const s = await genesis(members);
    expect(s.members()).toHaveLength(1000);
    await expectCode(
      () => step(s, { type: "add-member", member: bob.member(false) }, alice),
      "group/too-many-members",
    );
  });

  it("a refused change leaves the state as it was", async () => {
    const s = await genesis();
    const before = s.members();
    await expectCode(
      () => step(s, { type: "remove-member", account: alice.master.account }, alice),
      "group/last-admin",
    );
    expect(s.members()).toEqual(before);
    expect(s.epoch).toBe(0n);
  });
});

describe("retention (§6.7) and past membership (§17.2)", () => {
  async function direct(): Promise<GroupState> {
    const signed = await GroupState.create(
      CONV,
      { type: "direct" },
      [alice.member(true), bob.member(false)],
      alice.master.account,
      alice.device.keys,
      T0,
    );
    return GroupState.genesis(signed, alice.device.verified);
  }

  it("an admin sets the retention; before any, the server default applies", async () => {
    let s = await genesis();
    expect(s.retention).toBeUndefined();
    expect(s.retentionOr(86_400n)).toBe(86_400n);
    s = await step(s, { type: "set-retention", seconds: 604_800n }, alice);
    expect(s.retention).toBe(604_800n);
    expect(s.retentionOr(86_400n)).toBe(604_800n);
    s = await step(s, { type: "set-retention", seconds: 0n }, alice);
    expect(s.retention).toBe(0n);
    const restored = GroupState.restore(s.snapshot());
    expect(restored.retention).toBe(0n);
  });

  it("a member who is not an admin cannot set a group's retention", async () => {
    const s = await genesis();
    await expectCode(
      () => step(s, { type: "set-retention", seconds: 3_600n }, bob),
      "group/signer-not-admin",
    );
  });

  it("either member of a 1:1 may set its retention", async () => {
    let s = await direct();
    s = await step(s, { type: "set-retention", seconds: 300n }, bob);
    expect(s.retention).toBe(300n);
    s = await step(s, { type: "set-retention", seconds: 600n }, alice);
    expect(s.retention).toBe(600n);
  });

  it("setting the current retention again is a no-op", async () => {
    let s = await genesis();
    s = await step(s, { type: "set-retention", seconds: 60n }, alice);
    await expectCode(() => step(s, { type: "set-retention", seconds: 60n }, alice), "group/no-op");
  });

  it("retention values outside 0 and 60..315360000 are refused both ways", async () => {
    const s = await genesis();
    for (const seconds of [1n, 59n, 315_360_001n]) {
      await expectCode(
        () =>
          s.propose(
            { type: "set-retention", seconds },
            alice.master.account,
            alice.device.keys,
            T0,
          ),
        "invalid-input",
      );
    }
    const ok = await s.propose(
      { type: "set-retention", seconds: 315_360_000n },
      alice.master.account,
      alice.device.keys,
      T0,
    );
    const body = ok.body.slice();
    // The u64 is the last 8 bytes of the body: 315360000 + 1.
    body[body.length - 1] = (body[body.length - 1] ?? 0) + 1;
    expect(() => GroupChange.decode(body)).toThrowError(/decode\/invalid-value/);
    body.set(new Uint8Array(8).fill(0), body.length - 8);
    body[body.length - 1] = 59;
    expect(() => GroupChange.decode(body)).toThrowError(/decode\/invalid-value/);
    body[body.length - 1] = 0;
    expect(GroupChange.decode(body).op).toEqual({ type: "set-retention", seconds: 0n });
  });

  it("remembers who was a member at each epoch, removed members included", async () => {
    let s = await genesis([alice.member(true), bob.member(false)]);
    s = await step(s, { type: "add-member", member: carol.member(false) }, alice); // 1
    s = await step(s, { type: "remove-member", account: bob.master.account }, alice); // 2
    s = await step(s, { type: "add-member", member: bob.member(false) }, alice); // 3
    s = await step(s, { type: "remove-member", account: carol.master.account }, carol); // 4
    const b = bob.master.account;
    const c = carol.master.account;
    expect([0n, 1n, 2n, 3n, 4n].map((e) => s.wasMemberAt(b, e))).toEqual([
      true,
      true,
      false,
      true,
      true,
    ]);
    expect([0n, 1n, 2n, 3n, 4n].map((e) => s.wasMemberAt(c, e))).toEqual([
      false,
      true,
      true,
      true,
      false,
    ]);
    expect(s.wasMemberAt(dave.master.account, 0n)).toBe(false);
    expect(s.wasMemberAt(b, 5n)).toBe(false);
    const restored = GroupState.restore(s.snapshot());
    expect([0n, 1n, 2n, 3n, 4n].map((e) => restored.wasMemberAt(c, e))).toEqual([
      false,
      true,
      true,
      true,
      false,
    ]);
  });

  it("a message is past retention once sent_at + retention has passed; 0 keeps it", () => {
    expect(isPastRetention(T0, 60n, T0 + 59_999n)).toBe(false);
    expect(isPastRetention(T0, 60n, T0 + 60_000n)).toBe(true);
    expect(isPastRetention(T0, 0n, T0 + 1_000_000_000_000n)).toBe(false);
  });
});
