/**
 * The hybrid key of a version-2 distribution (`docs/protocol.md` §18.5, §18.6):
 *
 * ```text
 * label   = SHA-256(domain("sotto/kdm-label", 2) ‖ header)
 * rsa_ct  = RSA-OAEP-SHA-256(X, domain("sotto/kdm-rsa", 2) ‖ r, label)
 * info    = domain("sotto/kdm-hybrid", 2) ‖ SHA-256(header) ‖ SHA-256(rsa_ct)
 *         ‖ SHA-256(X's SPKI) ‖ SHA-256(P's EC key) ‖ SHA-256(P's ML-KEM key)
 * okm     = HKDF-SHA-256(salt = "", ikm = ss_k ‖ ss_e ‖ r, info, 44)
 * sealed  = AES-256-GCM(okm[0..32], okm[32..44], aad = header, payload)
 * ```
 *
 * The key depends on all three secrets, and the info binds every ciphertext and every recipient
 * public key, so no part can be swapped or re-used under another key.
 */

import { type Bytes, bytesEqual, concatBytes } from "./bytes";
import { Domain, PROTOCOL_VERSION_2, encodeDomain } from "./domains";
import {
  DistributionHeader,
  type KeyDistribution,
  decodePayload,
  encodePayload,
  joinHybridCiphertext,
  splitHybridCiphertext,
} from "./distribution";
import { ProtocolError } from "./errors";
import type { ChainId as ChainIdT } from "./ids";
import { AES_KEY_LEN, GCM_NONCE_LEN } from "./limits";
import { mlKemEncapsulate } from "./mlkem";
import {
  type PrekeyPair,
  type PrekeyPublic,
  ecdhP256,
  generateEcPair,
  importEcPublic,
} from "./prekey";
import {
  AeadKey,
  type EncryptingKey,
  type ExchangeKeyPair,
  hkdfSha256,
  sha256,
  systemRandom,
} from "./primitives";
import type { ChainKey } from "./ratchet";

/** `r`: the secret sent under RSA-OAEP. */
const R_LEN = 32;
const OKM_LEN = AES_KEY_LEN + GCM_NONCE_LEN;

/** What the sender makes before it can write the header: `E`, `ct`, and the two secrets. */
export interface HybridSecrets {
  readonly ephemeral: Bytes;
  readonly kemCiphertext: Bytes;
  readonly ssE: Bytes;
  readonly ssK: Bytes;
}

/** Sender side, before the header: a fresh P-256 pair `e, E`, `ss_e` and ML-KEM encapsulation. */
export async function hybridSecrets(prekey: PrekeyPublic): Promise<HybridSecrets> {
  const e = await generateEcPair();
  const ssE = await ecdhP256(e.privateKey, await importEcPublic(prekey.ec));
  const { ciphertext, sharedSecret } = await mlKemEncapsulate(prekey.kem);
  return { ephemeral: e.publicKey, kemCiphertext: ciphertext, ssE, ssK: sharedSecret };
}

async function hybridKey(
  header: Uint8Array,
  rsaCt: Uint8Array,
  exchangeSpki: Uint8Array,
  prekey: PrekeyPublic,
  ssK: Uint8Array,
  ssE: Uint8Array,
  r: Uint8Array,
): Promise<AeadKey> {
  const info = concatBytes(
    encodeDomain(Domain.KeyDistributionHybrid, PROTOCOL_VERSION_2),
    await sha256(header),
    await sha256(rsaCt),
    await sha256(exchangeSpki),
    await sha256(prekey.ec),
    await sha256(prekey.kem),
  );
  const ikm = concatBytes(ssK, ssE, r);
  const okm = await hkdfSha256(ikm, info, OKM_LEN);
  ikm.fill(0);
  const key = new AeadKey(okm.subarray(0, AES_KEY_LEN), okm.subarray(AES_KEY_LEN));
  okm.fill(0);
  return key;
}

function rsaPlaintext(r: Uint8Array): Bytes {
  return concatBytes(encodeDomain(Domain.KeyDistributionRsa, PROTOCOL_VERSION_2), r);
}

/**
 * Sender side, once the header (with `E` and `ct`) is written: `bytes(rsa_ct) ‖ bytes(sealed)`
 * of the chain key for the recipient's exchange key `X` and prekey `P`.
 */
export async function sealHybrid(
  header: Uint8Array,
  exchangeKey: EncryptingKey,
  prekey: PrekeyPublic,
  secrets: HybridSecrets,
  chain: ChainIdT,
  startIndex: number,
  chainKey: ChainKey,
): Promise<Bytes> {
  const r = systemRandom(R_LEN);
  const label = await DistributionHeader.oaepLabel(header, PROTOCOL_VERSION_2);
  const plain = rsaPlaintext(r);
  const rsaCt = await exchangeKey.encrypt(plain, label);
  plain.fill(0);
  const key = await hybridKey(header, rsaCt, exchangeKey.spki, prekey, secrets.ssK, secrets.ssE, r);
  r.fill(0);
  const payload = encodePayload(chain, startIndex, chainKey, PROTOCOL_VERSION_2);
  const sealed = await key.seal(header, payload);
  payload.fill(0);
  return joinHybridCiphertext(rsaCt, sealed);
}

/**
 * Receiver side, §18.6 step 5: RSA-OAEP with the label of the header as received and the
 * `sotto/kdm-rsa` domain, `ss_e` from the prekey's EC key and `E`, `ss_k` by ML-KEM.Decaps, the
 * key, the payload (chain id and start index equal to the header's). Every failure is the one
 * `decryption-failed`, so nothing tells which secret was wrong.
 */
export async function openHybrid(
  kdm: KeyDistribution,
  exchange: ExchangeKeyPair,
  prekey: PrekeyPair,
): Promise<ReturnType<typeof decodePayload>> {
  const h = kdm.header;
  const hybrid = h.hybrid;
  if (hybrid === undefined) throw new ProtocolError("decryption-failed");
  try {
    const { rsa, sealed } = splitHybridCiphertext(kdm.sealed.ciphertext);
    const label = await DistributionHeader.oaepLabel(kdm.sealed.header, PROTOCOL_VERSION_2);
    const plain = await exchange.decrypt(rsa, label);
    const domain = encodeDomain(Domain.KeyDistributionRsa, PROTOCOL_VERSION_2);
    if (plain.length !== domain.length + R_LEN || !domain.every((b, i) => plain[i] === b)) {
      plain.fill(0);
      throw new ProtocolError("decryption-failed");
    }
    const r = plain.slice(domain.length);
    plain.fill(0);
    const ssE = await prekey.ecdh(hybrid.ephemeral);
    const ssK = await prekey.decapsulate(hybrid.kemCiphertext);
    const key = await hybridKey(
      kdm.sealed.header,
      rsa,
      exchange.spki,
      prekey.publicPart,
      ssK,
      ssE,
      r,
    );
    r.fill(0);
    ssE.fill(0);
    ssK.fill(0);
    const payloadBytes = await key.open(kdm.sealed.header, sealed);
    const payload = decodePayload(payloadBytes, PROTOCOL_VERSION_2);
    payloadBytes.fill(0);
    if (!bytesEqual(payload.chain, h.chain) || payload.startIndex !== h.startIndex) {
      throw new ProtocolError("decryption-failed");
    }
    return payload;
  } catch {
    // One code for every cause (§18.6 step 5): no cause is kept, so nothing tells which secret
    // or which check failed.
    throw new ProtocolError("decryption-failed");
  }
}
