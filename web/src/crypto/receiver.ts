/**
 * The receiving side of sender chains (`docs/protocol.md` §7.5, §9).
 *
 * A chain exists here only once a verified distribution from its owner introduced it
 * ({@link ReceiverState.acceptDistribution}). A message is checked in the fixed order of §9.2
 * before its key is derived and it is decrypted ({@link ReceiverState.open}), which changes
 * nothing; only {@link ReceiverState.commit}, which the client runs atomically with storing the
 * message, records it. A refused message therefore never changes state, and a replay of an
 * accepted (chain, index) is refused for as long as the chain is kept.
 *
 * A chain taken from a key bundle ({@link ReceiverState.takeRecord}) starts where its owner
 * started it, before this device held it: the messages sent on it until then are read from the
 * archive (§17), so its gaps count only from the first index committed here (§15.1 step 2).
 *
 * Every mutation happens in a synchronous block after the last `await`, so two interleaved calls
 * cannot half-apply each other's changes; callers still serialise calls per state.
 */

import { type Bytes, bytesEqual, compareBytes, constantTimeEqual } from "./bytes";
import { MessageBody, unpad } from "./body";
import type { ChainRecord } from "./bundle";
import { DistributionHeader, type KeyDistribution, decodePayload } from "./distribution";
import type { Envelope, EnvelopeHeader } from "./envelope";
import { ProtocolError } from "./errors";
import type { GroupState } from "./group";
import type { VerifiedDevice } from "./identity";
import {
  type AccountId as AccountIdT,
  type ChainId as ChainIdT,
  type ConversationId as ConversationIdT,
  type DeviceId as DeviceIdT,
  type ExchangeKeyId as ExchangeKeyIdT,
  type PrekeyId as PrekeyIdT,
  ChainId,
  exchangeKeyIdOf,
  idKey,
} from "./ids";
import {
  CHAIN_RETENTION_MS,
  MAX_CHAIN_MESSAGES,
  MAX_CLOCK_SKEW_MS,
  MAX_DISTRIBUTION_AGE_MS,
  MAX_SKIPPED_KEYS,
  MAX_SKIPPED_KEY_AGE_MS,
} from "./limits";
import { type ExchangeKeyPair, sha256 } from "./primitives";
import { openHybrid } from "./hybrid";
import type { PrekeyPair } from "./prekey";
import type { PrekeyRing } from "./prekey-ring";
import { ChainKey, MessageKey } from "./ratchet";

/** A {@link ReceiverState}'s persisted form. */
export interface ReceiverStateSnapshot {
  readonly chains: readonly {
    readonly chain: ChainIdT;
    readonly conversation: ConversationIdT;
    readonly epoch: bigint;
    readonly senderAccount: AccountIdT;
    readonly senderDevice: DeviceIdT;
    readonly createdAt: bigint;
    readonly startIndex: number;
    readonly startKeyFingerprint: Bytes;
    readonly nextKey: Bytes | undefined;
    readonly nextIndex: number;
    readonly consumed: bigint;
    readonly skipped: readonly {
      readonly index: number;
      readonly key: Bytes;
      readonly since: bigint;
    }[];
    readonly finalIndex: number | null | undefined;
    /** Absent in snapshots taken before chains had an origin: those came from distributions. */
    readonly origin?: ChainOrigin;
  }[];
}

/** One of this device's exchange key pairs, with its id. */
export interface LocalExchangeKey {
  readonly keyId: ExchangeKeyIdT;
  readonly pair: ExchangeKeyPair;
}

/** This device, as the recipient of distributions. */
export interface LocalDevice {
  readonly account: AccountIdT;
  readonly device: DeviceIdT;
  /** The exchange key pairs this device still holds (current and not yet retired). */
  readonly exchangeKeys: readonly LocalExchangeKey[];
  /**
   * Its prekeys and version-2 exchange key ids (§18): without a ring the device takes
   * version-1 distributions only.
   */
  readonly prekeys?: PrekeyRing | undefined;
}

/** Builds a {@link LocalDevice}, computing the ids of its exchange keys. */
export async function localDevice(
  account: AccountIdT,
  device: DeviceIdT,
  pairs: readonly ExchangeKeyPair[],
): Promise<LocalDevice> {
  const exchangeKeys = await Promise.all(
    pairs.map(async (pair) => ({ keyId: await exchangeKeyIdOf(pair.spki), pair })),
  );
  return { account, device, exchangeKeys };
}

