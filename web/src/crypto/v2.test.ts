/**
 * Protocol version 2 (§18): prekeys and their checks, the version-2 exchange-key certificate and
 * its rollback rule, one-time prekeys, and version-2 distributions end to end through the
 * receiver's ordered checks, the prekey ring and downgrade refusal.
 */

import { beforeAll, describe, expect, it } from "vitest";

import { concatBytes } from "./bytes";
import { Writer } from "./codec";
import {
  DistributionHeader,
  KDM_V2_SEALED_LEN,
  KeyDistribution,
  joinHybridCiphertext,
  splitHybridCiphertext,
} from "./distribution";
import { Domain, PROTOCOL_VERSION_2, encodeDomain } from "./domains";
import { DangerSeededRng, type Env } from "./env";
import { GroupState } from "./group";
import { ExchangeKeyCertificate, type VerifiedExchangeKey } from "./identity";
import { ConversationId, PrekeyId, exchangeKeyIdOf } from "./ids";
import { DAY, HOUR } from "./limits";
import { MLKEM768_EK_LEN } from "./mlkem";
import { OneTimePrekey, PrekeyPair, type VerifiedPrekey, validatePrekey } from "./prekey";
import { PrekeyRing } from "./prekey-ring";
import { sha256 } from "./primitives";
import { type LocalDevice, ReceiverState, localDevice } from "./receiver";
import { SenderChain } from "./sender";
import { Signed, SignedSealed } from "./signed";
import {
  T0,
  type TestAccount,
  expectCode,
  expectOnlyDecodeErrors,
  flipped,
  groupKind,
  testAccount,
} from "./test-support";

const CONV = ConversationId.fromBytes(new Uint8Array(16).fill(9));

let alice: TestAccount;
let bob: TestAccount;
let group: GroupState;
/** Bob's v2 certificate (serial 2) with its last-resort prekey, verified. */
let bobV2: VerifiedExchangeKey;
let bobV2Cert: Signed;
let bobLastResort: PrekeyPair;
let bobOneTime: PrekeyPair;
let bobOneTimeSigned: Signed;

function env(now: bigint, seed = 1): Env {
  return { now, rng: new DangerSeededRng(new Uint8Array(32).fill(seed)) };
}

function prekeyId(n: number): PrekeyId {
  return PrekeyId.fromBytes(new Uint8Array(16).fill(n));
}

/** Bob as a v2 recipient: his exchange key, the ring with his prekeys, fresh each time. */
async function bobDevice(withOneTime = true): Promise<{ me: LocalDevice; ring: PrekeyRing }> {
  const ring = new PrekeyRing();
  ring.addLastResort(bobV2.keyId, bobLastResort);
  if (withOneTime) ring.addOneTime(bobOneTime);
  const base = await localDevice(bob.master.account, bob.device.keys.device, [bob.device.exchange]);
  return { me: { ...base, prekeys: ring }, ring };
}

async function aliceChain(now = T0, seed = 1): Promise<SenderChain> {
  return SenderChain.start(
    CONV,
    group.epoch,
    alice.master.account,
    alice.device.keys.device,
    undefined,
    env(now, seed),
  );
}

async function verifiedOneTime(): Promise<VerifiedPrekey> {
  return bob.device.verified.verifyOneTimePrekey(bobOneTimeSigned, T0);
}

beforeAll(async () => {
  [alice, bob] = await Promise.all([testAccount(0, "alice"), testAccount(1, "bob")]);
  group = await GroupState.genesis(
    await GroupState.create(
      CONV,
      groupKind("V2"),
      [alice.member(true), bob.member(false)],
      alice.master.account,
      alice.device.keys,
      T0,
    ),
    alice.device.verified,
  );
  bobLastResort = await PrekeyPair.generate(prekeyId(1));
  bobOneTime = await PrekeyPair.generate(prekeyId(2));
  bobV2Cert = await bob.device.keys.certifyExchangeKeyV2(
    bob.master.account,
    bob.device.exchange.encryptingKey,
    bobLastResort.publicPart,
    2n,
    T0 - DAY,
    T0 + 29n * DAY,
  );
  bobV2 = await bob.device.verified.verifyExchangeKey(bobV2Cert, T0);
  bobOneTimeSigned = await bob.device.keys.signOneTimePrekey(
    bob.master.account,
    bobOneTime.publicPart,
    T0,
  );
});

