/**
 * The sending side of a chain (`docs/protocol.md` §7.2–§7.4, §7.6).
 *
 * One {@link SenderChain} per (conversation, epoch, sending device) at a time, replaced on every
 * membership or device change, after 100 messages and after 7 days. Sending is two steps so an
 * index is never used twice, even across a crash: {@link SenderChain.reserve} advances the chain
 * and hands out the index's key; the caller persists the advanced chain, then
 * {@link ReservedMessage.seal} makes the envelope. Reserves on one chain are serialised inside
 * the object; across tabs the client holds a Web Lock per chain.
 */

import { type Bytes, bytesEqual } from "./bytes";
import { type MessageBody as MessageBodyT, MessageBody, pad } from "./body";
import type { ChainRecord } from "./bundle";
import {
  type ChainEnd,
  DistributionHeader,
  KeyDistribution,
  KeyRequest,
  encodePayload,
} from "./distribution";
import type { Env } from "./env";
import { Envelope, EnvelopeHeader } from "./envelope";
import { ProtocolError } from "./errors";
import type { GroupState } from "./group";
import type { DeviceKeys, VerifiedDevice, VerifiedExchangeKey } from "./identity";
import {
  type AccountId as AccountIdT,
  type ChainId as ChainIdT,
  type ConversationId as ConversationIdT,
  type DeviceId as DeviceIdT,
  type MessageId as MessageIdT,
  ChainId,
  idKey,
} from "./ids";
import { MAX_CHAIN_MESSAGES, MAX_CLOCK_SKEW_MS, MAX_SENDING_CHAIN_AGE_MS } from "./limits";
import { hybridSecrets, sealHybrid } from "./hybrid";
import type { VerifiedPrekey } from "./prekey";
import { ChainKey, type MessageKey } from "./ratchet";
import { type Signed, SignedSealed } from "./signed";

