import { describe, expect, it } from "vitest";

import { AuthChallenge } from "./auth";
import { bytesEqual, toHex } from "./bytes";
import { DangerSeededRng } from "./env";
import { AccountIdentity, DeviceKeys, decodeSignedIdentity } from "./identity";
import {
  AccountId,
  ChainId,
  DeviceId,
  MessageId,
  accountIdOf,
  deviceIdOf,
  exchangeKeyIdOf,
} from "./ids";
import { DAY, HOUR } from "./limits";
import { EncryptingKey, SigningKeyPair, sha256 } from "./primitives";
import { SafetyNumber } from "./safety";
import { Signed } from "./signed";
import { T0, expectCode, fixedPkcs8, testAccount } from "./test-support";

describe("ids (§4.2)", () => {
  it("the same key gives unrelated ids per kind", async () => {
    const spki = new TextEncoder().encode("pretend spki");
    const ids = [await accountIdOf(spki), await deviceIdOf(spki), await exchangeKeyIdOf(spki)];
    expect(new Set(ids.map(toHex)).size).toBe(3);
  });

  it("text forms round-trip and insist on their prefix and lower case", async () => {
    const d = await deviceIdOf(Uint8Array.of(1));
    const text = DeviceId.toText(d);
    expect(text.startsWith("dev:")).toBe(true);
    expect(bytesEqual(DeviceId.parse(text), d)).toBe(true);
    const asAccount = text.replace("dev:", "acct:");
    await expectCode(() => DeviceId.parse(asAccount), "decode/invalid-value");
    expect(bytesEqual(AccountId.parse(asAccount), d)).toBe(true);
    await expectCode(() => DeviceId.parse(text.toUpperCase()), "decode/invalid-value");
    await expectCode(
      () => DeviceId.parse("dev:" + text.slice(4).toUpperCase()),
      "decode/invalid-value",
    );
    await expectCode(() => DeviceId.parse("dev:zz"), "decode/invalid-value");
    await expectCode(() => DeviceId.parse("dev:" + "é".repeat(64)), "decode/invalid-value");
    await expectCode(() => ChainId.parse("chain:" + "0".repeat(31) + "g"), "decode/invalid-value");
    await expectCode(() => MessageId.fromBytes(new Uint8Array(15)), "invalid-input");
  });
});

describe("DangerSeededRng", () => {
  it("reproduces the Rust core's generator (the seeded chain of chain.json)", async () => {
    // The vector generator seeds each file with SHA-256("sotto/test-vectors/<file>") and draws the
    // chain key, then the chain id.
    const rng = new DangerSeededRng(
      await sha256(new TextEncoder().encode("sotto/test-vectors/chain")),
    );
    expect(toHex(await rng.random(32))).toBe(
      "5ef9db7293957331a780181549d7ad2aacc2780ba790e0e8718bc67b5c6c4faa",
    );
    expect(toHex(await rng.random(16))).toBe("1fe4db9e06bccf78cbce1a353ed419a0");
  });
});

