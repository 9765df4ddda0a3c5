/**
 * Account and device identities (`docs/protocol.md` §4): the three signed identity structures
 * byte for byte, the private keys that issue them, and the verifier — the only way to obtain a
 * {@link VerifiedDevice} or a {@link VerifiedExchangeKey}, and so the only way to address a key
 * distribution to anyone. A device counts only through the chain
 * `pinned master key → device certificate → exchange-key certificate` (attack A1).
 */

import { type Bytes, bytesEqual } from "./bytes";
import { Reader, Writer, isDisplayText, utf8Length } from "./codec";
import { Domain, PROTOCOL_VERSION, PROTOCOL_VERSION_2 } from "./domains";
import { ProtocolError } from "./errors";
import {
  type AccountId as AccountIdT,
  type AuthKeyId as AuthKeyIdT,
  type DeviceId as DeviceIdT,
  type ExchangeKeyId as ExchangeKeyIdT,
  AccountId,
  DeviceId,
  accountIdOf,
  authKeyIdOf,
  deviceIdOf,
  exchangeKeyIdOf,
} from "./ids";
import {
  MAX_CERTIFICATE_LEN,
  MAX_CLOCK_SKEW_MS,
  MAX_DEVICE_NAME_LEN,
  MAX_EXCHANGE_KEY_VALIDITY_MS,
  MAX_SPKI_LEN,
} from "./limits";
import { EncryptingKey, type RsaBits, SigningKeyPair, VerifyingKey } from "./primitives";
import {
  OneTimePrekey,
  PrekeyPublic,
  type VerifiedPrekey,
  validatePrekey,
  verifyOneTimePrekey,
} from "./prekey";
import { Signed } from "./signed";

// ---------------------------------------------------------------------------------------------
// Bodies (§4.3–§4.5)
// ---------------------------------------------------------------------------------------------

/** A device certificate body, signed by the account master key (§4.3). */
export interface DeviceCertificate {
  readonly account: AccountIdT;
  /** `id(dev, signingKey)`. */
  readonly device: DeviceIdT;
  /** Device signing key, SPKI DER. */
  readonly signingKey: Bytes;
  /** Device auth key (login challenges only), SPKI DER. */
  readonly authKey: Bytes;
  readonly issuedAt: bigint;
  /** Display text, 1..64 bytes. */
  readonly name: string;
}

export const DeviceCertificate = {
  encode(c: DeviceCertificate): Bytes {
    const w = Writer.forDomain(Domain.DeviceCertificate);
    AccountId.encode(w, c.account);
    DeviceId.encode(w, c.device);
    w.bytes(c.signingKey);
    w.bytes(c.authKey);
    w.u64(c.issuedAt);
    w.text(c.name, "device name");
    return w.finish();
  },
  decode(bytes: Bytes): DeviceCertificate {
    const r = Reader.forDomain(bytes, Domain.DeviceCertificate);
    const cert: DeviceCertificate = {
      account: AccountId.decode(r),
      device: DeviceId.decode(r),
      signingKey: r.bytes("signing key", MAX_SPKI_LEN),
      authKey: r.bytes("auth key", MAX_SPKI_LEN),
      issuedAt: r.u64(),
      name: r.displayText("device name", MAX_DEVICE_NAME_LEN),
    };
    r.finish();
    return cert;
  },
};

/** A revocation body, signed by the account master key (§4.4). */
export interface Revocation {
  readonly account: AccountIdT;
  readonly device: DeviceIdT;
  /** Increases with each revocation the account issues. */
  readonly serial: bigint;
  readonly revokedAt: bigint;
}

export const Revocation = {
  encode(v: Revocation): Bytes {
    const w = Writer.forDomain(Domain.Revocation);
    AccountId.encode(w, v.account);
    DeviceId.encode(w, v.device);
    w.u64(v.serial);
    w.u64(v.revokedAt);
    return w.finish();
  },
  decode(bytes: Bytes): Revocation {
    const r = Reader.forDomain(bytes, Domain.Revocation);
    const v: Revocation = {
      account: AccountId.decode(r),
      device: DeviceId.decode(r),
      serial: r.u64(),
      revokedAt: r.u64(),
    };
    r.finish();
    return v;
  },
};

