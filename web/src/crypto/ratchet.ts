/**
 * The symmetric ratchet of a sender chain (`docs/protocol.md` §7.1, §9.1).
 *
 * ```text
 * MK_i   = HMAC-SHA-256(CK_i, domain("sotto/chain/message-key"))
 * CK_i+1 = HMAC-SHA-256(CK_i, domain("sotto/chain/next"))
 * okm    = HKDF-SHA-256("", MK_i, domain("sotto/msg-aead") ‖ chain id ‖ u32 i, 44)
 * key    = okm[0..32], nonce = okm[32..44]
 * fingerprint(CK) = SHA-256(domain("sotto/chain/fingerprint") ‖ CK)
 * ```
 */

import { type Bytes, copyBytes } from "./bytes";
import { Writer } from "./codec";
import { Domain, encodeDomain } from "./domains";
import { ProtocolError } from "./errors";
import { type ChainId as ChainIdT, ChainId } from "./ids";
import { AES_KEY_LEN, GCM_NONCE_LEN } from "./limits";
import { AeadKey, hkdfSha256, hmacSha256, sha256 } from "./primitives";

const MESSAGE_KEY_LABEL = encodeDomain(Domain.ChainMessageKey);
const NEXT_KEY_LABEL = encodeDomain(Domain.ChainNextKey);

function check32(bytes: Uint8Array, what: string): Bytes {
  if (bytes.length !== 32) throw new ProtocolError("invalid-input", `${what} must be 32 bytes`);
  return copyBytes(bytes);
}

/** A chain's secret at one index. */
export class ChainKey {
  private readonly bytes: Bytes;

  private constructor(bytes: Bytes) {
    this.bytes = bytes;
  }

  /** Wraps 32 secret bytes (fresh randomness, a decrypted distribution, the local store). */
  static fromBytes(bytes: Uint8Array): ChainKey {
    return new ChainKey(check32(bytes, "chain key"));
  }

  /** The secret bytes, for a distribution or the encrypted local store only. */
  dangerBytes(): Bytes {
    return copyBytes(this.bytes);
  }

  /** `MK_i`. */
  async messageKey(): Promise<MessageKey> {
    return MessageKey.fromBytes(await hmacSha256(this.bytes, MESSAGE_KEY_LABEL));
  }

  /** `CK_i+1`. */
  async next(): Promise<ChainKey> {
    return new ChainKey(await hmacSha256(this.bytes, NEXT_KEY_LABEL));
  }

  /** The one-way fingerprint that tells a re-sent distribution from a conflicting one. */
  async fingerprint(): Promise<Bytes> {
    return sha256(encodeDomain(Domain.ChainFingerprint), this.bytes);
  }

  /** Never print a secret. */
  toString(): string {
    return "ChainKey(<secret>)";
  }
}

/** The HKDF info of message `index` of `chain`. */
export function messageAeadInfo(chain: ChainIdT, index: number): Bytes {
  const w = Writer.forDomain(Domain.MessageAead);
  ChainId.encode(w, chain);
  w.u32(index);
  return w.finish();
}

/** The secret key of one message. */
export class MessageKey {
  private readonly bytes: Bytes;

  private constructor(bytes: Bytes) {
    this.bytes = bytes;
  }

  /** Wraps 32 secret bytes. */
  static fromBytes(bytes: Uint8Array): MessageKey {
    return new MessageKey(check32(bytes, "message key"));
  }

  /** The secret bytes, for the encrypted local store only. */
  dangerBytes(): Bytes {
    return copyBytes(this.bytes);
  }

  /** The raw `okm` (key ‖ nonce) of message `index` of `chain`. */
  async derive(chain: ChainIdT, index: number): Promise<{ key: Bytes; nonce: Bytes }> {
    const okm = await hkdfSha256(
      this.bytes,
      messageAeadInfo(chain, index),
      AES_KEY_LEN + GCM_NONCE_LEN,
    );
    return { key: okm.slice(0, AES_KEY_LEN), nonce: okm.slice(AES_KEY_LEN) };
  }

  /** The AES-256-GCM key and nonce of message `index` of `chain`. */
  async aeadKey(chain: ChainIdT, index: number): Promise<AeadKey> {
    const { key, nonce } = await this.derive(chain, index);
    return new AeadKey(key, nonce);
  }

  toString(): string {
    return "MessageKey(<secret>)";
  }
}
