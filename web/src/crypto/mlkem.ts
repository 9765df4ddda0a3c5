/**
 * ML-KEM-768 (FIPS 203) for prekeys (`docs/protocol.md` §18.2), from the browser's WebCrypto
 * where it has the algorithm (Chromium does), and otherwise from `@noble/post-quantum` (decision
 * D51). Both produce the same bytes: FIPS 203 fixes every output from the seed and message.
 *
 * A decapsulation key never leaves its holder in the clear:
 * - with WebCrypto it is a non-extractable `CryptoKey` (IndexedDB stores the key object itself);
 * - with the library, only the 64-byte FIPS 203 key-generation seed `d ‖ z` is kept, encrypted
 *   under a non-extractable AES-256-GCM `CryptoKey`. It is decrypted only to decapsulate, the
 *   expanded key is rebuilt for that one call, and both are overwritten with zeros right after.
 */

import { ml_kem768 } from "@noble/post-quantum/ml-kem.js";

import { type Bytes, copyBytes } from "./bytes";
import { ProtocolError, cryptoOp } from "./errors";
import { systemRandom } from "./primitives";

/** FIPS 203 ML-KEM-768 sizes. */
export const MLKEM768_EK_LEN = 1184;
export const MLKEM768_DK_LEN = 2400;
export const MLKEM768_CT_LEN = 1088;
export const MLKEM768_SS_LEN = 32;
/** The key-generation seed `d ‖ z` (FIPS 203 Algorithm 19's two 32-byte inputs). */
export const MLKEM768_SEED_LEN = 64;
/** Encapsulation randomness `m` (FIPS 203 Algorithm 20). */
export const MLKEM768_MSG_LEN = 32;

/** The field modulus q of FIPS 203. */
const Q = 3329;
/** Bytes of the encoded vector `t` in an ML-KEM-768 encapsulation key (k = 3 × 384). */
const T_LEN = 1152;

const ALGORITHM = { name: "ML-KEM-768" } as const;

/** Where ML-KEM runs. */
export type MlKemBackend = "webcrypto" | "library";

/** The WebCrypto KEM methods (WICG "modern algorithms"), not yet in TypeScript's DOM types. */
interface KemSubtle {
  encapsulateBits(
    algorithm: typeof ALGORITHM,
    key: CryptoKey,
  ): Promise<{ ciphertext: ArrayBuffer; sharedKey: ArrayBuffer }>;
  decapsulateBits(
    algorithm: typeof ALGORITHM,
    key: CryptoKey,
    ciphertext: BufferSource,
  ): Promise<ArrayBuffer>;
}

function kemSubtle(): SubtleCrypto & Partial<KemSubtle> {
  const subtle: SubtleCrypto & Partial<KemSubtle> = globalThis.crypto.subtle;
  return subtle;
}

let backend: Promise<MlKemBackend> | undefined;

/**
 * The backend in use: WebCrypto when a full round trip through it works (a browser can name the
 * methods without implementing the algorithm), else the library. Probed once.
 */
export function mlKemBackend(): Promise<MlKemBackend> {
  backend ??= probeWebCrypto().then((ok) => (ok ? "webcrypto" : "library"));
  return backend;
}

/** Forces a backend (tests), or returns to probing with `undefined`. */
export function dangerSetMlKemBackend(choice: MlKemBackend | undefined): void {
  backend = choice === undefined ? undefined : Promise.resolve(choice);
}

async function probeWebCrypto(): Promise<boolean> {
  const s = kemSubtle();
  if (typeof s.encapsulateBits !== "function" || typeof s.decapsulateBits !== "function") {
    return false;
  }
  try {
    const pair = (await s.generateKey(ALGORITHM, false, [
      "encapsulateBits",
      "decapsulateBits",
    ] as unknown as KeyUsage[])) as CryptoKeyPair;
    const sent = await s.encapsulateBits(ALGORITHM, pair.publicKey);
    const got = await s.decapsulateBits(ALGORITHM, pair.privateKey, sent.ciphertext);
    return got.byteLength === MLKEM768_SS_LEN && sent.ciphertext.byteLength === MLKEM768_CT_LEN;
  } catch {
    return false;
  }
}

