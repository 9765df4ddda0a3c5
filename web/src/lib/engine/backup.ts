/**
 * The key backup's writer (`docs/protocol.md` §15.2): on a device that holds the backup key (the
 * one that set recovery up, or one recovered with it), every chain, pin and group name this
 * device learns goes to the server as sealed items, one item per batch, never a re-upload of
 * everything. What was written is remembered by id only (no secret), so a flush sends exactly
 * the difference. The backup key itself stays a non-extractable `CryptoKey` in IndexedDB.
 */

import {
  BackupItem,
  BackupKey,
  type BundleRecord,
  type DeviceKeys,
  RecoveryId,
  type Signed,
  type AccountId,
  ChainId,
  systemEnv,
} from "../../crypto";
import { type ApiClient, isApiError } from "../api";
import { toB64 } from "../b64";
import type { Database } from "../../storage/db";
import type { SealedStore } from "../../storage/sealed";
import { type BundleSources, bundleRecords } from "./keybundle";

/** Records per item: the protocol's bound for a bundle in an item (§15.2). */
export const ITEM_RECORDS = 1000;
/** Items per upload: the server's bound for `POST /v1/recovery/items`. */
const ITEMS_PER_REQUEST = 64;

const BACKUP_KEY = "backup-key";
const BACKUP_STATE = "backup";

/** What the backup holds already, by id: chains, pins (with their verified flag), names. */
export interface BackupState {
  readonly recoveryId: string;
  readonly chains: readonly string[];
  readonly pins: Readonly<Record<string, boolean>>;
  /** Conversation → the epoch of the name backed up. */
  readonly names: Readonly<Record<string, string>>;
}

/** The part of `sources` the backup does not hold yet. */
export function notBackedUp(state: BackupState, sources: BundleSources): BundleSources {
  const chains = new Set(state.chains);
  return {
    keys: sources.keys.filter((k) => !chains.has(ChainId.toText(k.chain))),
    pins: sources.pins.filter((p) => state.pins[p.account] !== p.verified),
    names: sources.names.filter((n) => state.names[n.conversation] !== n.epoch.toString()),
  };
}

/** `state` after `sources` were written. */
export function withWritten(state: BackupState, sources: BundleSources): BackupState {
  const pins = { ...state.pins };
  for (const p of sources.pins) pins[p.account] = p.verified;
  const names = { ...state.names };
  for (const n of sources.names) names[n.conversation] = n.epoch.toString();
  return {
    recoveryId: state.recoveryId,
    chains: [...new Set([...state.chains, ...sources.keys.map((k) => ChainId.toText(k.chain))])],
    pins,
    names,
  };
}

/** Who writes items: this device, its certificate, its account. */
export interface Writer {
  readonly account: AccountId;
  readonly device: DeviceKeys;
  readonly certificate: Signed;
}

/** Seals `batches` as items of the set-up and uploads them, at most 64 per request. */
export async function writeItems(
  api: ApiClient,
  writer: Writer,
  recoveryId: string,
  backupKey: BackupKey,
  batches: readonly (readonly BundleRecord[])[],
): Promise<void> {
  const wires: string[] = [];
  for (const records of batches) {
    const item = await BackupItem.seal({
      account: writer.account,
      recoveryId: RecoveryId.parse(recoveryId),
      backupKey,
      writer: writer.device,
      writerCertificate: writer.certificate,
      records,
      env: systemEnv(),
    });
    wires.push(toB64(item.encode()));
  }
  for (let i = 0; i < wires.length; i += ITEMS_PER_REQUEST)
    await api.storeBackupItems(wires.slice(i, i + ITEMS_PER_REQUEST));
}

export class BackupWriter {
  private running: Promise<void> | undefined;

  private constructor(
    private readonly db: Database,
    private readonly store: SealedStore,
    private readonly key: BackupKey,
    private state: BackupState,
  ) {}

  /** The writer of this device, if it holds a backup key. */
  static async load(db: Database, store: SealedStore): Promise<BackupWriter | undefined> {
    const state = await store.get<BackupState>(BACKUP_STATE);
    const key = await db.get("keys", BACKUP_KEY);
    if (state === undefined || !(key instanceof CryptoKey)) return undefined;
    return new BackupWriter(db, store, BackupKey.fromStored(key), state);
  }

  /** Keeps the backup key of a set-up (new, or recovered) and what it holds already. */
  static async keep(
    db: Database,
    store: SealedStore,
    key: BackupKey,
    state: BackupState,
  ): Promise<BackupWriter> {
    await db.putAll("keys", [[BACKUP_KEY, key.cryptoKey]]);
    await store.put([[BACKUP_STATE, state]]);
    return new BackupWriter(db, store, key, state);
  }

  get recoveryId(): string {
    return this.state.recoveryId;
  }

  /**
   * Writes what the backup does not hold yet (one flush at a time). A set-up replaced or
   * removed elsewhere (`conflict`) ends this writer: its key no longer opens the backup.
   */
  flush(api: ApiClient, writer: Writer, sources: BundleSources): Promise<void> {
    this.running ??= this.write(api, writer, sources).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async write(api: ApiClient, writer: Writer, sources: BundleSources): Promise<void> {
    const missing = notBackedUp(this.state, sources);
    const batches = bundleRecords(missing, ITEM_RECORDS);
    if (batches.length === 0) return;
    try {
      await writeItems(api, writer, this.state.recoveryId, this.key, batches);
    } catch (e) {
      if (isApiError(e, "conflict")) {
        await this.forget();
        return;
      }
      throw e;
    }
    this.state = withWritten(this.state, missing);
    await this.store.put([[BACKUP_STATE, this.state]]);
  }

  /** Forgets the backup key (the set-up it wrote for is gone). */
  async forget(): Promise<void> {
    await this.store.put([], [BACKUP_STATE]);
    await this.db.putAll("keys", [], [BACKUP_KEY]);
  }
}
