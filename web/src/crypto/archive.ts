/**
 * History (`docs/protocol.md` §17.2): the *history keys* a device keeps — the Chain records
 * (§15.1) of every chain it has held, its own sending chains included — and the opening of an
 * envelope from the server's archive with them.
 *
 * An archived envelope goes through the same checks as a live one (§9.2, the shared functions of
 * `receiver.ts`), except that its sender must have been a member at the envelope's epoch rather
 * than now, and that its chain and key come from the history keys: the receiver state's
 * received-index set and skipped keys are neither read nor changed, and no key request is sent.
 * Whether a message is already stored, or past the conversation's retention
 * ({@link isPastRetention}), is the caller's to check: it owns the message store.
 */

import { type Bytes, bytesEqual, constantTimeEqual, copyBytes } from "./bytes";
import type { MessageBody } from "./body";
import type { ChainRecord } from "./bundle";
import type { Envelope, EnvelopeHeader } from "./envelope";
import { ProtocolError } from "./errors";
import type { GroupState } from "./group";
import { isPastRetention } from "./group";
import type { VerifiedDevice } from "./identity";
import {
  type AccountId as AccountIdT,
  type ChainId as ChainIdT,
  type ConversationId as ConversationIdT,
  type DeviceId as DeviceIdT,
  ChainId,
  idKey,
} from "./ids";
import { MAX_CHAIN_AGE_MS, MAX_CHAIN_MESSAGES, MAX_CLOCK_SKEW_MS } from "./limits";
import { ChainKey, type MessageKey } from "./ratchet";
import { checkChainPlace, checkEnvelopeOrigin, decryptEnvelope } from "./receiver";

/** The key of `record`'s chain at `index` (≥ its start), ratcheting forward. */
async function chainKeyAt(record: ChainRecord, index: number): Promise<ChainKey> {
  let key = record.key;
  for (let i = record.startIndex; i < index; i++) key = await key.next();
  return key;
}

/**
 * Whether `record` holds the key `known` holds, `record` starting at or before `known` (§15.1
 * step 2): its key ratcheted to the known start is the known key.
 */
async function sameKey(known: ChainRecord, record: ChainRecord): Promise<boolean> {
  if (record.startIndex > known.startIndex) return false;
  const advanced = await chainKeyAt(record, known.startIndex);
  return constantTimeEqual(advanced.dangerBytes(), known.key.dangerBytes());
}

/** How a record was taken into the history keys. */
export type HistoryAdd =
  /** A chain not held before. */
  | "added"
  /** Held already from the same index: nothing changed. */
  | "duplicate"
  /** Held already from a later index: the record reaches back further and replaced it. */
  | "extended";

/** A {@link HistoryKeys}' persisted form (local, encrypted store only). */
export interface HistoryKeysSnapshot {
  readonly chains: readonly {
    readonly conversation: ConversationIdT;
    readonly epoch: bigint;
    readonly chain: ChainIdT;
    readonly ownerAccount: AccountIdT;
    readonly ownerDevice: DeviceIdT;
    readonly startIndex: number;
    readonly key: Bytes;
    readonly createdAt: bigint;
  }[];
}

/** The chain keys a device keeps to read history, by chain id. */
export class HistoryKeys {
  private readonly chains = new Map<string, ChainRecord>();

  /**
   * Keeps `record`. A chain already held with another owner, conversation, epoch or key, or from
   * an earlier index than the record's (it cannot show it is the same key), is
   * `receive/chain-key-conflict` (§15.1 step 2), and nothing changes.
   */
  async add(record: ChainRecord): Promise<HistoryAdd> {
    const known = this.chains.get(idKey(record.chain));
    if (known === undefined) {
      this.chains.set(idKey(record.chain), record);
      return "added";
    }
    const samePlace =
      constantTimeEqual(known.ownerAccount, record.ownerAccount) &&
      constantTimeEqual(known.ownerDevice, record.ownerDevice) &&
      constantTimeEqual(known.conversation, record.conversation) &&
      known.epoch === record.epoch;
    if (!samePlace || !(await sameKey(known, record)))
      throw new ProtocolError("receive/chain-key-conflict", ChainId.toText(record.chain));
    // Re-read after the await: a concurrent add may have extended it meanwhile.
    const current = this.chains.get(idKey(record.chain)) ?? known;
    if (record.startIndex < current.startIndex) {
      this.chains.set(idKey(record.chain), record);
      return "extended";
    }
    return "duplicate";
  }

