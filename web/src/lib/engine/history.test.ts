import { describe, expect, it } from "vitest";

import type { ArchivedEnvelope, HistoryPage } from "../schemas";
import { type ArchiveHost, type ArchiveOutcome, HistoryArchive } from "./history";
import type { StoredMessage } from "./stored";

function msg(id: string, sentAt: number): StoredMessage {
  return {
    id,
    from: "acct:b",
    fromUsername: "bob",
    mine: false,
    sentAt,
    receivedAt: sentAt,
    content: { type: "text", text: id },
  };
}

/** An archive of `n` envelopes, seq 1..n, message `m<seq>` sent at seq seconds. */
function world(n: number, retention = 0) {
  const messages: StoredMessage[] = [];
  const asked: (number | undefined)[] = [];
  let saves = 0;
  const host: ArchiveHost = {
    fetch(_conv, before, limit): Promise<HistoryPage> {
      asked.push(before);
      const top = before === undefined ? n : before - 1;
      const envelopes: ArchivedEnvelope[] = [];
      for (let s = top; s >= 1 && envelopes.length < limit; s--)
        envelopes.push({ seq: s, envelope: "", received_at: s * 1000 });
      return Promise.resolve({ envelopes, more: (envelopes.at(-1)?.seq ?? 1) > 1 });
    },
    open(_conv, a): Promise<ArchiveOutcome> {
      if (a.seq % 10 === 0)
        return Promise.resolve({ kind: "skipped", code: "receive/unknown-chain" });
      return Promise.resolve({ kind: "message", message: msg(`m${String(a.seq)}`, a.seq * 1000) });
    },
    messages: () => messages,
    retention: () => retention,
    amend: () => undefined,
    save: () => {
      saves += 1;
      return Promise.resolve();
    },
    changed: () => undefined,
  };
  return { host, messages, asked, saves: () => saves };
}

describe("history archive", () => {
  it("pages back from the newest, adds each message once in order, and stops when the server has no more", async () => {
    const w = world(150);
    // A message that arrived live is in the list already.
    w.messages.push(msg("m149", 149_000));
    const archive = new HistoryArchive(w.host, () => 1e9);
    const first = await archive.loadEarlier("conv:1");
    expect(first).toEqual({ added: 89, skipped: 10 });
    expect(archive.cursor("conv:1").more).toBe(true);
    const second = await archive.loadEarlier("conv:1");
    expect(second.added + second.skipped).toBe(50);
    expect(archive.cursor("conv:1").more).toBe(false);
    expect(w.asked).toEqual([undefined, 51]);
    const ids = w.messages.map((m) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(w.messages.map((m) => m.sentAt)).toEqual(
      [...w.messages.map((m) => m.sentAt)].sort((a, b) => a - b),
    );
    expect((await archive.loadEarlier("conv:1")).added).toBe(0);
  });

  it("keeps nothing past the conversation's retention", async () => {
    // 60 s retention at t = 100 s: only what was sent after 40 s is kept.
    const w = world(99, 60);
    const archive = new HistoryArchive(w.host, () => 100_000);
    await archive.loadEarlier("conv:1");
    expect(w.messages.every((m) => m.sentAt > 40_000)).toBe(true);
    expect(w.messages.length).toBeGreaterThan(0);
  });
});
