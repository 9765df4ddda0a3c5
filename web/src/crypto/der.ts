/**
 * A small, bounded DER reader and writer for the only ASN.1 the protocol touches: RSA public keys
 * as SubjectPublicKeyInfo (RFC 5280) or PKCS#1 `RSAPublicKey` (RFC 8017), and the public half of a
 * PKCS#8 `PrivateKeyInfo`.
 *
 * The reader accepts strict DER only (definite, minimal lengths; minimal, non-negative integers)
 * and never reads past the slice it was given; it returns `undefined` on anything else and never
 * throws. Whether a key is *canonical* is decided by re-encoding what was read with
 * {@link encodeRsaSpki} and comparing bytes (§3), not by the reader.
 */

import { type Bytes, concatBytes } from "./bytes";

const TAG_INTEGER = 0x02;
const TAG_BIT_STRING = 0x03;
const TAG_OCTET_STRING = 0x04;
const TAG_NULL = 0x05;
const TAG_OID = 0x06;
const TAG_SEQUENCE = 0x30;

/** Longest length field we read: 4 bytes is far beyond any key (inputs are ≤ 4 KiB anyway). */
const MAX_LENGTH_BYTES = 4;

/** `1.2.840.113549.1.1.1` rsaEncryption. */
export const OID_RSA_ENCRYPTION: Bytes = Uint8Array.of(
  0x2a,
  0x86,
  0x48,
  0x86,
  0xf7,
  0x0d,
  0x01,
  0x01,
  0x01,
);
/** `1.2.840.113549.1.1.10` id-RSASSA-PSS. */
const OID_RSASSA_PSS: Bytes = Uint8Array.of(0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a);
/** `1.2.840.113549.1.1.7` id-RSAES-OAEP. */
const OID_RSAES_OAEP: Bytes = Uint8Array.of(0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x07);
/** `2.5.8.1.1` rsa (ITU-T X.509). */
const OID_RSA_X509: Bytes = Uint8Array.of(0x55, 0x08, 0x01, 0x01);

/** One element: its tag and contents. */
interface Tlv {
  readonly tag: number;
  readonly content: Bytes;
}

/** A cursor over a slice of DER. */
class DerCursor {
  private pos = 0;

  constructor(private readonly input: Bytes) {}

  done(): boolean {
    return this.pos === this.input.length;
  }

  /** Reads one element; `undefined` unless it is well-formed DER inside the slice. */
  next(): Tlv | undefined {
    const input = this.input;
    let pos = this.pos;
    const tag = input[pos++];
    // Low-tag-number form only: every tag the protocol uses is one byte.
    if (tag === undefined || (tag & 0x1f) === 0x1f) return undefined;
    const first = input[pos++];
    if (first === undefined) return undefined;
    let length: number;
    if (first < 0x80) {
      length = first;
    } else {
      const count = first & 0x7f;
      // 0x80 is BER's indefinite length; DER forbids it, and more than 4 length bytes.
      if (count === 0 || count > MAX_LENGTH_BYTES) return undefined;
      length = 0;
      for (let i = 0; i < count; i++) {
        const byte = input[pos++];
        if (byte === undefined) return undefined;
        // Minimal: no leading zero byte.
        if (i === 0 && byte === 0) return undefined;
        length = length * 256 + byte;
      }
      // Minimal: a length below 128 must use the short form.
      if (length < 0x80) return undefined;
    }
    if (length > input.length - pos) return undefined;
    const content = input.subarray(pos, pos + length);
    this.pos = pos + length;
    return { tag, content };
  }

  /** Reads one element with tag `tag`. */
  expect(tag: number): Bytes | undefined {
    const tlv = this.next();
    return tlv?.tag === tag ? tlv.content : undefined;
  }
}

/** Reads a DER INTEGER that must be non-negative and minimally encoded; returns its magnitude. */
function readUnsigned(cursor: DerCursor): Bytes | undefined {
  const content = cursor.expect(TAG_INTEGER);
  if (content === undefined || content.length === 0) return undefined;
  const b0 = content[0] ?? 0;
  const b1 = content[1];
  if (b1 !== undefined && ((b0 === 0x00 && b1 < 0x80) || (b0 === 0xff && b1 >= 0x80))) {
    return undefined; // not minimal
  }
  if (b0 & 0x80) return undefined; // negative
  return b0 === 0 && content.length > 1 ? content.subarray(1) : content;
}

/** An RSA public key's two numbers, as minimal big-endian magnitudes. */
export interface RsaNumbers {
  readonly n: Bytes;
  readonly e: Bytes;
}

/** `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`, filling `input` exactly. */
export function parseRsaPublicKey(input: Bytes): RsaNumbers | undefined {
  const outer = new DerCursor(input);
  const seq = outer.expect(TAG_SEQUENCE);
  if (seq === undefined || !outer.done()) return undefined;
  const inner = new DerCursor(seq);
  const n = readUnsigned(inner);
  const e = readUnsigned(inner);
  if (n === undefined || e === undefined || !inner.done()) return undefined;
  return { n, e };
}

/** What an SPKI says: its algorithm OID and the key it carries. */
export interface ParsedSpki {
  /** The algorithm OID (contents). */
  readonly oid: Bytes;
  /** Whether the OID is one of the RSA key OIDs. */
  readonly isRsa: boolean;
  /** The numbers, if the BIT STRING holds a well-formed `RSAPublicKey`. */
  readonly key: RsaNumbers | undefined;
}

