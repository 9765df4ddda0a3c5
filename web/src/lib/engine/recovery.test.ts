// Recovery end to end against a fake server (protocol §14–§15, `docs/api.md` "Recovery"): a
// set-up uploads the verifier and sealed items, a fresh browser recovers the account with the
// key (the master key, the chains and pins come back), a typo is caught before any request, and
// a wrong key is refused by the server with nothing stored.
import "fake-indexeddb/auto";

import { beforeAll, describe, expect, it } from "vitest";

import {
  AccountId,
  ConversationId,
  DeviceCertificate,
  decodeSignedIdentity,
  DeviceId,
  SenderChain,
  bytesEqual,
  encodeDomain,
  Domain,
  isProtocolError,
  sha256,
  systemEnv,
  systemRandom,
} from "../../crypto";
import { T0, type TestAccount, fixedPkcs8, testAccount } from "../../crypto/test-support";
import { Database } from "../../storage/db";
import { SealedStore } from "../../storage/sealed";
import { ApiError, type ApiClient, isApiError } from "../api";
import { fromB64, toB64 } from "../b64";
import type { DeviceView } from "../schemas";
import type { Deps } from "./account";
import type { LoadedKeys } from "./keystore";
import type { Session } from "./session";
import { recoverAccount, recoveryMessage, setUpRecovery } from "./recovery";

interface FakeServer {
  setup?: { recovery_id: string; method: string; salt: string | null; verifier: string };
  items: string[];
  devices: DeviceView[];
  calls: string[];
}

function deviceView(a: TestAccount): DeviceView {
  return {
    device: DeviceId.toText(a.device.keys.device),
    state: "active",
    name: "Chromium web",
    signing_key: toB64(a.device.keys.signing.spki),
    auth_key: toB64(a.device.keys.auth.spki),
    certificate: toB64(a.device.certificate.encode()),
    exchange_key: null,
    created_at: 1,
  };
}

/** The recovery routes and what a recovering device calls around them. */
function fakeApi(server: FakeServer, a: TestAccount): ApiClient {
  const api = {
    setRecovery: (s: NonNullable<FakeServer["setup"]>) => {
      server.setup = s;
      server.items = [];
      return Promise.resolve();
    },
    storeBackupItems: (items: readonly string[]) => {
      server.items.push(...items);
      return Promise.resolve({ stored: items.length });
    },
    login: (username: string) => {
      server.calls.push("login");
      return Promise.resolve({ username, login_token: "sotto_lt_x", expires_in: 600 });
    },
    recovery: () =>
      Promise.resolve(
        server.setup === undefined
          ? { configured: false as const }
          : {
              configured: true as const,
              recovery_id: server.setup.recovery_id,
              method: server.setup.method,
              salt: server.setup.salt,
              items: server.items.length,
              created_at: 1,
            },
      ),
    unlockRecovery: async (access: string, after: number) => {
      server.calls.push("unlock");
      const verifier = await sha256(encodeDomain(Domain.RecoveryVerifier), fromB64(access));
      if (toB64(verifier) !== server.setup?.verifier)
        throw new ApiError("recovery_rejected", 403, "no");
      // One item a page, to page through them.
      const item = server.items[after];
      return item === undefined
        ? { items: [], next: null }
        : { items: [{ seq: after + 1, item }], next: after + 1 };
    },
    directory: () =>
      Promise.resolve({
        username: a.name,
        account: AccountId.toText(a.master.account),
        master_key: toB64(a.master.verifyingKey.spki),
        devices: server.devices,
        revocations: [],
      }),
    certifyDevice: (certificate: string) => {
      server.calls.push("certify");
      const signed = decodeSignedIdentity(fromB64(certificate));
      const device = DeviceId.toText(DeviceCertificate.decode(signed.body).device);
      server.devices.push({ ...deviceView(a), device, certificate });
      return Promise.resolve({ device });
    },
    setExchangeKey: () => Promise.resolve({ serial: 1 }),
    devices: () => Promise.resolve(server.devices),
  };
  return api as unknown as ApiClient;
}

async function deps(server: FakeServer, a: TestAccount, name: string): Promise<Deps> {
  const db = await Database.open(name);
  return {
    db,
    store: await SealedStore.open(db),
    api: fakeApi(server, a),
    session: { deviceLogin: () => Promise.resolve() } as unknown as Session,
    now: () => T0,
  };
}

