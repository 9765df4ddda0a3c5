/**
 * Replies, mentions, edits, deletes and reactions (`docs/protocol.md` §8.4–§8.6) between two
 * devices over the in-memory relay, and the pure rules of `amend.ts`.
 */

import { describe, expect, it, vi } from "vitest";

import { AccountId, DeviceId, MessageId, systemRandom } from "../../crypto";
import { type Amendment, MAX_PENDING, PENDING_MS, applyAmendment, applyPending } from "./amend";
import type { StoredMessage } from "./stored";
import {
  type Side,
  aliceAndBob,
  dateFrozenAtT0,
  deliver,
  newRelay,
  pair,
  settle,
  shownOf,
  until,
} from "./test-world";
import { messageView } from "./view";

dateFrozenAtT0();
const [alice, bob] = await aliceAndBob();

/** How `s` shows a message of `conv`: as the UI gets it. */
function view(s: Side, conv: string, id: string) {
  const messages = shownOf(s, conv);
  const m = messages.find((x) => x.id === id);
  if (m === undefined) throw new Error(`no message ${id}`);
  return messageView(m, {
    me: s.keys.record.account,
    name: (a) => (a === AccountId.toText(alice.master.account) ? "alice" : "bob"),
    find: (x) => messages.find((y) => y.id === x),
  });
}

/** The ids of the content messages `s` holds for `conv` (amendments are never messages). */
function ids(s: Side, conv: string): string[] {
  return shownOf(s, conv)
    .filter((m) => m.content.type === "text" || m.content.type === "attachment")
    .map((m) => m.id);
}

/** Advances the clock so each message gets a later `sent_at`. */
function tick(ms = 1000): void {
  vi.setSystemTime(Date.now() + ms);
}

async function exchange(relay: ReturnType<typeof newRelay>, from: Side, to: Side): Promise<void> {
  await settle(from);
  deliver(relay, to);
  await settle(to);
}

describe("replies and mentions (§8.4)", () => {
  it("a reply quotes its target as it is now; a mention marks it for the one mentioned only", async () => {
    const { relay, a, b, conv } = await pair(alice, bob, "reply");
    const first = await a.messaging.send(conv, { type: "text", text: "lunch at noon?" });
    tick();
    const bobAccount = AccountId.toText(bob.master.account);
    const reply = await a.messaging.send(conv, {
      type: "message",
      text: "@bob see above",
      replyTo: first,
      mentions: [bobAccount],
    });
    await exchange(relay, a, b);
    const shown = view(b, conv, reply);
    expect(shown.content).toEqual({ type: "text", text: "@bob see above" });
    expect(shown.replyTo).toEqual({
      id: first,
      state: "available",
      fromUsername: "alice",
      preview: "lunch at noon?",
    });
    expect(shown.mentions).toEqual([bobAccount]);
    expect(shown.mentionsMe).toBe(true);
    expect(b.convs.records.get(conv)?.mentions).toBe(1);
    expect(b.convs.records.get(conv)?.unread).toBe(2);
    // Alice's own copy mentions bob, not her.
    expect(view(a, conv, reply).mentionsMe).toBe(false);
    // Read: the mention count goes with the unread count, and the marker names the first.
    await b.messaging.markRead(conv);
    expect(b.convs.records.get(conv)?.mentions).toBe(0);
    expect(b.convs.records.get(conv)?.firstUnread).toBe(first);
  });

  it("a reply to a message this device does not hold shows it as missing, never refused", async () => {
    const { relay, a, b, conv } = await pair(alice, bob, "reply-missing");
    const unknown = MessageId.toText(MessageId.fromBytes(systemRandom(16)));
    const reply = await a.messaging.send(conv, {
      type: "message",
      text: "about that",
      replyTo: unknown,
      mentions: [],
    });
    await exchange(relay, a, b);
    expect(view(b, conv, reply).replyTo).toEqual({ id: unknown, state: "missing" });
  });
});

