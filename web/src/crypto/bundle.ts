/**
 * The key bundle (`docs/protocol.md` §15.1): the plaintext of a backup item (§15.2) and of a
 * device hand-over (§16.1) — the account's master key (backup only), sender-chain keys, pinned
 * identities and group names.
 *
 * ```text
 * bundle = domain("sotto/key-bundle") ‖ list(record)                     -- ≤ 20000 records
 * record = 0x01 ‖ bytes(master key PKCS#8)                               -- MasterKey, ≤ 4096
 *        | 0x02 ‖ conversation [16] ‖ u64 epoch ‖ chain [16] ‖ owner account [32]
 *               ‖ owner device [32] ‖ u32 start_index ‖ chain key [32] ‖ u64 created_at -- Chain
 *        | 0x03 ‖ account [32] ‖ text(username) ‖ bool verified         -- Pin, username ≤ 64
 *        | 0x04 ‖ conversation [16] ‖ u64 epoch ‖ salt [32] ‖ text(name) -- GroupName (§6.5)
 * ```
 *
 * The codec only encodes and decodes; what a client takes from a decoded bundle, and in what
 * order, is its caller's (§15.1 steps 1–3: {@link masterKeyOf}, then chains into the history
 * keys and the receiver state, then pins).
 */

import { type Bytes, bytesEqual } from "./bytes";
import { Reader, Writer, utf8Length } from "./codec";
import { Domain } from "./domains";
import { ProtocolError, unreachable } from "./errors";
import { type NameReveal, NAME_SALT_LEN, checkGroupName } from "./group";
import { MasterKey } from "./identity";
import {
  type AccountId as AccountIdT,
  type ChainId as ChainIdT,
  type ConversationId as ConversationIdT,
  type DeviceId as DeviceIdT,
  AccountId,
  ChainId,
  ConversationId,
  DeviceId,
} from "./ids";
import {
  MAX_BUNDLE_RECORDS,
  MAX_CHAIN_MESSAGES,
  MAX_GROUP_NAME_LEN,
  MAX_PKCS8_LEN,
  MAX_USERNAME_LEN,
} from "./limits";
import { SigningKeyPair } from "./primitives";
import { ChainKey } from "./ratchet";

const RECORD_MASTER_KEY = 0x01;
const RECORD_CHAIN = 0x02;
const RECORD_PIN = 0x03;
const RECORD_GROUP_NAME = 0x04;

/** The key of one sender chain at `startIndex` (§15.1 Chain): enough to read, never to send. */
export interface ChainRecord {
  readonly conversation: ConversationIdT;
  readonly epoch: bigint;
  readonly chain: ChainIdT;
  readonly ownerAccount: AccountIdT;
  readonly ownerDevice: DeviceIdT;
  /** Below 100. */
  readonly startIndex: number;
  /** The chain key at `startIndex`. */
  readonly key: ChainKey;
  /** When the chain started (its distribution's `created_at`, or its owner's start). */
  readonly createdAt: bigint;
}

/** A pinned identity and whether its safety number was verified (§15.1 Pin). */
export interface PinRecord {
  readonly account: AccountIdT;
  /** At most 64 bytes. */
  readonly username: string;
  readonly verified: boolean;
}

/** One record of a bundle. */
export type BundleRecord =
  /** The account's master key as PKCS#8 DER (backup only). */
  | { readonly type: "master-key"; readonly pkcs8: Bytes }
  | ({ readonly type: "chain" } & ChainRecord)
  | ({ readonly type: "pin" } & PinRecord)
  | {
      readonly type: "group-name";
      readonly conversation: ConversationIdT;
      readonly reveal: NameReveal;
    };