describe("prekeys (§18.2)", () => {
  it("a fresh prekey has a 65-byte point and a 1184-byte ML-KEM key that pass validation", async () => {
    expect(bobLastResort.publicPart.ec.length).toBe(65);
    expect(bobLastResort.publicPart.ec[0]).toBe(4);
    expect(bobLastResort.publicPart.kem.length).toBe(MLKEM768_EK_LEN);
    await validatePrekey(bobLastResort.publicPart);
    expect(PrekeyId.toText(prekeyId(1))).toBe(`pk:${"01".repeat(16)}`);
  });

  it("refuses a point off the curve, a compressed prefix, and an out-of-range ML-KEM coefficient", async () => {
    const p = bobLastResort.publicPart;
    const offCurve = p.ec.slice();
    offCurve[64] = (offCurve[64] ?? 0) ^ 1;
    await expectCode(() => validatePrekey({ ...p, ec: offCurve }), "prekey/invalid-key");
    const prefixed = p.ec.slice();
    prefixed[0] = 2;
    await expectCode(() => validatePrekey({ ...p, ec: prefixed }), "prekey/invalid-key");
    const xTooBig = p.ec.slice();
    xTooBig.fill(0xff, 1, 33);
    await expectCode(() => validatePrekey({ ...p, ec: xTooBig }), "prekey/invalid-key");
    const kem = p.kem.slice();
    kem[0] = 0xff;
    kem[1] = (kem[1] ?? 0) | 0x0f; // first coefficient 4095 ≥ q
    await expectCode(() => validatePrekey({ ...p, kem }), "prekey/invalid-key");
  });

  it("survives the stored form (what IndexedDB keeps) with private keys that cannot be read out", () => {
    const stored = bobOneTime.toStored();
    expect(stored.ecPrivate.extractable).toBe(false);
    const again = PrekeyPair.fromStored(structuredClone(stored));
    expect(again.publicPart).toEqual(bobOneTime.publicPart);
  });
});

describe("exchange-key certificate, version 2 (§18.3)", () => {
  it("encodes at version 2 with the last-resort prekey and decodes both versions", () => {
    const body = ExchangeKeyCertificate.decode(bobV2Cert.body);
    expect(bobV2Cert.body.subarray(0, 17)).toEqual(
      encodeDomain(Domain.ExchangeKeyCertificate, PROTOCOL_VERSION_2),
    );
    expect(body.lastResort).toEqual(bobLastResort.publicPart);
    expect(bobV2.isV2).toBe(true);
    expect(bobV2.lastResort?.id).toEqual(prekeyId(1));
    const v1 = ExchangeKeyCertificate.decode(bob.device.exchangeCertificate.body);
    expect(v1.lastResort).toBeUndefined();
    expect(bob.device.verifiedExchange.isV2).toBe(false);
  });

  it("refuses a version-1 certificate after a version-2 one (exchange-key-rollback)", async () => {
    await expectCode(
      () =>
        bob.device.verified.verifyExchangeKeyAfterV2(
          bob.device.exchangeCertificate,
          T0,
          undefined,
          true,
        ),
      "exchange-key-rollback",
    );
    expect((await bob.device.verified.verifyExchangeKeyAfterV2(bobV2Cert, T0, 2n, true)).isV2).toBe(
      true,
    );
    expect(
      (
        await bob.device.verified.verifyExchangeKeyAfterV2(
          bob.device.exchangeCertificate,
          T0,
          1n,
          false,
        )
      ).isV2,
    ).toBe(false);
  });

  it("refuses an unknown version and a v2 certificate whose prekey is invalid", async () => {
    const v3 = bobV2Cert.body.slice();
    v3[16] = 3;
    await expectCode(() => ExchangeKeyCertificate.decode(v3), "decode/unsupported-version");
    const bad = await bob.device.keys.certifyExchangeKeyV2(
      bob.master.account,
      bob.device.exchange.encryptingKey,
      { ...bobLastResort.publicPart, kem: new Uint8Array(MLKEM768_EK_LEN).fill(0xff) },
      3n,
      T0 - DAY,
      T0 + DAY,
    );
    await expectCode(() => bob.device.verified.verifyExchangeKey(bad, T0), "prekey/invalid-key");
    expectOnlyDecodeErrors(bobV2Cert.body, (b) => ExchangeKeyCertificate.decode(b));
  });
});