/**
 * The FIPS 203 §7.2 encapsulation-key check: the length, and every 12-bit coefficient of the
 * encoded `t` below q (`ByteEncode12(ByteDecode12(t)) = t`). Not a primitive, a range check.
 */
export function isValidEncapsulationKey(ek: Uint8Array): boolean {
  if (ek.length !== MLKEM768_EK_LEN) return false;
  for (let i = 0; i < T_LEN; i += 3) {
    const b0 = ek[i] ?? 0;
    const b1 = ek[i + 1] ?? 0;
    const b2 = ek[i + 2] ?? 0;
    const c0 = b0 | ((b1 & 0x0f) << 8);
    const c1 = (b1 >> 4) | (b2 << 4);
    if (c0 >= Q || c1 >= Q) return false;
  }
  return true;
}

/** The result of an encapsulation: the ciphertext for the header and the 32-byte secret. */
export interface Encapsulated {
  readonly ciphertext: Bytes;
  readonly sharedSecret: Bytes;
}

/**
 * Encapsulates to `ek` (FIPS 203 ML-KEM.Encaps). A key failing the §7.2 check is
 * `prekey/invalid-key`. `dangerMessage` (tests and vectors only) fixes FIPS 203's `m` and so
 * always runs on the library, which is the only backend that takes it.
 */
export async function mlKemEncapsulate(
  ek: Uint8Array,
  dangerMessage?: Uint8Array,
): Promise<Encapsulated> {
  if (!isValidEncapsulationKey(ek)) throw new ProtocolError("prekey/invalid-key", "ML-KEM key");
  if (dangerMessage === undefined && (await mlKemBackend()) === "webcrypto") {
    const s = kemSubtle() as SubtleCrypto & KemSubtle;
    const key = await importPublic(ek);
    return cryptoOp("ml-kem encapsulate", async () => {
      const out = await s.encapsulateBits(ALGORITHM, key);
      return {
        ciphertext: new Uint8Array(out.ciphertext),
        sharedSecret: new Uint8Array(out.sharedKey),
      };
    });
  }
  const m = dangerMessage ?? systemRandom(MLKEM768_MSG_LEN);
  if (m.length !== MLKEM768_MSG_LEN) throw new ProtocolError("invalid-input", "ML-KEM message");
  return cryptoOp("ml-kem encapsulate", () => {
    const out = ml_kem768.encapsulate(copyBytes(ek), copyBytes(m));
    return Promise.resolve({
      ciphertext: copyBytes(out.cipherText),
      sharedSecret: copyBytes(out.sharedSecret),
    });
  });
}

async function importPublic(ek: Uint8Array): Promise<CryptoKey> {
  try {
    return await kemSubtle().importKey("raw-public" as "raw", copyBytes(ek), ALGORITHM, true, [
      "encapsulateBits",
    ] as unknown as KeyUsage[]);
  } catch (error) {
    // The browser runs the same §7.2 check on import; a refusal is the key's fault.
    throw new ProtocolError("prekey/invalid-key", "ML-KEM key", { cause: error });
  }
}

/** A decapsulation key as IndexedDB stores it (structured-cloneable, no secret bytes in clear). */
export type StoredMlKemKey =
  | { readonly kind: "webcrypto"; readonly key: CryptoKey }
  | {
      /** The 64-byte seed, or (test vectors only) the expanded 2400-byte `dk`, sealed. */
      readonly kind: "sealed-seed" | "sealed-expanded";
      readonly wrap: CryptoKey;
      readonly iv: Bytes;
      readonly sealed: Bytes;
    };

/** An ML-KEM-768 decapsulation key held as {@link StoredMlKemKey} says. */
export class MlKemPrivateKey {
  private constructor(private readonly stored: StoredMlKemKey) {}

