/**
 * Backup items (`docs/protocol.md` §15.2): a key bundle (§15.1) sealed under the backup key of a
 * recovery set-up (§14.2) and signed by the device that wrote it, and the opening of a whole
 * backup on a recovering device.
 *
 * ```text
 * header     = domain("sotto/backup-item") ‖ account [32] ‖ recovery id [16] ‖ item id [16]
 *              ‖ writer device [32] ‖ u64 written_at ‖ bytes(writer device certificate)
 * okm        = HKDF(backup key, domain("sotto/backup-item-key") ‖ recovery id ‖ item id, 44)
 * ciphertext = AES-256-GCM(okm[0..32], okm[32..44], aad = header, bundle)
 * wire       = SignedSealed(header, ciphertext), signed by the writer device
 * ```
 *
 * The AEAD keeps the server, which never has the backup key, from reading or forging an item;
 * the signature says which device wrote it, so a revoked device's later items are refused.
 */

import { type Bytes, bytesEqual } from "./bytes";
import { type BundleRecord, KeyBundle, masterKeyOf } from "./bundle";
import { Reader, Writer } from "./codec";
import { Domain } from "./domains";
import type { Env } from "./env";
import { type ErrorCode, ProtocolError, isProtocolError } from "./errors";
import {
  AccountIdentity,
  type DeviceKeys,
  type MasterKey,
  type VerifiedRevocation,
  decodeSignedIdentity,
} from "./identity";
import {
  type AccountId as AccountIdT,
  type BackupItemId as BackupItemIdT,
  type DeviceId as DeviceIdT,
  type RecoveryId as RecoveryIdT,
  AccountId,
  BackupItemId,
  DeviceId,
  RecoveryId,
} from "./ids";
import { MAX_BACKUP_ITEM_LEN, MAX_BACKUP_ITEM_RECORDS, MAX_WRITER_CERTIFICATE_LEN } from "./limits";
import type { BackupKey } from "./recovery";
import { type Signed, SignedSealed } from "./signed";

/** Upper bound of an encoded header: fixed fields, the length prefix and the certificate. */
const MAX_HEADER_LEN = 256 + MAX_WRITER_CERTIFICATE_LEN;

/** A backup item header (§15.2). */
export interface BackupItemHeader {
  readonly account: AccountIdT;
  readonly recoveryId: RecoveryIdT;
  readonly item: BackupItemIdT;
  readonly writerDevice: DeviceIdT;
  readonly writtenAt: bigint;
  /** The writer's device certificate, Signed wire form (§4.3), at most 8192 bytes. */
  readonly writerCertificate: Bytes;
}

export const BackupItemHeader = {
  /** The canonical encoding (the AES-GCM associated data). */
  encode(h: BackupItemHeader): Bytes {
    if (h.writerCertificate.length > MAX_WRITER_CERTIFICATE_LEN)
      throw new ProtocolError("invalid-input", "writer certificate longer than 8192 bytes");
    const w = Writer.forDomain(Domain.BackupItem);
    AccountId.encode(w, h.account);
    RecoveryId.encode(w, h.recoveryId);
    BackupItemId.encode(w, h.item);
    DeviceId.encode(w, h.writerDevice);
    w.u64(h.writtenAt);
    w.bytes(h.writerCertificate);
    return w.finish();
  },

  /** Decodes a header; a certificate over 8192 bytes is `decode/too-long`. */
  decode(bytes: Bytes): BackupItemHeader {
    const r = Reader.forDomain(bytes, Domain.BackupItem);
    const h: BackupItemHeader = {
      account: AccountId.decode(r),
      recoveryId: RecoveryId.decode(r),
      item: BackupItemId.decode(r),
      writerDevice: DeviceId.decode(r),
      writtenAt: r.u64(),
      writerCertificate: r.bytes("writer certificate", MAX_WRITER_CERTIFICATE_LEN),
    };
    r.finish();
    return h;
  },
};

/** A decoded, not yet opened backup item. */
export class BackupItem {
  private constructor(
    readonly header: BackupItemHeader,
    /** The signed parts exactly as received. */
    readonly sealed: SignedSealed,
  ) {}