function encodeRecord(w: Writer, record: BundleRecord): void {
  switch (record.type) {
    case "master-key":
      if (record.pkcs8.length > MAX_PKCS8_LEN)
        throw new ProtocolError("invalid-input", "PKCS#8 longer than 4096 bytes");
      w.u8(RECORD_MASTER_KEY);
      w.bytes(record.pkcs8);
      return;
    case "chain":
      if (!Number.isInteger(record.startIndex) || record.startIndex >= MAX_CHAIN_MESSAGES)
        throw new ProtocolError("invalid-input", "chain start index below 100");
      w.u8(RECORD_CHAIN);
      ConversationId.encode(w, record.conversation);
      w.u64(record.epoch);
      ChainId.encode(w, record.chain);
      AccountId.encode(w, record.ownerAccount);
      DeviceId.encode(w, record.ownerDevice);
      w.u32(record.startIndex);
      w.fixed(record.key.dangerBytes());
      w.u64(record.createdAt);
      return;
    case "pin":
      if (utf8Length(record.username) > MAX_USERNAME_LEN)
        throw new ProtocolError("invalid-input", "username longer than 64 bytes");
      w.u8(RECORD_PIN);
      AccountId.encode(w, record.account);
      w.text(record.username, "username");
      w.bool(record.verified);
      return;
    case "group-name":
      if (record.reveal.salt.length !== NAME_SALT_LEN)
        throw new ProtocolError("invalid-input", "a name salt is 32 bytes");
      checkGroupName(record.reveal.name);
      w.u8(RECORD_GROUP_NAME);
      ConversationId.encode(w, record.conversation);
      w.u64(record.reveal.epoch);
      w.fixed(record.reveal.salt);
      w.text(record.reveal.name, "group name");
      return;
    default:
      unreachable(record);
  }
}

function decodeRecord(r: Reader): BundleRecord {
  const tag = r.u8();
  switch (tag) {
    case RECORD_MASTER_KEY:
      return { type: "master-key", pkcs8: r.bytes("master key", MAX_PKCS8_LEN) };
    case RECORD_CHAIN: {
      const conversation = ConversationId.decode(r);
      const epoch = r.u64();
      const chain = ChainId.decode(r);
      const ownerAccount = AccountId.decode(r);
      const ownerDevice = DeviceId.decode(r);
      const startIndex = r.u32();
      if (startIndex >= MAX_CHAIN_MESSAGES)
        throw new ProtocolError("decode/invalid-value", "chain start index");
      const key = ChainKey.fromBytes(r.take(32));
      const createdAt = r.u64();
      return {
        type: "chain",
        conversation,
        epoch,
        chain,
        ownerAccount,
        ownerDevice,
        startIndex,
        key,
        createdAt,
      };
    }
    case RECORD_PIN:
      return {
        type: "pin",
        account: AccountId.decode(r),
        username: r.text("username", MAX_USERNAME_LEN),
        verified: r.bool("verified"),
      };
    case RECORD_GROUP_NAME: {
      const conversation = ConversationId.decode(r);
      const epoch = r.u64();
      const salt = r.array(NAME_SALT_LEN);
      const name = r.displayText("group name", MAX_GROUP_NAME_LEN);
      return { type: "group-name", conversation, reveal: { epoch, salt, name } };
    }
    default:
      throw new ProtocolError("decode/unknown-tag", `bundle record ${tag}`);
  }
}

export const KeyBundle = {
  /**
   * The canonical encoding of `records` (in the order given). More than `maxRecords` (20000, or
   * 1000 for a backup item) or a record a decoder would refuse is `invalid-input`.
   */
  encode(records: readonly BundleRecord[], maxRecords: number = MAX_BUNDLE_RECORDS): Bytes {
    if (records.length > Math.min(maxRecords, MAX_BUNDLE_RECORDS))
      throw new ProtocolError("invalid-input", `more than ${maxRecords} bundle records`);
    const w = Writer.forDomain(Domain.KeyBundle);
    w.count(records.length);
    for (const record of records) encodeRecord(w, record);
    return w.finish();
  },

  /** Decodes a bundle of at most `maxRecords` records (`decode/too-many` beyond). */
  decode(bytes: Bytes, maxRecords: number = MAX_BUNDLE_RECORDS): BundleRecord[] {
    const r = Reader.forDomain(bytes, Domain.KeyBundle);
    const count = r.count("bundle records", Math.min(maxRecords, MAX_BUNDLE_RECORDS));
    const records: BundleRecord[] = [];
    for (let i = 0; i < count; i++) records.push(decodeRecord(r));
    r.finish();
    return records;
  },
};

/**
 * §15.1 step 1: imports a MasterKey record (non-extractable), checking it parses (§3, `key/*`)
 * and belongs to `account` (`wrong-account`).
 */
export async function masterKeyOf(pkcs8: Uint8Array, account: AccountIdT): Promise<MasterKey> {
  const master = await MasterKey.fromKey(await SigningKeyPair.fromPkcs8(pkcs8));
  if (!bytesEqual(master.account, account))
    throw new ProtocolError("wrong-account", "master key record");
  return master;
}

/** The chain records of a bundle, in their order. */
export function chainRecords(records: readonly BundleRecord[]): ChainRecord[] {
  const out: ChainRecord[] = [];
  for (const record of records) if (record.type === "chain") out.push(record);
  return out;
}
