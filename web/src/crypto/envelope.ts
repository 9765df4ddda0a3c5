/**
 * The message envelope (`docs/protocol.md` §8.1), sent as SignedSealed.
 *
 * ```text
 * header     = domain("sotto/msg") ‖ conversation [16] ‖ u64 epoch ‖ sender account [32]
 *              ‖ sender device [32] ‖ chain [16] ‖ u32 index ‖ u64 sent_at ‖ message id [16]
 *              ‖ u32 padded_len
 * ciphertext = AES-256-GCM(key, nonce, aad = header, pad(body))       (padded_len + 16 bytes)
 * ```
 *
 * Decoding checks structure only; {@link ReceiverState.open} checks the signature before anything
 * is decrypted or any state changes.
 */

import type { Bytes } from "./bytes";
import { paddedLength } from "./body";
import { Reader, Writer } from "./codec";
import { Domain } from "./domains";
import { ProtocolError } from "./errors";
import {
  type AccountId as AccountIdT,
  type ChainId as ChainIdT,
  type ConversationId as ConversationIdT,
  type DeviceId as DeviceIdT,
  type MessageId as MessageIdT,
  AccountId,
  ChainId,
  ConversationId,
  DeviceId,
  MessageId,
} from "./ids";
import { GCM_TAG_LEN, MAX_ENVELOPE_HEADER_LEN, MAX_ENVELOPE_LEN, MAX_PADDED_LEN } from "./limits";
import { SignedSealed } from "./signed";

/** The envelope header: AES-GCM associated data, and what the relay may read. */
export interface EnvelopeHeader {
  readonly conversation: ConversationIdT;
  /** The group epoch of the sender chain. */
  readonly epoch: bigint;
  readonly senderAccount: AccountIdT;
  readonly senderDevice: DeviceIdT;
  readonly chain: ChainIdT;
  readonly index: number;
  /** Display only; the far future is refused. */
  readonly sentAt: bigint;
  readonly messageId: MessageIdT;
  /** A padding bucket of at most 128 KiB. */
  readonly paddedLen: number;
}

export const EnvelopeHeader = {
  /** The canonical encoding. */
  encode(h: EnvelopeHeader): Bytes {
    const w = Writer.forDomain(Domain.Envelope);
    ConversationId.encode(w, h.conversation);
    w.u64(h.epoch);
    AccountId.encode(w, h.senderAccount);
    DeviceId.encode(w, h.senderDevice);
    ChainId.encode(w, h.chain);
    w.u32(h.index);
    w.u64(h.sentAt);
    MessageId.encode(w, h.messageId);
    w.u32(h.paddedLen);
    return w.finish();
  },

  /** Decodes a header; a `padded_len` that is not a bucket ≤ 128 KiB is `decode/invalid-value`. */
  decode(bytes: Bytes): EnvelopeHeader {
    const r = Reader.forDomain(bytes, Domain.Envelope);
    const h: EnvelopeHeader = {
      conversation: ConversationId.decode(r),
      epoch: r.u64(),
      senderAccount: AccountId.decode(r),
      senderDevice: DeviceId.decode(r),
      chain: ChainId.decode(r),
      index: r.u32(),
      sentAt: r.u64(),
      messageId: MessageId.decode(r),
      paddedLen: r.u32(),
    };
    r.finish();
    const len = h.paddedLen;
    if (len > MAX_PADDED_LEN || len === 0 || paddedLength(len - 1) !== len) {
      throw new ProtocolError("decode/invalid-value", "padded length");
    }
    return h;
  },
};

/** A decoded, not yet verified envelope. */
export class Envelope {
  private constructor(
    /** The decoded header (unverified until opened). */
    readonly header: EnvelopeHeader,
    /** The signed parts exactly as received. */
    readonly sealed: SignedSealed,
  ) {}

  /** Decodes the wire form, checking structure and bounds only. */
  static decode(bytes: Bytes): Envelope {
    if (bytes.length > MAX_ENVELOPE_LEN) throw new ProtocolError("decode/too-long", "envelope");
    return Envelope.fromSealed(
      SignedSealed.decode(bytes, MAX_ENVELOPE_HEADER_LEN, MAX_PADDED_LEN + GCM_TAG_LEN),
    );
  }

  /** Wraps signed parts, checking the header decodes and matches the ciphertext length. */
  static fromSealed(sealed: SignedSealed): Envelope {
    const header = EnvelopeHeader.decode(sealed.header);
    if (sealed.ciphertext.length !== header.paddedLen + GCM_TAG_LEN) {
      throw new ProtocolError("decode/invalid-value", "ciphertext length");
    }
    return new Envelope(header, sealed);
  }

  /** The wire form. */
  encode(): Bytes {
    return this.sealed.encode();
  }
}
