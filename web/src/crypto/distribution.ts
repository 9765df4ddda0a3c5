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
 *
 * Version 2 (§18.5) adds `u8 prekey kind ‖ prekey id [16] ‖ ephemeral EC key [65] ‖ ML-KEM
 * ciphertext [1088]` after the exchange key id, and its ciphertext is `bytes(rsa_ct) ‖
 * bytes(sealed)` (the hybrid combiner lives in `hybrid.ts`). The domain's version byte says which
 * of the two a header is.
 */

import type { Bytes } from "./bytes";
import { Reader, Writer } from "./codec";
import {
  Domain,
  type DomainVersion,
  PROTOCOL_VERSION,
  PROTOCOL_VERSION_2,
  encodeDomain,
} from "./domains";
import { ProtocolError } from "./errors";
import {
  type AccountId as AccountIdT,
  type ChainId as ChainIdT,
  type ConversationId as ConversationIdT,
  type DeviceId as DeviceIdT,
  type ExchangeKeyId as ExchangeKeyIdT,
  type PrekeyId as PrekeyIdT,
  AccountId,
  ChainId,
  ConversationId,
  DeviceId,
  ExchangeKeyId,
  PrekeyId,
} from "./ids";
import {
  MAX_CHAIN_MESSAGES,
  GCM_TAG_LEN,
  MAX_KDM_HEADER_LEN,
  MAX_KEY_REQUEST_BODY_LEN,
  MAX_RSA_OUTPUT_LEN,
  U32_MAX,
} from "./limits";
import { MLKEM768_CT_LEN } from "./mlkem";
import { EC_PUBLIC_LEN } from "./prekey";
import { sha256 } from "./primitives";
import { ChainKey } from "./ratchet";
import { Signed, SignedSealed } from "./signed";

/** The end of a previous chain, announced by the next distribution so truncation shows. */
export interface ChainEnd {
  readonly chain: ChainIdT;
  /** The last index sent on it, or `undefined` if none was (encoded as `0xffffffff`). */
  readonly finalIndex: number | undefined;
}

/** Which prekey of the recipient a version-2 distribution used (§18.5). */
export type PrekeyKind = "one-time" | "last-resort";

const PREKEY_KIND_TAG: Record<PrekeyKind, number> = { "one-time": 0x01, "last-resort": 0x02 };

/** The version-2 part of a header: the prekey used and the two ciphertexts made for it. */
export interface HybridHeader {
  readonly prekeyKind: PrekeyKind;
  readonly prekey: PrekeyIdT;
  /** The sender's ephemeral P-256 point `E`. */
  readonly ephemeral: Bytes;
  /** ML-KEM-768 ciphertext `ct`. */
  readonly kemCiphertext: Bytes;
}

/** A version-2 distribution's header is at most this long (1414 bytes with a previous chain). */
export const MAX_KDM_V2_HEADER_LEN = 2_048;
/** A version-2 distribution's wire form is at most this long (§18.5). */
export const MAX_KDM_V2_LEN = 4_096;
/** `rsa_ct` of a version-2 distribution is at most this long (§18.5). */
export const MAX_KDM_V2_RSA_LEN = 512;
/** `sealed` of a version-2 distribution: a 71-byte payload and the GCM tag (§18.5). */
export const KDM_V2_SEALED_LEN = 71 + GCM_TAG_LEN;

/** A key-distribution header: version 1 (§7.3), or version 2 when `hybrid` is present (§18.5). */
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
  /** Present exactly in a version-2 header. */
  readonly hybrid?: HybridHeader | undefined;
}

export const DistributionHeader = {
  /** The canonical encoding, at version 2 when the header has a hybrid part. */
  encode(h: DistributionHeader): Bytes {
    const w = Writer.forDomain(Domain.KeyDistribution, versionOf(h));
    ConversationId.encode(w, h.conversation);
    w.u64(h.epoch);
    ChainId.encode(w, h.chain);
    AccountId.encode(w, h.senderAccount);
    DeviceId.encode(w, h.senderDevice);
    AccountId.encode(w, h.recipientAccount);
    DeviceId.encode(w, h.recipientDevice);
    ExchangeKeyId.encode(w, h.recipientKey);
    if (h.hybrid !== undefined) {
      const x = h.hybrid;
      if (x.ephemeral.length !== EC_PUBLIC_LEN || x.kemCiphertext.length !== MLKEM768_CT_LEN) {
        throw new ProtocolError("invalid-input", "ephemeral key or ML-KEM ciphertext length");
      }
      w.u8(PREKEY_KIND_TAG[x.prekeyKind]);
      PrekeyId.encode(w, x.prekey);
      w.fixed(x.ephemeral);
      w.fixed(x.kemCiphertext);
    }
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

  /**
   * Decodes a header of either version; `has_previous` other than 0 or 1 and a prekey kind other
   * than 1 or 2 are `decode/unknown-tag`.
   */
  decode(bytes: Bytes): DistributionHeader {
    const { reader: r, version } = Reader.forDomainVersions(bytes, Domain.KeyDistribution);
    const conversation = ConversationId.decode(r);
    const epoch = r.u64();
    const chain = ChainId.decode(r);
    const senderAccount = AccountId.decode(r);
    const senderDevice = DeviceId.decode(r);
    const recipientAccount = AccountId.decode(r);
    const recipientDevice = DeviceId.decode(r);
    const recipientKey = ExchangeKeyId.decode(r);
    let hybrid: HybridHeader | undefined;
    if (version === PROTOCOL_VERSION_2) {
      const kind = r.u8();
      const prekeyKind: PrekeyKind | undefined =
        kind === 0x01 ? "one-time" : kind === 0x02 ? "last-resort" : undefined;
      if (prekeyKind === undefined)
        throw new ProtocolError("decode/unknown-tag", `prekey kind ${kind}`);
      hybrid = {
        prekeyKind,
        prekey: PrekeyId.decode(r),
        ephemeral: r.array(EC_PUBLIC_LEN),
        kemCiphertext: r.array(MLKEM768_CT_LEN),
      };
    }
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
      hybrid,
    };
  },

  /**
   * The OAEP label: `SHA-256(domain("sotto/kdm-label", v) ‖ header)` over the header bytes as
   * given, `v` the header's version.
   */
  async oaepLabel(
    headerBytes: Uint8Array,
    version: DomainVersion = PROTOCOL_VERSION,
  ): Promise<Bytes> {
    return sha256(encodeDomain(Domain.KeyDistributionLabel, version), headerBytes);
  },
};