/** A message key kept for a skipped index. */
interface SkippedKey {
  readonly key: MessageKey;
  readonly since: bigint;
}

/**
 * How a chain came to this device, which says from which index its gaps are reported (§9.2,
 * §15.1 step 2). From its owner's distribution, every index from its start is expected. From a
 * key bundle (a backup or a hand-over), whose key reaches back to messages sent before this
 * device held the chain and which the archive gives (§17), only indexes from `firstLive`, the
 * first one committed here, are expected; none while it is `null`.
 */
export type ChainOrigin =
  | { readonly kind: "distribution" }
  | { readonly kind: "bundle"; readonly firstLive: number | null };

/** What a receiver knows about one chain (§9.1). */
export interface ReceiverChain {
  readonly chain: ChainIdT;
  readonly conversation: ConversationIdT;
  readonly epoch: bigint;
  readonly senderAccount: AccountIdT;
  readonly senderDevice: DeviceIdT;
  /** The introducing distribution's `created_at`; the chain is forgotten 180 days later. */
  readonly createdAt: bigint;
  readonly startIndex: number;
  /** Fingerprint of the key at `startIndex` (tells a re-send from a conflict). */
  readonly startKeyFingerprint: Bytes;
  /** The key at `nextIndex`; `undefined` once the chain is used up. */
  nextKey: ChainKey | undefined;
  nextIndex: number;
  /** Bit `i` set: index `i` was received (128 bits cover the 100-message bound). */
  consumed: bigint;
  /** Keys of skipped indexes. */
  readonly skipped: Map<number, SkippedKey>;
  /**
   * The last index the owner says it sent, once its next chain announced it: `undefined` not
   * announced yet, `null` announced with no message sent, else the index.
   */
  finalIndex: number | null | undefined;
  /** Where the chain came from: says from which index its gaps count ({@link gapsFrom}). */
  origin: ChainOrigin;
}

function isConsumed(chain: ReceiverChain, index: number): boolean {
  return index < 128 && (chain.consumed & (1n << BigInt(index))) !== 0n;
}

/**
 * The first index of a chain whose absence is reported: its start, or for a chain from a key
 * bundle the first index committed here (`null` before one is).
 */
export function gapsFrom(chain: Readonly<ReceiverChain>): number | null {
  switch (chain.origin.kind) {
    case "distribution":
      return chain.startIndex;
    case "bundle":
      return chain.origin.firstLive;
  }
}

/**
 * Indexes that should have arrived but have not: from {@link gapsFrom} up to the highest seen or
 * the announced end.
 */
function missingIn(chain: ReceiverChain): number[] {
  const from = gapsFrom(chain);
  if (from === null) return [];
  let upper: number;
  if (chain.finalIndex === undefined) upper = chain.nextIndex;
  else if (chain.finalIndex === null) upper = 0;
  else upper = chain.finalIndex + 1;
  const out: number[] = [];
  for (let i = from; i < Math.max(upper, from); i++) {
    if (!isConsumed(chain, i)) out.push(i);
  }
  return out;
}

/** The outcome of accepting a distribution. */
export interface DistributionAccepted {
  readonly chain: ChainIdT;
  /** Already known with the same key: a harmless re-send. */
  readonly duplicate: boolean;
  /** Indexes of the previous chain that never arrived, now that its end is known (A13). */
  readonly missingInPrevious: readonly number[];
  /** The distribution names a previous chain this device never received. */
  readonly previousUnknown: boolean;
  /**
   * The chain's key at its start as a bundle Chain record (§15.1), for the device's history keys
   * (§17.2), its backup and its hand-overs: the receiver state keeps only the key ahead.
   */
  readonly record: ChainRecord;
  /**
   * The one-time prekey a version-2 distribution used, with the SHA-256 of its wire form: the
   * caller consumes it in the ring (`PrekeyRing.consume`) and persists the ring in the same write
   * as the receiver state (§18.6).
   */
  readonly consumedPrekey: { readonly id: PrekeyIdT; readonly wireHash: Bytes } | undefined;
}

