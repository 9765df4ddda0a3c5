import { describe, expect, it } from "vitest";

import { fromHex, toHex } from "./bytes";
import { DangerSeededRng } from "./env";
import { AccountId, BackupItemId, RecoveryId } from "./ids";
import { AeadKey } from "./primitives";
import {
  BackupKey,
  RecoveryKey,
  RecoverySecret,
  isAcceptablePassphrase,
  recoveryVerifier,
} from "./recovery";
import { expectCode } from "./test-support";

// Expected values computed independently (Python: hashlib, hmac, cryptography's Argon2id) from
// the formulas of docs/protocol.md §14.
const SECRET = Uint8Array.from({ length: 28 }, (_, i) => i);
const SECRET_TEXT = "000G-40R4-0M30-E209-185G-R38E-1W81-24GK-2GAH-C5RR-34D1-QVDG";
const ACCOUNT = AccountId.fromBytes(new Uint8Array(32).fill(0xaa));
const RECOVERY = RecoveryId.fromBytes(new Uint8Array(16).fill(0xbb));
const ITEM = BackupItemId.fromBytes(new Uint8Array(16).fill(0xcc));
const ROOT = "e47b3fd64acaa4931ddfbca46233871f9ff60869d6c30caa3f485c0e32750b22";
const BACKUP = "2edaca43b321de22cc25cfff273c2f53edb1d3c1b55ce6e1702ce92227ef70dc";
const ACCESS = "342aada0d09a0d1548b4336f233f5da4916a0e870072e114790f39d6b957922f";
const VERIFIER = "f2b523aef88e09b10eab3db7754cacfa12ed49683e3b2bfd4f96ca29c7718190";
const ITEM_OKM =
  "dffeeace644cafc5dc81a911b9422a93f07ab2dee9e3369ecdc8e50e04a5f17cb4560ab86e13a7927694264d";
const ARGON2 = "aad608b5866cef907f47d5cae529ed01a91301c92c5d5fef46e1a65e394e5742";

describe("recovery key text form (§14.1)", () => {
  it("writes 28 secret bytes and their checksum as 12 groups of 4 Crockford characters", async () => {
    const key = await RecoveryKey.fromSecret(SECRET);
    expect(key.toText()).toBe(SECRET_TEXT);
    expect(String(key)).toBe("RecoveryKey(<secret>)");
  });

  it("a generated key reads back as itself", async () => {
    const key = await RecoveryKey.generate(new DangerSeededRng(new Uint8Array(32).fill(3)));
    const text = key.toText();
    expect(text).toMatch(/^([0-9A-HJKMNP-TV-Z]{4}-){11}[0-9A-HJKMNP-TV-Z]{4}$/);
    expect((await RecoveryKey.parse(text)).toText()).toBe(text);
  });

  it("reads what a person types: any case, spaces, tabs, no dashes, O for 0, I and L for 1", async () => {
    const sloppy = SECRET_TEXT.toLowerCase().replaceAll("-", " ").replace("0", "o");
    expect((await RecoveryKey.parse(sloppy)).toText()).toBe(SECRET_TEXT);
    expect((await RecoveryKey.parse(`\t${SECRET_TEXT.replaceAll("-", "")} `)).toText()).toBe(
      SECRET_TEXT,
    );
    const withOne = await RecoveryKey.fromSecret(new Uint8Array(28).fill(0x08));
    const ones = withOne.toText();
    expect(ones).toContain("1");
    expect((await RecoveryKey.parse(ones.replaceAll("1", "l"))).toText()).toBe(ones);
    expect((await RecoveryKey.parse(ones.replaceAll("1", "I"))).toText()).toBe(ones);
  });

  it("refuses characters outside the alphabet, U included, and other lengths as malformed", async () => {
    const swap = (at: number, c: string): string =>
      SECRET_TEXT.slice(0, at) + c + SECRET_TEXT.slice(at + 1);
    for (const text of [
      swap(0, "U"),
      swap(0, "*"),
      swap(0, "é"),
      swap(0, "\u0131"), // dotless i: upper-cases to I outside ASCII, so it is not read as 1
      SECRET_TEXT.slice(0, -1),
      `${SECRET_TEXT}0`,
      "",
    ]) {
      await expectCode(() => RecoveryKey.parse(text), "recovery/malformed");
    }
  });

  it("catches a typo by its checksum before anything is sent", async () => {
    const typo = `1${SECRET_TEXT.slice(1)}`;
    await expectCode(() => RecoveryKey.parse(typo), "recovery/bad-checksum");
    const last = SECRET_TEXT.at(-1) === "G" ? "H" : "G";
    await expectCode(
      () => RecoveryKey.parse(SECRET_TEXT.slice(0, -1) + last),
      "recovery/bad-checksum",
    );
  });

  it("a recovery secret must be 28 bytes", async () => {
    await expectCode(() => RecoveryKey.fromSecret(new Uint8Array(27)), "invalid-input");
  });
});