  /** The record of `chain`, if held. */
  get(chain: ChainIdT): ChainRecord | undefined {
    return this.chains.get(idKey(chain));
  }

  /** Every record, for a backup item or a hand-over. */
  records(): ChainRecord[] {
    return [...this.chains.values()];
  }

  /** The records of one conversation. */
  recordsOf(conversation: ConversationIdT): ChainRecord[] {
    return this.records().filter((r) => constantTimeEqual(r.conversation, conversation));
  }

  /**
   * Forgets the chains all of whose messages are past their conversation's retention (§17.2):
   * a chain's messages are sent within 7 days of its start (plus the allowed clock skew), so it
   * goes once `createdAt + 7 days + 3 h` is past the retention. `retentionOf` gives each
   * conversation's retention in seconds (the verified state's, else the server default).
   */
  prune(retentionOf: (conversation: ConversationIdT) => bigint, now: bigint): number {
    let forgotten = 0;
    for (const [key, record] of this.chains) {
      const lastSentAt = record.createdAt + MAX_CHAIN_AGE_MS + MAX_CLOCK_SKEW_MS;
      if (isPastRetention(lastSentAt, retentionOf(record.conversation), now)) {
        this.chains.delete(key);
        forgotten++;
      }
    }
    return forgotten;
  }

  /** How many chains are held. */
  get size(): number {
    return this.chains.size;
  }

  snapshot(): HistoryKeysSnapshot {
    return {
      chains: this.records().map((r) => ({
        conversation: r.conversation,
        epoch: r.epoch,
        chain: r.chain,
        ownerAccount: r.ownerAccount,
        ownerDevice: r.ownerDevice,
        startIndex: r.startIndex,
        key: r.key.dangerBytes(),
        createdAt: r.createdAt,
      })),
    };
  }

  static restore(s: HistoryKeysSnapshot): HistoryKeys {
    const keys = new HistoryKeys();
    for (const c of s.chains) {
      if (c.startIndex >= MAX_CHAIN_MESSAGES)
        throw new ProtocolError("invalid-input", "history chain start index");
      keys.chains.set(idKey(c.chain), { ...c, key: ChainKey.fromBytes(copyBytes(c.key)) });
    }
    return keys;
  }
}

/** A message opened from the archive: shown at its `sent_at`, never notified or receipted. */
export interface ArchivedMessage {
  readonly header: EnvelopeHeader;
  readonly body: MessageBody;
}

/** §17.2 checks 11–12 replaced: the key of `index` from the history record. */
async function historyMessageKey(record: ChainRecord, index: number): Promise<MessageKey> {
  if (index < record.startIndex) throw new ProtocolError("receive/key-evicted", `index ${index}`);
  return (await chainKeyAt(record, index)).messageKey();
}

/**
 * Opens an envelope from the archive (§17.2), sent by `sender`, against the verified `group` and
 * the device's `history`, at `now`, in the order of §9.2: sender bound to the header; signature;
 * conversation; epoch; the sender a member **at the envelope's epoch**; far future; a history key
 * for the chain (`receive/unknown-chain`); chain owner and conversation; chain epoch; index bound;
 * the key at the index (`receive/key-evicted` before the record's start); decryption. Nothing
 * changes: no receiver state is read or written.
 */
export async function openArchived(
  envelope: Envelope,
  sender: VerifiedDevice,
  group: GroupState,
  history: HistoryKeys,
  now: bigint,
): Promise<ArchivedMessage> {
  const h = envelope.header;
  await checkEnvelopeOrigin(envelope, sender, group, now, "at-epoch");
  const record = history.get(h.chain);
  if (record === undefined)
    throw new ProtocolError("receive/unknown-chain", ChainId.toText(h.chain));
  if (!bytesEqual(record.ownerAccount, h.senderAccount))
    throw new ProtocolError("receive/chain-owner-mismatch", ChainId.toText(h.chain));
  checkChainPlace(
    {
      chain: record.chain,
      conversation: record.conversation,
      epoch: record.epoch,
      senderDevice: record.ownerDevice,
      finalIndex: undefined,
    },
    h,
  );
  const key = await historyMessageKey(record, h.index);
  return { header: h, body: await decryptEnvelope(envelope, key) };
}