describe("edits and deletes (§8.5)", () => {
  it("an edit replaces the text for both sides and keeps the earlier text; not a message itself", async () => {
    const { relay, a, b, conv } = await pair(alice, bob, "edit");
    const id = await a.messaging.send(conv, { type: "text", text: "teh plan" });
    await exchange(relay, a, b);
    tick();
    await a.messaging.amend(conv, { type: "edit", target: id, text: "the plan", mentions: [] });
    // Applied here at once, before it is even sent.
    expect(view(a, conv, id).content).toEqual({ type: "text", text: "the plan" });
    await exchange(relay, a, b);
    const shown = view(b, conv, id);
    expect(shown.content).toEqual({ type: "text", text: "the plan" });
    expect(shown.edits).toEqual([{ text: "teh plan", sentAt: view(a, conv, id).sentAt }]);
    expect(ids(b, conv)).toEqual([id]);
    expect(b.convs.records.get(conv)?.unread).toBe(1);
  });

  it("of two edits the later (sent_at, id) shows, whatever order they arrive in", async () => {
    const { relay, a, b, conv } = await pair(alice, bob, "edit-order");
    const id = await a.messaging.send(conv, { type: "text", text: "v1" });
    await exchange(relay, a, b);
    tick();
    await a.messaging.amend(conv, { type: "edit", target: id, text: "v2", mentions: [] });
    tick();
    await a.messaging.amend(conv, { type: "edit", target: id, text: "v3", mentions: [] });
    await settle(a);
    // The later edit first.
    const frames = relay.inbox.get(DeviceId.toText(bob.device.keys.device)) ?? [];
    expect(frames).toHaveLength(2);
    frames.reverse();
    deliver(relay, b);
    await settle(b);
    expect(view(b, conv, id).content).toEqual({ type: "text", text: "v3" });
    expect(view(b, conv, id).edits?.map((e) => e.text)).toEqual(["v1", "v2"]);
  });

  it("a forged edit of someone else's message is refused (message/not-author) and counted", async () => {
    const { relay, a, b, conv } = await pair(alice, bob, "forged");
    const id = await a.messaging.send(conv, { type: "text", text: "I owe bob 10" });
    await exchange(relay, a, b);
    // Bob's client refuses it before sealing...
    await expect(
      b.messaging.amend(conv, { type: "edit", target: id, text: "I owe bob 1000", mentions: [] }),
    ).rejects.toThrow("only edit your own");
    // ...so a forger sends the body itself.
    await b.messaging.send(conv, {
      type: "edit",
      target: id,
      text: "I owe bob 1000",
      mentions: [],
    });
    const before = a.messaging.undecryptable;
    await exchange(relay, b, a);
    expect(view(a, conv, id).content).toEqual({ type: "text", text: "I owe bob 10" });
    expect(view(a, conv, id).edits).toBeUndefined();
    expect(a.messaging.undecryptable).toBe(before + 1);
  });

  it("a delete removes the text, edits and reactions on both sides and keeps author and time", async () => {
    const { relay, a, b, conv } = await pair(alice, bob, "delete");
    const id = await a.messaging.send(conv, { type: "text", text: "secret plan" });
    const sentAt = Date.now();
    await exchange(relay, a, b);
    tick();
    await b.messaging.amend(conv, { type: "reaction", target: id, emoji: "👍", added: true });
    await exchange(relay, b, a);
    tick();
    await a.messaging.amend(conv, {
      type: "edit",
      target: id,
      text: "secret plan v2",
      mentions: [],
    });
    tick();
    await a.messaging.amend(conv, { type: "delete", target: id });
    await exchange(relay, a, b);
    for (const s of [a, b]) {
      const shown = view(s, conv, id);
      expect(shown.deleted).toBe(true);
      expect(shown.content).toEqual({ type: "text", text: "" });
      expect(shown.reactions).toEqual([]);
      expect(shown.edits).toBeUndefined();
      expect(shown.fromUsername).toBe("alice");
      expect(shown.sentAt).toBe(sentAt);
      // Nothing of the text is left in the stored record.
      const rec = s.convs.records.get(conv);
      expect(JSON.stringify([rec?.messages, rec?.pending])).not.toContain("secret plan");
    }
    // Reactions to a deleted message are dropped.
    tick();
    await b.messaging.send(conv, { type: "reaction", target: id, emoji: "🎉", added: true });
    await exchange(relay, b, a);
    expect(view(a, conv, id).reactions).toEqual([]);
  });

  it("an edit that arrives before its target waits and is applied once the target is committed", async () => {
    const { relay, a, b, conv } = await pair(alice, bob, "pending");
    const id = await a.messaging.send(conv, { type: "text", text: "draft" });
    tick();
    await a.messaging.amend(conv, { type: "edit", target: id, text: "final", mentions: [] });
    await settle(a);
    // The distribution and the edit only; the target stays on the relay.
    deliver(relay, b, (f) => f.message_id !== id);
    await settle(b);
    expect(ids(b, conv)).toEqual([]);
    expect(b.convs.records.get(conv)?.pending).toHaveLength(1);
    deliver(relay, b);
    await settle(b);
    expect(view(b, conv, id).content).toEqual({ type: "text", text: "final" });
    expect(b.convs.records.get(conv)?.pending).toEqual([]);
  });
});