/**
 * An exchange-key certificate body, signed by the device signing key: version 1 (§4.5), or
 * version 2 with the device's last-resort prekey appended (§18.3).
 */
export interface ExchangeKeyCertificate {
  readonly account: AccountIdT;
  readonly device: DeviceIdT;
  /** Exchange key (RSA-OAEP), SPKI DER. */
  readonly exchangeKey: Bytes;
  /** Increases with each rotation; a lower one than seen is a rollback. */
  readonly serial: bigint;
  /** Validity `[notBefore, notAfter)`. */
  readonly notBefore: bigint;
  readonly notAfter: bigint;
  /** The last-resort prekey: present exactly in a version-2 certificate. */
  readonly lastResort?: PrekeyPublic | undefined;
}

export const ExchangeKeyCertificate = {
  /** Version 2 when `lastResort` is present, else version 1. */
  encode(c: ExchangeKeyCertificate): Bytes {
    const w = Writer.forDomain(
      Domain.ExchangeKeyCertificate,
      c.lastResort === undefined ? PROTOCOL_VERSION : PROTOCOL_VERSION_2,
    );
    AccountId.encode(w, c.account);
    DeviceId.encode(w, c.device);
    w.bytes(c.exchangeKey);
    w.u64(c.serial);
    w.u64(c.notBefore);
    w.u64(c.notAfter);
    if (c.lastResort !== undefined) PrekeyPublic.encodeInto(w, c.lastResort);
    return w.finish();
  },
  /** Decodes version 1 or 2 by the domain's version byte (§18.1). */
  decode(bytes: Bytes): ExchangeKeyCertificate {
    const { reader: r, version } = Reader.forDomainVersions(bytes, Domain.ExchangeKeyCertificate);
    const c: ExchangeKeyCertificate = {
      account: AccountId.decode(r),
      device: DeviceId.decode(r),
      exchangeKey: r.bytes("exchange key", MAX_SPKI_LEN),
      serial: r.u64(),
      notBefore: r.u64(),
      notAfter: r.u64(),
      lastResort: version === PROTOCOL_VERSION_2 ? PrekeyPublic.decodeFrom(r) : undefined,
    };
    r.finish();
    return c;
  },
};

/** Decodes a signed identity structure (certificate or revocation) within its size bound. */
export function decodeSignedIdentity(bytes: Bytes): Signed {
  return Signed.decode(bytes, MAX_CERTIFICATE_LEN);
}

