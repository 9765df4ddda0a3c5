/**
 * This device's keys: private halves as non-extractable `CryptoKey`s in IndexedDB (`keys`
 * store), public halves and metadata sealed in the `state` store.
 */

import {
  type AccountId,
  AccountId as AccountIdK,
  type Bytes,
  DeviceKeys,
  ExchangeKeyPair,
  MasterKey,
  SigningKeyPair,
  type LocalDevice,
  PrekeyRing,
  type StoredPrekeyRing,
  localDevice,
} from "../../crypto";
import type { Database } from "../../storage/db";
import type { SealedStore } from "../../storage/sealed";

export interface StoredExchangeKey {
  readonly name: string;
  readonly spki: Bytes;
  readonly serial: bigint;
  readonly notBefore: bigint;
  readonly notAfter: bigint;
}

export interface IdentityRecord {
  readonly username: string;
  readonly account: string;
  readonly masterSpki: Bytes;
  readonly hasMaster: boolean;
  readonly deviceName: string;
  readonly signingSpki: Bytes;
  readonly authSpki: Bytes;
  readonly exchange: readonly StoredExchangeKey[];
  /** Highest revocation serial this device issued or saw. */
  readonly revocationSerial: bigint;
}

export interface LoadedKeys {
  readonly record: IdentityRecord;
  readonly account: AccountId;
  readonly master: MasterKey | undefined;
  readonly device: DeviceKeys;
  readonly exchange: readonly {
    readonly meta: StoredExchangeKey;
    readonly pair: ExchangeKeyPair;
  }[];
  /** This device's prekeys (§18): also `local.prekeys`, the one object both read and change. */
  readonly prekeys: PrekeyRing;
  readonly local: LocalDevice;
}

/** The `keys`-store record of the prekey ring: private keys as `CryptoKey`s or sealed seeds. */
export const PREKEY_RING = "prekey-ring";

/** The ring as a `keys`-store entry, to write with whatever change it belongs to. */
export function ringEntry(ring: PrekeyRing): readonly [string, unknown] {
  return [PREKEY_RING, ring.toStored()];
}

/** The stored ring, or an empty one (a device from before version 2). */
export async function loadRing(db: Database): Promise<PrekeyRing> {
  const stored = await db.get("keys", PREKEY_RING);
  return stored === undefined
    ? new PrekeyRing()
    : PrekeyRing.fromStored(stored as StoredPrekeyRing);
}

function isKey(v: unknown): v is CryptoKey {
  return v instanceof CryptoKey;
}

async function storedKey(db: Database, name: string): Promise<CryptoKey> {
  const k = await db.get("keys", name);
  if (!isKey(k)) throw new Error(`missing key ${name}`);
  return k;
}

export async function saveKeys(
  store: SealedStore,
  record: IdentityRecord,
  keys: {
    master?: MasterKey;
    device?: DeviceKeys;
    exchange?: readonly { name: string; pair: ExchangeKeyPair }[];
    /** The prekey ring, written in the same transaction (a new last-resort prekey). */
    ring?: PrekeyRing;
  },
): Promise<void> {
  const entries: (readonly [string, unknown])[] = [];
  if (keys.master) entries.push(["master", keys.master.keyPair.privateKey]);
  if (keys.device) {
    entries.push(["device-signing", keys.device.signing.privateKey]);
    entries.push(["device-auth", keys.device.auth.privateKey]);
  }
  for (const x of keys.exchange ?? []) entries.push([x.name, x.pair.privateKey]);
  if (keys.ring !== undefined) entries.push(ringEntry(keys.ring));
  await store.putWithKeys([["identity", record]], entries);
}

export async function loadKeys(db: Database, store: SealedStore): Promise<LoadedKeys | undefined> {
  const record = await store.get<IdentityRecord>("identity");
  if (record === undefined) return undefined;
  const account = AccountIdK.parse(record.account);
  const master = record.hasMaster
    ? await MasterKey.fromKey(
        await SigningKeyPair.fromStored(await storedKey(db, "master"), record.masterSpki),
      )
    : undefined;
  const device = await DeviceKeys.fromKeys(
    await SigningKeyPair.fromStored(await storedKey(db, "device-signing"), record.signingSpki),
    await SigningKeyPair.fromStored(await storedKey(db, "device-auth"), record.authSpki),
  );
  const exchange = await Promise.all(
    record.exchange.map(async (meta) => ({
      meta,
      pair: await ExchangeKeyPair.fromStored(await storedKey(db, meta.name), meta.spki),
    })),
  );
  const prekeys = await loadRing(db);
  const local = {
    ...(await localDevice(
      account,
      device.device,
      exchange.map((x) => x.pair),
    )),
    prekeys,
  };
  return { record, account, master, device, exchange, prekeys, local };
}