describe("one-time prekeys (§18.4)", () => {
  it("round-trips and verifies against the owner device", async () => {
    const v = await verifiedOneTime();
    expect(v.id).toEqual(prekeyId(2));
    expect(v.publicPart).toEqual(bobOneTime.publicPart);
    expect(OneTimePrekey.decode(bobOneTimeSigned.body).createdAt).toBe(T0);
  });

  it("refuses another device, a bad signature, a far-future time and version 1", async () => {
    await expectCode(
      () => alice.device.verified.verifyOneTimePrekey(bobOneTimeSigned, T0),
      "wrong-account",
    );
    const forged = Signed.fromParts(bobOneTimeSigned.body, flipped(bobOneTimeSigned.signature, 5));
    await expectCode(() => bob.device.verified.verifyOneTimePrekey(forged, T0), "bad-signature");
    const future = await bob.device.keys.signOneTimePrekey(
      bob.master.account,
      bobOneTime.publicPart,
      T0 + 4n * HOUR,
    );
    await expectCode(
      () => bob.device.verified.verifyOneTimePrekey(future, T0),
      "receive/far-future",
    );
    const v1 = bobOneTimeSigned.body.slice();
    v1[13] = 1;
    await expectCode(() => OneTimePrekey.decode(v1), "decode/unsupported-version");
    expectOnlyDecodeErrors(bobOneTimeSigned.body, (b) => OneTimePrekey.decode(b));
  });
});

