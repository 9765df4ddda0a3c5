/**
 * A device's prekeys as a receiver (`docs/protocol.md` §18.4, §18.6, §18.8): the one-time prekeys
 * it uploaded (by id), its last-resort prekeys (by the exchange key id they were certified with),
 * the one-time prekeys it consumed (id → SHA-256 of the distribution's wire form and when, kept
 * 180 days so a re-sent copy of the same distribution is a harmless duplicate), and the exchange
 * key ids it certified with version-2 certificates (a version-1 distribution to one of those is a
 * downgrade).
 *
 * The ring changes only in memory; the caller persists it in the same write as the receiver
 * state the change belongs to (§18.6: consuming a prekey and committing its chain are one step).
 */

import { type Bytes, bytesEqual, copyBytes } from "./bytes";
import { ProtocolError } from "./errors";
import {
  type ExchangeKeyId as ExchangeKeyIdT,
  type PrekeyId as PrekeyIdT,
  ExchangeKeyId,
  PrekeyId,
  idKey,
} from "./ids";
import { CHAIN_RETENTION_MS } from "./limits";
import { PrekeyPair, type StoredPrekeyPair } from "./prekey";

/**
 * One-time prekeys a device holds at most: ten full uploads, which leaves room for prekeys the
 * server handed out to senders that never used them.
 */
export const MAX_RING_ONE_TIME_PREKEYS = 1_000;

/** A consumed one-time prekey's tombstone. */
export interface ConsumedPrekey {
  /** SHA-256 of the wire form of the distribution that consumed it. */
  readonly wireHash: Bytes;
  readonly consumedAt: bigint;
}

/** The ring as IndexedDB stores it (structured-cloneable; private keys stay `CryptoKey`s). */
export interface StoredPrekeyRing {
  readonly oneTime: readonly StoredPrekeyPair[];
  readonly lastResort: readonly { readonly exchangeKey: Bytes; readonly pair: StoredPrekeyPair }[];
  readonly consumed: readonly {
    readonly id: Bytes;
    readonly wireHash: Bytes;
    readonly consumedAt: bigint;
  }[];
  readonly v2ExchangeKeys: readonly Bytes[];
}

/** What §18.6 step 4 found for a one-time prekey. */
export type OneTimeLookup =
  | { readonly kind: "available"; readonly pair: PrekeyPair }
  /** Consumed by this very distribution before: nothing changes, nothing is reported. */
  | { readonly kind: "duplicate" };

export class PrekeyRing {
  private readonly oneTime = new Map<string, PrekeyPair>();
  private readonly lastResort = new Map<string, PrekeyPair>();
  private readonly consumed = new Map<string, ConsumedPrekey>();
  private readonly v2Keys = new Set<string>();

  /** Adds a one-time prekey this device made (before uploading it); at most 1000 are held. */
  addOneTime(pair: PrekeyPair): void {
    const key = idKey(pair.id);
    if (this.consumed.has(key) || this.oneTime.has(key))
      throw new ProtocolError("invalid-input", "prekey id reused");
    if (this.oneTime.size >= MAX_RING_ONE_TIME_PREKEYS)
      throw new ProtocolError("invalid-input", "too many one-time prekeys held");
    this.oneTime.set(key, pair);
  }

  /**
   * Adds the last-resort prekey certified with exchange key `xkey` (a version-2 certificate):
   * the key id also counts as version-2 from now on.
   */
  addLastResort(xkey: ExchangeKeyIdT, pair: PrekeyPair): void {
    this.lastResort.set(idKey(xkey), pair);
    this.v2Keys.add(idKey(xkey));
  }

  /**
   * Drops a last-resort prekey's private keys, with the exchange private key they were certified
   * with (§18.8). The key id stays version-2: a version-1 distribution to it is still a downgrade.
   */
  removeLastResort(xkey: ExchangeKeyIdT): void {
    this.lastResort.delete(idKey(xkey));
  }

  /** Whether `xkey` was certified by a version-2 certificate of this device. */
  isV2ExchangeKey(xkey: ExchangeKeyIdT): boolean {
    return this.v2Keys.has(idKey(xkey));
  }