/** A chain this device sends on. */
export class SenderChain {
  /** The key at `nextIndex`. */
  private current: ChainKey;
  private index = 0;
  /** Devices (by `idKey`) the chain key was distributed to; a change in the set means a new chain. */
  private readonly recipientSet = new Set<string>();
  /** Serialises reserves: each waits for the previous one's ratchet step. */
  private tail: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly conversation: ConversationIdT,
    readonly epoch: bigint,
    readonly chain: ChainIdT,
    readonly account: AccountIdT,
    readonly device: DeviceIdT,
    /** The key at index 0, kept while the chain lives so a device that missed it can be sent it again. */
    private readonly initial: ChainKey,
    readonly createdAt: bigint,
    readonly previous: ChainEnd | undefined,
  ) {
    this.current = initial;
  }

  /** Starts a chain with a fresh random id and key (id first, then key, like the Rust core). */
  static async start(
    conversation: ConversationIdT,
    epoch: bigint,
    account: AccountIdT,
    device: DeviceIdT,
    previous: ChainEnd | undefined,
    env: Env,
  ): Promise<SenderChain> {
    const chain = ChainId.fromBytes(await env.rng.random(ChainId.LEN));
    const key = ChainKey.fromBytes(await env.rng.random(32));
    return new SenderChain(conversation, epoch, chain, account, device, key, env.now, previous);
  }

  /**
   * The chain's key from index 0 as a bundle Chain record (§15.1): what the device keeps in its
   * history keys (§17.2) and puts in backup items and hand-overs, so the account's other devices
   * can read what it sent. Receive-only for them: they never send on it (§7.4).
   */
  historyRecord(): ChainRecord {
    return {
      conversation: this.conversation,
      epoch: this.epoch,
      chain: this.chain,
      ownerAccount: this.account,
      ownerDevice: this.device,
      startIndex: 0,
      key: ChainKey.fromBytes(this.initial.dangerBytes()),
      createdAt: this.createdAt,
    };
  }

  /** Starts the chain that replaces this one at `epoch`, announcing this one's end. */
  successor(epoch: bigint, env: Env): Promise<SenderChain> {
    return SenderChain.start(this.conversation, epoch, this.account, this.device, this.end(), env);
  }

  /**
   * The chain's local state (§9.5; implementation-defined): persist it after every
   * {@link reserve} and before sealing. Restoring copies nothing new: a restored chain continues
   * at the persisted index, never below it.
   */
  snapshot(): SenderChainSnapshot {
    return {
      conversation: this.conversation,
      epoch: this.epoch,
      chain: this.chain,
      account: this.account,
      device: this.device,
      initial: this.initial.dangerBytes(),
      current: this.current.dangerBytes(),
      index: this.index,
      recipients: [...this.recipientSet],
      createdAt: this.createdAt,
      previous:
        this.previous === undefined
          ? undefined
          : { chain: this.previous.chain, finalIndex: this.previous.finalIndex },
    };
  }

  /** Rebuilds a chain persisted by {@link snapshot} (on this device only; never a copy). */
  static restore(s: SenderChainSnapshot): SenderChain {
    const chain = new SenderChain(
      s.conversation,
      s.epoch,
      s.chain,
      s.account,
      s.device,
      ChainKey.fromBytes(s.initial),
      s.createdAt,
      s.previous,
    );
    chain.current = ChainKey.fromBytes(s.current);
    chain.index = s.index;
    for (const r of s.recipients) chain.recipientSet.add(r);
    return chain;
  }

  /** This chain's id and last used index. */
  end(): ChainEnd {
    return { chain: this.chain, finalIndex: this.index === 0 ? undefined : this.index - 1 };
  }

  /** The next index to be used. */
  get nextIndex(): number {
    return this.index;
  }

  /** The devices the key was distributed to (as `idKey` strings). */
  get recipients(): ReadonlySet<string> {
    return this.recipientSet;
  }

  /**
   * Whether the chain must be replaced before the next message: the epoch moved, the set of
   * recipient devices changed, or it is exhausted or too old (§7.2; 24 hours since §18.8).
   */
  needsRotation(now: bigint, epoch: bigint, devices: readonly DeviceIdT[]): boolean {
    const wanted = new Set(devices.map(idKey));
    const sameDevices =
      wanted.size === this.recipientSet.size && [...wanted].every((d) => this.recipientSet.has(d));
    return epoch !== this.epoch || !sameDevices || this.exhaustedAt(now);
  }

  private exhaustedAt(now: bigint): boolean {
    return this.index >= MAX_CHAIN_MESSAGES || now >= this.createdAt + MAX_SENDING_CHAIN_AGE_MS;
  }

  /**
   * Takes the next index and its key, advancing the chain (`chain-needs-rotation` when exhausted
   * or expired). Persist the chain before sealing.
   */
  reserve(now: bigint): Promise<ReservedMessage> {
    const step = this.tail.then(async () => {
      if (this.exhaustedAt(now)) throw new ProtocolError("chain-needs-rotation");
      const key = await this.current.messageKey();
      const next = await this.current.next();
      // Synchronous from here: claim the index and move the chain together.
      const index = this.index;
      this.current = next;
      this.index += 1;
      return new ReservedMessage(RESERVE, this, index, key);
    });
    this.tail = step.catch(() => undefined);
    return step;
  }

  /** The exchange keys a distribution goes to: members' devices other than this one. */
  recipientsIn(group: GroupState, keys: readonly VerifiedExchangeKey[]): VerifiedExchangeKey[] {
    return keys.filter((k) => group.isMember(k.account) && !bytesEqual(k.device, this.device));
  }

  /**
   * Makes this chain's distribution for one recipient device and records it as a recipient.
   * Refuses another conversation or epoch (`chain-needs-rotation`), a non-member
   * (`recipient-not-member`), a key not valid at `now` (`exchange-key-not-valid-now`) and a
   * signer other than the owner (`invalid-input`).
   */
  async distribute(
    group: GroupState,
    recipient: VerifiedExchangeKey,
    signer: DeviceKeys,
    now: bigint,
  ): Promise<KeyDistribution> {
    return this.distributeWith(group, recipient, undefined, signer, now);
  }

  /**
   * {@link distribute} by the version of the recipient's certificate (§18.7): a version-2
   * recipient gets a version-2 distribution (§18.5) under `prekey`, a verified one-time prekey of
   * that device, or else under the certificate's last-resort prekey; a version-1 recipient gets
   * a version-1 distribution, and `prekey` must be undefined (`invalid-input`).
   */
  async distributeWith(
    group: GroupState,
    recipient: VerifiedExchangeKey,
    prekey: VerifiedPrekey | undefined,
    signer: DeviceKeys,
    now: bigint,
  ): Promise<KeyDistribution> {
    if (!bytesEqual(group.conversation, this.conversation) || group.epoch !== this.epoch) {
      throw new ProtocolError("chain-needs-rotation");
    }
    if (!group.isMember(recipient.account)) throw new ProtocolError("recipient-not-member");
    if (now < recipient.notBefore - MAX_CLOCK_SKEW_MS || now >= recipient.notAfter) {
      throw new ProtocolError("exchange-key-not-valid-now");
    }
    if (!bytesEqual(signer.device, this.device))
      throw new ProtocolError("invalid-input", "only the chain's owner distributes its key");
    // The fields both versions of the header share (§7.3, §18.5).
    const common = {
      conversation: this.conversation,
      epoch: this.epoch,
      chain: this.chain,
      senderAccount: this.account,
      senderDevice: this.device,
      recipientAccount: recipient.account,
      recipientDevice: recipient.device,
      recipientKey: recipient.keyId,
      createdAt: now,
      startIndex: 0,
      previous: this.previous,
    };
    const lastResort = recipient.lastResort;
    if (lastResort !== undefined) {
      if (
        prekey !== undefined &&
        (!bytesEqual(prekey.device, recipient.device) ||
          !bytesEqual(prekey.account, recipient.account))
      ) {
        throw new ProtocolError("wrong-account", "the prekey is another device's");
      }
      const used = prekey?.publicPart ?? lastResort;
      const secrets = await hybridSecrets(used);
      const header = DistributionHeader.encode({
        ...common,
        hybrid: {
          prekeyKind: prekey === undefined ? "last-resort" : "one-time",
          prekey: used.id,
          ephemeral: secrets.ephemeral,
          kemCiphertext: secrets.kemCiphertext,
        },
      });
      const ciphertext = await sealHybrid(
        header,
        recipient.key,
        used,
        secrets,
        this.chain,
        0,
        this.initial,
      );
      secrets.ssE.fill(0);
      secrets.ssK.fill(0);
      const sealed = await SignedSealed.sign(header, ciphertext, signer.signing);
      this.recipientSet.add(idKey(recipient.device));
      return KeyDistribution.fromSealed(sealed);
    }
    if (prekey !== undefined) {
      throw new ProtocolError("invalid-input", "a version-1 recipient takes no prekey");
    }
    const header = DistributionHeader.encode(common);
    const label = await DistributionHeader.oaepLabel(header);
    const ciphertext = await recipient.key.encrypt(
      encodePayload(this.chain, 0, this.initial),
      label,
    );
    const sealed = await SignedSealed.sign(header, ciphertext, signer.signing);
    this.recipientSet.add(idKey(recipient.device));
    return KeyDistribution.fromSealed(sealed);
  }

  /**
   * Answers a signed key request (§7.6) with a fresh distribution, only for a verified device of
   * a current member that was among the chain's recipients, to the exchange key it named.
   */
  async answerKeyRequest(
    request: Signed,
    requester: VerifiedDevice,
    requesterKey: VerifiedExchangeKey,
    group: GroupState,
    signer: DeviceKeys,
    now: bigint,
  ): Promise<KeyDistribution> {
    return this.answerKeyRequestWith(
      request,
      requester,
      requesterKey,
      undefined,
      group,
      signer,
      now,
    );
  }

  /** {@link answerKeyRequest} by the version of the named key's certificate, as distributeWith. */
  async answerKeyRequestWith(
    request: Signed,
    requester: VerifiedDevice,
    requesterKey: VerifiedExchangeKey,
    prekey: VerifiedPrekey | undefined,
    group: GroupState,
    signer: DeviceKeys,
    now: bigint,
  ): Promise<KeyDistribution> {
    const body = KeyRequest.decode(request.body);
    if (
      !bytesEqual(body.requesterDevice, requester.device) ||
      !bytesEqual(body.requesterAccount, requester.account)
    ) {
      throw new ProtocolError("receive/sender-mismatch");
    }
    await request.verify("key request", requester.signingKey);
    if (
      !bytesEqual(body.conversation, this.conversation) ||
      !bytesEqual(body.chain, this.chain) ||
      body.epoch !== this.epoch
    ) {
      throw new ProtocolError("receive/unknown-chain", ChainId.toText(body.chain));
    }
    if (!bytesEqual(body.ownerDevice, this.device))
      throw new ProtocolError("receive/chain-owner-mismatch");
    if (body.requestedAt > now + MAX_CLOCK_SKEW_MS) throw new ProtocolError("receive/far-future");
    if (
      !bytesEqual(requesterKey.device, requester.device) ||
      !bytesEqual(requesterKey.keyId, body.requesterKey)
    ) {
      throw new ProtocolError("receive/wrong-recipient");
    }
    // The requester's *account* must have been meant to read the chain (§7.6): a device its
    // account certified after the chain started is answered, since the account's other devices
    // could hand it the chain anyway (§16). An account that was not a member at the chain's
    // epoch (added later) waits for the next chain.
    if (
      !this.recipientSet.has(idKey(requester.device)) &&
      !(
        bytesEqual(group.conversation, this.conversation) &&
        group.wasMemberAt(requester.account, this.epoch)
      )
    )
      throw new ProtocolError("receive/wrong-recipient");
    return this.distributeWith(group, requesterKey, prekey, signer, now);
  }
}

