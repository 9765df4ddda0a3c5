/**
 * Safety numbers (`docs/protocol.md` §5): what two people compare to know nobody sits between
 * them.
 *
 * ```text
 * f_0     = SHA-256(domain("sotto/safety-number") ‖ bytes(spki))
 * f_i+1   = SHA-256(f_i ‖ spki)        for i = 0..1023;  fp = f_1024
 * digits  = six 5-byte big-endian chunks of fp, each mod 100000, 5 digits each (30 digits)
 * number  = digits(lo) ‖ digits(hi)   (60 digits, 12 groups of 5)
 * qr      = domain("sotto/safety-qr") ‖ lo ‖ hi
 * ```
 */

import { type Bytes, compareBytes, concatBytes, constantTimeEqual } from "./bytes";
import { Writer } from "./codec";
import { Domain } from "./domains";
import { sha256 } from "./primitives";

/** Hash iterations per fingerprint. */
export const SAFETY_ITERATIONS = 1024;

/** The iterated fingerprint of one master key. */
export async function safetyFingerprint(masterSpki: Uint8Array): Promise<Bytes> {
  const w = Writer.forDomain(Domain.SafetyNumber);
  w.bytes(masterSpki);
  let f = await sha256(w.finish());
  for (let i = 0; i < SAFETY_ITERATIONS; i++) {
    f = await sha256(f, masterSpki);
  }
  return f;
}

function digits(fp: Bytes): string {
  let out = "";
  for (let k = 0; k < 6; k++) {
    let value = 0n;
    for (const byte of fp.subarray(5 * k, 5 * k + 5)) value = (value << 8n) | BigInt(byte);
    out += (value % 100_000n).toString().padStart(5, "0");
  }
  return out;
}

/** The safety number of two accounts, the same whichever side computes it. */
export class SafetyNumber {
  private constructor(
    /** The 60 digits. */
    readonly digits: string,
    /** What the QR code carries. */
    readonly qrPayload: Bytes,
  ) {}

  /** The safety number of the accounts with these master keys (SPKI DER), in either order. */
  static async compute(masterA: Uint8Array, masterB: Uint8Array): Promise<SafetyNumber> {
    const fa = await safetyFingerprint(masterA);
    const fb = await safetyFingerprint(masterB);
    const [lo, hi] = compareBytes(fa, fb) <= 0 ? [fa, fb] : [fb, fa];
    const w = Writer.forDomain(Domain.SafetyQr);
    w.fixed(lo);
    w.fixed(hi);
    return new SafetyNumber(digits(lo) + digits(hi), concatBytes(w.finish()));
  }

  /** Twelve groups of five digits, as people read them aloud. */
  groups(): string[] {
    return Array.from({ length: 12 }, (_, i) => this.digits.slice(5 * i, 5 * i + 5));
  }

  /** Whether a scanned QR payload shows the same number (constant time). */
  matchesQr(scanned: Uint8Array): boolean {
    return constantTimeEqual(this.qrPayload, scanned);
  }
}
