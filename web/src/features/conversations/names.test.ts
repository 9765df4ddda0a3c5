/** Names in the list: 1:1 under the person, groups with a members line that tells them apart. */

import { describe, expect, it } from "vitest";

import type { ConversationView, MemberView } from "../../lib/engine/model";
import { filterConversations } from "./Switcher";
import { byActivity, displayName, membersLine } from "./names";

const member = (n: string): MemberView => ({
  account: `acct:${n}`,
  username: n,
  admin: false,
  trust: "unverified",
});

function conv(
  id: string,
  name: string,
  members: string[],
  direct = false,
  at = 0,
): ConversationView {
  return {
    id,
    name,
    direct,
    members: members.map(member),
    epoch: 1,
    messages: [],
    unread: 0,
    typing: [],
    blockedBy: [],
    amAdmin: false,
    canSetRetention: false,
    retention: undefined,
    history: { more: false, loading: false },
    mentions: 0,
    lastActivity: at,
  };
}

describe("conversation names", () => {
  it("a 1:1 is shown under the other person's name", () => {
    expect(displayName(conv("c1", "whatever", ["me", "alice"], true), "acct:me")).toBe("alice");
  });

  it("two groups with the same name differ by their members line", () => {
    const a = conv("c1", "Team", ["me", "alice", "bob", "carol", "dan", "erin"]);
    const b = conv("c2", "Team", ["me", "frank"]);
    expect(membersLine(a, "acct:me")).toBe("alice, bob, +3");
    expect(membersLine(b, "acct:me")).toBe("frank");
    expect(membersLine(conv("c3", "Solo", ["me"]), "acct:me")).toBe("Only you");
  });

  it("the list and the switcher show the most recent first", () => {
    const list = [conv("old", "A", ["me"], false, 1), conv("new", "B", ["me"], false, 5)];
    expect(byActivity(list).map((c) => c.id)).toEqual(["new", "old"]);
  });

  it("the switcher matches every word against the name and the members", () => {
    const list = [
      conv("c1", "Design", ["me", "alice", "bob"]),
      conv("c2", "Ops", ["me", "carol"]),
      conv("c3", "x", ["me", "alice"], true),
    ];
    const ids = (q: string) => filterConversations(list, q, "acct:me").map((c) => c.id);
    expect(ids("design")).toEqual(["c1"]);
    expect(ids("ALICE")).toEqual(["c1", "c3"]);
    expect(ids("alice bob")).toEqual(["c1"]);
    expect(ids("zzz")).toEqual([]);
    expect(ids("")).toEqual(["c1", "c2", "c3"]);
  });
});
