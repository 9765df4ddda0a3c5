/**
 * Timeline events from the verified group log (`events.ts`), the removed/left state, and the
 * last-admin rule of leaving (`groupops.ts`).
 */

import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

import { AccountId, NAME_SALT_LEN, systemRandom } from "../../crypto";
import { T0, type TestAccount, groupKind, testAccount } from "../../crypto/test-support";
import type { Signer } from "./conversations";
import { removalOf } from "./events";
import { CHOOSE_ADMIN, leavePlan } from "./groupops";
import type { TimelineEvent } from "./model";
import { type Side, createConversation, newRelay, side } from "./test-world";
import { messageView } from "./view";

let alice: TestAccount;
let bob: TestAccount;
let carol: TestAccount;

beforeAll(async () => {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(Number(T0));
  [alice, bob, carol] = await Promise.all([
    testAccount(0, "alice"),
    testAccount(1, "bob"),
    testAccount(2, "carol"),
  ]);
});

afterAll(() => {
  vi.useRealTimers();
});

function signer(a: TestAccount): Signer {
  return { account: a.master.account, keys: a.device.keys, device: a.device.verified };
}

const id = (a: TestAccount) => AccountId.toText(a.master.account);

/** The events `s` shows for `conv`, with usernames, oldest first. */
function events(s: Side, conv: string): TimelineEvent[] {
  const names = new Map([
    [id(alice), "alice"],
    [id(bob), "bob"],
    [id(carol), "carol"],
  ]);
  const rec = s.convs.records.get(conv);
  return (rec?.messages ?? []).flatMap((m) => {
    const v = messageView(m, {
      me: s.keys.record.account,
      name: (a) => names.get(a) ?? a,
      find: () => undefined,
      nameAt: (epoch) => s.convs.nameAt(conv, epoch),
    });
    return v.content.type === "event" ? [v.content.event] : [];
  });
}

function later(): bigint {
  vi.setSystemTime(Date.now() + 1000);
  return BigInt(Date.now());
}

describe("timeline events", () => {
  it("every verified change shows once, in order, with names; a rename with its name once known", async () => {
    const relay = newRelay([alice, bob, carol]);
    const a = await side(relay, alice, "ev-alice");
    const b = await side(relay, bob, "ev-bob");
    const c = await side(relay, carol, "ev-carol");
    const conv = await createConversation(a, [bob], groupKind("team"));
    const op = (o: Parameters<Side["convs"]["change"]>[1]) =>
      a.convs.change(conv, o, signer(alice), later());
    await op({ type: "add-member", member: carol.member(false) });
    await a.convs.rename(conv, "Launch", signer(alice), later(), systemRandom(NAME_SALT_LEN));
    await op({ type: "set-admin", account: bob.master.account, admin: true });
    await op({ type: "set-retention", seconds: 3600n });
    await op({ type: "remove-member", account: carol.master.account });
    const expected: TimelineEvent[] = [
      { kind: "created", actor: "alice" },
      { kind: "added", actor: "alice", subject: "carol" },
      { kind: "renamed", actor: "alice" },
      { kind: "admin-granted", actor: "alice", subject: "bob" },
      { kind: "retention", actor: "alice", seconds: 3600 },
      { kind: "removed", actor: "alice", subject: "carol" },
    ];
    await b.convs.sync(conv);
    expect(events(b, conv)).toEqual(expected);
    // Alice chose the name, so her device shows it; bob's once the name body arrives.
    expect(events(a, conv)[2]).toEqual({ kind: "renamed", actor: "alice", name: "Launch" });
    const name = a.convs.records.get(conv)?.name;
    if (name === undefined) throw new Error("no name");
    await b.convs.acceptName(conv, { ...name, salt: new Uint8Array(name.salt) });
    expect(events(b, conv)[2]).toEqual({ kind: "renamed", actor: "alice", name: "Launch" });
    // Verified again (a second sync): nothing is shown twice.
    await b.convs.sync(conv);
    expect(events(b, conv)).toHaveLength(expected.length);
    // Carol verifies the log up to her removal: she knows she was removed, and by whom.
    await c.convs.sync(conv);
    expect(removalOf(c.convs.records.get(conv)?.messages ?? [], id(carol))).toEqual({
      by: id(alice),
      left: false,
    });
    expect(c.convs.state(conv)?.isMember(carol.master.account)).toBe(false);
    // Bob leaves (he is an admin, and alice still is one): he left, nobody removed him.
    await b.convs.change(
      conv,
      { type: "remove-member", account: bob.master.account },
      signer(bob),
      later(),
    );
    expect(events(b, conv).at(-1)).toEqual({ kind: "left", actor: "bob" });
    expect(removalOf(b.convs.records.get(conv)?.messages ?? [], id(bob))).toEqual({ left: true });
    expect(removalOf(a.convs.records.get(conv)?.messages ?? [], id(alice))).toBeUndefined();
  });
});

describe("a group-log fetch racing this device's own changes", () => {
  it("neither loses the name this device just chose nor goes back to an older state", async () => {
    const relay = newRelay([alice, bob]);
    const a = await side(relay, alice, "race-alice");
    const conv = await createConversation(a, [bob], groupKind("team"));
    const made = a.convs.records.get(conv);
    if (made === undefined) throw new Error("no record");
    // A `conversation` frame for the new group arrives before the creation has returned: the
    // fetch starts with no record, and the creation (with its name) lands while it runs.
    a.convs.records.delete(conv);
    const fetching = a.convs.sync(conv);
    a.convs.records.set(conv, {
      ...made,
      name: { epoch: 0n, salt: new Uint8Array(32), name: "team" },
    });
    expect(await fetching).toBe(false);
    expect(a.convs.records.get(conv)?.name?.name).toBe("team");
    // A fetch that verified an older log than a change made here meanwhile keeps the newer.
    const stale = a.convs.sync(conv);
    await a.convs.change(
      conv,
      { type: "add-member", member: carol.member(false) },
      signer(alice),
      later(),
    );
    await stale;
    expect(a.convs.state(conv)?.isMember(carol.master.account)).toBe(true);
  });
});

describe("leaving (§6.3)", () => {
  const [me, x, y] = ["acct:me", "acct:x", "acct:y"];

  it("the last admin names a member to promote first, or is told to choose one", () => {
    const members = [
      { account: me, admin: true },
      { account: x, admin: false },
      { account: y, admin: false },
    ];
    expect(() => leavePlan(members, me, undefined)).toThrow(CHOOSE_ADMIN);
    expect(() => leavePlan(members, me, "acct:stranger")).toThrow(CHOOSE_ADMIN);
    expect(leavePlan(members, me, x)).toEqual({ promote: x });
  });

  it("another admin, no one else, or not being an admin: leaving takes nothing first", () => {
    expect(
      leavePlan(
        [
          { account: me, admin: true },
          { account: x, admin: true },
        ],
        me,
        undefined,
      ),
    ).toEqual({});
    expect(leavePlan([{ account: me, admin: true }], me, undefined)).toEqual({});
    expect(
      leavePlan(
        [
          { account: me, admin: false },
          { account: x, admin: true },
        ],
        me,
        undefined,
      ),
    ).toEqual({});
  });
});
