/**
 * Recovery (`docs/protocol.md` §14): the recovery key a user writes down, its text form, and the
 * keys derived from a recovery secret — the backup key that seals backup items (§15.2), the
 * access key that unlocks the backup at the server, and the verifier the server keeps.
 *
 * ```text
 * key        = secret [28] ‖ SHA-256(domain("sotto/recovery-key") ‖ secret)[0..2]
 * text       = Crockford base32(key), 48 characters, 12 groups of 4 joined by "-"
 * s          = secret, or Argon2id(passphrase, salt [16], m = 256 MiB, t = 3, p = 1, 32 bytes)
 * root       = HKDF(s, domain("sotto/recovery/root") ‖ account id ‖ recovery id, 32)
 * backup key = HKDF(root, domain("sotto/recovery/backup-key"), 32)
 * access key = HKDF(root, domain("sotto/recovery/access"), 32)
 * verifier   = SHA-256(domain("sotto/recovery/verifier") ‖ access key)
 * ```
 *
 * Where the bytes live: the backup key ends as a non-extractable WebCrypto HKDF key (it only
 * ever derives item keys, §15.2), so script can use it and store it in IndexedDB but never read
 * it. The recovery secret, the root and the backup key's bytes exist briefly as byte arrays —
 * HKDF's output is bits, and WebCrypto cannot derive an HKDF key from an HKDF key — and are
 * overwritten with zeros once imported. The access key stays bytes: it is sent to the server.
 * Argon2id is not in WebCrypto; it runs in WebAssembly (`hash-wasm`), which a page under a CSP
 * needs `'wasm-unsafe-eval'` in `script-src` to compile.
 */

import { argon2id } from "hash-wasm";

import { type Bytes, concatBytes, constantTimeEqual, copyBytes, utf8Encode } from "./bytes";
import { Writer } from "./codec";
import { Domain, encodeDomain } from "./domains";
import type { Rng } from "./env";
import { ProtocolError, cryptoOp } from "./errors";
import {
  type AccountId as AccountIdT,
  type BackupItemId as BackupItemIdT,
  type RecoveryId as RecoveryIdT,
  AccountId,
  BackupItemId,
  RecoveryId,
} from "./ids";
import {
  AES_KEY_LEN,
  ARGON2_ITERATIONS,
  ARGON2_MEMORY_KIB,
  ARGON2_PARALLELISM,
  ARGON2_SALT_LEN,
  GCM_NONCE_LEN,
  MIN_PASSPHRASE_CHARS,
  RECOVERY_CHECK_LEN,
  RECOVERY_KEY_LEN,
  RECOVERY_SECRET_LEN,
  RECOVERY_TEXT_LEN,
} from "./limits";
import { AeadKey, hkdfSha256, sha256 } from "./primitives";

/** Crockford's base32 alphabet (no I, L, O, U). */
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/** Characters per group of the displayed form. */
const GROUP_LEN = 4;

/** `SHA-256(domain("sotto/recovery-key") ‖ secret)[0..2]`. */
async function checksum(secret: Uint8Array): Promise<Bytes> {
  return (await sha256(encodeDomain(Domain.RecoveryKey), secret)).slice(0, RECOVERY_CHECK_LEN);
}

/** Base32 of 30 bytes, most significant bit first: exactly 48 characters. */
function toBase32(bytes: Uint8Array): string {
  let out = "";
  let acc = 0;
  let bits = 0;
  for (const byte of bytes) {
    acc = ((acc << 8) | byte) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(acc >> bits) & 0x1f] ?? "";
    }
  }
  return out;
}

/** The value of one normalised character, or -1 outside the alphabet (§14.1 rule 2). */
function base32Value(char: string): number {
  if (char === "O") return 0;
  if (char === "I" || char === "L") return 1;
  return ALPHABET.indexOf(char);
}

/** §14.1 rule 1: drop ASCII space, tab and `-`; upper-case ASCII letters only. */
function normalise(text: string): string {
  let out = "";
  for (const char of text) {
    if (char === " " || char === "\t" || char === "-") continue;
    out += char >= "a" && char <= "z" ? char.toUpperCase() : char;
  }
  return out;
}

/** A recovery key: 28 secret bytes and their checksum. Shown once, never stored. */
export class RecoveryKey {
  private constructor(private readonly key: Bytes) {}

  /** A fresh key from `rng` (the app's is `crypto.getRandomValues`). */
  static async generate(rng: Rng): Promise<RecoveryKey> {
    const secret = await rng.random(RECOVERY_SECRET_LEN);
    const key = await RecoveryKey.fromSecret(secret);
    secret.fill(0);
    return key;
  }

  /** The key of 28 secret bytes (`invalid-input` for another length). */
  static async fromSecret(secret: Uint8Array): Promise<RecoveryKey> {
    if (secret.length !== RECOVERY_SECRET_LEN)
      throw new ProtocolError("invalid-input", "a recovery secret is 28 bytes");
    return new RecoveryKey(concatBytes(secret, await checksum(secret)));
  }

