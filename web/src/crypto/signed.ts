/**
 * The two signed wire forms (`docs/protocol.md` §2.3).
 *
 * - {@link Signed}: `bytes(body) ‖ bytes(signature)`, the signature over exactly `body`
 *   (certificates, revocations, group changes, key requests).
 * - {@link SignedSealed}: `bytes(header) ‖ bytes(ciphertext) ‖ bytes(signature)`, the signature
 *   over exactly `bytes(header) ‖ bytes(ciphertext)` (envelopes, key distributions).
 *
 * Bodies and headers are kept exactly as received; signatures are checked over those bytes,
 * never over a re-encoding.
 */

import { type Bytes, copyBytes } from "./bytes";
import { Reader, Writer } from "./codec";
import { MAX_RSA_OUTPUT_LEN } from "./limits";
import type { SigningKeyPair, VerifyingKey } from "./primitives";

/** A body and the signature over exactly its bytes. */
export class Signed {
  private constructor(
    /** The body exactly as received (unverified until {@link verify} succeeds). */
    readonly body: Bytes,
    readonly signature: Bytes,
  ) {}

  /** Signs `body` with `key`. */
  static async sign(body: Uint8Array, key: SigningKeyPair): Promise<Signed> {
    const copy = copyBytes(body);
    return new Signed(copy, await key.sign(copy));
  }

  /** Reassembles parts (tests that tamper with one). */
  static fromParts(body: Uint8Array, signature: Uint8Array): Signed {
    return new Signed(copyBytes(body), copyBytes(signature));
  }

  /** Decodes the wire form; the body may be at most `maxBody` bytes. */
  static decode(bytes: Bytes, maxBody: number): Signed {
    const r = new Reader(bytes);
    const signed = Signed.decodeFrom(r, maxBody);
    r.finish();
    return signed;
  }

  /** Decodes the wire form inside a larger structure. */
  static decodeFrom(r: Reader, maxBody: number): Signed {
    const body = r.bytes("signed body", maxBody);
    const signature = r.bytes("signature", MAX_RSA_OUTPUT_LEN);
    return new Signed(body, signature);
  }

  /** The wire form. */
  encode(): Bytes {
    const w = new Writer();
    this.encodeInto(w);
    return w.finish();
  }

  /** Writes the wire form inside a larger structure. */
  encodeInto(w: Writer): void {
    w.bytes(this.body);
    w.bytes(this.signature);
  }

  /** Checks the signature (`bad-signature` naming `what`) and returns the body. */
  async verify(what: string, key: VerifyingKey): Promise<Bytes> {
    await key.verify(what, this.body, this.signature);
    return this.body;
  }
}

/** A header and ciphertext, and the signature over both as written. */
export class SignedSealed {
  private constructor(
    /** The header exactly as received. */
    readonly header: Bytes,
    readonly ciphertext: Bytes,
    readonly signature: Bytes,
  ) {}

  /** `bytes(header) ‖ bytes(ciphertext)`: what the sender signs. */
  static signingInput(header: Uint8Array, ciphertext: Uint8Array): Bytes {
    const w = new Writer();
    w.bytes(header);
    w.bytes(ciphertext);
    return w.finish();
  }

  /** Signs a header and ciphertext. */
  static async sign(
    header: Uint8Array,
    ciphertext: Uint8Array,
    key: SigningKeyPair,
  ): Promise<SignedSealed> {
    const signature = await key.sign(SignedSealed.signingInput(header, ciphertext));
    return new SignedSealed(copyBytes(header), copyBytes(ciphertext), signature);
  }

  /** Reassembles parts (tests that tamper with one). */
  static fromParts(
    header: Uint8Array,
    ciphertext: Uint8Array,
    signature: Uint8Array,
  ): SignedSealed {
    return new SignedSealed(copyBytes(header), copyBytes(ciphertext), copyBytes(signature));
  }

  /** Decodes the wire form within the given bounds. */
  static decode(bytes: Bytes, maxHeader: number, maxCiphertext: number): SignedSealed {
    const r = new Reader(bytes);
    const header = r.bytes("header", maxHeader);
    const ciphertext = r.bytes("ciphertext", maxCiphertext);
    const signature = r.bytes("signature", MAX_RSA_OUTPUT_LEN);
    r.finish();
    return new SignedSealed(header, ciphertext, signature);
  }

  /** The wire form. */
  encode(): Bytes {
    const w = new Writer();
    w.bytes(this.header);
    w.bytes(this.ciphertext);
    w.bytes(this.signature);
    return w.finish();
  }

  /** Checks the signature over header and ciphertext (`bad-signature` naming `what`). */
  async verify(what: string, key: VerifyingKey): Promise<void> {
    await key.verify(what, SignedSealed.signingInput(this.header, this.ciphertext), this.signature);
  }
}
