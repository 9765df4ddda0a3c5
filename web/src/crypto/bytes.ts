/**
 * Byte-string helpers shared by the protocol module: one `Bytes` type (a `Uint8Array` over a
 * plain `ArrayBuffer`, which is what WebCrypto accepts), concatenation, comparison (plain and
 * constant-time), hex and UTF-8.
 */

import { ProtocolError } from "./errors";

/** A byte string. Always backed by an `ArrayBuffer`, so it can go straight into `crypto.subtle`. */
export type Bytes = Uint8Array<ArrayBuffer>;

/** A fresh copy of `bytes` (never sharing the input's buffer). */
export function copyBytes(bytes: Uint8Array): Bytes {
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out;
}

/** The concatenation of `parts`. */
export function concatBytes(...parts: readonly Uint8Array[]): Bytes {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Byte-wise equality (not constant-time: for public values). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return false;
  }
  return true;
}

/** Equality whose running time depends only on the lengths (for secrets and MACs). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  }
  return diff === 0;
}

/** Byte-wise lexicographic comparison: negative, zero or positive. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

const HEX_DIGITS = "0123456789abcdef";

/** Lower-case hex. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) {
    out += (HEX_DIGITS[byte >> 4] ?? "") + (HEX_DIGITS[byte & 0x0f] ?? "");
  }
  return out;
}

function hexNibble(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x61 && code <= 0x66) return code - 0x61 + 10;
  return -1;
}

/**
 * Parses lower-case hex (the only canonical form). Anything else — odd length, upper case, other
 * characters — is `decode/invalid-value`.
 */
export function fromHex(text: string, field = "hex"): Bytes {
  if (text.length % 2 !== 0) throw new ProtocolError("decode/invalid-value", field);
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = hexNibble(text.charCodeAt(2 * i));
    const lo = hexNibble(text.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) throw new ProtocolError("decode/invalid-value", field);
    out[i] = (hi << 4) | lo;
  }
  return out;
}

/** Whether `text` has no lone surrogate (so it has a UTF-8 form). */
export function isWellFormed(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      return false;
    }
  }
  return true;
}

const encoder = new TextEncoder();
// `fatal` refuses malformed UTF-8 (overlong forms, surrogates, truncated sequences);
// `ignoreBOM` keeps a leading U+FEFF as content instead of silently dropping it.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** UTF-8 of `text`; a string with lone surrogates has no UTF-8 form and is `invalid-input`. */
export function utf8Encode(text: string, field = "text"): Bytes {
  if (!isWellFormed(text))
    throw new ProtocolError("invalid-input", `${field} is not well-formed Unicode`);
  return encoder.encode(text);
}

/** Decodes UTF-8; malformed input is `decode/invalid-utf8`. */
export function utf8Decode(bytes: Uint8Array, field = "text"): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new ProtocolError("decode/invalid-utf8", field);
  }
}