describe("version-2 distributions (§18.5, §18.6)", () => {
  it("a one-time prekey distribution opens once, is consumed, and a byte-identical copy is a quiet duplicate", async () => {
    const chain = await aliceChain();
    const kdm = await chain.distributeWith(
      group,
      bobV2,
      await verifiedOneTime(),
      alice.device.keys,
      T0,
    );
    expect(kdm.version).toBe(2);
    expect(kdm.header.hybrid?.prekeyKind).toBe("one-time");
    expect(kdm.header.hybrid?.prekey).toEqual(prekeyId(2));
    const wire = kdm.encode();
    expect(wire.length).toBeLessThanOrEqual(4096);
    expect(splitHybridCiphertext(kdm.sealed.ciphertext).sealed.length).toBe(KDM_V2_SEALED_LEN);

    const { me, ring } = await bobDevice();
    const receiver = new ReceiverState();
    const accepted = await receiver.acceptDistribution(
      KeyDistribution.decode(wire),
      alice.device.verified,
      me,
      group,
      T0,
    );
    expect(accepted.duplicate).toBe(false);
    expect(accepted.record.key.dangerBytes()).toEqual(chain.historyRecord().key.dangerBytes());
    expect(accepted.consumedPrekey?.id).toEqual(prekeyId(2));
    expect(accepted.consumedPrekey?.wireHash).toEqual(await sha256(wire));
    ring.consume(prekeyId(2), await sha256(wire), T0);
    expect(ring.oneTimeCount()).toBe(0);

    await expectCode(
      () =>
        receiver.acceptDistribution(
          KeyDistribution.decode(wire),
          alice.device.verified,
          me,
          group,
          T0,
        ),
      "receive/duplicate",
    );

    // Another distribution naming the consumed prekey (re-signed, or the prekey handed out twice).
    const other = await chain.distributeWith(
      group,
      bobV2,
      await verifiedOneTime(),
      alice.device.keys,
      T0 + 1n,
    );
    await expectCode(
      () => receiver.acceptDistribution(other, alice.device.verified, me, group, T0),
      "prekey/unknown",
    );
  });

  it("without a one-time prekey the certificate's last-resort prekey is used", async () => {
    const chain = await aliceChain(T0, 2);
    const kdm = await chain.distributeWith(group, bobV2, undefined, alice.device.keys, T0);
    expect(kdm.header.hybrid?.prekeyKind).toBe("last-resort");
    expect(kdm.header.hybrid?.prekey).toEqual(prekeyId(1));
    const { me, ring } = await bobDevice();
    const accepted = await new ReceiverState().acceptDistribution(
      kdm,
      alice.device.verified,
      me,
      group,
      T0,
    );
    expect(accepted.consumedPrekey).toBeUndefined();
    expect(accepted.record.key.dangerBytes()).toEqual(chain.historyRecord().key.dangerBytes());
    // Once the last-resort private keys are gone, the distribution can no longer be opened.
    ring.removeLastResort(bobV2.keyId);
    await expectCode(
      () => new ReceiverState().acceptDistribution(kdm, alice.device.verified, me, group, T0),
      "prekey/unknown",
    );
  });

  it("a v1 recipient gets a v1 distribution; a v1 distribution to a v2 key is a downgrade", async () => {
    const chain = await aliceChain(T0, 3);
    const v1 = await chain.distributeWith(
      group,
      bob.device.verifiedExchange,
      undefined,
      alice.device.keys,
      T0,
    );
    expect(v1.version).toBe(1);
    await expectCode(
      async () =>
        chain.distributeWith(
          group,
          bob.device.verifiedExchange,
          await verifiedOneTime(),
          alice.device.keys,
          T0,
        ),
      "invalid-input",
    );
    const { me } = await bobDevice();
    await expectCode(
      () => new ReceiverState().acceptDistribution(v1, alice.device.verified, me, group, T0),
      "receive/downgrade",
    );
    // A device without a ring (version 1 only) still takes it, and refuses version 2.
    const plain = await localDevice(bob.master.account, bob.device.keys.device, [
      bob.device.exchange,
    ]);
    expect(
      (await new ReceiverState().acceptDistribution(v1, alice.device.verified, plain, group, T0))
        .duplicate,
    ).toBe(false);
    const v2 = await chain.distributeWith(group, bobV2, undefined, alice.device.keys, T0);
    await expectCode(
      () => new ReceiverState().acceptDistribution(v2, alice.device.verified, plain, group, T0),
      "receive/wrong-recipient",
    );
  });

  it("any change to the secrets' carriers is decryption-failed (or a bad signature when signed)", async () => {
    const chain = await aliceChain(T0, 4);
    const kdm = await chain.distributeWith(group, bobV2, undefined, alice.device.keys, T0);
    const h = kdm.header;
    const hybrid = h.hybrid;
    if (hybrid === undefined) throw new Error("v2 expected");
    const resign = async (header: Uint8Array, ciphertext: Uint8Array): Promise<KeyDistribution> =>
      KeyDistribution.fromSealed(
        await SignedSealed.sign(header, ciphertext, alice.device.keys.signing),
      );
    const { rsa, sealed } = splitHybridCiphertext(kdm.sealed.ciphertext);
    const ct = hybrid.kemCiphertext.slice();
    ct[10] = (ct[10] ?? 0) ^ 1;
    const other = await PrekeyPair.generate(prekeyId(9));
    const cases: [string, KeyDistribution][] = [
      [
        "ML-KEM ciphertext",
        await resign(
          DistributionHeader.encode({ ...h, hybrid: { ...hybrid, kemCiphertext: ct } }),
          kdm.sealed.ciphertext,
        ),
      ],
      [
        "ephemeral point",
        await resign(
          DistributionHeader.encode({
            ...h,
            hybrid: { ...hybrid, ephemeral: other.publicPart.ec },
          }),
          kdm.sealed.ciphertext,
        ),
      ],
      ["rsa_ct", await resign(kdm.sealed.header, joinHybridCiphertext(flipped(rsa, 3), sealed))],
      ["sealed", await resign(kdm.sealed.header, joinHybridCiphertext(rsa, flipped(sealed, 3)))],
    ];
    for (const [, bad] of cases) {
      const { me } = await bobDevice();
      await expectCode(
        () => new ReceiverState().acceptDistribution(bad, alice.device.verified, me, group, T0),
        "decryption-failed",
      );
    }
    const { me } = await bobDevice();
    const tampered = KeyDistribution.fromSealed(
      SignedSealed.fromParts(
        kdm.sealed.header,
        joinHybridCiphertext(rsa, flipped(sealed, 0)),
        kdm.sealed.signature,
      ),
    );
    await expectCode(
      () => new ReceiverState().acceptDistribution(tampered, alice.device.verified, me, group, T0),
      "bad-signature",
    );
  });

  it("decodes within §18.5's bounds and refuses an unknown prekey kind and version", async () => {
    const chain = await aliceChain(T0, 5);
    const kdm = await chain.distributeWith(group, bobV2, undefined, alice.device.keys, T0);
    const wire = kdm.encode();
    expect(KeyDistribution.decode(wire).header).toEqual(kdm.header);
    const { rsa, sealed } = splitHybridCiphertext(kdm.sealed.ciphertext);
    expect(() => splitHybridCiphertext(joinHybridCiphertext(rsa, sealed.subarray(1)))).toThrow(
      "decode/invalid-value",
    );
    expect(() =>
      splitHybridCiphertext(joinHybridCiphertext(concatBytes(rsa, new Uint8Array(200)), sealed)),
    ).toThrow("decode/invalid-value");
    // Prekey kind 3.
    const header = kdm.sealed.header.slice();
    const kindAt = 11 + 16 + 8 + 16 + 32 * 5;
    expect(header[kindAt]).toBe(2);
    header[kindAt] = 3;
    await expectCode(() => DistributionHeader.decode(header), "decode/unknown-tag");
    const v3 = kdm.sealed.header.slice();
    v3[10] = 3;
    await expectCode(() => DistributionHeader.decode(v3), "decode/unsupported-version");
    // Over 4096 bytes.
    const w = new Writer();
    w.bytes(kdm.sealed.header);
    w.bytes(new Uint8Array(3000));
    w.bytes(kdm.sealed.signature);
    await expectCode(() => KeyDistribution.decode(w.finish()), "decode/invalid-value");
    expectOnlyDecodeErrors(wire, (b) => KeyDistribution.decode(b));
  });
});