/**
 * `SubjectPublicKeyInfo ::= SEQUENCE { algorithm SEQUENCE { OID, params ANY OPTIONAL },
 * subjectPublicKey BIT STRING }`, filling `input` exactly. The parameters are not interpreted:
 * the canonical comparison refuses anything but `NULL`.
 */
export function parseSpki(input: Bytes): ParsedSpki | undefined {
  const outer = new DerCursor(input);
  const spki = outer.expect(TAG_SEQUENCE);
  if (spki === undefined || !outer.done()) return undefined;
  const fields = new DerCursor(spki);
  const algorithm = fields.expect(TAG_SEQUENCE);
  const bits = fields.expect(TAG_BIT_STRING);
  if (algorithm === undefined || bits === undefined || !fields.done()) return undefined;
  const alg = new DerCursor(algorithm);
  const oid = alg.expect(TAG_OID);
  if (oid === undefined) return undefined;
  while (!alg.done()) {
    if (alg.next() === undefined) return undefined;
  }
  // A key is a whole number of bytes: no unused bits.
  if (bits.length === 0 || bits[0] !== 0) return undefined;
  const isRsa = [OID_RSA_ENCRYPTION, OID_RSASSA_PSS, OID_RSAES_OAEP, OID_RSA_X509].some((known) =>
    equal(known, oid),
  );
  return { oid, isRsa, key: parseRsaPublicKey(bits.subarray(1)) };
}

/** The `RSAPublicKey` numbers inside a PKCS#8 `PrivateKeyInfo` for rsaEncryption. */
export function parsePkcs8RsaPublic(input: Bytes): RsaNumbers | undefined {
  const outer = new DerCursor(input);
  const info = outer.expect(TAG_SEQUENCE);
  if (info === undefined || !outer.done()) return undefined;
  const fields = new DerCursor(info);
  const version = readUnsigned(fields);
  const algorithm = fields.expect(TAG_SEQUENCE);
  const privateKey = fields.expect(TAG_OCTET_STRING);
  if (version === undefined || algorithm === undefined || privateKey === undefined)
    return undefined;
  const alg = new DerCursor(algorithm);
  const oid = alg.expect(TAG_OID);
  if (oid === undefined || !equal(oid, OID_RSA_ENCRYPTION)) return undefined;
  const outerKey = new DerCursor(privateKey);
  const rsa = outerKey.expect(TAG_SEQUENCE);
  if (rsa === undefined || !outerKey.done()) return undefined;
  const numbers = new DerCursor(rsa);
  const rsaVersion = readUnsigned(numbers);
  const n = readUnsigned(numbers);
  const e = readUnsigned(numbers);
  if (rsaVersion === undefined || n === undefined || e === undefined) return undefined;
  return { n, e };
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** Bits in a minimal big-endian magnitude. */
export function bitLength(magnitude: Uint8Array): number {
  let i = 0;
  while (i < magnitude.length && magnitude[i] === 0) i++;
  const top = magnitude[i];
  if (top === undefined) return 0;
  return (magnitude.length - i - 1) * 8 + (32 - Math.clz32(top));
}

function encodeLength(length: number): Bytes {
  if (length < 0x80) return Uint8Array.of(length);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

function tlv(tag: number, ...contents: Uint8Array[]): Bytes {
  const content = concatBytes(...contents);
  return concatBytes(Uint8Array.of(tag), encodeLength(content.length), content);
}

function encodeUnsigned(magnitude: Uint8Array): Bytes {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const trimmed = magnitude.subarray(i);
  const needsZero = trimmed.length === 0 || ((trimmed[0] ?? 0) & 0x80) !== 0;
  return tlv(TAG_INTEGER, needsZero ? Uint8Array.of(0) : new Uint8Array(0), trimmed);
}

/** The canonical SPKI DER of an RSA key: rsaEncryption, `NULL` parameters, minimal integers. */
export function encodeRsaSpki(key: RsaNumbers): Bytes {
  const rsaPublicKey = tlv(TAG_SEQUENCE, encodeUnsigned(key.n), encodeUnsigned(key.e));
  const algorithm = tlv(TAG_SEQUENCE, tlv(TAG_OID, OID_RSA_ENCRYPTION), tlv(TAG_NULL));
  return tlv(TAG_SEQUENCE, algorithm, tlv(TAG_BIT_STRING, Uint8Array.of(0), rsaPublicKey));
}

/**
 * SPKI with `rsaEncryption` and its NULL parameters left out: with bare PKCS#1, the only other
 * encoding of a key that is `key/not-canonical-spki` rather than `key/malformed` (§3 step 3).
 */
export function encodeRsaSpkiWithoutParameters(key: RsaNumbers): Bytes {
  const rsaPublicKey = tlv(TAG_SEQUENCE, encodeUnsigned(key.n), encodeUnsigned(key.e));
  const algorithm = tlv(TAG_SEQUENCE, tlv(TAG_OID, OID_RSA_ENCRYPTION));
  return tlv(TAG_SEQUENCE, algorithm, tlv(TAG_BIT_STRING, Uint8Array.of(0), rsaPublicKey));
}

/** The PKCS#1 `RSAPublicKey` DER of a key: the one PKCS#1 input that is `key/not-canonical-spki`. */
export function encodeRsaPublicKey(key: RsaNumbers): Bytes {
  return tlv(TAG_SEQUENCE, encodeUnsigned(key.n), encodeUnsigned(key.e));
}
