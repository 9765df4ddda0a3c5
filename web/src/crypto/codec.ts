/**
 * The one canonical binary encoding (`docs/protocol.md` §2.1): big-endian fixed-width integers,
 * `u32`-prefixed byte strings, `u16`-prefixed UTF-8 text, `u16`-counted lists, `0x00`/`0x01`
 * booleans, every structure opened by its domain.
 *
 * The {@link Reader} is bounded: each length or count is compared with the field's bound before
 * anything is read or allocated; running out of input is `decode/truncated`, leftovers are
 * `decode/trailing-bytes`. It throws nothing but {@link ProtocolError}. The {@link Writer} refuses
 * (with `invalid-input`) any value that does not fit its field instead of truncating it.
 */

import { type Bytes, bytesEqual, isWellFormed, utf8Decode, utf8Encode } from "./bytes";
import { type Domain, type DomainVersion, domainVersions, encodeDomain } from "./domains";
import { ProtocolError } from "./errors";
import { U64_MAX } from "./limits";

/** Appends canonical encodings to a growing buffer. */
export class Writer {
  private buf: Bytes = new Uint8Array(256);
  private len = 0;

  /** A writer that starts with `domain(label)`. */
  static forDomain(domain: Domain, version?: DomainVersion): Writer {
    const w = new Writer();
    w.domain(domain, version);
    return w;
  }

  private reserve(extra: number): number {
    const needed = this.len + extra;
    if (needed > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < needed) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.buf.subarray(0, this.len));
      this.buf = grown;
    }
    const at = this.len;
    this.len = needed;
    return at;
  }

  /** Writes `domain(label)`. */
  domain(domain: Domain, version?: DomainVersion): void {
    this.fixed(encodeDomain(domain, version));
  }

  /** One byte. */
  u8(value: number): void {
    checkUint(value, 0xff, "u8");
    const at = this.reserve(1);
    this.buf[at] = value;
  }

  /** Big-endian `u16`. */
  u16(value: number): void {
    checkUint(value, 0xffff, "u16");
    const at = this.reserve(2);
    this.buf[at] = value >>> 8;
    this.buf[at + 1] = value & 0xff;
  }

  /** Big-endian `u32`. */
  u32(value: number): void {
    checkUint(value, 0xffff_ffff, "u32");
    const at = this.reserve(4);
    new DataView(this.buf.buffer).setUint32(at, value);
  }

  /** Big-endian `u64`. */
  u64(value: bigint): void {
    if (value < 0n || value > U64_MAX) throw new ProtocolError("invalid-input", "u64 out of range");
    const at = this.reserve(8);
    new DataView(this.buf.buffer).setBigUint64(at, value);
  }

  /** `0x00` or `0x01`. */
  bool(value: boolean): void {
    this.u8(value ? 1 : 0);
  }

  /** Raw bytes whose length the structure fixes. */
  fixed(bytes: Uint8Array): void {
    // Reserve first: it may replace `this.buf`.
    const at = this.reserve(bytes.length);
    this.buf.set(bytes, at);
  }

  /** `bytes(x) = u32 len ‖ x`. */
  bytes(bytes: Uint8Array): void {
    this.u32(bytes.length);
    this.fixed(bytes);
  }

  /** `text(s) = u16 len(utf8 s) ‖ utf8 s`. */
  text(text: string, field = "text"): void {
    const utf8 = utf8Encode(text, field);
    if (utf8.length > 0xffff) throw new ProtocolError("invalid-input", `${field} is too long`);
    this.u16(utf8.length);
    this.fixed(utf8);
  }

  /** A list count (`u16`). */
  count(count: number): void {
    this.u16(count);
  }

  /** The encoding so far (a copy; the writer may go on). */
  finish(): Bytes {
    return this.buf.slice(0, this.len);
  }
}

function checkUint(value: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new ProtocolError("invalid-input", `${what} out of range`);
  }
}

/** Reads canonical encodings, never past the end of its input. */
export class Reader {
  private readonly input: Bytes;
  private readonly view: DataView;
  private pos = 0;

  constructor(input: Bytes) {
    this.input = input;
    this.view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  }

  /** A reader over `input` that has checked its domain. */
  static forDomain(input: Bytes, domain: Domain): Reader {
    const r = new Reader(input);
    r.expectDomain(domain);
    return r;
  }

  /**
   * A reader over `input` that has checked its domain against the versions the caller decodes
   * (a subset of those the label has), and the version it read.
   */
  static forDomainVersions(
    input: Bytes,
    domain: Domain,
    versions: readonly DomainVersion[] = domainVersions(domain),
  ): { reader: Reader; version: DomainVersion } {
    const r = new Reader(input);
    return { reader: r, version: r.expectDomain(domain, versions) };
  }

  /**
   * Reads a domain and checks it: another label is `decode/wrong-domain`, the right label with a
   * version not in `versions` (version 1 unless given) `decode/unsupported-version`.
   */
  expectDomain(domain: Domain, versions: readonly DomainVersion[] = [1]): DomainVersion {
    const len = this.u8();
    const label = this.take(len);
    const version = this.u8();
    if (label.length !== domain.length || !bytesEqual(label, utf8Encode(domain))) {
      throw new ProtocolError("decode/wrong-domain", `expected ${domain}`);
    }
    const accepted = versions.find((v) => v === version);
    if (accepted === undefined) {
      throw new ProtocolError("decode/unsupported-version", `${domain} version ${version}`);
    }
    return accepted;
  }