/** A {@link SenderChain}'s persisted form. */
export interface SenderChainSnapshot {
  readonly conversation: ConversationIdT;
  readonly epoch: bigint;
  readonly chain: ChainIdT;
  readonly account: AccountIdT;
  readonly device: DeviceIdT;
  readonly initial: Bytes;
  readonly current: Bytes;
  readonly index: number;
  readonly recipients: readonly string[];
  readonly createdAt: bigint;
  readonly previous: ChainEnd | undefined;
}

const RESERVE: unique symbol = Symbol("sotto/reserve");

/** One reserved index and its message key; sealing consumes it, so a key encrypts one message. */
export class ReservedMessage {
  private key: MessageKey | undefined;

  constructor(
    token: typeof RESERVE,
    private readonly chain: SenderChain,
    /** The reserved index. */
    readonly index: number,
    key: MessageKey,
  ) {
    if (token !== RESERVE)
      throw new ProtocolError("invalid-input", "ReservedMessage is made by SenderChain.reserve");
    this.key = key;
  }

  /** Encrypts and signs `body` as message `messageId`. A second seal is `invalid-input`. */
  async seal(
    body: MessageBodyT,
    messageId: MessageIdT,
    sentAt: bigint,
    signer: DeviceKeys,
  ): Promise<Envelope> {
    const key = this.key;
    if (key === undefined)
      throw new ProtocolError("invalid-input", "a reserved index seals one message");
    if (!bytesEqual(signer.device, this.chain.device)) {
      throw new ProtocolError("invalid-input", "only the chain's owner signs its messages");
    }
    this.key = undefined;
    const padded = pad(MessageBody.encode(body));
    const header: Bytes = EnvelopeHeader.encode({
      conversation: this.chain.conversation,
      epoch: this.chain.epoch,
      senderAccount: this.chain.account,
      senderDevice: this.chain.device,
      chain: this.chain.chain,
      index: this.index,
      sentAt,
      messageId,
      paddedLen: padded.length,
    });
    const ciphertext = await (await key.aeadKey(this.chain.chain, this.index)).seal(header, padded);
    return Envelope.fromSealed(await SignedSealed.sign(header, ciphertext, signer.signing));
  }
}
