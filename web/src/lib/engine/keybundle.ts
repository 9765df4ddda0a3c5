/**
 * What a key bundle (`docs/protocol.md` §15.1) carries from this device's state: the Chain
 * records are the history keys (§17.2), the Pin records the directory's pins, the GroupName
 * records the groups' names. Used by the backup (§15.2) and the device hand-over (§16); the
 * MasterKey record is the recovery's own business (`recovery.ts`).
 */

import {
  AccountId,
  type BundleRecord,
  type Bytes,
  type ChainRecord,
  ConversationId,
} from "../../crypto";

/** What this device knows that another device of the account should: its bundle's sources. */
export interface BundleSources {
  readonly keys: readonly ChainRecord[];
  readonly pins: readonly { account: string; username: string; verified: boolean }[];
  readonly names: readonly {
    conversation: string;
    epoch: bigint;
    salt: Bytes;
    name: string;
  }[];
}

/** The records of `sources` (no MasterKey), chains first, in batches of at most `max`. */
export function bundleRecords(sources: BundleSources, max: number): BundleRecord[][] {
  return inBatches(allRecords(sources), max);
}

/** `records` cut into batches of at most `max`, in order. */
export function inBatches<T>(records: readonly T[], max: number): T[][] {
  const batches: T[][] = [];
  for (let i = 0; i < records.length; i += max) batches.push(records.slice(i, i + max));
  return batches;
}

/** The records of `sources` (no MasterKey): chains, then pins, then group names. */
export function allRecords(sources: BundleSources): BundleRecord[] {
  return [
    ...sources.keys.map((k): BundleRecord => ({ type: "chain", ...k })),
    ...sources.pins.map((p): BundleRecord => ({
      type: "pin",
      account: AccountId.parse(p.account),
      username: p.username,
      verified: p.verified,
    })),
    ...sources.names.map((n): BundleRecord => ({
      type: "group-name",
      conversation: ConversationId.parse(n.conversation),
      reveal: { epoch: n.epoch, salt: n.salt, name: n.name },
    })),
  ];
}