interface Advance {
  readonly nextKey: ChainKey | undefined;
  readonly nextIndex: number;
  readonly skipped: readonly (readonly [number, MessageKey])[];
}

const OPENED: unique symbol = Symbol("sotto/opened");

/** A verified, decrypted message not yet recorded; see {@link ReceiverState.commit}. */
export class OpenedMessage {
  constructor(
    token: typeof OPENED,
    readonly header: EnvelopeHeader,
    readonly body: MessageBody,
    /** @internal The chain position the open was computed against. */
    readonly expectedNextIndex: number,
    /** @internal How the chain advances on commit (`undefined`: a skipped index). */
    readonly advance: Advance | undefined,
  ) {
    if (token !== OPENED)
      throw new ProtocolError("invalid-input", "OpenedMessage is made by ReceiverState.open");
  }
}

/** What {@link ReceiverState.takeRecord} did with a bundle's Chain record. */
export type RecordTaken =
  /** Introduced into the receiver state, as its owner's distribution would have. */
  | "introduced"
  /** Already known with the same key. */
  | "duplicate"
  /**
   * Not for the receiver state (another epoch than the current one, this device's own chain,
   * an owner no longer a member): keep it as a history key only.
   */
  | "history-only";

/** A message after it was recorded. */
export interface ReceivedMessage {
  readonly header: EnvelopeHeader;
  readonly body: MessageBody;
  /** Indexes of this chain the message skipped (a gap to show until they arrive). */
  readonly gap: readonly number[];
}

/**
 * When the sender must have been a member (§9.2 check 5): `"now"` for live messages and
 * distributions (a removed member's old chain is refused, A16); `"at-epoch"` for an archived
 * envelope (§17.2), whose sender must have been a member at the envelope's epoch.
 */
export type MembershipRule = "now" | "at-epoch";

/** Conversation, epoch and membership (§7.5 step 4, §9.2 checks 3–5). */
function checkMembership(
  group: GroupState,
  conversation: ConversationIdT,
  epoch: bigint,
  sender: AccountIdT,
  rule: MembershipRule,
): void {
  if (!bytesEqual(conversation, group.conversation))
    throw new ProtocolError("receive/wrong-conversation");
  if (epoch > group.epoch) throw new ProtocolError("receive/unknown-epoch", `epoch ${epoch}`);
  const member = rule === "now" ? group.isMember(sender) : group.wasMemberAt(sender, epoch);
  if (!member) throw new ProtocolError("receive/sender-not-member");
}

/**
 * §9.2 checks 1–6, shared by live and archived envelopes: the device presented is the header's
 * sender; the signature; conversation, epoch and membership under `rule`; not from the far
 * future.
 * @internal
 */
export async function checkEnvelopeOrigin(
  envelope: Envelope,
  sender: VerifiedDevice,
  group: GroupState,
  now: bigint,
  rule: MembershipRule,
): Promise<void> {
  const h = envelope.header;
  if (!bytesEqual(sender.device, h.senderDevice) || !bytesEqual(sender.account, h.senderAccount)) {
    throw new ProtocolError("receive/sender-mismatch");
  }
  await envelope.sealed.verify("message", sender.signingKey);
  checkMembership(group, h.conversation, h.epoch, h.senderAccount, rule);
  if (h.sentAt > now + MAX_CLOCK_SKEW_MS) throw new ProtocolError("receive/far-future");
}

/** Where a chain's key belongs, as checks 8–10 of §9.2 read it. */
export interface ChainPlace {
  readonly chain: ChainIdT;
  readonly conversation: ConversationIdT;
  readonly epoch: bigint;
  readonly senderDevice: DeviceIdT;
  /** As {@link ReceiverChain.finalIndex}; `undefined` when not announced (or not known). */
  readonly finalIndex: number | null | undefined;
}

/**
 * §9.2 checks 8–10: the chain is the sender device's in this conversation; its epoch is the
 * header's; the index is below 100 and not past the announced end.
 * @internal
 */
