/**
 * Attachment encryption (`docs/protocol.md` §10).
 *
 * ```text
 * okm  = HKDF-SHA-256("", secret, domain("sotto/attachment"), 76)
 * key  = okm[0..32], nonce = okm[32..44], commitment = okm[44..76]
 * blob = commitment ‖ AES-256-GCM(key, nonce, aad = domain("sotto/attachment-commit"), file)
 * ```
 *
 * AES-GCM is not key-committing: the receiver checks the blob's SHA-256 and then the commitment,
 * both in constant time, before decrypting, so one blob decrypts to one file only.
 */

import { type Bytes, concatBytes, constantTimeEqual } from "./bytes";
import { Domain, encodeDomain } from "./domains";
import type { Env } from "./env";
import { ProtocolError } from "./errors";
import { AES_KEY_LEN, GCM_NONCE_LEN } from "./limits";
import { AeadKey, hkdfSha256, sha256 } from "./primitives";

/** Bytes of the key commitment at the start of a blob. */
export const COMMITMENT_LEN = 32;

/** An encrypted file, ready to upload and reference. */
export interface EncryptedAttachment {
  /** What the server stores. */
  readonly blob: Bytes;
  /** The secret for the message's attachment reference. */
  readonly secret: Bytes;
  /** SHA-256 of `blob`, for the reference. */
  readonly blobSha256: Bytes;
}

async function derive(secret: Uint8Array): Promise<{ aead: AeadKey; commitment: Bytes }> {
  if (secret.length !== 32)
    throw new ProtocolError("invalid-input", "attachment secret must be 32 bytes");
  const okm = await hkdfSha256(
    secret,
    encodeDomain(Domain.Attachment),
    AES_KEY_LEN + GCM_NONCE_LEN + COMMITMENT_LEN,
  );
  return {
    aead: new AeadKey(
      okm.subarray(0, AES_KEY_LEN),
      okm.subarray(AES_KEY_LEN, AES_KEY_LEN + GCM_NONCE_LEN),
    ),
    commitment: okm.slice(AES_KEY_LEN + GCM_NONCE_LEN),
  };
}

/** Encrypts a file under a fresh secret from `env`. */
export async function encryptAttachment(
  plaintext: Uint8Array,
  env: Env,
): Promise<EncryptedAttachment> {
  const secret = await env.rng.random(32);
  const { aead, commitment } = await derive(secret);
  const blob = concatBytes(
    commitment,
    await aead.seal(encodeDomain(Domain.AttachmentCommitment), plaintext),
  );
  return { blob, secret, blobSha256: await sha256(blob) };
}

/**
 * Checks a downloaded blob against its reference (hash, then commitment) and decrypts it. Every
 * failure is the uniform `decryption-failed`.
 */
export async function decryptAttachment(
  blob: Bytes,
  secret: Uint8Array,
  expectedSha256: Uint8Array,
): Promise<Bytes> {
  if (!constantTimeEqual(await sha256(blob), expectedSha256))
    throw new ProtocolError("decryption-failed");
  const { aead, commitment } = await derive(secret);
  if (blob.length < COMMITMENT_LEN) throw new ProtocolError("decryption-failed");
  if (!constantTimeEqual(blob.subarray(0, COMMITMENT_LEN), commitment))
    throw new ProtocolError("decryption-failed");
  return aead.open(encodeDomain(Domain.AttachmentCommitment), blob.subarray(COMMITMENT_LEN));
}
