import { beforeAll, describe, expect, it } from "vitest";

import { BackupItem, openBackup } from "./backup";
import type { BundleRecord } from "./bundle";
import { type Bytes, toHex } from "./bytes";
import { DangerSeededRng, type Env } from "./env";
import { AccountId, ChainId, ConversationId, RecoveryId } from "./ids";
import { MAX_BACKUP_ITEM_LEN } from "./limits";
import { ChainKey } from "./ratchet";
import { type BackupKey, RecoveryKey } from "./recovery";
import { SignedSealed } from "./signed";
import {
  T0,
  type TestAccount,
  type TestDevice,
  expectCode,
  expectOnlyDecodeErrors,
  fixedPkcs8,
  flipped,
  testAccount,
  testSecondDevice,
} from "./test-support";

const RECOVERY = RecoveryId.fromBytes(new Uint8Array(16).fill(0x11));
const OTHER_RECOVERY = RecoveryId.fromBytes(new Uint8Array(16).fill(0x12));

let alice: TestAccount;
let bob: TestAccount;
let laptop: TestDevice;
let backupKey: BackupKey;
let wrongKey: BackupKey;
let seed = 0;

function env(now = T0): Env {
  seed += 1;
  return { now, rng: new DangerSeededRng(new Uint8Array(32).fill(seed)) };
}

function chain(n: number): BundleRecord {
  return {
    type: "chain",
    conversation: ConversationId.fromBytes(new Uint8Array(16).fill(1)),
    epoch: 0n,
    chain: ChainId.fromBytes(new Uint8Array(16).fill(n)),
    ownerAccount: alice.master.account,
    ownerDevice: alice.device.keys.device,
    startIndex: 0,
    key: ChainKey.fromBytes(new Uint8Array(32).fill(n)),
    createdAt: T0,
  };
}

const MASTER: () => BundleRecord = () => ({ type: "master-key", pkcs8: fixedPkcs8(0) });

async function item(
  records: BundleRecord[],
  opts: { writer?: TestDevice; recovery?: RecoveryId; key?: BackupKey; now?: bigint } = {},
): Promise<Bytes> {
  const writer = opts.writer ?? alice.device;
  const sealed = await BackupItem.seal({
    account: alice.master.account,
    recoveryId: opts.recovery ?? RECOVERY,
    backupKey: opts.key ?? backupKey,
    writer: writer.keys,
    writerCertificate: writer.certificate,
    records,
    env: env(opts.now),
  });
  return sealed.encode();
}

function open(items: Bytes[], revocations: Parameters<typeof openBackup>[0]["revocations"] = []) {
  return openBackup({
    items,
    account: alice.master.account,
    recoveryId: RECOVERY,
    backupKey,
    revocations,
  });
}

beforeAll(async () => {
  [alice, bob] = await Promise.all([testAccount(0, "alice"), testAccount(1, "bob")]);
  laptop = await testSecondDevice(alice);
  const secret = (await RecoveryKey.fromSecret(new Uint8Array(28).fill(9))).secret();
  backupKey = (await secret.derive(alice.master.account, RECOVERY)).backupKey;
  const other = (await RecoveryKey.fromSecret(new Uint8Array(28).fill(8))).secret();
  wrongKey = (await other.derive(alice.master.account, RECOVERY)).backupKey;
});