export function checkChainPlace(place: ChainPlace, h: EnvelopeHeader): void {
  if (
    !bytesEqual(place.senderDevice, h.senderDevice) ||
    !bytesEqual(place.conversation, h.conversation)
  ) {
    throw new ProtocolError("receive/chain-owner-mismatch", ChainId.toText(h.chain));
  }
  if (place.epoch !== h.epoch) throw new ProtocolError("receive/epoch-mismatch");
  const beyondEnd =
    place.finalIndex === null || (place.finalIndex !== undefined && h.index > place.finalIndex);
  if (h.index >= MAX_CHAIN_MESSAGES || beyondEnd) {
    throw new ProtocolError("receive/index-out-of-bounds", `index ${h.index}`);
  }
}

/**
 * §9.2 check 13: AES-GCM with the header as associated data, padding, body decode; any failure
 * is `decryption-failed`.
 * @internal
 */
export async function decryptEnvelope(envelope: Envelope, key: MessageKey): Promise<MessageBody> {
  const h = envelope.header;
  const aead = await key.aeadKey(h.chain, h.index);
  const padded = await aead.open(envelope.sealed.header, envelope.sealed.ciphertext);
  try {
    return MessageBody.decode(unpad(padded).slice());
  } catch (error) {
    throw new ProtocolError("decryption-failed", undefined, { cause: error });
  }
}

/** A chain to introduce: what a verified distribution (or a bundle's Chain record) gives. */
interface Introduction {
  readonly chain: ChainIdT;
  readonly conversation: ConversationIdT;
  readonly epoch: bigint;
  readonly senderAccount: AccountIdT;
  readonly senderDevice: DeviceIdT;
  readonly createdAt: bigint;
  readonly startIndex: number;
  readonly key: ChainKey;
}

/** Every chain this device receives on, across conversations. */
export class ReceiverState {
  private readonly chains = new Map<string, ReceiverChain>();

  /**
   * Verifies a distribution from `sender` to this device and introduces its chain, in the order
   * of §7.5: sender bound to the header; signature; recipient; conversation, epoch, membership;
   * timestamps and start index; OAEP decryption and payload (`decryption-failed`); a known chain
   * (`receive/chain-owner-mismatch`, `receive/chain-key-conflict`, or a duplicate); the previous
   * chain's end.
   */
  async acceptDistribution(
    kdm: KeyDistribution,
    sender: VerifiedDevice,
    me: LocalDevice,
    group: GroupState,
    now: bigint,
  ): Promise<DistributionAccepted> {
    const h = kdm.header;
    if (
      !bytesEqual(sender.device, h.senderDevice) ||
      !bytesEqual(sender.account, h.senderAccount)
    ) {
      throw new ProtocolError("receive/sender-mismatch");
    }
    await kdm.sealed.verify("key distribution", sender.signingKey);
    if (!bytesEqual(h.recipientAccount, me.account) || !bytesEqual(h.recipientDevice, me.device)) {
      throw new ProtocolError("receive/wrong-recipient");
    }
    const exchange = me.exchangeKeys.find((k) => bytesEqual(k.keyId, h.recipientKey));
    if (exchange === undefined)
      throw new ProtocolError("receive/wrong-recipient", "unknown exchange key");
    const v2Key = me.prekeys?.isV2ExchangeKey(h.recipientKey) ?? false;
    if (h.hybrid === undefined && v2Key) {
      // Whoever sent it had the version-2 certificate in hand (§18.7).
      throw new ProtocolError("receive/downgrade");
    }
    if (h.hybrid !== undefined && !v2Key) {
      throw new ProtocolError("receive/wrong-recipient", "exchange key not certified as version 2");
    }
    checkMembership(group, h.conversation, h.epoch, h.senderAccount, "now");
    if (h.createdAt > now + MAX_CLOCK_SKEW_MS) throw new ProtocolError("receive/far-future");
    if (h.createdAt < now - MAX_DISTRIBUTION_AGE_MS)
      throw new ProtocolError("receive/stale-distribution");
    if (h.startIndex >= MAX_CHAIN_MESSAGES)
      throw new ProtocolError("receive/index-out-of-bounds", `index ${h.startIndex}`);
    let payload: ReturnType<typeof decodePayload>;
    let consumedPrekey: DistributionAccepted["consumedPrekey"];
    if (h.hybrid !== undefined && me.prekeys !== undefined) {
      const ring = me.prekeys;
      let pair: PrekeyPair;
      if (h.hybrid.prekeyKind === "one-time") {
        const wireHash = await sha256(kdm.encode());
        const found = ring.findOneTime(h.hybrid.prekey, wireHash);
        // The very distribution that consumed this prekey, again (§18.6 step 4): a harmless
        // duplicate whose key can no longer be read. The caller drops it without a report.
        if (found.kind === "duplicate") throw new ProtocolError("receive/duplicate");
        pair = found.pair;
        consumedPrekey = { id: h.hybrid.prekey, wireHash };
      } else {
        pair = ring.findLastResort(h.recipientKey, h.hybrid.prekey);
      }
      payload = await openHybrid(kdm, exchange.pair, pair);
    } else {
      const label = await DistributionHeader.oaepLabel(kdm.sealed.header);
      payload = decodePayload(await exchange.pair.decrypt(kdm.sealed.ciphertext, label));
      if (!bytesEqual(payload.chain, h.chain) || payload.startIndex !== h.startIndex) {
        throw new ProtocolError("decryption-failed");
      }
    }
    const fingerprint = await payload.key.fingerprint();

    // No await below this line: the checks and the change happen together.
    const introduction: Introduction = {
      chain: h.chain,
      conversation: h.conversation,
      epoch: h.epoch,
      senderAccount: h.senderAccount,
      senderDevice: h.senderDevice,
      createdAt: h.createdAt,
      startIndex: payload.startIndex,
      key: payload.key,
    };
    const duplicate = this.checkKnown(introduction, fingerprint);
    let missingInPrevious: number[] = [];
    let previousUnknown = false;
    if (h.previous !== undefined) {
      const previous = this.chains.get(idKey(h.previous.chain));
      if (previous !== undefined && bytesEqual(previous.senderDevice, h.senderDevice)) {
        previous.finalIndex = h.previous.finalIndex ?? null;
        missingInPrevious = missingIn(previous);
      } else {
        previousUnknown = true;
      }
    }
    if (!duplicate) this.introduce(introduction, fingerprint, { kind: "distribution" });
    const record: ChainRecord = {
      conversation: h.conversation,
      epoch: h.epoch,
      chain: h.chain,
      ownerAccount: h.senderAccount,
      ownerDevice: h.senderDevice,
      startIndex: payload.startIndex,
      key: ChainKey.fromBytes(payload.key.dangerBytes()),
      createdAt: h.createdAt,
    };
    return {
      chain: h.chain,
      duplicate,
      missingInPrevious,
      previousUnknown,
      record,
      consumedPrekey,
    };
  }