/** Validity must be non-empty and at most 30 days (`invalid-input`). */
function checkValidity(notBefore: bigint, notAfter: bigint): void {
  if (notAfter <= notBefore || notAfter - notBefore > MAX_EXCHANGE_KEY_VALIDITY_MS) {
    throw new ProtocolError(
      "invalid-input",
      "exchange key validity must be non-empty and at most 30 days",
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Private keys (issuers)
// ---------------------------------------------------------------------------------------------

/** An account's master signing key: certifies and revokes devices. */
export class MasterKey {
  private constructor(
    readonly keyPair: SigningKeyPair,
    readonly account: AccountIdT,
  ) {}

  /** Generates a new master key (a new account identity). */
  static async generate(bits: RsaBits = 3072): Promise<MasterKey> {
    return MasterKey.fromKey(await SigningKeyPair.generate(bits));
  }

  /** Wraps an existing signing key pair. */
  static async fromKey(key: SigningKeyPair): Promise<MasterKey> {
    return new MasterKey(key, await accountIdOf(key.spki));
  }

  /** The public master key peers pin. */
  get verifyingKey(): VerifyingKey {
    return this.keyPair.verifyingKey;
  }

  /** Certifies a device's signing and auth keys (the approval of a new device). */
  async certifyDevice(
    signingKey: VerifyingKey,
    authKey: VerifyingKey,
    name: string,
    issuedAt: bigint,
  ): Promise<Signed> {
    if (signingKey.equals(authKey))
      throw new ProtocolError("invalid-input", "auth key must differ from the signing key");
    if (!isDisplayText(name) || utf8Length(name) > MAX_DEVICE_NAME_LEN) {
      throw new ProtocolError("invalid-input", "device name: 1 to 64 bytes of display text");
    }
    const body = DeviceCertificate.encode({
      account: this.account,
      device: await deviceIdOf(signingKey.spki),
      signingKey: signingKey.spki,
      authKey: authKey.spki,
      issuedAt,
      name,
    });
    return Signed.sign(body, this.keyPair);
  }

  /** Revokes a device; `serial` must exceed every serial this account issued before. */
  async revoke(device: DeviceIdT, serial: bigint, revokedAt: bigint): Promise<Signed> {
    return Signed.sign(
      Revocation.encode({ account: this.account, device, serial, revokedAt }),
      this.keyPair,
    );
  }
}

/** A device's signing key (everything end-to-end) and auth key (login challenges only). */
export class DeviceKeys {
  private constructor(
    readonly signing: SigningKeyPair,
    readonly auth: SigningKeyPair,
    readonly device: DeviceIdT,
  ) {}

  /** Generates the keys of a new device. */
  static async generate(bits: RsaBits = 3072): Promise<DeviceKeys> {
    return DeviceKeys.fromKeys(
      await SigningKeyPair.generate(bits),
      await SigningKeyPair.generate(bits),
    );
  }

  /** Wraps existing pairs; the two must differ. */
  static async fromKeys(signing: SigningKeyPair, auth: SigningKeyPair): Promise<DeviceKeys> {
    if (signing.verifyingKey.equals(auth.verifyingKey)) {
      throw new ProtocolError("invalid-input", "auth key must differ from the signing key");
    }
    return new DeviceKeys(signing, auth, await deviceIdOf(signing.spki));
  }

  /** Certifies one of this device's exchange keys for `[notBefore, notAfter)`. */
  async certifyExchangeKey(
    account: AccountIdT,
    exchangeKey: EncryptingKey,
    serial: bigint,
    notBefore: bigint,
    notAfter: bigint,
  ): Promise<Signed> {
    return this.certify(account, exchangeKey, serial, notBefore, notAfter, undefined);
  }

  /**
   * Certifies an exchange key with its last-resort prekey: a version-2 certificate (§18.3), the
   * only kind a device publishes once it runs version 2.
   */
  async certifyExchangeKeyV2(
    account: AccountIdT,
    exchangeKey: EncryptingKey,
    lastResort: PrekeyPublic,
    serial: bigint,
    notBefore: bigint,
    notAfter: bigint,
  ): Promise<Signed> {
    return this.certify(account, exchangeKey, serial, notBefore, notAfter, lastResort);
  }

  /** An exchange-key certificate of either version (version 2 with a last-resort prekey). */
  private async certify(
    account: AccountIdT,
    exchangeKey: EncryptingKey,
    serial: bigint,
    notBefore: bigint,
    notAfter: bigint,
    lastResort: PrekeyPublic | undefined,
  ): Promise<Signed> {
    checkValidity(notBefore, notAfter);
    const body = ExchangeKeyCertificate.encode({
      account,
      device: this.device,
      exchangeKey: exchangeKey.spki,
      serial,
      notBefore,
      notAfter,
      ...(lastResort === undefined ? {} : { lastResort }),
    });
    return Signed.sign(body, this.signing);
  }

  /** Signs a one-time prekey of this device (§18.4). */
  async signOneTimePrekey(
    account: AccountIdT,
    prekey: PrekeyPublic,
    createdAt: bigint,
  ): Promise<Signed> {
    return OneTimePrekey.sign(account, this.device, prekey, createdAt, this.signing);
  }
}

// ---------------------------------------------------------------------------------------------
// Verifier (§4.6)
// ---------------------------------------------------------------------------------------------

/** Only this module can mint verified values. */
const MINT: unique symbol = Symbol("sotto/verified");

/** A revocation whose master signature verified. */
export class VerifiedRevocation {
  constructor(
    token: typeof MINT,
    readonly body: Revocation,
  ) {
    if (token !== MINT)
      throw new ProtocolError("invalid-input", "VerifiedRevocation is minted by the verifier");
  }
}

/** An account's pinned master public key. */
export class AccountIdentity {
  private constructor(
    readonly account: AccountIdT,
    readonly masterKey: VerifyingKey,
  ) {}

  /** Pins a master public key (SPKI DER), checking it (§3). */
  static async fromMasterSpki(spki: Uint8Array): Promise<AccountIdentity> {
    return AccountIdentity.fromKey(await VerifyingKey.fromSpki(spki));
  }

  /** Pins an already-checked master key. */
  static async fromKey(master: VerifyingKey): Promise<AccountIdentity> {
    return new AccountIdentity(await accountIdOf(master.spki), master);
  }

  /** §4.6 step 1: decode; account (`wrong-account`); master signature (`bad-signature`). */
  async verifyRevocation(signed: Signed): Promise<VerifiedRevocation> {
    const body = Revocation.decode(signed.body);
    if (!bytesEqual(body.account, this.account))
      throw new ProtocolError("wrong-account", "revocation");
    await signed.verify("revocation", this.masterKey);
    return new VerifiedRevocation(MINT, body);
  }

  /**
   * §4.6 step 2: decode; account (`wrong-account`); master signature (`bad-signature`); device id
   * (`id-mismatch`); signing, auth and master keys all differ (`invalid-input`); both keys pass §3
   * (`key/*`); not revoked (`device-revoked`).
   */
  async verifyDevice(
    signed: Signed,
    revocations: readonly VerifiedRevocation[],
  ): Promise<VerifiedDevice> {
    const body = DeviceCertificate.decode(signed.body);
    if (!bytesEqual(body.account, this.account))
      throw new ProtocolError("wrong-account", "device certificate");
    await signed.verify("device certificate", this.masterKey);
    if (!bytesEqual(await deviceIdOf(body.signingKey), body.device))
      throw new ProtocolError("id-mismatch", "device id");
    if (
      bytesEqual(body.signingKey, body.authKey) ||
      bytesEqual(body.signingKey, this.masterKey.spki) ||
      bytesEqual(body.authKey, this.masterKey.spki)
    ) {
      throw new ProtocolError("invalid-input", "signing, auth and master keys must all differ");
    }
    const signingKey = await VerifyingKey.fromSpki(body.signingKey);
    const authKey = await VerifyingKey.fromSpki(body.authKey);
    if (
      revocations.some(
        (r) => bytesEqual(r.body.account, this.account) && bytesEqual(r.body.device, body.device),
      )
    ) {
      throw new ProtocolError("device-revoked", DeviceId.toText(body.device));
    }
    return new VerifiedDevice(MINT, {
      account: this.account,
      device: body.device,
      signingKey,
      authKey,
      authKeyId: await authKeyIdOf(authKey.spki),
      masterSpki: this.masterKey.spki,
      name: body.name,
      issuedAt: body.issuedAt,
    });
  }
}

interface VerifiedDeviceFields {
  readonly account: AccountIdT;
  readonly device: DeviceIdT;
  readonly signingKey: VerifyingKey;
  readonly authKey: VerifyingKey;
  readonly authKeyId: AuthKeyIdT;
  /** The account's master key, which no exchange key may reuse (one key, one role: §3). */
  readonly masterSpki: Bytes;
  readonly name: string;
  readonly issuedAt: bigint;
}

/** A device whose certificate chains to its account's pinned master key and is not revoked. */
export class VerifiedDevice implements VerifiedDeviceFields {
  readonly account: AccountIdT;
  readonly device: DeviceIdT;
  readonly signingKey: VerifyingKey;
  readonly authKey: VerifyingKey;
  readonly authKeyId: AuthKeyIdT;
  readonly masterSpki: Bytes;
  readonly name: string;
  readonly issuedAt: bigint;

  constructor(token: typeof MINT, fields: VerifiedDeviceFields) {
    if (token !== MINT)
      throw new ProtocolError("invalid-input", "VerifiedDevice is minted by the verifier");
    ({
      account: this.account,
      device: this.device,
      signingKey: this.signingKey,
      authKey: this.authKey,
      authKeyId: this.authKeyId,
      masterSpki: this.masterSpki,
      name: this.name,
      issuedAt: this.issuedAt,
    } = fields);
  }

  /**
   * §4.6 step 3, at time `now`, with `highestSerialSeen` the highest serial accepted before for
   * this device: decode; account and device (`wrong-account`); signature (`bad-signature`);
   * validity non-empty and ≤ 30 days (`invalid-input`); `notBefore ≤ now + 3 h` and
   * `now < notAfter` (`exchange-key-not-valid-now`); `serial ≥ highestSerialSeen`
   * (`exchange-key-rollback`); the key differs from the device's signing and auth keys and from
   * the account's master key, as SPKI bytes (`invalid-input`), and passes §3.
   */
  async verifyExchangeKey(
    signed: Signed,
    now: bigint,
    highestSerialSeen?: bigint,
  ): Promise<VerifiedExchangeKey> {
    const body = ExchangeKeyCertificate.decode(signed.body);
    if (!bytesEqual(body.account, this.account) || !bytesEqual(body.device, this.device)) {
      throw new ProtocolError("wrong-account", "exchange-key certificate");
    }
    await signed.verify("exchange-key certificate", this.signingKey);
    checkValidity(body.notBefore, body.notAfter);
    if (now + MAX_CLOCK_SKEW_MS < body.notBefore || now >= body.notAfter) {
      throw new ProtocolError("exchange-key-not-valid-now");
    }
    if (highestSerialSeen !== undefined && body.serial < highestSerialSeen) {
      throw new ProtocolError(
        "exchange-key-rollback",
        `serial ${body.serial} < ${highestSerialSeen}`,
      );
    }
    if (
      bytesEqual(body.exchangeKey, this.signingKey.spki) ||
      bytesEqual(body.exchangeKey, this.authKey.spki) ||
      bytesEqual(body.exchangeKey, this.masterSpki)
    ) {
      throw new ProtocolError(
        "invalid-input",
        "exchange key must differ from the device's signing and auth keys and the master key",
      );
    }
    const key = await EncryptingKey.fromSpki(body.exchangeKey);
    if (body.lastResort !== undefined) await validatePrekey(body.lastResort);
    return new VerifiedExchangeKey(MINT, {
      account: this.account,
      device: this.device,
      keyId: await exchangeKeyIdOf(key.spki),
      key,
      serial: body.serial,
      notBefore: body.notBefore,
      notAfter: body.notAfter,
      lastResort: body.lastResort,
    });
  }

  /**
   * {@link verifyExchangeKey} with §18.3's rule: once a version-2 certificate of this device was
   * accepted (`v2Seen`), a version-1 certificate is `exchange-key-rollback`.
   */
  async verifyExchangeKeyAfterV2(
    signed: Signed,
    now: bigint,
    highestSerialSeen: bigint | undefined,
    v2Seen: boolean,
  ): Promise<VerifiedExchangeKey> {
    const verified = await this.verifyExchangeKey(signed, now, highestSerialSeen);
    if (v2Seen && !verified.isV2) {
      throw new ProtocolError("exchange-key-rollback", "version 1 after version 2");
    }
    return verified;
  }

  /** §18.4: a one-time prekey signed by this device. */
  async verifyOneTimePrekey(signed: Signed, now: bigint): Promise<VerifiedPrekey> {
    return verifyOneTimePrekey(this, signed, now);
  }
}

interface VerifiedExchangeKeyFields {
  readonly account: AccountIdT;
  readonly device: DeviceIdT;
  readonly keyId: ExchangeKeyIdT;
  readonly key: EncryptingKey;
  readonly serial: bigint;
  readonly notBefore: bigint;
  readonly notAfter: bigint;
  readonly lastResort: PrekeyPublic | undefined;
}

/** An exchange key certified by a verified device and valid when it was checked. */
export class VerifiedExchangeKey implements VerifiedExchangeKeyFields {
  readonly account: AccountIdT;
  readonly device: DeviceIdT;
  readonly keyId: ExchangeKeyIdT;
  readonly key: EncryptingKey;
  readonly serial: bigint;
  readonly notBefore: bigint;
  readonly notAfter: bigint;
  /** The certificate's last-resort prekey (version 2 only), already checked by §18.2. */
  readonly lastResort: PrekeyPublic | undefined;

  constructor(token: typeof MINT, fields: VerifiedExchangeKeyFields) {
    if (token !== MINT)
      throw new ProtocolError("invalid-input", "VerifiedExchangeKey is minted by the verifier");
    ({
      account: this.account,
      device: this.device,
      keyId: this.keyId,
      key: this.key,
      serial: this.serial,
      notBefore: this.notBefore,
      notAfter: this.notAfter,
      lastResort: this.lastResort,
    } = fields);
  }

  /** Whether the certificate was version 2 (the device takes hybrid distributions). */
  get isV2(): boolean {
    return this.lastResort !== undefined;
  }
}