describe("derived keys (§14.2)", () => {
  it("derives root, backup key, access key and verifier from the secret, account and set-up", async () => {
    const key = await RecoveryKey.fromSecret(SECRET);
    const bytes = await key.secret().dangerDeriveBytes(ACCOUNT, RECOVERY);
    expect(toHex(bytes.root)).toBe(ROOT);
    expect(toHex(bytes.backupKey)).toBe(BACKUP);
    expect(toHex(bytes.accessKey)).toBe(ACCESS);
    expect(toHex(bytes.verifier)).toBe(VERIFIER);
    expect(toHex(await recoveryVerifier(fromHex(ACCESS)))).toBe(VERIFIER);
  });

  it("keeps the backup key non-extractable and derives each item's key and nonce from it", async () => {
    const keys = await (await RecoveryKey.fromSecret(SECRET)).secret().derive(ACCOUNT, RECOVERY);
    expect(keys.backupKey.cryptoKey.extractable).toBe(false);
    await expect(
      globalThis.crypto.subtle.exportKey("raw", keys.backupKey.cryptoKey),
    ).rejects.toThrow();
    expect(toHex(keys.accessKey.dangerBytes())).toBe(ACCESS);
    expect(toHex(keys.verifier)).toBe(VERIFIER);
    const okm = fromHex(ITEM_OKM);
    const expected = new AeadKey(okm.subarray(0, 32), okm.subarray(32));
    const plaintext = new TextEncoder().encode("item");
    const aad = Uint8Array.of(1, 2, 3);
    const sealed = await (await keys.backupKey.itemKey(RECOVERY, ITEM)).seal(aad, plaintext);
    expect(toHex(sealed)).toBe(toHex(await expected.seal(aad, plaintext)));
    const stored = BackupKey.fromStored(keys.backupKey.cryptoKey);
    expect(toHex(await (await stored.itemKey(RECOVERY, ITEM)).seal(aad, plaintext))).toBe(
      toHex(sealed),
    );
  });

  it("another set-up of the same secret gives unrelated keys", async () => {
    const secret = (await RecoveryKey.fromSecret(SECRET)).secret();
    const other = await secret.dangerDeriveBytes(ACCOUNT, RecoveryId.fromBytes(new Uint8Array(16)));
    expect(toHex(other.accessKey)).not.toBe(ACCESS);
    expect(toHex(other.backupKey)).not.toBe(BACKUP);
  });

  it("refuses to wrap anything but an HKDF key as a stored backup key", async () => {
    const aes = await globalThis.crypto.subtle.generateKey(
      { name: "AES-GCM", length: 256 },
      false,
      ["encrypt"],
    );
    expect(() => BackupKey.fromStored(aes)).toThrowError(/invalid-input/);
  });

  it("a passphrase goes through Argon2id (256 MiB, 3 passes, 1 lane) to a 32-byte secret", async () => {
    const salt = Uint8Array.from({ length: 16 }, (_, i) => i);
    const secret = await RecoverySecret.fromPassphrase("correct horse battery staple", salt);
    const expected = RecoverySecret.dangerFromBytes(fromHex(ARGON2));
    const [a, b] = await Promise.all([
      secret.dangerDeriveBytes(ACCOUNT, RECOVERY),
      expected.dangerDeriveBytes(ACCOUNT, RECOVERY),
    ]);
    expect(toHex(a.root)).toBe(toHex(b.root));
  }, 30_000);

  it("a passphrase has at least 12 characters and the salt 16 bytes", async () => {
    expect(isAcceptablePassphrase("elevenchars")).toBe(false);
    expect(isAcceptablePassphrase("twelve chars")).toBe(true);
    // Twelve characters, more than twelve bytes.
    expect(isAcceptablePassphrase("ééééééééééé")).toBe(false);
    expect(isAcceptablePassphrase("éééééééééééé")).toBe(true);
    await expectCode(
      () => RecoverySecret.fromPassphrase("short", new Uint8Array(16)),
      "invalid-input",
    );
    await expectCode(
      () => RecoverySecret.fromPassphrase("long enough passphrase", new Uint8Array(15)),
      "invalid-input",
    );
  });
});