  /**
   * Introduces a bundle's Chain record as a verified distribution from its owner would be
   * (§7.5 steps 4, 5 and 7), refusing instead of setting aside: the record's conversation is the
   * state's, its epoch the current one (`receive/epoch-mismatch` otherwise), its owner a member
   * now, `created_at` neither ahead (`receive/far-future`) nor older than 120 days
   * (`receive/stale-distribution`); a known chain with another owner, place, start or key is
   * refused. The caller skips its own device's chains. {@link takeRecord}, the Rust core's
   * `take_record`, is the same step that sets aside what is for history only instead of refusing
   * it, and matches a known chain from an earlier start.
   */
  async acceptChainRecord(
    chainRecord: ChainRecord,
    group: GroupState,
    now: bigint,
  ): Promise<{ readonly duplicate: boolean }> {
    const record: Introduction = {
      ...chainRecord,
      senderAccount: chainRecord.ownerAccount,
      senderDevice: chainRecord.ownerDevice,
    };
    checkMembership(group, record.conversation, record.epoch, record.senderAccount, "now");
    if (record.epoch !== group.epoch) throw new ProtocolError("receive/epoch-mismatch");
    if (record.createdAt > now + MAX_CLOCK_SKEW_MS) throw new ProtocolError("receive/far-future");
    if (record.createdAt < now - MAX_DISTRIBUTION_AGE_MS)
      throw new ProtocolError("receive/stale-distribution");
    if (record.startIndex >= MAX_CHAIN_MESSAGES)
      throw new ProtocolError("receive/index-out-of-bounds", `index ${record.startIndex}`);
    const fingerprint = await record.key.fingerprint();
    // No await below this line.
    const duplicate = this.checkKnown(record, fingerprint);
    if (!duplicate) this.introduce(record, fingerprint, { kind: "bundle", firstLive: null });
    return { duplicate };
  }