  /**
   * Parses what the user typed (§14.1): separators and case are ignored, `O` reads as `0` and
   * `I`, `L` as `1`; anything else outside the alphabet, or a length other than 48, is
   * `recovery/malformed`; a checksum mismatch (a typo) is `recovery/bad-checksum`.
   */
  static async parse(text: string): Promise<RecoveryKey> {
    const chars = normalise(text);
    // Compare code units first: a non-BMP character counts as two and is refused below anyway.
    if (chars.length !== RECOVERY_TEXT_LEN)
      throw new ProtocolError("recovery/malformed", "a recovery key has 48 characters");
    const key = new Uint8Array(RECOVERY_SECRET_LEN + RECOVERY_CHECK_LEN);
    let acc = 0;
    let bits = 0;
    let at = 0;
    for (const char of chars) {
      const value = base32Value(char);
      if (value < 0) throw new ProtocolError("recovery/malformed", "not a recovery key character");
      acc = ((acc << 5) | value) & 0xfff;
      bits += 5;
      if (bits >= 8) {
        bits -= 8;
        key[at++] = (acc >> bits) & 0xff;
      }
    }
    const secret = key.subarray(0, RECOVERY_SECRET_LEN);
    if (!constantTimeEqual(await checksum(secret), key.subarray(RECOVERY_SECRET_LEN))) {
      key.fill(0);
      throw new ProtocolError("recovery/bad-checksum");
    }
    return new RecoveryKey(key);
  }

  /** The text form: 48 characters in 12 groups of 4 joined by `-`. */
  toText(): string {
    const chars = toBase32(this.key);
    const groups: string[] = [];
    for (let i = 0; i < chars.length; i += GROUP_LEN) groups.push(chars.slice(i, i + GROUP_LEN));
    return groups.join("-");
  }

  /** The 30 key bytes (secret and checksum), for the shared vectors only. */
  dangerBytes(): Bytes {
    return copyBytes(this.key);
  }

  /** The recovery secret `s` of this key: its 28 secret bytes. */
  secret(): RecoverySecret {
    return RecoverySecret.dangerFromBytes(this.key.subarray(0, RECOVERY_SECRET_LEN));
  }

  /** Overwrites the key in memory. */
  wipe(): void {
    this.key.fill(0);
  }

  /** Never print a secret. */
  toString(): string {
    return "RecoveryKey(<secret>)";
  }
}

/** Whether `passphrase` is long enough for a recovery set-up (at least 12 code points). */
export function isAcceptablePassphrase(passphrase: string): boolean {
  return Array.from(passphrase).length >= MIN_PASSPHRASE_CHARS;
}

/**
 * The recovery secret `s` (§14.2): a recovery key's 28 bytes or a passphrase's Argon2id output.
 * Call {@link RecoverySecret.wipe} once the keys are derived.
 */
export class RecoverySecret {
  private constructor(private readonly bytes: Bytes) {}

  /** Wraps secret bytes (a recovery key's, or tests and vectors). */
  static dangerFromBytes(bytes: Uint8Array): RecoverySecret {
    if (bytes.length === 0) throw new ProtocolError("invalid-input", "empty recovery secret");
    return new RecoverySecret(copyBytes(bytes));
  }

  /**
   * `Argon2id(utf8(passphrase), salt, m = 262144 KiB, t = 3, p = 1, 32 bytes)`. A passphrase under
   * 12 characters or a salt other than 16 bytes is `invalid-input`. Takes a second or more and
   * 256 MiB of memory.
   */
  static async fromPassphrase(passphrase: string, salt: Uint8Array): Promise<RecoverySecret> {
    if (!isAcceptablePassphrase(passphrase))
      throw new ProtocolError("invalid-input", "a recovery passphrase has at least 12 characters");
    if (salt.length !== ARGON2_SALT_LEN)
      throw new ProtocolError("invalid-input", "a recovery salt is 16 bytes");
    const password = utf8Encode(passphrase, "passphrase");
    try {
      const out = await cryptoOp("argon2id", () =>
        argon2id({
          password,
          salt: copyBytes(salt),
          parallelism: ARGON2_PARALLELISM,
          iterations: ARGON2_ITERATIONS,
          memorySize: ARGON2_MEMORY_KIB,
          hashLength: RECOVERY_KEY_LEN,
          outputType: "binary",
        }),
      );
      const secret = new RecoverySecret(copyBytes(out));
      out.fill(0);
      return secret;
    } finally {
      password.fill(0);
    }
  }

  /** The keys of the set-up `recoveryId` of `account`. */
  async derive(account: AccountIdT, recoveryId: RecoveryIdT): Promise<RecoveryKeys> {
    const material = await this.dangerDeriveBytes(account, recoveryId);
    try {
      return {
        backupKey: await BackupKey.dangerFromBytes(material.backupKey),
        accessKey: AccessKey.fromBytes(material.accessKey),
        verifier: material.verifier,
      };
    } finally {
      material.root.fill(0);
      material.backupKey.fill(0);
      material.accessKey.fill(0);
    }
  }

  /** The secret bytes, for the shared vectors only. */
  dangerBytes(): Bytes {
    return copyBytes(this.bytes);
  }

