/**
 * Device hand-over (`docs/protocol.md` §16): when a device approves a new device of its own
 * account, it sends it a key bundle (§15.1, never with the master key) of the chains it holds,
 * its pins and its group names, encrypted to the new device's verified exchange key and signed.
 *
 * ```text
 * header     = domain("sotto/handover") ‖ account [32] ‖ sender device [32]
 *              ‖ recipient device [32] ‖ recipient exchange key id [32] ‖ hand-over id [16]
 *              ‖ u64 created_at
 * W          = 32 random bytes
 * label      = SHA-256(domain("sotto/handover-label") ‖ header)
 * wrapped    = RSA-OAEP(recipient exchange key, domain("sotto/handover-key") ‖ W, label)
 * okm        = HKDF(W, domain("sotto/handover-aead"), 44)
 * sealed     = AES-256-GCM(okm[0..32], okm[32..44], aad = header, bundle)
 * ciphertext = bytes(wrapped) ‖ bytes(sealed)
 * wire       = SignedSealed(header, ciphertext), signed by the approving device
 * ```
 */

import { type Bytes, bytesEqual, concatBytes, constantTimeEqual } from "./bytes";
import { type BundleRecord, KeyBundle } from "./bundle";
import { Reader, Writer } from "./codec";
import { Domain, encodeDomain } from "./domains";
import type { Env } from "./env";
import { ProtocolError } from "./errors";
import type { DeviceKeys, VerifiedDevice, VerifiedExchangeKey } from "./identity";
import {
  type AccountId as AccountIdT,
  type DeviceId as DeviceIdT,
  type ExchangeKeyId as ExchangeKeyIdT,
  type HandoverId as HandoverIdT,
  AccountId,
  DeviceId,
  ExchangeKeyId,
  HandoverId,
} from "./ids";
import {
  AES_KEY_LEN,
  GCM_NONCE_LEN,
  MAX_CLOCK_SKEW_MS,
  MAX_HANDOVER_LEN,
  MAX_RSA_OUTPUT_LEN,
} from "./limits";
import { AeadKey, type ExchangeKeyPair, hkdfSha256, sha256 } from "./primitives";
import type { LocalDevice } from "./receiver";
import { SignedSealed } from "./signed";

/** Bytes of the hand-over key `W`. */
const WRAP_KEY_LEN = 32;
/** Upper bound of an encoded header (fixed size, with room to spare). */
const MAX_HEADER_LEN = 256;

/** A hand-over header (§16.1). */
export interface HandoverHeader {
  readonly account: AccountIdT;
  readonly senderDevice: DeviceIdT;
  readonly recipientDevice: DeviceIdT;
  readonly recipientKey: ExchangeKeyIdT;
  readonly handover: HandoverIdT;
  readonly createdAt: bigint;
}

export const HandoverHeader = {
  /** The canonical encoding (AES-GCM associated data; hashed into the OAEP label). */
  encode(h: HandoverHeader): Bytes {
    const w = Writer.forDomain(Domain.Handover);
    AccountId.encode(w, h.account);
    DeviceId.encode(w, h.senderDevice);
    DeviceId.encode(w, h.recipientDevice);
    ExchangeKeyId.encode(w, h.recipientKey);
    HandoverId.encode(w, h.handover);
    w.u64(h.createdAt);
    return w.finish();
  },

  decode(bytes: Bytes): HandoverHeader {
    const r = Reader.forDomain(bytes, Domain.Handover);
    const h: HandoverHeader = {
      account: AccountId.decode(r),
      senderDevice: DeviceId.decode(r),
      recipientDevice: DeviceId.decode(r),
      recipientKey: ExchangeKeyId.decode(r),
      handover: HandoverId.decode(r),
      createdAt: r.u64(),
    };
    r.finish();
    return h;
  },

  /** `SHA-256(domain("sotto/handover-label") ‖ header)` over the header bytes as given. */
  async oaepLabel(headerBytes: Uint8Array): Promise<Bytes> {
    return sha256(encodeDomain(Domain.HandoverLabel), headerBytes);
  },
};

/** The AES-256-GCM key and nonce derived from `W`. */
async function handoverAead(wrapKey: Uint8Array): Promise<AeadKey> {
  const okm = await hkdfSha256(
    wrapKey,
    encodeDomain(Domain.HandoverAead),
    AES_KEY_LEN + GCM_NONCE_LEN,
  );
  const aead = new AeadKey(okm.subarray(0, AES_KEY_LEN), okm.subarray(AES_KEY_LEN));
  okm.fill(0);
  return aead;
}

/** A decoded, not yet opened hand-over. */
export class Handover {
  private constructor(
    readonly header: HandoverHeader,
    /** The signed parts exactly as received. */
    readonly sealed: SignedSealed,
  ) {}

  /** Decodes the wire form (at most 4 MiB), checking structure and bounds only. */
  static decode(bytes: Bytes): Handover {
    if (bytes.length > MAX_HANDOVER_LEN) throw new ProtocolError("decode/too-long", "hand-over");
    const sealed = SignedSealed.decode(bytes, MAX_HEADER_LEN, MAX_HANDOVER_LEN);
    return new Handover(HandoverHeader.decode(sealed.header), sealed);
  }

  /** The wire form (what `POST /v1/devices/{device}/handovers` carries). */
  encode(): Bytes {
    return this.sealed.encode();
  }