  /**
   * Takes a Chain record from a backup or a hand-over (§15.1 step 2) on this device `me`, the
   * conversation's verified state being `group`. A chain already known with another owner,
   * conversation or epoch, starting later than the known start, or with another key (the
   * record's key ratcheted to the known start and compared by fingerprint) is
   * `receive/chain-key-conflict`: skip that record only. Otherwise the chain is introduced, as a
   * verified distribution from its owner would be, when its epoch is the conversation's current
   * one, its owner's account a member now and it is not this device's own chain; else it is for
   * history only. The caller keeps every record not refused as a history key (§17.2). An
   * introduced chain reports gaps only from the first index committed on it ({@link gapsFrom}):
   * what was sent before is in the archive, not missing.
   */
  async takeRecord(record: ChainRecord, group: GroupState, me: DeviceIdT): Promise<RecordTaken> {
    const known = this.chains.get(idKey(record.chain));
    if (known !== undefined) {
      if (
        !bytesEqual(known.senderDevice, record.ownerDevice) ||
        !bytesEqual(known.senderAccount, record.ownerAccount) ||
        !bytesEqual(known.conversation, record.conversation) ||
        known.epoch !== record.epoch ||
        record.startIndex > known.startIndex
      ) {
        throw new ProtocolError("receive/chain-key-conflict", ChainId.toText(record.chain));
      }
      // A record may start earlier than the distribution this device received.
      let key = record.key;
      for (let i = record.startIndex; i < known.startIndex; i++) key = await key.next();
      if (!constantTimeEqual(known.startKeyFingerprint, await key.fingerprint()))
        throw new ProtocolError("receive/chain-key-conflict", ChainId.toText(record.chain));
      return "duplicate";
    }
    const live =
      bytesEqual(record.conversation, group.conversation) &&
      record.epoch === group.epoch &&
      group.isMember(record.ownerAccount) &&
      !bytesEqual(record.ownerDevice, me) &&
      record.startIndex < MAX_CHAIN_MESSAGES;
    if (!live) return "history-only";
    const fingerprint = await record.key.fingerprint();
    // No await below this line: a chain introduced meanwhile is not overwritten.
    if (this.chains.has(idKey(record.chain)))
      throw new ProtocolError("receive/chain-key-conflict", ChainId.toText(record.chain));
    this.introduce(
      {
        chain: record.chain,
        conversation: record.conversation,
        epoch: record.epoch,
        senderAccount: record.ownerAccount,
        senderDevice: record.ownerDevice,
        createdAt: record.createdAt,
        startIndex: record.startIndex,
        key: ChainKey.fromBytes(record.key.dangerBytes()),
      },
      fingerprint,
      { kind: "bundle", firstLive: null },
    );
    return "introduced";
  }

  /**
   * §7.5 step 7 for a chain already known: another owner device is
   * `receive/chain-owner-mismatch`; another conversation, epoch, start index or key is
   * `receive/chain-key-conflict`; the same is a duplicate (`true`). Unknown: `false`.
   */
  private checkKnown(c: Introduction, fingerprint: Bytes): boolean {
    const known = this.chains.get(idKey(c.chain));
    if (known === undefined) return false;
    if (!bytesEqual(known.senderDevice, c.senderDevice)) {
      throw new ProtocolError("receive/chain-owner-mismatch", ChainId.toText(c.chain));
    }
    if (
      known.epoch !== c.epoch ||
      !bytesEqual(known.conversation, c.conversation) ||
      known.startIndex !== c.startIndex ||
      !constantTimeEqual(known.startKeyFingerprint, fingerprint)
    ) {
      throw new ProtocolError("receive/chain-key-conflict", ChainId.toText(c.chain));
    }
    return true;
  }

  private introduce(c: Introduction, fingerprint: Bytes, origin: ChainOrigin): void {
    this.chains.set(idKey(c.chain), {
      chain: c.chain,
      conversation: c.conversation,
      epoch: c.epoch,
      senderAccount: c.senderAccount,
      senderDevice: c.senderDevice,
      createdAt: c.createdAt,
      startIndex: c.startIndex,
      startKeyFingerprint: fingerprint,
      nextKey: c.key,
      nextIndex: c.startIndex,
      consumed: 0n,
      skipped: new Map(),
      finalIndex: undefined,
      origin,
    });
  }