  /** Every derived value as bytes, for the shared vectors only; the app uses {@link derive}. */
  async dangerDeriveBytes(
    account: AccountIdT,
    recoveryId: RecoveryIdT,
  ): Promise<{ root: Bytes; backupKey: Bytes; accessKey: Bytes; verifier: Bytes }> {
    const info = Writer.forDomain(Domain.RecoveryRoot);
    AccountId.encode(info, account);
    RecoveryId.encode(info, recoveryId);
    const root = await hkdfSha256(this.bytes, info.finish(), RECOVERY_KEY_LEN);
    const backupKey = await hkdfSha256(
      root,
      encodeDomain(Domain.RecoveryBackupKey),
      RECOVERY_KEY_LEN,
    );
    const accessKey = await hkdfSha256(root, encodeDomain(Domain.RecoveryAccess), RECOVERY_KEY_LEN);
    return { root, backupKey, accessKey, verifier: await recoveryVerifier(accessKey) };
  }

  /** Overwrites the secret in memory. */
  wipe(): void {
    this.bytes.fill(0);
  }

  toString(): string {
    return "RecoverySecret(<secret>)";
  }
}

/** `SHA-256(domain("sotto/recovery/verifier") ‖ access key)`: what the server keeps. */
export async function recoveryVerifier(accessKey: Uint8Array): Promise<Bytes> {
  return sha256(encodeDomain(Domain.RecoveryVerifier), accessKey);
}

/** The HKDF info of a backup item's key: `domain("sotto/backup-item-key") ‖ recovery id ‖ item id`. */
export function backupItemKeyInfo(recoveryId: RecoveryIdT, item: BackupItemIdT): Bytes {
  const info = Writer.forDomain(Domain.BackupItemKey);
  RecoveryId.encode(info, recoveryId);
  BackupItemId.encode(info, item);
  return info.finish();
}

/** What a recovery secret gives for one set-up. */
export interface RecoveryKeys {
  /** Seals and opens backup items; never leaves the client. */
  readonly backupKey: BackupKey;
  /** Presented to the server to unlock the backup (`POST /v1/recovery/unlock`). */
  readonly accessKey: AccessKey;
  /** Uploaded at set-up (`PUT /v1/recovery`). */
  readonly verifier: Bytes;
}

/** The key that unlocks the backup at the server: a credential, sent, never stored. */
export class AccessKey {
  private constructor(private readonly bytes: Bytes) {}

  /** Wraps 32 bytes. */
  static fromBytes(bytes: Uint8Array): AccessKey {
    if (bytes.length !== RECOVERY_KEY_LEN)
      throw new ProtocolError("invalid-input", "an access key is 32 bytes");
    return new AccessKey(copyBytes(bytes));
  }

  /** The bytes, for the unlock request only. */
  dangerBytes(): Bytes {
    return copyBytes(this.bytes);
  }

  toString(): string {
    return "AccessKey(<secret>)";
  }
}

/**
 * The backup key (§14.2) as a non-extractable WebCrypto HKDF key: it derives the AES key and
 * nonce of each backup item (§15.2) and nothing else.
 */
export class BackupKey {
  private constructor(
    /** Non-extractable, usage `deriveBits`: storable in IndexedDB, never readable. */
    readonly cryptoKey: CryptoKey,
  ) {}

  /** Imports 32 key bytes non-extractable (the caller zeroes its copy). */
  static async dangerFromBytes(bytes: Uint8Array): Promise<BackupKey> {
    if (bytes.length !== RECOVERY_KEY_LEN)
      throw new ProtocolError("invalid-input", "a backup key is 32 bytes");
    const key = await cryptoOp("backup key import", () =>
      globalThis.crypto.subtle.importKey("raw", copyBytes(bytes), "HKDF", false, ["deriveBits"]),
    );
    return new BackupKey(key);
  }

  /** Rewraps a key stored by the client (an HKDF `deriveBits` key, `invalid-input` otherwise). */
  static fromStored(key: CryptoKey): BackupKey {
    if (
      key.type !== "secret" ||
      key.algorithm.name !== "HKDF" ||
      !key.usages.includes("deriveBits")
    )
      throw new ProtocolError("invalid-input", "not an HKDF deriveBits key");
    return new BackupKey(key);
  }

  /**
   * The item's AES-256-GCM key and nonce: `HKDF(backup key, domain("sotto/backup-item-key") ‖
   * recovery id ‖ item id, 44)`.
   */
  async itemKey(recoveryId: RecoveryIdT, item: BackupItemIdT): Promise<AeadKey> {
    const infoBytes = backupItemKeyInfo(recoveryId, item);
    const okm = await cryptoOp(
      "backup item key",
      async () =>
        new Uint8Array(
          await globalThis.crypto.subtle.deriveBits(
            { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: infoBytes },
            this.cryptoKey,
            (AES_KEY_LEN + GCM_NONCE_LEN) * 8,
          ),
        ),
    );
    const aead = new AeadKey(okm.subarray(0, AES_KEY_LEN), okm.subarray(AES_KEY_LEN));
    okm.fill(0);
    return aead;
  }

  toString(): string {
    return "BackupKey(<secret>)";
  }
}
