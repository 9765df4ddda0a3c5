/**
 * Key distributions and key requests (`docs/protocol.md` §7.3, §7.6).
 *
 * ```text
 * header  = domain("sotto/kdm") ‖ conversation [16] ‖ u64 epoch ‖ chain [16]
 *           ‖ sender account [32] ‖ sender device [32]
 *           ‖ recipient account [32] ‖ recipient device [32] ‖ recipient exchange key id [32]
 *           ‖ u64 created_at ‖ u32 start_index
 *           ‖ u8 has_previous [‖ previous chain [16] ‖ u32 previous final index]
 * label   = SHA-256(domain("sotto/kdm-label") ‖ header)
 * payload = domain("sotto/kdm-payload") ‖ chain [16] ‖ u32 start_index ‖ CK_start [32]
 * ```
 *
 * The header names both ends and the exact exchange key, the OAEP label binds the ciphertext to
 * the header, and the signature binds both to the sender.
 */

import type { Bytes } from "./bytes";
import { Reader, Writer } from "./codec";
import { Domain, encodeDomain } from "./domains";
import { ProtocolError } from "./errors";
import {
  type AccountId as AccountIdT,
  type ChainId as ChainIdT,
  type ConversationId as ConversationIdT,
  type DeviceId as DeviceIdT,
  type ExchangeKeyId as ExchangeKeyIdT,
  AccountId,
  ChainId,
  ConversationId,
  DeviceId,
  ExchangeKeyId,
} from "./ids";
import {
  MAX_CHAIN_MESSAGES,
  MAX_KDM_HEADER_LEN,
  MAX_KEY_REQUEST_BODY_LEN,
  MAX_RSA_OUTPUT_LEN,
  U32_MAX,
} from "./limits";
import { sha256 } from "./primitives";
import { ChainKey } from "./ratchet";
import { Signed, SignedSealed } from "./signed";

/** The end of a previous chain, announced by the next distribution so truncation shows. */
export interface ChainEnd {
  readonly chain: ChainIdT;
  /** The last index sent on it, or `undefined` if none was (encoded as `0xffffffff`). */
  readonly finalIndex: number | undefined;
}

/** A key-distribution header. */
export interface DistributionHeader {
  readonly conversation: ConversationIdT;
  readonly epoch: bigint;
  readonly chain: ChainIdT;
  readonly senderAccount: AccountIdT;
  readonly senderDevice: DeviceIdT;
  readonly recipientAccount: AccountIdT;
  readonly recipientDevice: DeviceIdT;
  readonly recipientKey: ExchangeKeyIdT;
  readonly createdAt: bigint;
  readonly startIndex: number;
  readonly previous: ChainEnd | undefined;
}

export const DistributionHeader = {
  /** The canonical encoding. */
  encode(h: DistributionHeader): Bytes {
    const w = Writer.forDomain(Domain.KeyDistribution);
    ConversationId.encode(w, h.conversation);
    w.u64(h.epoch);
    ChainId.encode(w, h.chain);
    AccountId.encode(w, h.senderAccount);
    DeviceId.encode(w, h.senderDevice);
    AccountId.encode(w, h.recipientAccount);
    DeviceId.encode(w, h.recipientDevice);
    ExchangeKeyId.encode(w, h.recipientKey);
    w.u64(h.createdAt);
    w.u32(h.startIndex);
    if (h.previous === undefined) {
      w.u8(0);
    } else {
      w.u8(1);
      ChainId.encode(w, h.previous.chain);
      w.u32(h.previous.finalIndex ?? U32_MAX);
    }
    return w.finish();
  },

  /** Decodes a header; `has_previous` other than 0 or 1 is `decode/unknown-tag`. */
  decode(bytes: Bytes): DistributionHeader {
    const r = Reader.forDomain(bytes, Domain.KeyDistribution);
    const conversation = ConversationId.decode(r);
    const epoch = r.u64();
    const chain = ChainId.decode(r);
    const senderAccount = AccountId.decode(r);
    const senderDevice = DeviceId.decode(r);
    const recipientAccount = AccountId.decode(r);
    const recipientDevice = DeviceId.decode(r);
    const recipientKey = ExchangeKeyId.decode(r);
    const createdAt = r.u64();
    const startIndex = r.u32();
    const tag = r.u8();
    let previous: ChainEnd | undefined;
    if (tag === 1) {
      const previousChain = ChainId.decode(r);
      const final = r.u32();
      if (final !== U32_MAX && final >= MAX_CHAIN_MESSAGES) {
        throw new ProtocolError("decode/invalid-value", "previous final index");
      }
      previous = { chain: previousChain, finalIndex: final === U32_MAX ? undefined : final };
    } else if (tag !== 0) {
      throw new ProtocolError("decode/unknown-tag", `previous chain ${tag}`);
    }
    r.finish();
    return {
      conversation,
      epoch,
      chain,
      senderAccount,
      senderDevice,
      recipientAccount,
      recipientDevice,
      recipientKey,
      createdAt,
      startIndex,
      previous,
    };
  },

  /** The OAEP label: `SHA-256(domain("sotto/kdm-label") ‖ header)` over the header bytes as given. */
  async oaepLabel(headerBytes: Uint8Array): Promise<Bytes> {
    return sha256(encodeDomain(Domain.KeyDistributionLabel), headerBytes);
  },
};