describe("reactions (§8.6)", () => {
  it("shows each reaction with who gave it; taking it back removes it", async () => {
    const { relay, a, b, conv } = await pair(alice, bob, "react");
    const id = await a.messaging.send(conv, { type: "text", text: "shipped!" });
    await exchange(relay, a, b);
    tick();
    await b.messaging.amend(conv, { type: "reaction", target: id, emoji: "🎉", added: true });
    await a.messaging.amend(conv, { type: "reaction", target: id, emoji: "🎉", added: true });
    await exchange(relay, b, a);
    await until(() => {
      expect(view(a, conv, id).reactions).toEqual([
        {
          emoji: "🎉",
          accounts: [AccountId.toText(alice.master.account), AccountId.toText(bob.master.account)],
          usernames: ["alice", "bob"],
          mine: true,
        },
      ]);
    });
    tick();
    await b.messaging.amend(conv, { type: "reaction", target: id, emoji: "🎉", added: false });
    await exchange(relay, b, a);
    expect(view(a, conv, id).reactions.map((r) => r.usernames)).toEqual([["alice"]]);
    expect(ids(a, conv)).toEqual([id]);
  });
});

describe("the rules of amend.ts", () => {
  const me = `acct:${"a".repeat(64)}`;
  const other = `acct:${"b".repeat(64)}`;
  const conv = `conv:${"1".repeat(32)}`;
  const elsewhere = `conv:${"2".repeat(32)}`;
  const mid = (n: number) => `msg:${n.toString(16).padStart(32, "0")}`;
  const target: StoredMessage = {
    id: mid(1),
    from: me,
    fromUsername: "me",
    mine: true,
    sentAt: 100,
    receivedAt: 100,
    content: { type: "text", text: "hi" },
  };
  const edit = (n: number, from: string, sentAt: number, text: string): Amendment => ({
    kind: "edit",
    id: mid(n),
    from,
    sentAt,
    receivedAt: sentAt,
    target: mid(1),
    text,
    mentions: [],
  });

  it("refuses an amendment naming a message of another conversation (message/wrong-target)", () => {
    const rec = { id: conv, messages: [] as StoredMessage[] };
    const outcome = applyAmendment(
      rec,
      edit(2, me, 200, "x"),
      { conv: elsewhere, message: target },
      0,
    );
    expect(outcome).toBe("message/wrong-target");
    expect(rec.messages).toEqual([]);
  });

  it("refuses an amendment naming something that is not a content message", () => {
    const event: StoredMessage = {
      ...target,
      content: { type: "event", event: { kind: "created", actor: me } },
    };
    const rec = { id: conv, messages: [event] };
    expect(applyAmendment(rec, edit(2, me, 200, "x"), undefined, 0)).toBe("message/wrong-target");
  });

  it("refuses an edit from another account (message/not-author) but takes its reaction", () => {
    const rec = { id: conv, messages: [target] };
    expect(applyAmendment(rec, edit(2, other, 200, "x"), undefined, 0)).toBe("message/not-author");
    const reaction: Amendment = {
      kind: "reaction",
      id: mid(3),
      from: other,
      sentAt: 200,
      receivedAt: 200,
      target: mid(1),
      emoji: "👍",
      added: true,
    };
    expect(applyAmendment(rec, reaction, undefined, 0)).toBe("applied");
  });

  it("keeps at most 1000 waiting amendments per conversation, for at most 30 days", () => {
    const rec: { id: string; messages: StoredMessage[]; pending?: Amendment[] } = {
      id: conv,
      messages: [],
    };
    for (let i = 0; i < MAX_PENDING + 5; i++)
      expect(applyAmendment(rec, edit(10 + i, me, i, `t${i}`), undefined, i)).toBe("pending");
    expect(rec.pending).toHaveLength(MAX_PENDING);
    // The oldest went first.
    expect(rec.pending?.[0]?.id).toBe(mid(15));
    // Past 30 days, none is applied.
    rec.messages.push(target);
    expect(applyPending(rec, mid(1), PENDING_MS + MAX_PENDING + 10)).toEqual([]);
    expect(rec.messages[0]?.edits).toBeUndefined();
  });

  it("applies waiting amendments only when their target is committed, by (sent_at, id)", () => {
    const rec: { id: string; messages: StoredMessage[]; pending?: Amendment[] } = {
      id: conv,
      messages: [],
    };
    applyAmendment(rec, edit(3, me, 300, "later"), undefined, 0);
    applyAmendment(rec, edit(2, me, 300, "earlier id"), undefined, 0);
    expect(rec.messages).toEqual([]);
    rec.messages.push(target);
    expect(applyPending(rec, mid(1), 1)).toEqual(["applied", "applied"]);
    expect(rec.messages[0]?.edits?.map((e) => e.text)).toEqual(["earlier id", "later"]);
  });
});
