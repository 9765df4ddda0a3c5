/**
 * Prekeys (`docs/protocol.md` §18.2, §18.4): an ECDH P-256 key pair and an ML-KEM-768 key pair
 * made together and named by a random 16-byte id. The public part goes into a version-2
 * exchange-key certificate (the last-resort prekey, §18.3) or into a signed one-time prekey
 * (§18.4); the private parts stay on the device as non-extractable `CryptoKey`s (ML-KEM: see
 * `mlkem.ts`) until a distribution that used them is committed.
 *
 * ```text
 * one-time prekey body = domain("sotto/prekey", 2) ‖ account [32] ‖ device [32] ‖ prekey id [16]
 *                      ‖ u64 created_at ‖ EC public key [65] ‖ ML-KEM encapsulation key [1184]
 * ```
 */

import { type Bytes, copyBytes } from "./bytes";
import { Reader, Writer } from "./codec";
import { Domain, PROTOCOL_VERSION_2 } from "./domains";
import { ProtocolError, cryptoOp } from "./errors";
import {
  type AccountId as AccountIdT,
  type DeviceId as DeviceIdT,
  type PrekeyId as PrekeyIdT,
  AccountId,
  DeviceId,
  PrekeyId,
} from "./ids";
import { MAX_CLOCK_SKEW_MS } from "./limits";
import {
  MLKEM768_EK_LEN,
  MlKemPrivateKey,
  type StoredMlKemKey,
  isValidEncapsulationKey,
} from "./mlkem";
import type { SigningKeyPair, VerifyingKey } from "./primitives";
import { Signed } from "./signed";

/** An uncompressed SEC1 P-256 point. */
export const EC_PUBLIC_LEN = 65;
/** The largest one-time prekey body (§18.4 fixes it at 1345 bytes; the bound leaves room). */
export const MAX_PREKEY_BODY_LEN = 2_048;
/** A device keeps at least this many one-time prekeys on the server (§18.4). */
export const MIN_ONE_TIME_PREKEYS = 20;
/** … and at most this many. */
export const MAX_ONE_TIME_PREKEYS = 100;

const ECDH = { name: "ECDH", namedCurve: "P-256" } as const;

/** A prekey's public part. */
export interface PrekeyPublic {
  readonly id: PrekeyIdT;
  /** `0x04 ‖ x ‖ y`. */
  readonly ec: Bytes;
  /** ML-KEM-768 encapsulation key. */
  readonly kem: Bytes;
}

export const PrekeyPublic = {
  /** `prekey id [16] ‖ EC public key [65] ‖ ML-KEM encapsulation key [1184]`. */
  encodeInto(w: Writer, p: PrekeyPublic): void {
    PrekeyId.encode(w, p.id);
    fixedLen(p.ec, EC_PUBLIC_LEN, "EC public key");
    fixedLen(p.kem, MLKEM768_EK_LEN, "ML-KEM encapsulation key");
    w.fixed(p.ec);
    w.fixed(p.kem);
  },

  /** Reads the three fields (structure only; {@link validatePrekey} checks the keys). */
  decodeFrom(r: Reader): PrekeyPublic {
    return {
      id: PrekeyId.decode(r),
      ec: r.array(EC_PUBLIC_LEN),
      kem: r.array(MLKEM768_EK_LEN),
    };
  },
};

function fixedLen(bytes: Uint8Array, len: number, what: string): void {
  if (bytes.length !== len)
    throw new ProtocolError("invalid-input", `${what} must be ${len} bytes`);
}

/**
 * §18.2: the EC point is a P-256 point other than infinity (`0x04` prefix; the platform's import
 * checks both coordinates below p and the curve equation), and the ML-KEM key passes FIPS 203
 * §7.2. Anything else is `prekey/invalid-key`. Returns the imported EC public key.
 */
export async function validatePrekey(p: PrekeyPublic): Promise<CryptoKey> {
  if (!isValidEncapsulationKey(p.kem)) {
    throw new ProtocolError("prekey/invalid-key", "ML-KEM encapsulation key");
  }
  return importEcPublic(p.ec);
}

/** Imports a P-256 public point, refusing anything but a valid uncompressed point. */
export async function importEcPublic(ec: Uint8Array): Promise<CryptoKey> {
  if (ec.length !== EC_PUBLIC_LEN || ec[0] !== 0x04) {
    throw new ProtocolError("prekey/invalid-key", "EC point");
  }
  try {
    return await globalThis.crypto.subtle.importKey("raw", copyBytes(ec), ECDH, true, []);
  } catch (error) {
    throw new ProtocolError("prekey/invalid-key", "EC point", { cause: error });
  }
}