  /**
   * Seals `records` for `recipient`, a verified exchange key of a device of `account` (the
   * sender's own account, `invalid-input` otherwise), signed by `sender`. A MasterKey record is
   * `invalid-input`: the master key never travels in a hand-over. Too many records for one
   * 4 MiB hand-over is `invalid-input`; send them in several.
   */
  static async seal(params: {
    readonly account: AccountIdT;
    readonly sender: DeviceKeys;
    readonly recipient: VerifiedExchangeKey;
    readonly records: readonly BundleRecord[];
    readonly env: Env;
    /** By default a fresh id from `env.rng`, drawn before `W`. */
    readonly handover?: HandoverIdT;
  }): Promise<Handover> {
    const { account, sender, recipient, records, env } = params;
    if (!bytesEqual(recipient.account, account))
      throw new ProtocolError("invalid-input", "a hand-over goes to a device of its own account");
    if (records.some((r) => r.type === "master-key"))
      throw new ProtocolError("invalid-input", "a hand-over never carries the master key");
    const handover = params.handover ?? HandoverId.fromBytes(await env.rng.random(HandoverId.LEN));
    const bundle = KeyBundle.encode(records);
    const wrapKey = await env.rng.random(WRAP_KEY_LEN);
    try {
      const header = HandoverHeader.encode({
        account,
        senderDevice: sender.device,
        recipientDevice: recipient.device,
        recipientKey: recipient.keyId,
        handover,
        createdAt: env.now,
      });
      const label = await HandoverHeader.oaepLabel(header);
      const keyPayload = concatBytes(encodeDomain(Domain.HandoverKey), wrapKey);
      const wrapped = await recipient.key.encrypt(keyPayload, label);
      keyPayload.fill(0);
      const sealedBundle = await (await handoverAead(wrapKey)).seal(header, bundle);
      const w = new Writer();
      w.bytes(wrapped);
      w.bytes(sealedBundle);
      const signed = await SignedSealed.sign(header, w.finish(), sender.signing);
      const wire = signed.encode();
      if (wire.length > MAX_HANDOVER_LEN)
        throw new ProtocolError("invalid-input", "hand-over longer than 4 MiB: split the records");
      return Handover.decode(wire);
    } finally {
      wrapKey.fill(0);
      bundle.fill(0);
    }
  }

  /**
   * Opens a hand-over from `sender` to this device `me` at `now` (§16.1), in order:
   * 1. `sender` is the header's sender and a device of this device's own account
   *    (`receive/sender-mismatch`; the caller verified it unrevoked); signature (`bad-signature`);
   * 2. account, recipient device and exchange key are this device's (`receive/wrong-recipient`);
   *    `created_at ≤ now + 3 h` (`receive/far-future`);
   * 3. unwrap, derive, open, decode the bundle: any failure is `decryption-failed`;
   * 4. a MasterKey record refuses the whole hand-over (`invalid-input`).
   * The records are then taken as §15.1 says (chains, then pins) by the caller.
   */
  async open(sender: VerifiedDevice, me: LocalDevice, now: bigint): Promise<BundleRecord[]> {
    const h = this.header;
    if (
      !bytesEqual(sender.device, h.senderDevice) ||
      !bytesEqual(sender.account, h.account) ||
      !bytesEqual(sender.account, me.account)
    ) {
      throw new ProtocolError("receive/sender-mismatch");
    }
    await this.sealed.verify("hand-over", sender.signingKey);
    if (!bytesEqual(h.account, me.account) || !bytesEqual(h.recipientDevice, me.device))
      throw new ProtocolError("receive/wrong-recipient");
    const exchange = me.exchangeKeys.find((k) => bytesEqual(k.keyId, h.recipientKey));
    if (exchange === undefined)
      throw new ProtocolError("receive/wrong-recipient", "unknown exchange key");
    if (h.createdAt > now + MAX_CLOCK_SKEW_MS) throw new ProtocolError("receive/far-future");
    const records = await this.decrypt(exchange.pair);
    if (records.some((r) => r.type === "master-key"))
      throw new ProtocolError("invalid-input", "a hand-over carried the master key");
    return records;
  }

  /** Step 3: every failure is the one `decryption-failed`. */
  private async decrypt(pair: ExchangeKeyPair): Promise<BundleRecord[]> {
    let wrapKey: Bytes | undefined;
    let bundle: Bytes | undefined;
    try {
      const r = new Reader(this.sealed.ciphertext);
      const wrapped = r.bytes("wrapped key", MAX_RSA_OUTPUT_LEN);
      const sealedBundle = r.bytes("sealed bundle", MAX_HANDOVER_LEN);
      r.finish();
      const label = await HandoverHeader.oaepLabel(this.sealed.header);
      const unwrapped = await pair.decrypt(wrapped, label);
      const domain = encodeDomain(Domain.HandoverKey);
      if (
        unwrapped.length !== domain.length + WRAP_KEY_LEN ||
        !constantTimeEqual(unwrapped.subarray(0, domain.length), domain)
      ) {
        unwrapped.fill(0);
        throw new ProtocolError("decryption-failed");
      }
      wrapKey = unwrapped.slice(domain.length);
      unwrapped.fill(0);
      bundle = await (await handoverAead(wrapKey)).open(this.sealed.header, sealedBundle);
      return KeyBundle.decode(bundle);
    } catch (error) {
      throw new ProtocolError("decryption-failed", "hand-over", { cause: error });
    } finally {
      wrapKey?.fill(0);
      bundle?.fill(0);
    }
  }
}
