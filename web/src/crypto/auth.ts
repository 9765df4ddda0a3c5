/**
 * The server login challenge a device answers with its auth key (`docs/protocol.md` §4.7). The
 * challenge names the server origin, the account, the device and the server's fresh nonce under
 * its own domain; the auth key signs nothing else, so the server, which chooses the nonce, never
 * obtains a signature by an end-to-end key.
 */

import type { Bytes } from "./bytes";
import { Reader, Writer } from "./codec";
import { Domain } from "./domains";
import { ProtocolError } from "./errors";
import type { DeviceKeys } from "./identity";
import { type DeviceId as DeviceIdT, DeviceId } from "./ids";
import { MAX_ORIGIN_LEN, MAX_USERNAME_LEN } from "./limits";
import type { VerifyingKey } from "./primitives";

/** What a device signs to log in. */
export interface AuthChallenge {
  /** The server's `https://host:port`, ≤ 256 bytes. */
  readonly origin: string;
  /** The account's username on that server, ≤ 64 bytes. */
  readonly username: string;
  readonly device: DeviceIdT;
  /** The server's fresh random nonce (32 bytes). */
  readonly nonce: Bytes;
  readonly issuedAt: bigint;
}

export const AuthChallenge = {
  /** The bytes the auth key signs. */
  encode(c: AuthChallenge): Bytes {
    if (c.nonce.length !== 32) throw new ProtocolError("invalid-input", "nonce must be 32 bytes");
    const w = Writer.forDomain(Domain.AuthChallenge);
    w.text(c.origin, "origin");
    w.text(c.username, "username");
    DeviceId.encode(w, c.device);
    w.fixed(c.nonce);
    w.u64(c.issuedAt);
    return w.finish();
  },

  /** Decodes a challenge. */
  decode(bytes: Bytes): AuthChallenge {
    const r = Reader.forDomain(bytes, Domain.AuthChallenge);
    const c: AuthChallenge = {
      origin: r.text("origin", MAX_ORIGIN_LEN),
      username: r.text("username", MAX_USERNAME_LEN),
      device: DeviceId.decode(r),
      nonce: r.array(32),
      issuedAt: r.u64(),
    };
    r.finish();
    return c;
  },

  /** Signs the challenge with the device's auth key (never its signing key). */
  async sign(c: AuthChallenge, keys: DeviceKeys): Promise<Bytes> {
    return keys.auth.sign(AuthChallenge.encode(c));
  },

  /** Verifies a device's answer with its certified auth key (`bad-signature`). */
  async verify(c: AuthChallenge, authKey: VerifyingKey, signature: Uint8Array): Promise<void> {
    await authKey.verify("auth challenge", AuthChallenge.encode(c), signature);
  },
};
