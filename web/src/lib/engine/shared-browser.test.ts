/**
 * Accounts on one browser (`storage/namespaces.ts`): Create account never opens or overwrites
 * another account's namespace, refuses one that holds keys before asking the server anything,
 * and a namespace opened for a refused sign-up is deleted again.
 */

import "fake-indexeddb/auto";

import { afterEach, describe, expect, it, vi } from "vitest";

import { AccountId } from "../../crypto";
import { testAccount } from "../../crypto/test-support";
import { Database } from "../../storage/db";
import { namespaceName } from "../../storage/namespaces";
import { SealedStore } from "../../storage/sealed";
import { SottoClient } from "./client";
import { type IdentityRecord, loadKeys, saveKeys } from "./keystore";

const ORIGIN = "https://localhost:8443";

async function names(): Promise<string[]> {
  return (await indexedDB.databases()).flatMap((d) => (d.name === undefined ? [] : [d.name]));
}

/** `username`'s namespace holding a device's keys and one sealed conversation record. */
async function seedAccount(slot: number, username: string): Promise<void> {
  const a = await testAccount(slot, username);
  const db = await Database.open(namespaceName(username));
  const store = await SealedStore.open(db);
  const record: IdentityRecord = {
    username,
    account: AccountId.toText(a.master.account),
    masterSpki: a.master.verifyingKey.spki,
    hasMaster: true,
    deviceName: "first device",
    signingSpki: a.device.keys.signing.spki,
    authSpki: a.device.keys.auth.spki,
    exchange: [],
    revocationSerial: 0n,
  };
  await saveKeys(store, record, { master: a.master, device: a.device.keys });
  await store.put([["conv:1", { text: `${username}'s conversation` }]]);
  db.close();
}

async function expectUntouched(username: string): Promise<void> {
  const db = await Database.open(namespaceName(username));
  const store = await SealedStore.open(db);
  expect((await loadKeys(db, store))?.record.username).toBe(username);
  expect(await store.get("conv:1")).toEqual({ text: `${username}'s conversation` });
  db.close();
}

function respond(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("accounts on one browser", () => {
  it("Create account whose name is taken leaves no namespace behind and another account's as it was", async () => {
    await seedAccount(0, "m-user");
    const fetchMock = vi.fn<typeof fetch>();
    vi.stubGlobal("fetch", fetchMock);
    fetchMock.mockResolvedValue(respond(409, { error: "conflict", message: "taken" }));
    const client = await SottoClient.start(ORIGIN);
    expect(client.accountName).toBeUndefined();
    await expect(client.register("Erin", "a long enough password 42", "web")).rejects.toThrow();
    expect(fetchMock).toHaveBeenCalledTimes(1);
    expect(client.getView().error).toBeDefined();
    expect(await names()).not.toContain("sotto:erin");
    await expectUntouched("m-user");
  });

  it("Create account for a username whose namespace holds keys is refused before the server is asked", async () => {
    await seedAccount(1, "alice");
    const fetchMock = vi.fn<typeof fetch>();
    vi.stubGlobal("fetch", fetchMock);
    const client = await SottoClient.start(ORIGIN);
    const replaced: SottoClient[] = [];
    client.onReplace((next) => replaced.push(next));
    await expect(client.register("ALICE", "a long enough password 42", "web")).rejects.toThrow(
      /already holds alice's keys: log in instead/,
    );
    expect(fetchMock).not.toHaveBeenCalled();
    expect(replaced).toEqual([]);
    await expectUntouched("alice");
  });
});
