/**
 * A list item's accessible name holds everything the row shows, in the order shown (what axe's
 * label-content rule asks), and ends with the unread count; 1:1s carry the other person's name.
 */

import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";

import type { ConversationView, MemberView } from "../../lib/engine/model";
import { ConversationList } from "./ConversationList";

const member = (n: string): MemberView => ({
  account: `acct:${n}`,
  username: n,
  admin: false,
  trust: "unverified",
});

const base: ConversationView = {
  id: "conv:1",
  name: "Team",
  direct: false,
  members: ["me", "alice", "bob", "carol"].map(member),
  epoch: 1,
  messages: [],
  unread: 2,
  typing: [],
  blockedBy: [],
  amAdmin: false,
  canSetRetention: false,
  retention: undefined,
  history: { more: false, loading: false },
  mentions: 1,
  preview: "alice: lunch?",
};

function render(conv: ConversationView): { label: string; text: string } {
  const html = renderToStaticMarkup(
    <ConversationList conversations={[conv]} selected={undefined} me="acct:me" />,
  );
  const label = /aria-label="([^"]*)"/.exec(html)?.[1] ?? "";
  const text = html
    .replace(/<a [^>]*>/, "")
    .replace(/<[^>]+>/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  return { label, text };
}

describe("conversation list items", () => {
  it("name who, the members, the last message and the unread count, in the order shown", () => {
    const { label, text } = render(base);
    expect(label).toBe("Team, alice, bob, +1, alice: lunch?, 2 unread, mentions you");
    const words = (s: string) => s.replace(/[^\p{L}\p{N}]+/gu, " ").trim();
    // The row's words (the count "2" included, the "@" badge a symbol) run on inside the name.
    expect(words(label)).toContain(words(text));
  });

  it("a 1:1 is listed under the other person's name, without a members line", () => {
    const { label } = render({
      ...base,
      direct: true,
      name: "whatever",
      members: ["me", "alice"].map(member),
      unread: 0,
      mentions: 0,
    });
    expect(label).toBe("alice, alice: lunch?");
  });
});
