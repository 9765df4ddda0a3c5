/**
 * Every cryptographic primitive the protocol uses, through `crypto.subtle` and nothing else
 * (`docs/protocol.md` §3): RSA-PSS-SHA-256 with a 32-byte salt, RSA-OAEP-SHA-256 (MGF1-SHA-256)
 * with a label, AES-256-GCM, HMAC-SHA-256, HKDF-SHA-256 with an empty salt, SHA-256.
 *
 * Algorithms are fixed here so no caller can choose a weaker one. Public keys are accepted only
 * after {@link checkRsaPublicKey} (canonical SPKI, 3072..4096 bits, e = 65537). Signing and
 * exchange keys are distinct classes over distinct WebCrypto algorithms, so one never stands in
 * for the other. Private keys are generated and imported non-extractable: script running in the
 * page can use them but never read them out.
 */

import { type Bytes, bytesEqual, concatBytes, copyBytes } from "./bytes";
import {
  type RsaNumbers,
  bitLength,
  encodeRsaPublicKey,
  encodeRsaSpki,
  encodeRsaSpkiWithoutParameters,
  parsePkcs8RsaPublic,
  parseRsaPublicKey,
  parseSpki,
} from "./der";
import { ProtocolError, cryptoOp } from "./errors";
import {
  AES_KEY_LEN,
  GCM_NONCE_LEN,
  GCM_TAG_LEN,
  MAX_PKCS8_LEN,
  MAX_RSA_BITS,
  MAX_SPKI_LEN,
  MIN_RSA_BITS,
  PSS_SALT_LEN,
  RSA_PUBLIC_EXPONENT,
} from "./limits";

function subtle(): SubtleCrypto {
  return globalThis.crypto.subtle;
}

// ---------------------------------------------------------------------------------------------
// Hashes and derivation
// ---------------------------------------------------------------------------------------------

/** SHA-256 of the concatenation of `parts`. */
export async function sha256(...parts: readonly Uint8Array[]): Promise<Bytes> {
  const data =
    parts.length === 1 && parts[0] !== undefined ? copyBytes(parts[0]) : concatBytes(...parts);
  return cryptoOp("sha-256", async () => new Uint8Array(await subtle().digest("SHA-256", data)));
}

