import "fake-indexeddb/auto";

import { describe, expect, it } from "vitest";

import { Database, LEGACY_DB_NAME } from "./db";
import { withLock } from "./locks";
import {
  AccountIndex,
  INDEX_KEY,
  type KeyValueStorage,
  TAB_KEY,
  foldUsername,
  heldUsername,
  migrateLegacyDatabase,
  namespaceName,
} from "./namespaces";
import { SealedStore } from "./sealed";

class MapStorage implements KeyValueStorage {
  readonly map = new Map<string, string>();
  getItem(key: string): string | null {
    return this.map.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.map.set(key, value);
  }
  removeItem(key: string): void {
    this.map.delete(key);
  }
}

function browser(): { index: AccountIndex; shared: MapStorage; tab: MapStorage } {
  const shared = new MapStorage();
  const tab = new MapStorage();
  return { index: new AccountIndex(shared, tab), shared, tab };
}

async function names(): Promise<string[]> {
  return (await indexedDB.databases()).flatMap((d) => (d.name === undefined ? [] : [d.name]));
}

/** A database laid out as earlier versions wrote it: `username`'s device under `name`. */
async function deviceDatabase(name: string, username: string, note: string): Promise<void> {
  const db = await Database.open(name);
  const store = await SealedStore.open(db);
  const deviceKey = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, [
    "encrypt",
  ]);
  await db.putAll("keys", [["device-signing", deviceKey]]);
  await store.put([
    ["identity", { username, account: "acct:1" }],
    ["conv:1", { note }],
  ]);
  db.close();
}