/** The OAEP plaintext: the chain key and where it starts. */
export function encodePayload(chain: ChainIdT, startIndex: number, key: ChainKey): Bytes {
  const w = Writer.forDomain(Domain.KeyDistributionPayload);
  ChainId.encode(w, chain);
  w.u32(startIndex);
  w.fixed(key.dangerBytes());
  return w.finish();
}

/** Decodes the OAEP plaintext; any malformation is the uniform `decryption-failed`. */
export function decodePayload(bytes: Bytes): {
  chain: ChainIdT;
  startIndex: number;
  key: ChainKey;
} {
  try {
    const r = Reader.forDomain(bytes, Domain.KeyDistributionPayload);
    const chain = ChainId.decode(r);
    const startIndex = r.u32();
    const key = ChainKey.fromBytes(r.take(32));
    r.finish();
    return { chain, startIndex, key };
  } catch (error) {
    throw new ProtocolError("decryption-failed", undefined, { cause: error });
  }
}

/** A decoded, not yet verified key distribution. */
export class KeyDistribution {
  private constructor(
    readonly header: DistributionHeader,
    readonly sealed: SignedSealed,
  ) {}

  /** Decodes the wire form, checking structure and bounds only. */
  static decode(bytes: Bytes): KeyDistribution {
    return KeyDistribution.fromSealed(
      SignedSealed.decode(bytes, MAX_KDM_HEADER_LEN, MAX_RSA_OUTPUT_LEN),
    );
  }

  /** Wraps signed parts, checking that the header decodes. */
  static fromSealed(sealed: SignedSealed): KeyDistribution {
    return new KeyDistribution(DistributionHeader.decode(sealed.header), sealed);
  }

  /** The wire form. */
  encode(): Bytes {
    return this.sealed.encode();
  }
}

/** A device's request that a chain's owner send the distribution again (§7.6). */
export interface KeyRequest {
  readonly conversation: ConversationIdT;
  readonly epoch: bigint;
  readonly chain: ChainIdT;
  readonly ownerDevice: DeviceIdT;
  readonly requesterAccount: AccountIdT;
  readonly requesterDevice: DeviceIdT;
  readonly requesterKey: ExchangeKeyIdT;
  readonly requestedAt: bigint;
}

export const KeyRequest = {
  /** The canonical encoding (what the requester signs). */
  encode(q: KeyRequest): Bytes {
    const w = Writer.forDomain(Domain.KeyRequest);
    ConversationId.encode(w, q.conversation);
    w.u64(q.epoch);
    ChainId.encode(w, q.chain);
    DeviceId.encode(w, q.ownerDevice);
    AccountId.encode(w, q.requesterAccount);
    DeviceId.encode(w, q.requesterDevice);
    ExchangeKeyId.encode(w, q.requesterKey);
    w.u64(q.requestedAt);
    return w.finish();
  },

  /** Decodes a request body. */
  decode(bytes: Bytes): KeyRequest {
    const r = Reader.forDomain(bytes, Domain.KeyRequest);
    const q: KeyRequest = {
      conversation: ConversationId.decode(r),
      epoch: r.u64(),
      chain: ChainId.decode(r),
      ownerDevice: DeviceId.decode(r),
      requesterAccount: AccountId.decode(r),
      requesterDevice: DeviceId.decode(r),
      requesterKey: ExchangeKeyId.decode(r),
      requestedAt: r.u64(),
    };
    r.finish();
    return q;
  },

  /** Decodes a signed request's wire form. */
  decodeSigned(bytes: Bytes): Signed {
    return Signed.decode(bytes, MAX_KEY_REQUEST_BODY_LEN);
  },
};