let alice: TestAccount;
let bob: TestAccount;

beforeAll(async () => {
  [alice, bob] = await Promise.all([testAccount(0, "alice"), testAccount(1, "bob")]);
});

describe("recovery", () => {
  it("a recovery key set up on the first device gives a fresh browser the account's master key, chains and pins back", async () => {
    const server: FakeServer = { items: [], devices: [deviceView(alice)], calls: [] };
    const first = await deps(server, alice, "rec-first");
    const keys = { account: alice.master.account, device: alice.device.keys } as LoadedKeys;
    const chain = await SenderChain.start(
      ConversationId.fromBytes(systemRandom(16)),
      0n,
      alice.master.account,
      alice.device.keys.device,
      undefined,
      systemEnv(),
    );
    const made = await setUpRecovery(
      first,
      keys,
      alice.device.certificate,
      { kind: "key" },
      fixedPkcs8(0),
      {
        keys: [chain.historyRecord()],
        pins: [{ account: AccountId.toText(bob.master.account), username: "bob", verified: true }],
        names: [],
      },
    );
    const keyText = made.keyText ?? "";
    expect(keyText).toMatch(/^([0-9A-Z]{4}-){11}[0-9A-Z]{4}$/);
    expect(server.setup?.method).toBe("key");
    expect(server.items).toHaveLength(1);

    const fresh = await deps(server, alice, "rec-fresh");
    // Typed carelessly: lower case, spaces for dashes.
    const typed = keyText.toLowerCase().replaceAll("-", " ");
    const recovered = await recoverAccount(fresh, "alice", "pw", { kind: "key", text: typed }, "R");
    expect(recovered.keys.master).toBeDefined();
    expect(recovered.keys.record.hasMaster).toBe(true);
    expect(bytesEqual(recovered.keys.record.masterSpki, alice.master.verifyingKey.spki)).toBe(true);
    expect(recovered.records.map((r) => r.type)).toEqual(["chain", "pin"]);
    expect(recovered.refused).toBe(0);
    expect(recovered.others.map((d) => d.name)).toEqual(["Chromium web"]);
    expect(recovered.writer.recoveryId).toMatch(/^recovery:/);
  });

  it("a typo is caught before any request; a wrong key is refused by the server and nothing is stored", async () => {
    const server: FakeServer = { items: [], devices: [deviceView(alice)], calls: [] };
    const first = await deps(server, alice, "rec-first-2");
    const keys = { account: alice.master.account, device: alice.device.keys } as LoadedKeys;
    const made = await setUpRecovery(
      first,
      keys,
      alice.device.certificate,
      { kind: "key" },
      fixedPkcs8(0),
      { keys: [], pins: [], names: [] },
    );
    const keyText = made.keyText ?? "";
    const fresh = await deps(server, alice, "rec-fresh-2");
    const typo = (keyText.startsWith("A") ? "B" : "A") + keyText.slice(1);
    const typoError = await recoverAccount(fresh, "alice", "pw", { kind: "key", text: typo }, "R")
      .then(() => undefined)
      .catch((e: unknown) => e);
    expect(isProtocolError(typoError, "recovery/bad-checksum")).toBe(true);
    expect(recoveryMessage(typoError)).toContain("typo");
    expect(server.calls).toEqual([]);

    // Another set-up's key: well formed, not this account's.
    const other = await setUpRecovery(
      await deps({ items: [], devices: [], calls: [] }, alice, "rec-other"),
      keys,
      alice.device.certificate,
      { kind: "key" },
      fixedPkcs8(0),
      { keys: [], pins: [], names: [] },
    );
    const wrong = await recoverAccount(
      fresh,
      "alice",
      "pw",
      { kind: "key", text: other.keyText ?? "" },
      "R",
    )
      .then(() => undefined)
      .catch((e: unknown) => e);
    expect(isApiError(wrong, "recovery_rejected")).toBe(true);
    expect(recoveryMessage(wrong)).toContain("Nothing was changed");
    expect(server.calls).not.toContain("certify");
    expect(await fresh.store.get("identity")).toBeUndefined();
  });
});
