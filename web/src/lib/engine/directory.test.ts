import "fake-indexeddb/auto";

import { beforeAll, describe, expect, it } from "vitest";

import { AccountId, DeviceId } from "../../crypto";
import { T0, type TestAccount, testAccount } from "../../crypto/test-support";
import { Database } from "../../storage/db";
import { SealedStore } from "../../storage/sealed";
import type { ApiClient } from "../api";
import { toB64 } from "../b64";
import type { DirectoryView } from "../schemas";
import { isTransient } from "./delivery";
import { Directory } from "./directory";

let alice: TestAccount;
let mallory: TestAccount;

function view(
  account: TestAccount,
  username: string,
  extra: Partial<DirectoryView> = {},
): DirectoryView {
  return {
    username,
    account: AccountId.toText(account.master.account),
    master_key: toB64(account.master.verifyingKey.spki),
    devices: [
      {
        device: DeviceId.toText(account.device.keys.device),
        state: "active",
        name: "first device",
        signing_key: toB64(account.device.keys.signing.spki),
        auth_key: toB64(account.device.keys.auth.spki),
        certificate: toB64(account.device.certificate.encode()),
        exchange_key: toB64(account.device.exchangeCertificate.encode()),
        created_at: 1,
      },
    ],
    revocations: [],
    ...extra,
  };
}

async function directoryWith(
  answers: Map<string, DirectoryView>,
  name: string,
): Promise<Directory> {
  const api = {
    directory: (who: string) => Promise.resolve(answers.get(who)),
  } as unknown as ApiClient;
  const store = await SealedStore.open(await Database.open(name));
  return new Directory(api, store, () => T0);
}

beforeAll(async () => {
  [alice, mallory] = await Promise.all([testAccount(0, "alice"), testAccount(1, "mallory")]);
});

describe("directory", () => {
  it("pins on first use and verifies devices and exchange keys against the pin", async () => {
    const d = await directoryWith(new Map([["alice", view(alice, "alice")]]), "d1");
    const c = await d.contact("alice");
    expect(c.trust).toBe("unverified");
    expect(c.devices).toHaveLength(1);
    expect(c.exchangeKeys).toHaveLength(1);
    await d.markVerified(c.accountText);
    expect((await d.contact("alice", true)).trust).toBe("verified");
  });

  it("drops a device certified by another master key (a device the server added)", async () => {
    const forged = view(alice, "alice");
    const planted = view(mallory, "alice").devices;
    const d = await directoryWith(
      new Map([["alice", { ...forged, devices: [...forged.devices, ...planted] }]]),
      "d2",
    );
    const c = await d.contact("alice");
    expect(c.devices.map((x) => DeviceId.toText(x.device))).toEqual([
      DeviceId.toText(alice.device.keys.device),
    ]);
  });

  it("a username that now maps to another key is a blocking identity change until accepted", async () => {
    const answers = new Map([["alice", view(alice, "alice")]]);
    const d = await directoryWith(answers, "d3");
    const first = await d.contact("alice");
    await d.markVerified(first.accountText);
    answers.set("alice", view(mallory, "alice"));
    const changed = await d.contact("alice", true);
    expect(changed.trust).toBe("changed");
    expect(changed.devices).toHaveLength(0);
    expect(changed.exchangeKeys).toHaveLength(0);
    const pin = await d.pin(changed.accountText);
    expect(pin?.wasVerified).toBe(true);
    await d.markVerified(changed.accountText);
    expect((await d.contact("alice", true)).trust).toBe("changed");
    await d.acceptChange(changed.accountText);
    const accepted = await d.contact("alice", true);
    expect(accepted.trust).toBe("unverified");
    expect(accepted.devices).toHaveLength(1);
  });

  it("refuses an exchange-key rollback to a lower serial than seen", async () => {
    const answers = new Map([["alice", view(alice, "alice")]]);
    const d = await directoryWith(answers, "d4");
    await d.contact("alice");
    const pin = await d.pin(AccountId.toText(alice.master.account));
    expect(pin?.serials[DeviceId.toText(alice.device.keys.device)]).toBe("1");
    const older = await alice.device.keys.certifyExchangeKey(
      alice.master.account,
      alice.device.exchange.encryptingKey,
      0n,
      T0 - 1000n,
      T0 + 1000n,
    );
    const v = view(alice, "alice");
    const [dev] = v.devices;
    if (dev === undefined) throw new Error("one device");
    answers.set("alice", { ...v, devices: [{ ...dev, exchange_key: toB64(older.encode()) }] });
    const c = await d.contact("alice", true);
    expect(c.devices).toHaveLength(1);
    expect(c.exchangeKeys).toHaveLength(0);
  });

  it("refuses an answer for another account than the one asked, without touching pins, until the right one comes", async () => {
    const aliceId = AccountId.toText(alice.master.account);
    const answers = new Map([[aliceId, view(alice, "alice")]]);
    const d = await directoryWith(answers, "d5");
    await d.markVerified((await d.contact(aliceId)).accountText);
    // The server answers alice's account id with another account that calls itself alice.
    answers.set(aliceId, view(mallory, "alice"));
    const refused = await d.contact(aliceId, true).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeDefined();
    // Retried like an unreachable server, never an identity change.
    expect(isTransient(refused)).toBe(true);
    expect(await d.pinsList()).toEqual([
      expect.objectContaining({ account: aliceId, verified: true }),
    ]);
    expect((await d.pinsList())[0]?.replaces).toBeUndefined();
    answers.set(aliceId, view(alice, "alice"));
    const restored = await d.contact(aliceId, true);
    expect(restored.trust).toBe("verified");
    expect(restored.devices).toHaveLength(1);
  });

  it("refuses an entry whose account id is not its master key's as a bad answer, without touching pins, until the right one comes", async () => {
    const aliceId = AccountId.toText(alice.master.account);
    const answers = new Map([[aliceId, view(alice, "alice")]]);
    const d = await directoryWith(answers, "d7");
    await d.markVerified((await d.contact(aliceId)).accountText);
    // The server answers with alice's id and name over another master key (and its devices).
    answers.set(aliceId, { ...view(mallory, "alice"), account: aliceId });
    const refused = await d.contact(aliceId, true).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeDefined();
    // Retried like an unreachable server: never an identity change, never "could not be verified".
    expect(isTransient(refused)).toBe(true);
    expect(await d.pinsList()).toEqual([
      expect.objectContaining({ account: aliceId, verified: true }),
    ]);
    expect((await d.pinsList())[0]?.pendingSpki).toBeUndefined();
    answers.set(aliceId, view(alice, "alice"));
    const restored = await d.contact(aliceId, true);
    expect(restored.trust).toBe("verified");
    expect(restored.devices).toHaveLength(1);
  });

  it("refuses an answer for another username than the one asked", async () => {
    const answers = new Map([["bob", view(alice, "alice")]]);
    const d = await directoryWith(answers, "d6");
    const refused = await d.contact("bob").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isTransient(refused)).toBe(true);
    // Nobody is pinned as "bob" or as anything else.
    expect(await d.pinsList()).toEqual([]);
  });
});