/** `x` of `private × public` on P-256 (the 32-byte ECDH shared secret of SP 800-56A). */
export async function ecdhP256(privateKey: CryptoKey, publicKey: CryptoKey): Promise<Bytes> {
  return cryptoOp(
    "ecdh",
    async () =>
      new Uint8Array(
        await globalThis.crypto.subtle.deriveBits(
          { name: "ECDH", public: publicKey },
          privateKey,
          256,
        ),
      ),
  );
}

/** A fresh P-256 pair with a non-extractable private half, and the public point. */
export async function generateEcPair(): Promise<{ privateKey: CryptoKey; publicKey: Bytes }> {
  return cryptoOp("ecdh keygen", async () => {
    const pair = await globalThis.crypto.subtle.generateKey(ECDH, false, ["deriveBits"]);
    const publicKey = new Uint8Array(
      await globalThis.crypto.subtle.exportKey("raw", pair.publicKey),
    );
    return { privateKey: pair.privateKey, publicKey };
  });
}

/** A P-256 private scalar with its public point, imported non-extractable for ECDH. */
async function importEcPrivate(ecPublic: Uint8Array, ecScalar: Uint8Array): Promise<CryptoKey> {
  fixedLen(ecScalar, 32, "EC scalar");
  fixedLen(ecPublic, EC_PUBLIC_LEN, "EC public key");
  const b64 = (b: Uint8Array): string =>
    btoa(String.fromCharCode(...b))
      .replace(/\+/g, "-")
      .replace(/\//g, "_")
      .replace(/=+$/, "");
  return cryptoOp("ecdh import", () =>
    globalThis.crypto.subtle.importKey(
      "jwk",
      {
        kty: "EC",
        crv: "P-256",
        x: b64(ecPublic.subarray(1, 33)),
        y: b64(ecPublic.subarray(33, 65)),
        d: b64(ecScalar),
      },
      ECDH,
      false,
      ["deriveBits"],
    ),
  );
}

/** A prekey's private parts as IndexedDB stores them (no secret bytes in the clear). */
export interface StoredPrekeyPair {
  readonly id: Bytes;
  readonly ec: Bytes;
  readonly kem: Bytes;
  readonly ecPrivate: CryptoKey;
  readonly kemPrivate: StoredMlKemKey;
}

/** A prekey this device made: its public part and its private keys. */
export class PrekeyPair {
  private constructor(
    readonly publicPart: PrekeyPublic,
    private readonly ecPrivate: CryptoKey,
    private readonly kemPrivate: MlKemPrivateKey,
  ) {}

  /** A fresh prekey with a random id. */
  static async generate(id: PrekeyIdT): Promise<PrekeyPair> {
    const ec = await generateEcPair();
    const kem = await MlKemPrivateKey.generate();
    return new PrekeyPair(
      { id, ec: ec.publicKey, kem: kem.encapsulationKey },
      ec.privateKey,
      kem.privateKey,
    );
  }

  /**
   * A prekey from known private values (test vectors only): the 32-byte EC scalar and the
   * 64-byte ML-KEM seed. Both are imported non-extractable; the caller wipes its copies.
   */
  static async dangerFromSecrets(
    id: PrekeyIdT,
    ecPublic: Uint8Array,
    ecScalar: Uint8Array,
    kemSeed: Uint8Array,
  ): Promise<PrekeyPair> {
    const ecPrivate = await importEcPrivate(ecPublic, ecScalar);
    const kem = await MlKemPrivateKey.fromSeed(kemSeed);
    return new PrekeyPair(
      { id, ec: copyBytes(ecPublic), kem: kem.encapsulationKey },
      ecPrivate,
      kem.privateKey,
    );
  }

  /**
   * A prekey from its private keys as the test vectors give them (test vectors only): the 32-byte
   * EC scalar with its public point, and the expanded 2400-byte ML-KEM `dk`
   * ({@link MlKemPrivateKey.dangerFromExpanded}). The caller wipes its copies.
   */
  static async dangerFromExpanded(
    id: PrekeyIdT,
    ecPublic: Uint8Array,
    ecScalar: Uint8Array,
    kemDk: Uint8Array,
  ): Promise<PrekeyPair> {
    const ecPrivate = await importEcPrivate(ecPublic, ecScalar);
    const kem = await MlKemPrivateKey.dangerFromExpanded(kemDk);
    return new PrekeyPair(
      { id, ec: copyBytes(ecPublic), kem: kem.encapsulationKey },
      ecPrivate,
      kem.privateKey,
    );
  }

  /** Rebuilds a stored prekey. */
  static fromStored(s: StoredPrekeyPair): PrekeyPair {
    return new PrekeyPair(
      { id: PrekeyId.fromBytes(s.id), ec: copyBytes(s.ec), kem: copyBytes(s.kem) },
      s.ecPrivate,
      MlKemPrivateKey.fromStored(s.kemPrivate),
    );
  }

  /** What IndexedDB keeps. */
  toStored(): StoredPrekeyPair {
    return {
      id: copyBytes(this.publicPart.id),
      ec: copyBytes(this.publicPart.ec),
      kem: copyBytes(this.publicPart.kem),
      ecPrivate: this.ecPrivate,
      kemPrivate: this.kemPrivate.toStored(),
    };
  }

  get id(): PrekeyIdT {
    return this.publicPart.id;
  }

  /** `ss_e`: ECDH of this prekey's EC private key with a sender's ephemeral point. */
  async ecdh(ephemeral: Uint8Array): Promise<Bytes> {
    return ecdhP256(this.ecPrivate, await importEcPublic(ephemeral));
  }

  /** `ss_k`: ML-KEM-768.Decaps of `ct` (implicit rejection: a wrong `ct` gives a wrong secret). */
  async decapsulate(ct: Uint8Array): Promise<Bytes> {
    return this.kemPrivate.decapsulate(ct);
  }
}

/** A one-time prekey body (§18.4). */
export interface OneTimePrekey {
  readonly account: AccountIdT;
  readonly device: DeviceIdT;
  readonly prekey: PrekeyPublic;
  readonly createdAt: bigint;
}

export const OneTimePrekey = {
  encode(b: OneTimePrekey): Bytes {
    const w = Writer.forDomain(Domain.Prekey, PROTOCOL_VERSION_2);
    AccountId.encode(w, b.account);
    DeviceId.encode(w, b.device);
    PrekeyId.encode(w, b.prekey.id);
    w.u64(b.createdAt);
    fixedLen(b.prekey.ec, EC_PUBLIC_LEN, "EC public key");
    fixedLen(b.prekey.kem, MLKEM768_EK_LEN, "ML-KEM encapsulation key");
    w.fixed(b.prekey.ec);
    w.fixed(b.prekey.kem);
    return w.finish();
  },

  /** Decodes a body: version 2 only (`decode/unsupported-version` for any other). */
  decode(bytes: Bytes): OneTimePrekey {
    const { reader: r } = Reader.forDomainVersions(bytes, Domain.Prekey, [PROTOCOL_VERSION_2]);
    const account = AccountId.decode(r);
    const device = DeviceId.decode(r);
    const id = PrekeyId.decode(r);
    const createdAt = r.u64();
    const ec = r.array(EC_PUBLIC_LEN);
    const kem = r.array(MLKEM768_EK_LEN);
    r.finish();
    return { account, device, prekey: { id, ec, kem }, createdAt };
  },

  /** Decodes a signed one-time prekey's wire form. */
  decodeSigned(bytes: Bytes): Signed {
    return Signed.decode(bytes, MAX_PREKEY_BODY_LEN);
  },

  /** Signs a one-time prekey of this device. */
  async sign(
    account: AccountIdT,
    device: DeviceIdT,
    prekey: PrekeyPublic,
    createdAt: bigint,
    signer: SigningKeyPair,
  ): Promise<Signed> {
    return Signed.sign(OneTimePrekey.encode({ account, device, prekey, createdAt }), signer);
  },
};

/** Only this module mints {@link VerifiedPrekey}. */
const MINT: unique symbol = Symbol("sotto/verified-prekey");

/** A one-time prekey signed by a verified device and checked by §18.4. */
export class VerifiedPrekey {
  constructor(
    token: typeof MINT,
    readonly account: AccountIdT,
    readonly device: DeviceIdT,
    readonly publicPart: PrekeyPublic,
    readonly createdAt: bigint,
  ) {
    if (token !== MINT)
      throw new ProtocolError("invalid-input", "VerifiedPrekey is minted by the verifier");
  }

  get id(): PrekeyIdT {
    return this.publicPart.id;
  }
}

/** The device a one-time prekey is checked against (a `VerifiedDevice`). */
export interface PrekeyOwner {
  readonly account: AccountIdT;
  readonly device: DeviceIdT;
  readonly signingKey: VerifyingKey;
}

/**
 * §18.4: decode; account and device are the owner's (`wrong-account`); signature
 * (`bad-signature`); `created_at ≤ now + 3 h` (`receive/far-future`); keys (`prekey/invalid-key`).
 */
export async function verifyOneTimePrekey(
  owner: PrekeyOwner,
  signed: Signed,
  now: bigint,
): Promise<VerifiedPrekey> {
  const body = OneTimePrekey.decode(signed.body);
  if (!AccountId.equals(body.account, owner.account) || !DeviceId.equals(body.device, owner.device))
    throw new ProtocolError("wrong-account", "one-time prekey");
  await signed.verify("one-time prekey", owner.signingKey);
  if (body.createdAt > now + MAX_CLOCK_SKEW_MS) throw new ProtocolError("receive/far-future");
  await validatePrekey(body.prekey);
  return new VerifiedPrekey(MINT, body.account, body.device, body.prekey, body.createdAt);
}