/** A header's version: 2 with a hybrid part, else 1. */
export function versionOf(h: DistributionHeader): DomainVersion {
  return h.hybrid === undefined ? PROTOCOL_VERSION : PROTOCOL_VERSION_2;
}

/**
 * The plaintext: the chain key and where it starts. Version 1 encrypts it with OAEP, version 2
 * with AES-GCM under the hybrid key (§18.5); the domain's version follows the header's.
 */
export function encodePayload(
  chain: ChainIdT,
  startIndex: number,
  key: ChainKey,
  version: DomainVersion = PROTOCOL_VERSION,
): Bytes {
  const w = Writer.forDomain(Domain.KeyDistributionPayload, version);
  ChainId.encode(w, chain);
  w.u32(startIndex);
  w.fixed(key.dangerBytes());
  return w.finish();
}

/** Decodes the plaintext; any malformation is the uniform `decryption-failed`. */
export function decodePayload(
  bytes: Bytes,
  version: DomainVersion = PROTOCOL_VERSION,
): {
  chain: ChainIdT;
  startIndex: number;
  key: ChainKey;
} {
  try {
    const { reader: r } = Reader.forDomainVersions(bytes, Domain.KeyDistributionPayload, [version]);
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

  /**
   * Decodes the wire form of either version, checking structure and bounds only. A version-2
   * one is at most 4096 bytes, its `rsa_ct` at most 512 and its `sealed` exactly 87
   * (`decode/invalid-value`).
   */
  static decode(bytes: Bytes): KeyDistribution {
    if (!startsWithV2Header(bytes)) {
      return KeyDistribution.fromSealed(
        SignedSealed.decode(bytes, MAX_KDM_HEADER_LEN, MAX_RSA_OUTPUT_LEN),
      );
    }
    if (bytes.length > MAX_KDM_V2_LEN)
      throw new ProtocolError("decode/invalid-value", "kdm length");
    return KeyDistribution.fromSealed(
      SignedSealed.decode(bytes, MAX_KDM_V2_HEADER_LEN, MAX_KDM_V2_LEN),
    );
  }

  /** Wraps signed parts, checking that the header decodes (and a v2 ciphertext splits). */
  static fromSealed(sealed: SignedSealed): KeyDistribution {
    const header = DistributionHeader.decode(sealed.header);
    if (header.hybrid !== undefined) splitHybridCiphertext(sealed.ciphertext);
    return new KeyDistribution(header, sealed);
  }

  /** The structure version (1 or 2). */
  get version(): DomainVersion {
    return versionOf(this.header);
  }

  /** The wire form. */
  encode(): Bytes {
    return this.sealed.encode();
  }
}

const V2_HEADER_DOMAIN = encodeDomain(Domain.KeyDistribution, PROTOCOL_VERSION_2);

/** Whether a wire form's header (after its `u32` length) opens with `domain("sotto/kdm", 2)`. */
function startsWithV2Header(bytes: Uint8Array): boolean {
  if (bytes.length < 4 + V2_HEADER_DOMAIN.length) return false;
  return V2_HEADER_DOMAIN.every((b, i) => bytes[4 + i] === b);
}

/**
 * `bytes(rsa_ct) ‖ bytes(sealed)` of a version-2 distribution, with §18.5's bounds: a ciphertext
 * of any other shape (a prefix over its bound, too short, a byte after `sealed`) is
 * `decode/invalid-value`, the ciphertext field's own rule (§2.1, §18.5), as in the Rust core.
 */
export function splitHybridCiphertext(ciphertext: Bytes): { rsa: Bytes; sealed: Bytes } {
  let parts: { rsa: Bytes; sealed: Bytes };
  try {
    const r = new Reader(ciphertext);
    parts = { rsa: r.bytes("rsa_ct", MAX_KDM_V2_LEN), sealed: r.bytes("sealed", MAX_KDM_V2_LEN) };
    r.finish();
  } catch (error) {
    throw new ProtocolError("decode/invalid-value", "hybrid ciphertext", { cause: error });
  }
  if (parts.rsa.length > MAX_KDM_V2_RSA_LEN || parts.sealed.length !== KDM_V2_SEALED_LEN) {
    throw new ProtocolError("decode/invalid-value", "hybrid ciphertext");
  }
  return parts;
}

/** `bytes(rsa_ct) ‖ bytes(sealed)`. */
export function joinHybridCiphertext(rsa: Uint8Array, sealed: Uint8Array): Bytes {
  const w = new Writer();
  w.bytes(rsa);
  w.bytes(sealed);
  return w.finish();
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