describe("identity verification (§4.6)", () => {
  it("verifies a certified device and its exchange key", async () => {
    const alice = await testAccount(0, "alice");
    const d = alice.device.verified;
    expect(bytesEqual(d.account, alice.master.account)).toBe(true);
    expect(bytesEqual(d.device, alice.device.keys.device)).toBe(true);
    expect(d.name).toBe("first device");
    expect(alice.device.verifiedExchange.serial).toBe(1n);
  });

  it("refuses a device of another account, a forged one, and a revoked one", async () => {
    const alice = await testAccount(0, "alice");
    const bob = await testAccount(1, "bob");
    await expectCode(
      () => alice.identity.verifyDevice(bob.device.certificate, []),
      "wrong-account",
    );
    const forged = Signed.fromParts(
      alice.device.certificate.body,
      bob.device.certificate.signature,
    );
    await expectCode(() => alice.identity.verifyDevice(forged, []), "bad-signature");
    const revocation = await alice.identity.verifyRevocation(
      await alice.master.revoke(alice.device.keys.device, 1n, T0),
    );
    await expectCode(
      () => alice.identity.verifyDevice(alice.device.certificate, [revocation]),
      "device-revoked",
    );
    await expectCode(
      async () =>
        bob.identity.verifyRevocation(await alice.master.revoke(alice.device.keys.device, 2n, T0)),
      "wrong-account",
    );
  });

  it("refuses a device whose keys are not all different (spec: signing, auth and master)", async () => {
    const alice = await testAccount(0, "alice");
    const signing = await SigningKeyPair.fromPkcs8(fixedPkcs8(1));
    // The master key certifies a device whose auth key is the master key itself.
    const authIsMaster = await alice.master.certifyDevice(
      signing.verifyingKey,
      alice.master.verifyingKey,
      "odd",
      T0,
    );
    await expectCode(() => alice.identity.verifyDevice(authIsMaster, []), "invalid-input");
    const signingIsMaster = await alice.master.certifyDevice(
      alice.master.verifyingKey,
      signing.verifyingKey,
      "odd",
      T0,
    );
    await expectCode(() => alice.identity.verifyDevice(signingIsMaster, []), "invalid-input");
    await expectCode(
      () => alice.master.certifyDevice(signing.verifyingKey, signing.verifyingKey, "odd", T0),
      "invalid-input",
    );
    await expectCode(
      () =>
        alice.master.certifyDevice(signing.verifyingKey, alice.master.verifyingKey, " padded", T0),
      "invalid-input",
    );
  });

  it("checks exchange-key validity, skew, rollback and key reuse", async () => {
    const alice = await testAccount(0, "alice");
    const { keys, verified, exchange } = alice.device;
    const cert = (serial: bigint, from: bigint, to: bigint) =>
      keys.certifyExchangeKey(alice.master.account, exchange.encryptingKey, serial, from, to);
    // not_before may be up to 3 hours ahead of the verifier's clock.
    await verified.verifyExchangeKey(await cert(2n, T0 + 3n * HOUR, T0 + DAY), T0);
    await expectCode(
      async () => verified.verifyExchangeKey(await cert(2n, T0 + 3n * HOUR + 1n, T0 + DAY), T0),
      "exchange-key-not-valid-now",
    );
    await expectCode(
      async () => verified.verifyExchangeKey(await cert(2n, T0 - DAY, T0), T0),
      "exchange-key-not-valid-now",
    );
    // The same serial as seen is fine; a lower one is a rollback.
    await verified.verifyExchangeKey(await cert(5n, T0 - DAY, T0 + DAY), T0, 5n);
    await expectCode(
      async () => verified.verifyExchangeKey(await cert(4n, T0 - DAY, T0 + DAY), T0, 5n),
      "exchange-key-rollback",
    );
    // The issuer refuses an empty or over-long validity; so does the verifier.
    await expectCode(() => cert(1n, T0, T0), "invalid-input");
    await expectCode(() => cert(1n, T0, T0 + 30n * DAY + 1n), "invalid-input");
    // An exchange key that is the device's signing or auth key.
    for (const reused of [keys.signing.spki, keys.auth.spki]) {
      const asExchange = await EncryptingKey.fromSpki(reused);
      const c = await keys.certifyExchangeKey(
        alice.master.account,
        asExchange,
        1n,
        T0 - DAY,
        T0 + DAY,
      );
      await expectCode(() => verified.verifyExchangeKey(c, T0), "invalid-input");
    }
    const bob = await testAccount(1, "bob");
    await expectCode(
      () => bob.device.verified.verifyExchangeKey(alice.device.exchangeCertificate, T0),
      "wrong-account",
    );
  });

  it("refuses a device whose keys share a role", async () => {
    const signing = await SigningKeyPair.fromPkcs8(fixedPkcs8(1));
    await expectCode(() => DeviceKeys.fromKeys(signing, signing), "invalid-input");
  });

  it("signs login challenges with the auth key only", async () => {
    const alice = await testAccount(0, "alice");
    const challenge: AuthChallenge = {
      origin: "https://sotto.example:8443",
      username: "alice",
      device: alice.device.keys.device,
      nonce: new Uint8Array(32).fill(7),
      issuedAt: T0,
    };
    const signature = await AuthChallenge.sign(challenge, alice.device.keys);
    await AuthChallenge.verify(challenge, alice.device.verified.authKey, signature);
    await expectCode(
      () => AuthChallenge.verify(challenge, alice.device.verified.signingKey, signature),
      "bad-signature",
    );
    await expectCode(
      () =>
        AuthChallenge.verify(
          { ...challenge, origin: "https://evil.example" },
          alice.device.verified.authKey,
          signature,
        ),
      "bad-signature",
    );
    expect(AuthChallenge.decode(AuthChallenge.encode(challenge))).toEqual(challenge);
  });

  it("round-trips signed identity structures through their wire form", async () => {
    const alice = await testAccount(0, "alice");
    const wire = alice.device.certificate.encode();
    const again = decodeSignedIdentity(wire);
    expect(bytesEqual(again.body, alice.device.certificate.body)).toBe(true);
    await expectCode(
      () => decodeSignedIdentity(Uint8Array.of(...wire, 0)),
      "decode/trailing-bytes",
    );
  });
});

describe("safety numbers (§5)", () => {
  it("are the same on both sides and change with either key", async () => {
    const [a, b, c] = await Promise.all(
      [0, 4, 8].map(async (i) => (await SigningKeyPair.fromPkcs8(fixedPkcs8(i))).spki),
    );
    if (a === undefined || b === undefined || c === undefined) throw new Error("keys");
    const ab = await SafetyNumber.compute(a, b);
    const ba = await SafetyNumber.compute(b, a);
    expect(ab.digits).toBe(ba.digits);
    expect(ab.digits).toMatch(/^[0-9]{60}$/);
    expect(ab.groups()).toHaveLength(12);
    expect(ab.matchesQr(ba.qrPayload)).toBe(true);
    const ac = await SafetyNumber.compute(a, c);
    expect(ac.digits).not.toBe(ab.digits);
    expect(ab.matchesQr(ac.qrPayload)).toBe(false);
    await AccountIdentity.fromMasterSpki(a);
  });
});
