/**
 * Local state sealed with AES-256-GCM under a non-extractable key that itself lives in IndexedDB
 * (as a `CryptoKey`, so script cannot read its bytes). Each record's name is its associated
 * data, so records cannot be swapped. Values go through tagged JSON (bigint, Uint8Array).
 */

import { decodeTagged, encodeTagged } from "../lib/tagged-json";
import type { Database } from "./db";
import { lockName } from "./locks";

const STORE_KEY = "store-key";

function isCryptoKey(v: unknown): v is CryptoKey {
  return typeof CryptoKey !== "undefined" && v instanceof CryptoKey;
}

interface SealedRecord {
  readonly iv: Uint8Array<ArrayBuffer>;
  readonly ct: ArrayBuffer;
}

function isSealed(v: unknown): v is SealedRecord {
  return (
    typeof v === "object" &&
    v !== null &&
    "iv" in v &&
    "ct" in v &&
    v.iv instanceof Uint8Array &&
    v.ct instanceof ArrayBuffer
  );
}

export class SealedStore {
  private constructor(
    readonly db: Database,
    private readonly key: CryptoKey,
  ) {}

  static async open(db: Database): Promise<SealedStore> {
    let key = await db.get("keys", STORE_KEY);
    if (!isCryptoKey(key)) {
      key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, [
        "encrypt",
        "decrypt",
      ]);
      await db.putAll("keys", [[STORE_KEY, key]]);
    }
    if (!isCryptoKey(key)) throw new Error("store key");
    return new SealedStore(db, key);
  }

  /** The name of lock `name` among this store's tabs: its account's namespace scopes it. */
  lockName(name: string): string {
    return lockName(this.db.name, name);
  }

  private async seal(name: string, value: unknown): Promise<SealedRecord> {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const pt = new TextEncoder().encode(encodeTagged(value));
    const ct = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(name) },
      this.key,
      pt,
    );
    return { iv, ct };
  }

  /** The caller states the type; only this device's own sealed records are read. */
  async get<T>(name: string): Promise<T | undefined> {
    const rec = await this.db.get("state", name);
    if (rec === undefined) return undefined;
    if (!isSealed(rec)) throw new Error(`local record ${name} is malformed`);
    const pt = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: rec.iv, additionalData: new TextEncoder().encode(name) },
      this.key,
      rec.ct,
    );
    return decodeTagged(new TextDecoder().decode(pt)) as T;
  }

  /** Writes records atomically (one IndexedDB transaction). */
  async put(
    entries: readonly (readonly [string, unknown])[],
    deletes: readonly string[] = [],
  ): Promise<void> {
    const sealed = await Promise.all(
      entries.map(async ([k, v]) => [k, await this.seal(k, v)] as const),
    );
    await this.db.putAll("state", sealed, deletes);
  }

  /**
   * Writes sealed records and raw `keys`-store records (key material kept as `CryptoKey`s) in one
   * IndexedDB transaction: a consumed prekey and the receiver state that consumed it (§18.6).
   */
  async putWithKeys(
    entries: readonly (readonly [string, unknown])[],
    keys: readonly (readonly [string, unknown])[],
  ): Promise<void> {
    const sealed = await Promise.all(
      entries.map(async ([k, v]) => [k, await this.seal(k, v)] as const),
    );
    await this.db.putBoth(keys, sealed);
  }

  async list(prefix: string): Promise<string[]> {
    return this.db.keysWithPrefix("state", prefix);
  }
}