  /** Decodes the wire form (at most 262144 bytes), checking structure and bounds only. */
  static decode(bytes: Bytes): BackupItem {
    if (bytes.length > MAX_BACKUP_ITEM_LEN)
      throw new ProtocolError("decode/too-long", "backup item");
    const sealed = SignedSealed.decode(bytes, MAX_HEADER_LEN, MAX_BACKUP_ITEM_LEN);
    return new BackupItem(BackupItemHeader.decode(sealed.header), sealed);
  }

  /** The wire form (what `POST /v1/recovery/items` carries). */
  encode(): Bytes {
    return this.sealed.encode();
  }

  /**
   * Seals `records` (at most 1000) as a new item of the set-up `recoveryId`, written by
   * `writer` (whose Signed device certificate is `writerCertificate`) at `env.now`, with the
   * item id given or, by default, a fresh one from `env.rng`.
   */
  static async seal(params: {
    readonly account: AccountIdT;
    readonly recoveryId: RecoveryIdT;
    readonly backupKey: BackupKey;
    readonly writer: DeviceKeys;
    readonly writerCertificate: Signed;
    readonly records: readonly BundleRecord[];
    readonly env: Env;
    readonly item?: BackupItemIdT;
  }): Promise<BackupItem> {
    const bundle = KeyBundle.encode(params.records, MAX_BACKUP_ITEM_RECORDS);
    try {
      const item =
        params.item ?? BackupItemId.fromBytes(await params.env.rng.random(BackupItemId.LEN));
      const header = BackupItemHeader.encode({
        account: params.account,
        recoveryId: params.recoveryId,
        item,
        writerDevice: params.writer.device,
        writtenAt: params.env.now,
        writerCertificate: params.writerCertificate.encode(),
      });
      const aead = await params.backupKey.itemKey(params.recoveryId, item);
      const ciphertext = await aead.seal(header, bundle);
      const sealed = await SignedSealed.sign(header, ciphertext, params.writer.signing);
      if (sealed.encode().length > MAX_BACKUP_ITEM_LEN)
        throw new ProtocolError("invalid-input", "backup item longer than 256 KiB");
      return BackupItem.decode(sealed.encode());
    } finally {
      bundle.fill(0);
    }
  }
}

/** An item a backup could not use, and why; the others are still taken. */
export interface RefusedBackupItem {
  /** Position of the item in the list given to {@link openBackup}. */
  readonly index: number;
  /** Its id, when its header decoded. */
  readonly item: BackupItemIdT | undefined;
  readonly code: ErrorCode;
  readonly error: ProtocolError;
}

/** What a backup gives a recovering device. */
export interface OpenedBackup {
  /** The master key record's PKCS#8 bytes (to re-seal in a later set-up; keep them encrypted). */
  readonly masterKeyPkcs8: Bytes;
  /** The master key, imported non-extractable. */
  readonly masterKey: MasterKey;
  /** Every record of the accepted items but MasterKey records, item by item in list order. */
  readonly records: readonly BundleRecord[];
  /** Ids of the accepted items. */
  readonly accepted: readonly BackupItemIdT[];
  /** Items refused (§15.2 steps 1, 2, 4), each for its own reason. */
  readonly refused: readonly RefusedBackupItem[];
}

interface OpenedItem {
  readonly index: number;
  readonly item: BackupItem;
  readonly records: readonly BundleRecord[];
}

function refusal(
  index: number,
  item: BackupItemIdT | undefined,
  error: unknown,
): RefusedBackupItem {
  if (!isProtocolError(error)) throw error;
  return { index, item, code: error.code, error };
}

/** §15.2 steps 1–2 for one decoded item: expected account and set-up, open, decode the bundle. */
async function openItem(
  item: BackupItem,
  account: AccountIdT,
  recoveryId: RecoveryIdT,
  backupKey: BackupKey,
): Promise<BundleRecord[]> {
  const h = item.header;
  if (!bytesEqual(h.account, account) || !bytesEqual(h.recoveryId, recoveryId))
    throw new ProtocolError("wrong-account", "backup item of another account or set-up");
  const aead = await backupKey.itemKey(recoveryId, h.item);
  const bundle = await aead.open(item.sealed.header, item.sealed.ciphertext);
  try {
    return KeyBundle.decode(bundle, MAX_BACKUP_ITEM_RECORDS);
  } catch (error) {
    // Past the AEAD, a bundle that does not decode is the same one refusal as a bad tag.
    throw new ProtocolError("decryption-failed", "backup item bundle", { cause: error });
  } finally {
    bundle.fill(0);
  }
}

