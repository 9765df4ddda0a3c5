/**
 * "Waiting" and "refused" (`outbox.ts`): what can be foreseen is refused before anything is
 * sealed, so it never uses a chain index and recipients see no gap; what waits is sent later with
 * the same sealed bytes, keeping its index; what the server refuses for good says why.
 */

import { describe, expect, it } from "vitest";

import { AccountId, DeviceId } from "../../crypto";
import { testAccount } from "../../crypto/test-support";
import { ApiError } from "../api";
import { BlockedError } from "./outbox";
import {
  aliceAndBob,
  createConversation,
  dateFrozenAtT0,
  deliver,
  directoryView,
  newRelay,
  pair,
  settle,
  shownOf,
  side,
  until,
} from "./test-world";

dateFrozenAtT0();
const [alice, bob] = await aliceAndBob();

describe("refused before sealing", () => {
  it("a body over 64 KiB throws in words, queues and seals nothing, and leaves no gap", async () => {
    const { relay, a, b, conv } = await pair(alice, bob, "too-long");
    const text = "x".repeat(200_000);
    await expect(a.messaging.send(conv, { type: "text", text })).rejects.toThrow(
      "Message too long: 200,000 characters, the limit is 65,536 bytes",
    );
    expect(a.messaging.outbox).toEqual([]);
    expect(shownOf(a, conv).filter((m) => m.mine)).toEqual([]);
    // No chain was even started for it.
    expect(await a.store.get(`chain:${conv}`)).toBeUndefined();
    const ok = await a.messaging.send(conv, { type: "text", text: "short one" });
    await settle(a);
    deliver(relay, b);
    await settle(b);
    const received = shownOf(b, conv);
    expect(received.map((m) => [m.id, m.content.type, m.index])).toEqual([[ok, "text", 0]]);
  });

  it("a conversation this account was removed from takes nothing more", async () => {
    const { a, b, conv } = await pair(alice, bob, "removed");
    await b.convs.sync(conv);
    await a.convs.change(
      conv,
      { type: "remove-member", account: bob.master.account },
      { account: alice.master.account, keys: alice.device.keys, device: alice.device.verified },
      BigInt(Date.now()),
    );
    await b.convs.sync(conv);
    await expect(b.messaging.send(conv, { type: "text", text: "hello?" })).rejects.toThrow(
      "You are no longer a member of this conversation",
    );
    expect(b.messaging.outbox).toEqual([]);
    expect(shownOf(b, conv).filter((m) => m.mine)).toEqual([]);
  });

  it("a member whose identity changed blocks sending before anything is sealed", async () => {
    const impostor = await testAccount(3, "alice");
    const relay = newRelay([alice, bob]);
    const b = await side(relay, bob, "identity-bob");
    // The server showed bob another account as "alice" first: alice's own account is then a
    // changed identity on bob's side.
    relay.lies = new Map([
      [DeviceId.toText(bob.device.keys.device), new Map([["alice", directoryView(impostor)]])],
    ]);
    await b.directory.contact("alice");
    delete relay.lies;
    const conv = await createConversation(b, [alice]);
    await b.directory.contact(AccountId.toText(alice.master.account), true);
    await expect(b.messaging.send(conv, { type: "text", text: "hi" })).rejects.toBeInstanceOf(
      BlockedError,
    );
    expect(b.messaging.outbox).toEqual([]);
    expect(shownOf(b, conv).filter((m) => m.mine)).toEqual([]);
    expect(await b.store.get(`chain:${conv}`)).toBeUndefined();
  });
});

describe("waiting and refused", () => {
  it("a message that waits keeps its chain index when it is sent: the recipient sees no gap", async () => {
    const { relay, a, b, conv } = await pair(alice, bob, "waits");
    relay.postsDown = true;
    const first = await a.messaging.send(conv, { type: "text", text: "queued" });
    const status = (id: string) => shownOf(a, conv).find((m) => m.id === id)?.status;
    await until(() => {
      expect(status(first)).toBe("waiting");
    });
    expect(a.messaging.outbox.find((o) => o.messageId === first)?.wire).toBeDefined();
    const sealed = a.messaging.outbox.find((o) => o.messageId === first)?.wire;
    relay.postsDown = false;
    await a.messaging.retry(conv, first);
    await until(() => {
      expect(status(first)).toBe("sent");
    });
    // The relay throws on a retry with other bytes; the stored copy is the first sealing.
    expect(relay.stored.get(first)).toBe(sealed);
    const second = await a.messaging.send(conv, { type: "text", text: "after" });
    await settle(a);
    deliver(relay, b);
    await settle(b);
    expect(shownOf(b, conv).map((m) => [m.id, m.content.type, m.index])).toEqual([
      [first, "text", 0],
      [second, "text", 1],
    ]);
  });

  it("a message the server refuses for good says why, waits for nothing, and can be dismissed", async () => {
    const { relay, a, conv } = await pair(alice, bob, "refused");
    relay.rejectPosts = new ApiError("not_found", 404, "not a member");
    const id = await a.messaging.send(conv, { type: "text", text: "too late" });
    const mine = () => shownOf(a, conv).find((m) => m.id === id);
    await until(() => {
      expect(mine()?.status).toBe("refused");
    });
    expect(mine()?.refusal).toBe("you are no longer a member of this conversation");
    expect(a.messaging.outbox.filter((o) => o.kind === "message")).toEqual([]);
    await a.messaging.dismissRefused(conv, id);
    expect(mine()).toBeUndefined();
    expect(AccountId.toText(alice.master.account)).toBe(a.keys.record.account);
  });

  it("a record an earlier version stored as failed loads as refused or waiting", async () => {
    const { relay, a, conv } = await pair(alice, bob, "failed-upgrade");
    relay.rejectPosts = new ApiError("too_large", 413, "too large");
    const refused = await a.messaging.send(conv, { type: "text", text: "refused" });
    const status = (id: string) => shownOf(a, conv).find((m) => m.id === id)?.status;
    await until(() => {
      expect(status(refused)).toBe("refused");
    });
    delete relay.rejectPosts;
    relay.postsDown = true;
    const waiting = await a.messaging.send(conv, { type: "text", text: "waiting" });
    await until(() => {
      expect(status(waiting)).toBe("waiting");
    });
    a.messaging.stop();
    // As the earlier version stored them: one word for both.
    const rec = a.convs.records.get(conv);
    if (rec === undefined) throw new Error("no record");
    rec.messages = rec.messages.map((m) =>
      m.mine ? ({ ...m, status: "failed" } as unknown as typeof m) : m,
    );
    await a.convs.save(conv);
    const again = await side(relay, alice, "failed-upgrade-alice", a.store);
    const after = (id: string) => shownOf(again, conv).find((m) => m.id === id);
    expect(after(refused)?.status).toBe("refused");
    expect(after(refused)?.refusal).toBe("refused by the server");
    expect(after(waiting)?.status).toBe("waiting");
    again.messaging.stop();
  });
});