/** HMAC-SHA-256 of `data` under `key` (a non-empty key). */
export async function hmacSha256(key: Uint8Array, data: Uint8Array): Promise<Bytes> {
  return cryptoOp("hmac-sha-256", async () => {
    const k = await subtle().importKey(
      "raw",
      copyBytes(key),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    return new Uint8Array(await subtle().sign("HMAC", k, copyBytes(data)));
  });
}

/** HKDF-SHA-256 (RFC 5869) with an empty salt: `length` bytes from `ikm` and `info`. */
export async function hkdfSha256(
  ikm: Uint8Array,
  info: Uint8Array,
  length: number,
): Promise<Bytes> {
  return cryptoOp("hkdf-sha-256", async () => {
    const k = await subtle().importKey("raw", copyBytes(ikm), "HKDF", false, ["deriveBits"]);
    const bits = await subtle().deriveBits(
      { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: copyBytes(info) },
      k,
      length * 8,
    );
    return new Uint8Array(bits);
  });
}

/** `length` bytes from the platform's CSPRNG. */
export function systemRandom(length: number): Bytes {
  const out = new Uint8Array(length);
  // getRandomValues fills at most 65536 bytes per call.
  for (let offset = 0; offset < length; offset += 65_536) {
    globalThis.crypto.getRandomValues(out.subarray(offset, Math.min(length, offset + 65_536)));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// AES-256-GCM
// ---------------------------------------------------------------------------------------------

/**
 * An AES-256-GCM key with the one nonce it will be used with. Keys and nonces are derived per
 * message (§7.1) or per attachment (§10), never chosen.
 */
export class AeadKey {
  private readonly key: Bytes;
  private readonly nonce: Bytes;

  constructor(key: Uint8Array, nonce: Uint8Array) {
    if (key.length !== AES_KEY_LEN || nonce.length !== GCM_NONCE_LEN) {
      throw new ProtocolError("invalid-input", "AES-256-GCM key or nonce length");
    }
    this.key = copyBytes(key);
    this.nonce = copyBytes(nonce);
  }

  private async cryptoKey(usage: "encrypt" | "decrypt"): Promise<CryptoKey> {
    return cryptoOp("aes-gcm key", () =>
      subtle().importKey("raw", this.key, "AES-GCM", false, [usage]),
    );
  }

  /** `ciphertext ‖ tag` of `plaintext`, with `aad` authenticated. */
  async seal(aad: Uint8Array, plaintext: Uint8Array): Promise<Bytes> {
    const key = await this.cryptoKey("encrypt");
    return cryptoOp("aes-gcm seal", async () => {
      const params = {
        name: "AES-GCM",
        iv: this.nonce,
        additionalData: copyBytes(aad),
        tagLength: GCM_TAG_LEN * 8,
      };
      return new Uint8Array(await subtle().encrypt(params, key, copyBytes(plaintext)));
    });
  }

  /** Opens `ciphertext ‖ tag`; any change to either or to `aad` is `decryption-failed`. */
  async open(aad: Uint8Array, sealed: Uint8Array): Promise<Bytes> {
    const key = await this.cryptoKey("decrypt");
    if (sealed.length < GCM_TAG_LEN) throw new ProtocolError("decryption-failed");
    try {
      const params = {
        name: "AES-GCM",
        iv: this.nonce,
        additionalData: copyBytes(aad),
        tagLength: GCM_TAG_LEN * 8,
      };
      return new Uint8Array(await subtle().decrypt(params, key, copyBytes(sealed)));
    } catch {
      // One uniform error for every cause: nothing tells a bad tag from a bad key.
      throw new ProtocolError("decryption-failed");
    }
  }
}

// ---------------------------------------------------------------------------------------------
// RSA public keys
// ---------------------------------------------------------------------------------------------

/** A public key that passed §3: its canonical SPKI and modulus size. */
export interface CheckedRsaKey {
  readonly spki: Bytes;
  readonly bits: number;
}

/** aws-lc's sanity checks on a parsed RSA key: positive odd modulus, odd exponent of 2..33 bits. */
function isPlausibleRsa(key: RsaNumbers): boolean {
  const nBits = bitLength(key.n);
  const eBits = bitLength(key.e);
  const nOdd = ((key.n[key.n.length - 1] ?? 0) & 1) === 1;
  const eOdd = ((key.e[key.e.length - 1] ?? 0) & 1) === 1;
  return nOdd && nBits <= 16_384 && nBits > 33 && eOdd && eBits >= 2 && eBits <= 33;
}

/**
 * Checks a public key against §3, in the Rust core's order: size of the encoding and parse
 * (`key/malformed`; a PKCS#1 `RSAPublicKey` parses but is `key/not-canonical-spki`), canonical
 * re-encoding (`key/not-canonical-spki`), exponent (`key/bad-exponent`), modulus size
 * (`key/too-small`, `key/too-large`).
 */
export function checkRsaPublicKey(spki: Uint8Array): CheckedRsaKey {
  if (spki.length > MAX_SPKI_LEN)
    throw new ProtocolError("key/malformed", "longer than 1024 bytes");
  const input = copyBytes(spki);
  const parsed = parseSpki(input);
  if (parsed === undefined) {
    const pkcs1 = parseRsaPublicKey(input);
    // Only the key's own PKCS#1 encoding is "the same key written another way" (§3 step 3).
    if (
      pkcs1 !== undefined &&
      isPlausibleRsa(pkcs1) &&
      bytesEqual(encodeRsaPublicKey(pkcs1), input)
    ) {
      throw new ProtocolError("key/not-canonical-spki", "PKCS#1 RSAPublicKey");
    }
    throw new ProtocolError("key/malformed");
  }
  if (!parsed.isRsa || parsed.key === undefined || !isPlausibleRsa(parsed.key)) {
    throw new ProtocolError("key/malformed");
  }
  if (!bytesEqual(encodeRsaSpki(parsed.key), input)) {
    // Another algorithm identifier (RSASSA-PSS, RSAES-OAEP, other parameters) is malformed; only
    // the parameters left out is the same key written another way.
    const another = bytesEqual(encodeRsaSpkiWithoutParameters(parsed.key), input);
    throw new ProtocolError(another ? "key/not-canonical-spki" : "key/malformed");
  }
  // The exponent has at most 33 bits here, so it is exact as a number.
  if (parsed.key.e.reduce((acc, byte) => acc * 256 + byte, 0) !== RSA_PUBLIC_EXPONENT) {
    throw new ProtocolError("key/bad-exponent");
  }
  const bits = bitLength(parsed.key.n);
  if (bits < MIN_RSA_BITS) throw new ProtocolError("key/too-small", `${bits} bits`);
  if (bits > MAX_RSA_BITS) throw new ProtocolError("key/too-large", `${bits} bits`);
  return { spki: input, bits };
}

const PSS = { name: "RSA-PSS", hash: "SHA-256" } as const;
const OAEP = { name: "RSA-OAEP", hash: "SHA-256" } as const;

/** A public key that verifies RSA-PSS-SHA-256 (salt 32) signatures, and nothing else. */
export class VerifyingKey {
  private constructor(
    /** The canonical SPKI DER. */
    readonly spki: Bytes,
    /** The modulus size. */
    readonly bits: number,
    private readonly key: CryptoKey,
  ) {}

  /** Checks (§3) and imports an SPKI DER signing key. */
  static async fromSpki(spki: Uint8Array): Promise<VerifyingKey> {
    const checked = checkRsaPublicKey(spki);
    const key = await importPublic(checked.spki, PSS, "verify");
    return new VerifyingKey(checked.spki, checked.bits, key);
  }

  /** Verifies `signature` over exactly `message`; failure is `bad-signature` naming `what`. */
  async verify(what: string, message: Uint8Array, signature: Uint8Array): Promise<void> {
    let ok = false;
    try {
      ok = await subtle().verify(
        { name: "RSA-PSS", saltLength: PSS_SALT_LEN },
        this.key,
        copyBytes(signature),
        copyBytes(message),
      );
    } catch {
      ok = false; // a signature of the wrong length, for one: the same refusal
    }
    if (!ok) throw new ProtocolError("bad-signature", what);
  }

  /** Same key (same canonical SPKI). */
  equals(other: VerifyingKey): boolean {
    return bytesEqual(this.spki, other.spki);
  }
}

/** A public key that encrypts with RSA-OAEP-SHA-256, and nothing else. */
export class EncryptingKey {
  private constructor(
    readonly spki: Bytes,
    readonly bits: number,
    private readonly key: CryptoKey,
  ) {}

  /** Checks (§3) and imports an SPKI DER exchange key. */
  static async fromSpki(spki: Uint8Array): Promise<EncryptingKey> {
    const checked = checkRsaPublicKey(spki);
    const key = await importPublic(checked.spki, OAEP, "encrypt");
    return new EncryptingKey(checked.spki, checked.bits, key);
  }

  /** Encrypts a short `plaintext` with OAEP `label`. */
  async encrypt(plaintext: Uint8Array, label: Uint8Array): Promise<Bytes> {
    return cryptoOp(
      "rsa-oaep encrypt",
      async () =>
        new Uint8Array(
          await subtle().encrypt(
            { name: "RSA-OAEP", label: copyBytes(label) },
            this.key,
            copyBytes(plaintext),
          ),
        ),
    );
  }

  equals(other: EncryptingKey): boolean {
    return bytesEqual(this.spki, other.spki);
  }
}

async function importPublic(
  spki: Bytes,
  algorithm: typeof PSS | typeof OAEP,
  usage: "verify" | "encrypt",
): Promise<CryptoKey> {
  try {
    return await subtle().importKey("spki", spki, algorithm, true, [usage]);
  } catch (error) {
    throw new ProtocolError("key/malformed", "WebCrypto refused the key", { cause: error });
  }
}

// ---------------------------------------------------------------------------------------------
// RSA key pairs
// ---------------------------------------------------------------------------------------------

/** Modulus size of new keys: RSA-3072 unless asked otherwise. */
export type RsaBits = 3072 | 4096;

const F4 = Uint8Array.of(0x01, 0x00, 0x01);

async function generatePair(
  algorithm: typeof PSS | typeof OAEP,
  bits: RsaBits,
  usages: KeyUsage[],
): Promise<CryptoKeyPair> {
  return cryptoOp("rsa keygen", () =>
    subtle().generateKey({ ...algorithm, modulusLength: bits, publicExponent: F4 }, false, usages),
  );
}

async function exportSpki(key: CryptoKey): Promise<Bytes> {
  return cryptoOp("spki export", async () => new Uint8Array(await subtle().exportKey("spki", key)));
}

/**
 * Reads the public half of a PKCS#8 key and imports the private key non-extractable. Anything
 * unreadable is `key/malformed`; the public half is then checked like any other key (§3).
 */
async function importPkcs8(
  pkcs8: Uint8Array,
  algorithm: typeof PSS | typeof OAEP,
  usage: "sign" | "decrypt",
): Promise<{ privateKey: CryptoKey; spki: Bytes }> {
  if (pkcs8.length > MAX_PKCS8_LEN)
    throw new ProtocolError("key/malformed", "PKCS#8 longer than 4096 bytes");
  const input = copyBytes(pkcs8);
  const numbers = parsePkcs8RsaPublic(input);
  if (numbers === undefined) throw new ProtocolError("key/malformed", "not an RSA PKCS#8 key");
  const spki = encodeRsaSpki(numbers);
  checkRsaPublicKey(spki);
  let privateKey: CryptoKey;
  try {
    privateKey = await subtle().importKey("pkcs8", input, algorithm, false, [usage]);
  } catch (error) {
    throw new ProtocolError("key/malformed", "WebCrypto refused the key", { cause: error });
  }
  return { privateKey, spki };
}

function checkStored(key: CryptoKey, name: "RSA-PSS" | "RSA-OAEP", usage: KeyUsage): void {
  const algorithm = key.algorithm as Partial<RsaHashedKeyAlgorithm>;
  if (
    key.type !== "private" ||
    algorithm.name !== name ||
    algorithm.hash?.name !== "SHA-256" ||
    !key.usages.includes(usage)
  ) {
    throw new ProtocolError("invalid-input", `not an ${name} SHA-256 private key for ${usage}`);
  }
}

/** An RSA-PSS signing key pair. The private key is a non-extractable `CryptoKey`. */
export class SigningKeyPair {
  private constructor(
    /** The private key: storable in IndexedDB, never exportable. */
    readonly privateKey: CryptoKey,
    /** The public half, checked like any other key. */
    readonly verifyingKey: VerifyingKey,
  ) {}

  /** Generates a fresh pair (private half non-extractable). */
  static async generate(bits: RsaBits = 3072): Promise<SigningKeyPair> {
    const pair = await generatePair(PSS, bits, ["sign", "verify"]);
    return new SigningKeyPair(
      pair.privateKey,
      await VerifyingKey.fromSpki(await exportSpki(pair.publicKey)),
    );
  }

  /** Imports a PKCS#8 DER private key (non-extractable), checking its public half. */
  static async fromPkcs8(pkcs8: Uint8Array): Promise<SigningKeyPair> {
    const { privateKey, spki } = await importPkcs8(pkcs8, PSS, "sign");
    return new SigningKeyPair(privateKey, await VerifyingKey.fromSpki(spki));
  }

  /**
   * Rebuilds a pair from a stored private `CryptoKey` and its SPKI, checking with one signature
   * that the two belong together.
   */
  static async fromStored(privateKey: CryptoKey, spki: Uint8Array): Promise<SigningKeyPair> {
    checkStored(privateKey, "RSA-PSS", "sign");
    const pair = new SigningKeyPair(privateKey, await VerifyingKey.fromSpki(spki));
    const probe = Uint8Array.of(0x73, 0x6f, 0x74, 0x74, 0x6f);
    try {
      await pair.verifyingKey.verify("stored key", probe, await pair.sign(probe));
    } catch (error) {
      throw new ProtocolError("invalid-input", "stored private and public keys do not match", {
        cause: error,
      });
    }
    return pair;
  }

  /** RSA-PSS-SHA-256 (salt 32) over exactly `message`. */
  async sign(message: Uint8Array): Promise<Bytes> {
    return cryptoOp(
      "rsa-pss sign",
      async () =>
        new Uint8Array(
          await subtle().sign(
            { name: "RSA-PSS", saltLength: PSS_SALT_LEN },
            this.privateKey,
            copyBytes(message),
          ),
        ),
    );
  }

  /** The SPKI of the public half. */
  get spki(): Bytes {
    return this.verifyingKey.spki;
  }
}

/** An RSA-OAEP exchange key pair. The private key is a non-extractable `CryptoKey`. */
export class ExchangeKeyPair {
  private constructor(
    readonly privateKey: CryptoKey,
    readonly encryptingKey: EncryptingKey,
  ) {}

  /** Generates a fresh pair (private half non-extractable). */
  static async generate(bits: RsaBits = 3072): Promise<ExchangeKeyPair> {
    const pair = await generatePair(OAEP, bits, ["encrypt", "decrypt"]);
    return new ExchangeKeyPair(
      pair.privateKey,
      await EncryptingKey.fromSpki(await exportSpki(pair.publicKey)),
    );
  }

  /** Imports a PKCS#8 DER private key (non-extractable), checking its public half. */
  static async fromPkcs8(pkcs8: Uint8Array): Promise<ExchangeKeyPair> {
    const { privateKey, spki } = await importPkcs8(pkcs8, OAEP, "decrypt");
    return new ExchangeKeyPair(privateKey, await EncryptingKey.fromSpki(spki));
  }

  /** Rebuilds a pair from a stored private `CryptoKey` and its SPKI, checking they match. */
  static async fromStored(privateKey: CryptoKey, spki: Uint8Array): Promise<ExchangeKeyPair> {
    checkStored(privateKey, "RSA-OAEP", "decrypt");
    const pair = new ExchangeKeyPair(privateKey, await EncryptingKey.fromSpki(spki));
    const probe = Uint8Array.of(0x73, 0x6f, 0x74, 0x74, 0x6f);
    const label = Uint8Array.of(0x01);
    try {
      const plain = await pair.decrypt(await pair.encryptingKey.encrypt(probe, label), label);
      if (!bytesEqual(plain, probe)) throw new ProtocolError("decryption-failed");
    } catch (error) {
      throw new ProtocolError("invalid-input", "stored private and public keys do not match", {
        cause: error,
      });
    }
    return pair;
  }

  /**
   * Decrypts an OAEP ciphertext made with `label`. Every failure (length, label, padding) is the
   * same `decryption-failed`.
   */
  async decrypt(ciphertext: Uint8Array, label: Uint8Array): Promise<Bytes> {
    if (ciphertext.length !== Math.ceil(this.encryptingKey.bits / 8))
      throw new ProtocolError("decryption-failed");
    try {
      return new Uint8Array(
        await subtle().decrypt(
          { name: "RSA-OAEP", label: copyBytes(label) },
          this.privateKey,
          copyBytes(ciphertext),
        ),
      );
    } catch {
      throw new ProtocolError("decryption-failed");
    }
  }

  /** The SPKI of the public half. */
  get spki(): Bytes {
    return this.encryptingKey.spki;
  }
}
