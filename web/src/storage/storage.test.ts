import "fake-indexeddb/auto";

import { describe, expect, it } from "vitest";

import { Database } from "./db";
import { SealedStore } from "./sealed";

describe("sealed store", () => {
  it("keeps records encrypted under a non-extractable key and reads them back", async () => {
    const db = await Database.open("t1");
    const store = await SealedStore.open(db);
    await store.put([["identity", { username: "alice", serial: 5n, key: Uint8Array.of(1, 2, 3) }]]);
    expect(await store.get("identity")).toEqual({
      username: "alice",
      serial: 5n,
      key: Uint8Array.of(1, 2, 3),
    });
    const raw = await db.get("state", "identity");
    expect(JSON.stringify(raw)).not.toContain("alice");
    const key = await db.get("keys", "store-key");
    expect(key).toBeInstanceOf(CryptoKey);
    expect((key as CryptoKey).extractable).toBe(false);
    // The same store key is found again on the next open.
    const again = await SealedStore.open(db);
    expect(await again.get("identity")).toEqual({
      username: "alice",
      serial: 5n,
      key: Uint8Array.of(1, 2, 3),
    });
  });

  it("refuses a record moved under another name (the name is the associated data)", async () => {
    const db = await Database.open("t2");
    const store = await SealedStore.open(db);
    await store.put([["a", { v: 1 }]]);
    await db.putAll("state", [["b", await db.get("state", "a")]]);
    await expect(store.get("b")).rejects.toThrow();
  });

  it("writes several records atomically and lists by prefix", async () => {
    const db = await Database.open("t3");
    const store = await SealedStore.open(db);
    await store.put([
      ["conv:1", 1],
      ["conv:2", 2],
      ["receiver", 3],
    ]);
    expect((await store.list("conv:")).sort()).toEqual(["conv:1", "conv:2"]);
    await store.put([["conv:3", 3]], ["conv:1"]);
    expect((await store.list("conv:")).sort()).toEqual(["conv:2", "conv:3"]);
  });
});