  /**
   * Verifies and decrypts `envelope` from `sender`, changing nothing. Checks in the order of
   * §9.2: sender bound to the header; signature; conversation; epoch; membership; far future;
   * known chain; chain owner and conversation; chain epoch; index bound and announced end;
   * replay; key available; then AES-GCM, padding and body decode (`decryption-failed`).
   */
  async open(
    envelope: Envelope,
    sender: VerifiedDevice,
    group: GroupState,
    now: bigint,
  ): Promise<OpenedMessage> {
    const h = envelope.header;
    await checkEnvelopeOrigin(envelope, sender, group, now, "now");
    const chain = this.chains.get(idKey(h.chain));
    if (chain === undefined)
      throw new ProtocolError("receive/unknown-chain", ChainId.toText(h.chain));
    checkChainPlace(chain, h);
    if (isConsumed(chain, h.index))
      throw new ProtocolError("receive/replay", `${ChainId.toText(h.chain)} #${h.index}`);
    const expectedNextIndex = chain.nextIndex;
    const { key, advance } = await deriveKey(chain, h.index);
    const body = await decryptEnvelope(envelope, key);
    return new OpenedMessage(OPENED, h, body, expectedNextIndex, advance);
  }

  /**
   * Records an opened message: marks its index received, deletes its key, keeps the keys of the
   * indexes it skipped and reports those from {@link gapsFrom} on as its gap, advances the chain.
   * If the chain moved since the open, or the index was recorded meanwhile, it is
   * `receive/replay` (two opens of one message commit once).
   */
  commit(opened: OpenedMessage, now: bigint): ReceivedMessage {
    const { header, body, expectedNextIndex, advance } = opened;
    const chain = this.chains.get(idKey(header.chain));
    if (chain === undefined)
      throw new ProtocolError("receive/unknown-chain", ChainId.toText(header.chain));
    if (chain.nextIndex !== expectedNextIndex || isConsumed(chain, header.index)) {
      throw new ProtocolError("receive/replay", `${ChainId.toText(header.chain)} #${header.index}`);
    }
    if (chain.origin.kind === "bundle" && chain.origin.firstLive === null) {
      chain.origin = { kind: "bundle", firstLive: header.index };
    }
    const reportFrom = gapsFrom(chain) ?? header.index;
    const gap: number[] = [];
    if (advance !== undefined) {
      for (const [index, key] of advance.skipped) {
        // Below `reportFrom` the key is kept all the same, so that a late copy still opens once,
        // but the index is not reported: it was sent before this device held the chain.
        if (index >= reportFrom) gap.push(index);
        chain.skipped.set(index, { key, since: now });
      }
      chain.nextKey = advance.nextKey;
      chain.nextIndex = advance.nextIndex;
    } else {
      chain.skipped.delete(header.index);
    }
    if (header.index < 128) chain.consumed |= 1n << BigInt(header.index);
    this.prune(now);
    return { header, body, gap };
  }

  /** {@link open} then {@link commit}. */
  async receive(
    envelope: Envelope,
    sender: VerifiedDevice,
    group: GroupState,
    now: bigint,
  ): Promise<ReceivedMessage> {
    return this.commit(await this.open(envelope, sender, group, now), now);
  }

  /**
   * Forgets chains introduced more than 180 days ago, drops skipped keys older than 30 days, then
   * the oldest beyond 2000 (§9.3). Their messages, if they come, are `receive/key-evicted`.
   */
  prune(now: bigint): void {
    for (const [id, chain] of this.chains) {
      if (chain.createdAt < now - CHAIN_RETENTION_MS) this.chains.delete(id);
    }
    const cutoff = now - MAX_SKIPPED_KEY_AGE_MS;
    let total = 0;
    for (const chain of this.chains.values()) {
      for (const [index, kept] of chain.skipped) {
        if (kept.since < cutoff) chain.skipped.delete(index);
      }
      total += chain.skipped.size;
    }
    if (total <= MAX_SKIPPED_KEYS) return;
    const all: { since: bigint; chain: ReceiverChain; index: number }[] = [];
    for (const chain of this.chains.values()) {
      for (const [index, kept] of chain.skipped) all.push({ since: kept.since, chain, index });
    }
    // Oldest first; ties broken by chain id then index, like the Rust core.
    all.sort((a, b) => {
      if (a.since !== b.since) return a.since < b.since ? -1 : 1;
      const byChain = compareBytes(a.chain.chain, b.chain.chain);
      return byChain !== 0 ? byChain : a.index - b.index;
    });
    for (const entry of all.slice(0, total - MAX_SKIPPED_KEYS))
      entry.chain.skipped.delete(entry.index);
  }