describe("account namespaces", () => {
  it("name an account's database by its username as the server folds it", () => {
    expect(foldUsername("  Erin.M ")).toBe("erin.m");
    expect(namespaceName("Erin")).toBe("sotto:erin");
    expect(namespaceName("erin")).toBe(namespaceName("ERIN"));
    // Names the server refuses never name a database (nor escape the `sotto:` prefix).
    for (const bad of ["", "ab", "-erin", "erin:x", "erin/../m", "é".repeat(4), "a".repeat(33)])
      expect(() => namespaceName(bad)).toThrow(/3–32 characters/);
  });

  it("keep two accounts' records, store keys and locks apart", async () => {
    const m = await SealedStore.open(await Database.open(namespaceName("m-user")));
    const erin = await SealedStore.open(await Database.open(namespaceName("erin")));
    await m.put([["conv:1", { text: "M's message" }]]);
    expect(await erin.get("conv:1")).toBeUndefined();
    expect(await erin.list("conv:")).toEqual([]);
    // Even a record copied across cannot be read: each namespace seals under its own key.
    await erin.db.putAll("state", [["conv:1", await m.db.get("state", "conv:1")]]);
    await expect(erin.get("conv:1")).rejects.toThrow();
    expect(m.lockName("socket")).toBe("sotto:m-user:socket");
    expect(erin.lockName("socket")).not.toBe(m.lockName("socket"));
    // One account's tabs coordinate; another account's do not wait for them.
    let release = (): void => undefined;
    const held = withLock(m.lockName("socket"), () => new Promise<void>((r) => (release = r)));
    await withLock(erin.lockName("socket"), () => Promise.resolve());
    let second = false;
    const waiting = withLock(m.lockName("socket"), () => {
      second = true;
      return Promise.resolve();
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(second).toBe(false);
    release();
    await Promise.all([held, waiting]);
    expect(second).toBe(true);
  });

  it("a database in memory reads, lists and seals like one on disk, and writes nothing to disk", async () => {
    const before = await names();
    const db = Database.memory("sotto-none");
    const store = await SealedStore.open(db);
    await store.put([
      ["conv:1", 1],
      ["conv:2", 2],
      ["other", 3],
    ]);
    expect(await store.get("conv:2")).toBe(2);
    expect((await store.list("conv:")).sort()).toEqual(["conv:1", "conv:2"]);
    await store.put([], ["conv:1"]);
    expect(await store.list("conv:")).toEqual(["conv:2"]);
    expect(await heldUsername(db)).toBeUndefined();
    expect(await names()).toEqual(before);
  });
});

describe("the account index", () => {
  it("opens the tab's own account at start, else the last one signed in, none after sign-out", () => {
    const { index, tab } = browser();
    expect(index.atStart()).toBeUndefined();
    index.signedIn("M-User");
    expect(index.list()).toEqual(["m-user"]);
    expect(index.atStart()).toBe("m-user");
    index.signedOut("m-user");
    // The next person at this browser starts from no account; M's data is still listed.
    expect(index.atStart()).toBeUndefined();
    expect(index.list()).toEqual(["m-user"]);
    index.signedIn("erin");
    expect(index.list()).toEqual(["erin", "m-user"]);
    index.removed("erin");
    expect(index.list()).toEqual(["m-user"]);
    expect(index.atStart()).toBeUndefined();
    expect(tab.getItem(TAB_KEY)).toBeNull();
  });

  it("each tab reopens its own account when two accounts are open in two tabs", () => {
    const shared = new MapStorage();
    const tabM = new AccountIndex(shared, new MapStorage());
    const tabErin = new AccountIndex(shared, new MapStorage());
    tabM.signedIn("m-user");
    tabErin.signedIn("erin");
    expect(tabM.atStart()).toBe("m-user");
    expect(tabErin.atStart()).toBe("erin");
    // A new tab opens the last one signed in.
    expect(new AccountIndex(shared, new MapStorage()).atStart()).toBe("erin");
  });

  it("holds usernames only and ignores a malformed or foreign index", () => {
    const { index, shared, tab } = browser();
    index.signedIn("erin");
    expect(JSON.parse(shared.getItem(INDEX_KEY) ?? "")).toEqual({
      accounts: ["erin"],
      last: "erin",
    });
    for (const bad of ["{", "[]", '{"accounts":["Erin:x"]}', '{"accounts":"erin"}']) {
      shared.setItem(INDEX_KEY, bad);
      expect(index.list()).toEqual([]);
    }
    // A tab naming an account that is no longer held opens none.
    tab.setItem(TAB_KEY, "gone");
    expect(index.atStart()).toBeUndefined();
  });
});

describe("the database of earlier versions", () => {
  it("becomes its account's namespace: same keys, same sealed records; the old one is deleted", async () => {
    const { index } = browser();
    await deviceDatabase(LEGACY_DB_NAME, "Legacy1", "kept");
    expect(await migrateLegacyDatabase(index)).toBe("legacy1");
    expect(await names()).not.toContain(LEGACY_DB_NAME);
    expect(await names()).toContain("sotto:legacy1");
    const db = await Database.open("sotto:legacy1");
    const store = await SealedStore.open(db);
    expect(await store.get("conv:1")).toEqual({ note: "kept" });
    expect(await db.get("keys", "device-signing")).toBeInstanceOf(CryptoKey);
    expect(await heldUsername(db)).toBe("legacy1");
    db.close();
    expect(index.list()).toEqual(["legacy1"]);
    expect(index.atStart()).toBe("legacy1");
    // Nothing to move the next time.
    expect(await migrateLegacyDatabase(index)).toBeUndefined();
  });

  it("a move repeated after a crash before the deletion overwrites nothing written since", async () => {
    const { index } = browser();
    await deviceDatabase(LEGACY_DB_NAME, "legacy2", "old");
    await migrateLegacyDatabase(index);
    const db = await Database.open("sotto:legacy2");
    await (await SealedStore.open(db)).put([["conv:1", { note: "new" }]]);
    db.close();
    // The old database is back as it was (the deletion never happened).
    await deviceDatabase(LEGACY_DB_NAME, "legacy2", "old");
    expect(await migrateLegacyDatabase(index)).toBe("legacy2");
    expect(await names()).not.toContain(LEGACY_DB_NAME);
    const again = await Database.open("sotto:legacy2");
    expect(await (await SealedStore.open(again)).get("conv:1")).toEqual({ note: "new" });
    again.close();
  });

  it("never overwrites a namespace holding another device of that account, and is kept then", async () => {
    const { index } = browser();
    await deviceDatabase("sotto:legacy3", "legacy3", "newer device");
    await deviceDatabase(LEGACY_DB_NAME, "legacy3", "older device");
    expect(await migrateLegacyDatabase(index)).toBeUndefined();
    expect(await names()).toContain(LEGACY_DB_NAME);
    const db = await Database.open("sotto:legacy3");
    expect(await (await SealedStore.open(db)).get("conv:1")).toEqual({ note: "newer device" });
    db.close();
    await Database.wipe(LEGACY_DB_NAME);
  });

  it("holding no account (no keys, or a store key only) is deleted, and nothing is listed", async () => {
    const { index } = browser();
    const db = await Database.open(LEGACY_DB_NAME);
    await SealedStore.open(db);
    db.close();
    expect(await migrateLegacyDatabase(index)).toBeUndefined();
    expect(await names()).not.toContain(LEGACY_DB_NAME);
    expect(index.list()).toEqual([]);
  });
});