describe("backup items (§15.2)", () => {
  it("a recovering device gets the master key and every chain its devices wrote", async () => {
    const first = await item([MASTER(), chain(1)]);
    const second = await item([chain(2), chain(3)], { writer: laptop });
    const opened = await open([first, second]);
    expect(opened.refused).toEqual([]);
    expect(opened.accepted).toHaveLength(2);
    expect(toHex(opened.masterKey.account)).toBe(toHex(alice.master.account));
    expect(toHex(opened.masterKeyPkcs8)).toBe(toHex(fixedPkcs8(0)));
    expect(opened.masterKey.keyPair.privateKey.extractable).toBe(false);
    expect(opened.records.map((r) => (r.type === "chain" ? r.chain[0] : -1))).toEqual([1, 2, 3]);
  });

  it("decodes the header the server checks: account, set-up, item, writer, time", async () => {
    const decoded = BackupItem.decode(await item([MASTER()], { now: T0 + 5n }));
    expect(toHex(decoded.header.account)).toBe(toHex(alice.master.account));
    expect(toHex(decoded.header.recoveryId)).toBe(toHex(RECOVERY));
    expect(toHex(decoded.header.writerDevice)).toBe(toHex(alice.device.keys.device));
    expect(decoded.header.writtenAt).toBe(T0 + 5n);
    expect(toHex(decoded.header.writerCertificate)).toBe(toHex(alice.device.certificate.encode()));
  });

  it("without a master key record the backup is recovery/no-master-key", async () => {
    await expectCode(async () => open([await item([chain(1)])]), "recovery/no-master-key");
  });

  it("under another recovery secret nothing opens, so no master key is found", async () => {
    await expectCode(
      async () => open([await item([MASTER()], { key: wrongKey })]),
      "recovery/no-master-key",
    );
  });

  it("a master key record of another account fails the backup with wrong-account", async () => {
    await expectCode(
      async () => open([await item([{ type: "master-key", pkcs8: fixedPkcs8(4) }])]),
      "wrong-account",
    );
  });

  it("skips an item of another set-up as wrong-account and keeps the rest", async () => {
    const good = await item([MASTER(), chain(1)]);
    const other = await item([chain(2)], { recovery: OTHER_RECOVERY });
    const opened = await open([other, good]);
    expect(opened.refused.map((r) => [r.index, r.code])).toEqual([[0, "wrong-account"]]);
    expect(opened.records).toHaveLength(1);
  });

  it("a1/a9: an item changed by the server does not open (decryption-failed)", async () => {
    const good = await item([MASTER()]);
    const tampered = BackupItem.decode(await item([chain(2)]));
    const ciphertext = flipped(tampered.sealed.ciphertext, 3);
    const resigned = await SignedSealed.sign(
      tampered.sealed.header,
      ciphertext,
      alice.device.keys.signing,
    );
    const opened = await open([good, resigned.encode()]);
    expect(opened.refused.map((r) => [r.index, r.code])).toEqual([[1, "decryption-failed"]]);
  });

  it("refuses an item whose signature does not verify under its writer's key", async () => {
    const good = await item([MASTER()]);
    const bad = BackupItem.decode(await item([chain(2)]));
    const forged = SignedSealed.fromParts(
      bad.sealed.header,
      bad.sealed.ciphertext,
      flipped(bad.sealed.signature, 10),
    );
    const opened = await open([good, forged.encode()]);
    expect(opened.refused.map((r) => r.code)).toEqual(["bad-signature"]);
    expect(toHex(opened.refused[0]?.item ?? new Uint8Array())).toBe(toHex(bad.header.item));
  });

  it("refuses an item whose certificate names another device than its writer", async () => {
    const good = await item([MASTER()]);
    const mixed = await BackupItem.seal({
      account: alice.master.account,
      recoveryId: RECOVERY,
      backupKey,
      writer: alice.device.keys,
      writerCertificate: laptop.certificate,
      records: [chain(4)],
      env: env(),
    });
    const opened = await open([good, mixed.encode()]);
    expect(opened.refused.map((r) => r.code)).toEqual(["id-mismatch"]);
  });

  it("refuses an item written with another account's device certificate", async () => {
    const good = await item([MASTER()]);
    const foreign = await BackupItem.seal({
      account: alice.master.account,
      recoveryId: RECOVERY,
      backupKey,
      writer: bob.device.keys,
      writerCertificate: bob.device.certificate,
      records: [chain(4)],
      env: env(),
    });
    const opened = await open([good, foreign.encode()]);
    expect(opened.refused.map((r) => r.code)).toEqual(["wrong-account"]);
  });

  it("a revoked device's items written at or after its revocation are refused, earlier ones kept", async () => {
    const revocation = await alice.master.revoke(laptop.keys.device, 1n, T0 + 100n);
    const forged = await bob.master.revoke(alice.device.keys.device, 1n, T0);
    const good = await item([MASTER()]);
    const before = await item([chain(2)], { writer: laptop, now: T0 + 99n });
    const at = await item([chain(3)], { writer: laptop, now: T0 + 100n });
    const opened = await open([good, before, at], [revocation, forged]);
    expect(opened.refused.map((r) => [r.index, r.code])).toEqual([[2, "device-revoked"]]);
    expect(opened.records).toHaveLength(1);
  });

  it("reads truncated and bit-flipped items as an item or a decode/* error, nothing else", async () => {
    expectOnlyDecodeErrors(await item([MASTER(), chain(1)]), (b) => BackupItem.decode(b));
  });

  it("bounds an item to 1000 records and 256 KiB", async () => {
    const many = Array.from({ length: 1001 }, (_, i) => chain((i % 250) + 1));
    await expectCode(() => item(many), "invalid-input");
    const oversized = new Uint8Array(MAX_BACKUP_ITEM_LEN + 1);
    expect(() => BackupItem.decode(oversized)).toThrowError(/decode\/too-long/);
  });

  it("an item for another account is refused before it is opened", async () => {
    const good = await item([MASTER()]);
    const opened = await openBackup({
      items: [good],
      account: AccountId.fromBytes(new Uint8Array(32)),
      recoveryId: RECOVERY,
      backupKey,
      revocations: [],
    }).catch((error: unknown) => error);
    expect(opened).toMatchObject({ code: "recovery/no-master-key" });
  });
});