  /** How many one-time prekeys this device still holds. */
  oneTimeCount(): number {
    return this.oneTime.size;
  }

  /** The ids of the one-time prekeys held. */
  oneTimeIds(): PrekeyIdT[] {
    return [...this.oneTime.values()].map((p) => p.id);
  }

  /** §18.6 step 4, one-time: a held prekey, a harmless duplicate, or `prekey/unknown`. */
  findOneTime(id: PrekeyIdT, wireHash: Uint8Array): OneTimeLookup {
    const key = idKey(id);
    const tomb = this.consumed.get(key);
    if (tomb !== undefined) {
      if (bytesEqual(tomb.wireHash, wireHash)) return { kind: "duplicate" };
      throw new ProtocolError("prekey/unknown", "one-time prekey already used");
    }
    const pair = this.oneTime.get(key);
    if (pair === undefined) throw new ProtocolError("prekey/unknown", PrekeyId.toText(id));
    return { kind: "available", pair };
  }

  /** §18.6 step 4, last-resort: the prekey certified with `xkey`, if its id is `id`. */
  findLastResort(xkey: ExchangeKeyIdT, id: PrekeyIdT): PrekeyPair {
    const pair = this.lastResort.get(idKey(xkey));
    if (pair === undefined || !bytesEqual(pair.id, id)) {
      throw new ProtocolError("prekey/unknown", "last-resort prekey");
    }
    return pair;
  }

  /**
   * Deletes a one-time prekey's private keys and records it as consumed by the distribution
   * whose wire form hashes to `wireHash` (§18.6, on commit).
   */
  consume(id: PrekeyIdT, wireHash: Uint8Array, now: bigint): void {
    const key = idKey(id);
    this.oneTime.delete(key);
    this.consumed.set(key, { wireHash: copyBytes(wireHash), consumedAt: now });
  }

  /** Whether a one-time prekey was consumed (tests, diagnostics). */
  isConsumed(id: PrekeyIdT): boolean {
    return this.consumed.has(idKey(id));
  }

  /** Re-key (§18.8): drops every held one-time prekey and returns their ids. */
  replaceAllOneTime(): PrekeyIdT[] {
    const ids = this.oneTimeIds();
    this.oneTime.clear();
    return ids;
  }

  /** Forgets tombstones older than the chain retention (180 days). */
  prune(now: bigint): void {
    for (const [key, tomb] of this.consumed) {
      if (tomb.consumedAt + CHAIN_RETENTION_MS < now) this.consumed.delete(key);
    }
  }

  /** What IndexedDB keeps. */
  toStored(): StoredPrekeyRing {
    return {
      oneTime: [...this.oneTime.values()].map((p) => p.toStored()),
      lastResort: [...this.lastResort.entries()].map(([key, pair]) => ({
        exchangeKey: ExchangeKeyId.parse(`${ExchangeKeyId.PREFIX}${key}`),
        pair: pair.toStored(),
      })),
      consumed: [...this.consumed.entries()].map(([key, tomb]) => ({
        id: PrekeyId.parse(`${PrekeyId.PREFIX}${key}`),
        wireHash: copyBytes(tomb.wireHash),
        consumedAt: tomb.consumedAt,
      })),
      v2ExchangeKeys: [...this.v2Keys].map((key) =>
        ExchangeKeyId.parse(`${ExchangeKeyId.PREFIX}${key}`),
      ),
    };
  }

  /** Rebuilds a stored ring. */
  static fromStored(s: StoredPrekeyRing): PrekeyRing {
    const ring = new PrekeyRing();
    for (const p of s.oneTime) ring.oneTime.set(idKey(p.id), PrekeyPair.fromStored(p));
    for (const l of s.lastResort) {
      ring.lastResort.set(idKey(l.exchangeKey), PrekeyPair.fromStored(l.pair));
    }
    for (const c of s.consumed) {
      ring.consumed.set(idKey(c.id), { wireHash: copyBytes(c.wireHash), consumedAt: c.consumedAt });
    }
    for (const k of s.v2ExchangeKeys) ring.v2Keys.add(idKey(k));
    return ring;
  }
}
