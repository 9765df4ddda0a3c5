/**
 * Local search (`search.ts`): over the decrypted history as it is now (edits replace, deletes
 * remove), built again from the sealed store after a reload, and never written anywhere.
 */

import { describe, expect, it, vi } from "vitest";

import { Database } from "../../storage/db";
import { SearchIndex, fold, words } from "./search";
import {
  aliceAndBob,
  createConversation,
  dateFrozenAtT0,
  deliver,
  newRelay,
  settle,
  side,
} from "./test-world";

dateFrozenAtT0();
const [alice, bob] = await aliceAndBob();

const texts = (hits: readonly { readonly text: string }[]) => hits.map((h) => h.text);

describe("local search", () => {
  it("finds received and sent messages, follows edits and deletes, and finds them after a reload", async () => {
    const relay = newRelay([alice, bob]);
    const a = await side(relay, alice, "search-alice");
    const b = await side(relay, bob, "search-bob");
    const index = SearchIndex.over(b.convs);
    const conv = await createConversation(a, [bob]);
    const launch = await a.messaging.send(conv, { type: "text", text: "The launch is Friday" });
    vi.setSystemTime(Date.now() + 1000);
    const lunch = await a.messaging.send(conv, { type: "text", text: "Lunch at the Café?" });
    vi.setSystemTime(Date.now() + 1000);
    const gone = await a.messaging.send(conv, { type: "text", text: "launch codes: 1234" });
    await settle(a);
    deliver(relay, b);
    await settle(b);
    expect(texts(index.query("launch"))).toEqual(["launch codes: 1234", "The launch is Friday"]);
    // Accents and case folded; the last word is a prefix (results while typing).
    expect(texts(index.query("cafe"))).toEqual(["Lunch at the Café?"]);
    expect(texts(index.query("the fri"))).toEqual(["The launch is Friday"]);
    expect(index.query("launch", "conv:other")).toEqual([]);
    expect(index.query("   ")).toEqual([]);
    vi.setSystemTime(Date.now() + 1000);
    await a.messaging.amend(conv, {
      type: "edit",
      target: launch,
      text: "The launch moved to Monday",
      mentions: [],
    });
    await a.messaging.amend(conv, { type: "delete", target: gone });
    await settle(a);
    deliver(relay, b);
    await settle(b);
    expect(index.query("friday")).toEqual([]);
    expect(texts(index.query("monday"))).toEqual(["The launch moved to Monday"]);
    expect(index.query("codes")).toEqual([]);
    expect(index.query("launch").map((h) => h.message.id)).toEqual([launch]);
    // A new client over the same database: the index is built again from the sealed records.
    const again = await side(relay, bob, "search-bob");
    const reloaded = SearchIndex.over(again.convs);
    expect(reloaded.query("monday").map((h) => [h.conv, h.message.id])).toEqual([[conv, launch]]);
    expect(texts(reloaded.query("lunch"))).toEqual(["Lunch at the Café?"]);
    expect(reloaded.query("lunch")[0]?.message.id).toBe(lunch);
    // Nothing of the text is at rest unsealed: no store of the database holds it in clear.
    const db = await Database.open("search-bob");
    for (const store of ["keys", "state"] as const) {
      const raw = JSON.stringify(await db.entries(store), (_k, v: unknown) =>
        v instanceof Uint8Array ? new TextDecoder().decode(v) : typeof v === "bigint" ? 0 : v,
      );
      expect(raw).not.toContain("Monday");
      expect(raw).not.toContain("Lunch");
    }
  });

  it("folds case and accents, and splits words in any script", () => {
    expect(fold("CAFÉ Ünïcode")).toBe("cafe unicode");
    expect(words("Привет, мир! 東京 2024")).toEqual(["привет", "мир", "東京", "2024"]);
  });
});