  /** Exactly `len` bytes (a view into the input). */
  take(len: number): Bytes {
    if (len > this.remaining()) throw new ProtocolError("decode/truncated");
    const out = this.input.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  /** Exactly `len` bytes, copied. */
  array(len: number): Bytes {
    return this.take(len).slice();
  }

  /** One byte. */
  u8(): number {
    if (this.remaining() < 1) throw new ProtocolError("decode/truncated");
    return this.view.getUint8(this.pos++);
  }

  /** Big-endian `u16`. */
  u16(): number {
    if (this.remaining() < 2) throw new ProtocolError("decode/truncated");
    const value = this.view.getUint16(this.pos);
    this.pos += 2;
    return value;
  }

  /** Big-endian `u32`. */
  u32(): number {
    if (this.remaining() < 4) throw new ProtocolError("decode/truncated");
    const value = this.view.getUint32(this.pos);
    this.pos += 4;
    return value;
  }

  /** Big-endian `u64`. */
  u64(): bigint {
    if (this.remaining() < 8) throw new ProtocolError("decode/truncated");
    const value = this.view.getBigUint64(this.pos);
    this.pos += 8;
    return value;
  }

  /** A boolean; any byte but `0x00`/`0x01` is `decode/invalid-value`. */
  bool(field = "bool"): boolean {
    const byte = this.u8();
    if (byte === 0) return false;
    if (byte === 1) return true;
    throw new ProtocolError("decode/invalid-value", field);
  }

  /** `bytes(x)` of at most `max` bytes (checked before reading), copied. */
  bytes(field: string, max: number): Bytes {
    const len = this.u32();
    if (len > max) throw new ProtocolError("decode/too-long", `${field} > ${max}`);
    return this.array(len);
  }

  /** `text(s)` of at most `max` UTF-8 bytes. */
  text(field: string, max: number): string {
    const len = this.u16();
    if (len > max) throw new ProtocolError("decode/too-long", `${field} > ${max}`);
    return utf8Decode(this.take(len), field);
  }

  /** Display text (§4.8): `text(s)` that is also a valid name, else `decode/invalid-value`. */
  displayText(field: string, max: number): string {
    const text = this.text(field, max);
    if (!isDisplayText(text)) throw new ProtocolError("decode/invalid-value", field);
    return text;
  }

  /** A list count of at most `max` (checked before any item is read). */
  count(field: string, max: number): number {
    const count = this.u16();
    if (count > max) throw new ProtocolError("decode/too-many", `${field} > ${max}`);
    return count;
  }

  /** Bytes not read yet. */
  remaining(): number {
    return this.input.length - this.pos;
  }

  /** Ends the structure: leftover bytes are `decode/trailing-bytes`. */
  finish(): void {
    if (this.remaining() !== 0) {
      throw new ProtocolError("decode/trailing-bytes", `${this.remaining()} bytes`);
    }
  }
}

/** Unicode `White_Space` (what the Rust core's `str::trim` strips). */
function isWhiteSpace(cp: number): boolean {
  return (
    (cp >= 0x09 && cp <= 0x0d) ||
    cp === 0x20 ||
    cp === 0x85 ||
    cp === 0xa0 ||
    cp === 0x1680 ||
    (cp >= 0x2000 && cp <= 0x200a) ||
    cp === 0x2028 ||
    cp === 0x2029 ||
    cp === 0x202f ||
    cp === 0x205f ||
    cp === 0x3000
  );
}

/**
 * Code points refused anywhere in a name (§4.8), as inclusive ranges: control characters (Cc),
 * the line and paragraph separators (Zl, Zp), and every format character (Cf, as of Unicode
 * 17.0) except the zero-width non-joiner and joiner (U+200C, U+200D). Spelled out, not taken
 * from the engine's Unicode tables, so that every engine refuses exactly what the Rust core
 * refuses (`REFUSED_IN_NAMES` in `sotto-proto/src/codec.rs`).
 */
export const REFUSED_IN_NAMES: readonly (readonly [number, number])[] = [
  [0x0000, 0x001f],
  [0x007f, 0x009f],
  [0x00ad, 0x00ad],
  [0x0600, 0x0605],
  [0x061c, 0x061c],
  [0x06dd, 0x06dd],
  [0x070f, 0x070f],
  [0x0890, 0x0891],
  [0x08e2, 0x08e2],
  [0x180e, 0x180e],
  [0x200b, 0x200b],
  [0x200e, 0x200f],
  [0x2028, 0x202e], // U+2028 Zl, U+2029 Zp, then the bidi embeddings and overrides
  [0x2060, 0x2064],
  [0x2066, 0x206f],
  [0xfeff, 0xfeff],
  [0xfff9, 0xfffb],
  [0x110bd, 0x110bd],
  [0x110cd, 0x110cd],
  [0x13430, 0x1343f],
  [0x1bca0, 0x1bca3],
  [0x1d173, 0x1d17a],
  [0xe0001, 0xe0001],
  [0xe0020, 0xe007f],
];

function isForbidden(cp: number): boolean {
  return REFUSED_IN_NAMES.some(([lo, hi]) => cp >= lo && cp <= hi);
}

/**
 * Whether `text` is acceptable as a name (§4.8): non-empty, no leading or trailing white space,
 * none of `REFUSED_IN_NAMES` (no control character, bidi control or invisible format character).
 * The byte bound is the caller's.
 */
export function isDisplayText(text: string): boolean {
  if (text.length === 0 || !isWellFormed(text)) return false;
  const points = Array.from(text, (c) => c.codePointAt(0) ?? 0);
  const first = points[0];
  const last = points[points.length - 1];
  if (first === undefined || last === undefined || isWhiteSpace(first) || isWhiteSpace(last)) {
    return false;
  }
  return !points.some(isForbidden);
}

/** UTF-8 byte length of a well-formed string. */
export function utf8Length(text: string): number {
  return utf8Encode(text).length;
}