describe("prekey ring (§18.6, §18.8)", () => {
  it("keeps tombstones 180 days, survives the stored form, and re-keys", async () => {
    const ring = new PrekeyRing();
    const a = await PrekeyPair.generate(prekeyId(20));
    const b = await PrekeyPair.generate(prekeyId(21));
    ring.addOneTime(a);
    ring.addOneTime(b);
    const xkey = await exchangeKeyIdOf(bob.device.exchange.spki);
    ring.addLastResort(xkey, bobLastResort);
    const hash = await sha256(new Uint8Array([1]));
    ring.consume(a.id, hash, T0);
    expect(ring.findOneTime(a.id, hash).kind).toBe("duplicate");
    await expectCode(() => ring.findOneTime(a.id, new Uint8Array(32)), "prekey/unknown");
    await expectCode(() => ring.findOneTime(prekeyId(99), hash), "prekey/unknown");

    const back = PrekeyRing.fromStored(structuredClone(ring.toStored()));
    expect(back.oneTimeCount()).toBe(1);
    expect(back.isConsumed(a.id)).toBe(true);
    expect(back.isV2ExchangeKey(xkey)).toBe(true);
    expect(back.findLastResort(xkey, bobLastResort.id).id).toEqual(bobLastResort.id);
    await expectCode(() => back.findLastResort(xkey, prekeyId(99)), "prekey/unknown");

    back.prune(T0 + 180n * DAY);
    expect(back.isConsumed(a.id)).toBe(true);
    back.prune(T0 + 181n * DAY);
    expect(back.isConsumed(a.id)).toBe(false);

    expect(back.replaceAllOneTime()).toEqual([b.id]);
    expect(back.oneTimeCount()).toBe(0);
    back.removeLastResort(xkey);
    expect(back.isV2ExchangeKey(xkey)).toBe(true);
  });
});