  /** The state's persisted form (§9.5; implementation-defined). */
  snapshot(): ReceiverStateSnapshot {
    return {
      chains: [...this.chains.values()].map((c) => ({
        chain: c.chain,
        conversation: c.conversation,
        epoch: c.epoch,
        senderAccount: c.senderAccount,
        senderDevice: c.senderDevice,
        createdAt: c.createdAt,
        startIndex: c.startIndex,
        startKeyFingerprint: c.startKeyFingerprint,
        nextKey: c.nextKey?.dangerBytes(),
        nextIndex: c.nextIndex,
        consumed: c.consumed,
        skipped: [...c.skipped].map(([index, k]) => ({
          index,
          key: k.key.dangerBytes(),
          since: k.since,
        })),
        finalIndex: c.finalIndex,
        origin: c.origin,
      })),
    };
  }

  /** Rebuilds a state persisted by {@link snapshot}. */
  static restore(s: ReceiverStateSnapshot): ReceiverState {
    const state = new ReceiverState();
    for (const c of s.chains) {
      state.chains.set(idKey(c.chain), {
        chain: c.chain,
        conversation: c.conversation,
        epoch: c.epoch,
        senderAccount: c.senderAccount,
        senderDevice: c.senderDevice,
        createdAt: c.createdAt,
        startIndex: c.startIndex,
        startKeyFingerprint: c.startKeyFingerprint,
        nextKey: c.nextKey === undefined ? undefined : ChainKey.fromBytes(c.nextKey),
        nextIndex: c.nextIndex,
        consumed: c.consumed,
        skipped: new Map(
          c.skipped.map((k) => [k.index, { key: MessageKey.fromBytes(k.key), since: k.since }]),
        ),
        finalIndex: c.finalIndex,
        origin: c.origin ?? { kind: "distribution" },
      });
    }
    return state;
  }

  /** A chain this device knows (read-only view). */
  chain(id: ChainIdT): Readonly<ReceiverChain> | undefined {
    return this.chains.get(idKey(id));
  }

  /** Missing indexes of a chain. */
  missing(id: ChainIdT): number[] {
    const chain = this.chains.get(idKey(id));
    return chain === undefined ? [] : missingIn(chain);
  }

  /** Skipped message keys kept, across chains. */
  skippedKeyCount(): number {
    let total = 0;
    for (const chain of this.chains.values()) total += chain.skipped.size;
    return total;
  }

  /** How many chains are kept. */
  get size(): number {
    return this.chains.size;
  }
}

/** The message key for `index`, and how the chain advances if the message is committed. */
async function deriveKey(
  chain: ReceiverChain,
  index: number,
): Promise<{ key: MessageKey; advance: Advance | undefined }> {
  if (index < chain.nextIndex) {
    const kept = chain.skipped.get(index);
    if (kept === undefined) throw new ProtocolError("receive/key-evicted", `index ${index}`);
    return { key: MessageKey.fromBytes(kept.key.dangerBytes()), advance: undefined };
  }
  if (index < chain.startIndex) throw new ProtocolError("receive/key-evicted", `index ${index}`);
  let key = chain.nextKey;
  if (key === undefined) throw new ProtocolError("receive/index-out-of-bounds", `index ${index}`);
  const skipped: (readonly [number, MessageKey])[] = [];
  for (let i = chain.nextIndex; i < index; i++) {
    skipped.push([i, await key.messageKey()]);
    key = await key.next();
  }
  const messageKey = await key.messageKey();
  const nextIndex = index + 1;
  const nextKey = nextIndex < MAX_CHAIN_MESSAGES ? await key.next() : undefined;
  return { key: messageKey, advance: { nextKey, nextIndex, skipped } };
}