  /** A fresh key pair: the private key and the 1184-byte encapsulation key. */
  static async generate(): Promise<{ privateKey: MlKemPrivateKey; encapsulationKey: Bytes }> {
    if ((await mlKemBackend()) === "webcrypto") {
      return cryptoOp("ml-kem keygen", async () => {
        const s = kemSubtle();
        const pair = (await s.generateKey(ALGORITHM, false, [
          "encapsulateBits",
          "decapsulateBits",
        ] as unknown as KeyUsage[])) as CryptoKeyPair;
        const ek = new Uint8Array(await s.exportKey("raw-public" as "raw", pair.publicKey));
        return {
          privateKey: new MlKemPrivateKey({ kind: "webcrypto", key: pair.privateKey }),
          encapsulationKey: ek,
        };
      });
    }
    const seed = systemRandom(MLKEM768_SEED_LEN);
    try {
      return await MlKemPrivateKey.fromSeed(seed);
    } finally {
      seed.fill(0);
    }
  }

  /**
   * The key pair FIPS 203 ML-KEM.KeyGen_internal makes from `seed = d ‖ z` (64 bytes), on the
   * current backend. The caller wipes `seed`.
   */
  static async fromSeed(
    seed: Uint8Array,
  ): Promise<{ privateKey: MlKemPrivateKey; encapsulationKey: Bytes }> {
    if (seed.length !== MLKEM768_SEED_LEN)
      throw new ProtocolError("invalid-input", "ML-KEM seed must be 64 bytes");
    const encapsulationKey = expandPublic(seed);
    if ((await mlKemBackend()) === "webcrypto") {
      const key = await cryptoOp("ml-kem import", () =>
        kemSubtle().importKey("raw-seed" as "raw", copyBytes(seed), ALGORITHM, false, [
          "decapsulateBits",
        ] as unknown as KeyUsage[]),
      );
      return { privateKey: new MlKemPrivateKey({ kind: "webcrypto", key }), encapsulationKey };
    }
    return {
      privateKey: new MlKemPrivateKey(await sealSecret("sealed-seed", seed)),
      encapsulationKey,
    };
  }

  /**
   * A decapsulation key from its expanded 2400-byte FIPS 203 form `dk = dk_PKE ‖ ek ‖ H(ek) ‖ z`
   * given in the clear, as test vectors give it: never for a device's own keys. Refused with
   * `prekey/invalid-key` unless the embedded `ek` passes §18.2 and `H(ek)` matches (FIPS 203
   * §7.3). Held sealed and used through the library on every backend. The caller wipes `dk`.
   */
  static async dangerFromExpanded(
    dk: Uint8Array,
  ): Promise<{ privateKey: MlKemPrivateKey; encapsulationKey: Bytes }> {
    if (dk.length !== MLKEM768_DK_LEN) throw new ProtocolError("prekey/invalid-key", "ML-KEM dk");
    const encapsulationKey = copyBytes(dk.subarray(DK_EK_OFFSET, DK_EK_OFFSET + MLKEM768_EK_LEN));
    if (!isValidEncapsulationKey(encapsulationKey))
      throw new ProtocolError("prekey/invalid-key", "ML-KEM dk");
    try {
      // The library checks H(ek) before it decapsulates anything.
      ml_kem768.decapsulate(new Uint8Array(MLKEM768_CT_LEN), copyBytes(dk)).fill(0);
    } catch (error) {
      throw new ProtocolError("prekey/invalid-key", "ML-KEM dk", { cause: error });
    }
    return {
      privateKey: new MlKemPrivateKey(await sealSecret("sealed-expanded", dk)),
      encapsulationKey,
    };
  }

  /** Wraps a stored key. */
  static fromStored(stored: StoredMlKemKey): MlKemPrivateKey {
    return new MlKemPrivateKey(stored);
  }

  /** What IndexedDB keeps. */
  toStored(): StoredMlKemKey {
    return this.stored;
  }