/**
 * §15.2 step 3: the first MasterKey record that is the account's; when none is, the refusal of
 * the last one tried (`wrong-account`, `key/*`), and `recovery/no-master-key` when there is none.
 */
async function findMasterKey(
  opened: readonly OpenedItem[],
  account: AccountIdT,
): Promise<{ pkcs8: Bytes; master: MasterKey }> {
  let lastError: ProtocolError | undefined;
  for (const { records } of opened) {
    for (const record of records) {
      if (record.type !== "master-key") continue;
      try {
        return { pkcs8: record.pkcs8, master: await masterKeyOf(record.pkcs8, account) };
      } catch (error) {
        if (!isProtocolError(error)) throw error;
        lastError = error;
      }
    }
  }
  if (lastError !== undefined) throw lastError;
  throw new ProtocolError("recovery/no-master-key");
}

/**
 * §15.2 step 4 for one item: the writer certificate verifies under the master key (§4.6 step 2,
 * without revocations) and names the writer (`id-mismatch`); the item's signature verifies under
 * its signing key (`bad-signature`); an item written at or after its writer's revocation is
 * `device-revoked`.
 */
async function checkWriter(
  item: BackupItem,
  identity: AccountIdentity,
  revocations: readonly VerifiedRevocation[],
): Promise<void> {
  const h = item.header;
  const writer = await identity.verifyDevice(decodeSignedIdentity(h.writerCertificate), []);
  if (!bytesEqual(writer.device, h.writerDevice))
    throw new ProtocolError("id-mismatch", "backup item writer");
  await item.sealed.verify("backup item", writer.signingKey);
  for (const r of revocations) {
    if (bytesEqual(r.body.device, h.writerDevice) && h.writtenAt >= r.body.revokedAt)
      throw new ProtocolError("device-revoked", DeviceId.toText(h.writerDevice));
  }
}

/**
 * Opens the items of a backup (§15.2), as `POST /v1/recovery/unlock` lists them, for `account`
 * and the set-up `recoveryId`, in the order: decode each item and check its account and set-up
 * (`wrong-account`); open it (`decryption-failed`); find the master key (`wrong-account`,
 * `key/*`; none is `recovery/no-master-key`, which fails the whole backup); check each item's
 * writer and signature (`id-mismatch`, `bad-signature`, `device-revoked`). An item refused at
 * steps 1, 2 or 4 is skipped and listed in {@link OpenedBackup.refused}. `revocations` are the
 * account's Signed revocations; one that does not verify under the master key is ignored.
 */
export async function openBackup(params: {
  readonly items: readonly Bytes[];
  readonly account: AccountIdT;
  readonly recoveryId: RecoveryIdT;
  readonly backupKey: BackupKey;
  readonly revocations: readonly Signed[];
}): Promise<OpenedBackup> {
  const refused: RefusedBackupItem[] = [];
  const opened: OpenedItem[] = [];
  for (const [index, bytes] of params.items.entries()) {
    let item: BackupItem | undefined;
    try {
      item = BackupItem.decode(bytes);
      const records = await openItem(item, params.account, params.recoveryId, params.backupKey);
      opened.push({ index, item, records });
    } catch (error) {
      refused.push(refusal(index, item?.header.item, error));
    }
  }
  const { pkcs8, master } = await findMasterKey(opened, params.account);
  const identity = await AccountIdentity.fromKey(master.verifyingKey);
  const revocations: VerifiedRevocation[] = [];
  for (const signed of params.revocations) {
    try {
      revocations.push(await identity.verifyRevocation(signed));
    } catch (error) {
      if (!isProtocolError(error)) throw error;
    }
  }
  const records: BundleRecord[] = [];
  const accepted: BackupItemIdT[] = [];
  for (const { index, item, records: itemRecords } of opened) {
    try {
      await checkWriter(item, identity, revocations);
    } catch (error) {
      refused.push(refusal(index, item.header.item, error));
      continue;
    }
    accepted.push(item.header.item);
    for (const record of itemRecords) if (record.type !== "master-key") records.push(record);
  }
  refused.sort((a, b) => a.index - b.index);
  return { masterKeyPkcs8: pkcs8, masterKey: master, records, accepted, refused };
}