  /**
   * FIPS 203 ML-KEM.Decaps of a 1088-byte ciphertext. A wrong ciphertext gives a wrong secret
   * (implicit rejection), never an error; a wrong length is `decryption-failed`.
   */
  async decapsulate(ciphertext: Uint8Array): Promise<Bytes> {
    if (ciphertext.length !== MLKEM768_CT_LEN) throw new ProtocolError("decryption-failed");
    const stored = this.stored;
    if (stored.kind === "webcrypto") {
      const s = kemSubtle() as SubtleCrypto & KemSubtle;
      if (typeof s.decapsulateBits !== "function") {
        throw new ProtocolError("crypto-failure", "this browser cannot use a WebCrypto ML-KEM key");
      }
      return cryptoOp(
        "ml-kem decapsulate",
        async () =>
          new Uint8Array(await s.decapsulateBits(ALGORITHM, stored.key, copyBytes(ciphertext))),
      );
    }
    // The seed, or the expanded key of a `sealed-expanded` key.
    const unsealed = await cryptoOp(
      "ml-kem unseal",
      async () =>
        new Uint8Array(
          await globalThis.crypto.subtle.decrypt(
            { name: "AES-GCM", iv: stored.iv },
            stored.wrap,
            stored.sealed,
          ),
        ),
    );
    const secretKey =
      stored.kind === "sealed-seed" ? ml_kem768.keygen(unsealed).secretKey : unsealed.slice();
    unsealed.fill(0);
    try {
      return copyBytes(ml_kem768.decapsulate(copyBytes(ciphertext), secretKey));
    } finally {
      secretKey.fill(0);
    }
  }
}

/** Where `ek` starts in an expanded decapsulation key (after `dk_PKE`, k × 384 bytes). */
const DK_EK_OFFSET = T_LEN;

/** `secret` (a seed or an expanded key) under a fresh non-extractable AES-256-GCM key. */
async function sealSecret(
  kind: "sealed-seed" | "sealed-expanded",
  secret: Uint8Array,
): Promise<StoredMlKemKey> {
  const wrap = await cryptoOp("aes-gcm keygen", () =>
    globalThis.crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, [
      "encrypt",
      "decrypt",
    ]),
  );
  const iv = systemRandom(12);
  const sealed = await cryptoOp(
    "ml-kem seal",
    async () =>
      new Uint8Array(
        await globalThis.crypto.subtle.encrypt({ name: "AES-GCM", iv }, wrap, copyBytes(secret)),
      ),
  );
  return { kind, wrap, iv, sealed };
}

/** The encapsulation key of a seed, through the library (deterministic on every backend). */
function expandPublic(seed: Uint8Array): Bytes {
  const { publicKey, secretKey } = ml_kem768.keygen(copyBytes(seed));
  secretKey.fill(0);
  return copyBytes(publicKey);
}

/**
 * FIPS 203 ML-KEM.Decaps with an expanded 2400-byte decapsulation key given in the clear: for
 * test vectors and known-answer tests only, never for a device's own keys.
 */
export function dangerMlKemDecapsulateExpanded(ciphertext: Uint8Array, dk: Uint8Array): Bytes {
  if (dk.length !== MLKEM768_DK_LEN || ciphertext.length !== MLKEM768_CT_LEN) {
    throw new ProtocolError("invalid-input", "ML-KEM-768 key or ciphertext length");
  }
  return copyBytes(ml_kem768.decapsulate(copyBytes(ciphertext), copyBytes(dk)));
}

/** FIPS 203 ML-KEM.KeyGen_internal from `d ‖ z` in the clear: known-answer tests only. */
export function dangerMlKemKeygenExpanded(seed: Uint8Array): { ek: Bytes; dk: Bytes } {
  if (seed.length !== MLKEM768_SEED_LEN) throw new ProtocolError("invalid-input", "ML-KEM seed");
  const { publicKey, secretKey } = ml_kem768.keygen(copyBytes(seed));
  return { ek: copyBytes(publicKey), dk: copyBytes(secretKey) };
}
