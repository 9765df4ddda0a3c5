import { beforeAll, describe, expect, it } from "vitest";

import { type BundleRecord, KeyBundle } from "./bundle";
import { type Bytes, concatBytes, toHex } from "./bytes";
import { Writer } from "./codec";
import { Domain, encodeDomain } from "./domains";
import { DangerSeededRng, type Env } from "./env";
import { Handover, HandoverHeader } from "./handover";
import { AccountId, ChainId, ConversationId, HandoverId } from "./ids";
import { HOUR, MAX_HANDOVER_LEN } from "./limits";
import { AeadKey, hkdfSha256 } from "./primitives";
import { ChainKey } from "./ratchet";
import { type LocalDevice, localDevice } from "./receiver";
import { SignedSealed } from "./signed";
import {
  T0,
  type TestAccount,
  type TestDevice,
  expectCode,
  expectOnlyDecodeErrors,
  fixedPkcs8,
  flipped,
  testAccount,
  testSecondDevice,
} from "./test-support";

let alice: TestAccount;
let bob: TestAccount;
let laptop: TestDevice;
let laptopLocal: LocalDevice;
let phoneLocal: LocalDevice;

function env(now = T0): Env {
  return { now, rng: new DangerSeededRng(new Uint8Array(32).fill(4)) };
}

function records(): BundleRecord[] {
  return [
    {
      type: "chain",
      conversation: ConversationId.fromBytes(new Uint8Array(16).fill(1)),
      epoch: 2n,
      chain: ChainId.fromBytes(new Uint8Array(16).fill(2)),
      ownerAccount: bob.master.account,
      ownerDevice: bob.device.keys.device,
      startIndex: 4,
      key: ChainKey.fromBytes(new Uint8Array(32).fill(3)),
      createdAt: T0,
    },
    { type: "pin", account: bob.master.account, username: "bob", verified: true },
  ];
}

async function handover(now = T0, recs = records()): Promise<Handover> {
  const sealed = await Handover.seal({
    account: alice.master.account,
    sender: alice.device.keys,
    recipient: laptop.verifiedExchange,
    records: recs,
    env: env(now),
  });
  return Handover.decode(sealed.encode());
}

/** Re-signs `ciphertext` under the phone's key, so only the check under test fails. */
async function resealed(
  h: Handover,
  ciphertext: Uint8Array,
  header = h.sealed.header,
): Promise<Handover> {
  const signed = await SignedSealed.sign(header, ciphertext, alice.device.keys.signing);
  return Handover.decode(signed.encode());
}

beforeAll(async () => {
  [alice, bob] = await Promise.all([testAccount(0, "alice"), testAccount(1, "bob")]);
  laptop = await testSecondDevice(alice);
  laptopLocal = await localDevice(alice.master.account, laptop.keys.device, [laptop.exchange]);
  phoneLocal = await localDevice(alice.master.account, alice.device.keys.device, [
    alice.device.exchange,
  ]);
});

describe("device hand-over (§16)", () => {
  it("the approved laptop reads every chain, pin and name the phone handed over", async () => {
    const h = await handover();
    expect(toHex(h.header.recipientDevice)).toBe(toHex(laptop.keys.device));
    expect(toHex(h.header.recipientKey)).toBe(toHex(laptop.verifiedExchange.keyId));
    const opened = await h.open(alice.device.verified, laptopLocal, T0);
    expect(toHex(KeyBundle.encode(opened))).toBe(toHex(KeyBundle.encode(records())));
  });

  it("never carries the master key", async () => {
    await expectCode(
      () => handover(T0, [{ type: "master-key", pkcs8: fixedPkcs8(0) }]),
      "invalid-input",
    );
  });

  it("refuses a master key record a sender slipped in: the whole hand-over", async () => {
    // Built by hand, as a sender ignoring the rule would.
    const header = HandoverHeader.encode({
      account: alice.master.account,
      senderDevice: alice.device.keys.device,
      recipientDevice: laptop.keys.device,
      recipientKey: laptop.verifiedExchange.keyId,
      handover: HandoverId.fromBytes(new Uint8Array(16).fill(9)),
      createdAt: T0,
    });
    const w = new Uint8Array(32).fill(7);
    const wrapped = await laptop.verifiedExchange.key.encrypt(
      concatBytes(encodeDomain(Domain.HandoverKey), w),
      await HandoverHeader.oaepLabel(header),
    );
    const okm = await hkdfSha256(w, encodeDomain(Domain.HandoverAead), 44);
    const sealed = await new AeadKey(okm.subarray(0, 32), okm.subarray(32)).seal(
      header,
      KeyBundle.encode([{ type: "master-key", pkcs8: fixedPkcs8(0) }, ...records()]),
    );
    const ct = new Writer();
    ct.bytes(wrapped);
    ct.bytes(sealed);
    const signed = await SignedSealed.sign(header, ct.finish(), alice.device.keys.signing);
    await expectCode(
      () => Handover.decode(signed.encode()).open(alice.device.verified, laptopLocal, T0),
      "invalid-input",
    );
  });

  it("goes only to a device of the sender's own account", async () => {
    await expectCode(
      () =>
        Handover.seal({
          account: alice.master.account,
          sender: alice.device.keys,
          recipient: bob.device.verifiedExchange,
          records: records(),
          env: env(),
        }),
      "invalid-input",
    );
  });

  it("a device of another account cannot hand keys over (receive/sender-mismatch)", async () => {
    const h = await handover();
    await expectCode(() => h.open(bob.device.verified, laptopLocal, T0), "receive/sender-mismatch");
    const fromBob = await Handover.seal({
      account: bob.master.account,
      sender: bob.device.keys,
      recipient: laptop.verifiedExchange,
      records: records(),
      env: env(),
    }).catch((error: unknown) => error);
    expect(fromBob).toMatchObject({ code: "invalid-input" });
  });

  it("a6: a forged signature is refused before anything is decrypted", async () => {
    const h = await handover();
    const forged = Handover.decode(
      SignedSealed.fromParts(
        h.sealed.header,
        h.sealed.ciphertext,
        flipped(h.sealed.signature, 0),
      ).encode(),
    );
    await expectCode(() => forged.open(alice.device.verified, laptopLocal, T0), "bad-signature");
  });

  it("a7: a hand-over for the laptop cannot be opened by the phone", async () => {
    const h = await handover();
    await expectCode(
      () => h.open(alice.device.verified, phoneLocal, T0),
      "receive/wrong-recipient",
    );
    const rotated = await localDevice(alice.master.account, laptop.keys.device, [
      alice.device.exchange,
    ]);
    await expectCode(() => h.open(alice.device.verified, rotated, T0), "receive/wrong-recipient");
  });

  it("a17: a hand-over from more than 3 hours ahead is refused", async () => {
    const h = await handover(T0 + 3n * HOUR + 1n);
    await expectCode(() => h.open(alice.device.verified, laptopLocal, T0), "receive/far-future");
    const edge = await handover(T0 + 3n * HOUR);
    expect(await edge.open(alice.device.verified, laptopLocal, T0)).toHaveLength(2);
  });

  it("a9: any change to the wrapped key, the sealed bundle or the header is decryption-failed", async () => {
    const h = await handover();
    const ct = h.sealed.ciphertext;
    for (const at of [10, 4 + 384 + 4 + 3, ct.length - 1]) {
      const tampered = await resealed(
        h,
        Uint8Array.from(ct, (b, i) => (i === at ? b ^ 1 : b)),
      );
      await expectCode(
        () => tampered.open(alice.device.verified, laptopLocal, T0),
        "decryption-failed",
      );
    }
    // Same ids, another hand-over id: the OAEP label and the associated data both change.
    const header = HandoverHeader.decode(h.sealed.header);
    const moved = HandoverHeader.encode({
      ...header,
      handover: HandoverId.fromBytes(new Uint8Array(16)),
    });
    const relabelled = await resealed(h, ct, moved);
    await expectCode(
      () => relabelled.open(alice.device.verified, laptopLocal, T0),
      "decryption-failed",
    );
    const truncated = await resealed(h, ct.subarray(0, ct.length - 1));
    await expectCode(
      () => truncated.open(alice.device.verified, laptopLocal, T0),
      "decryption-failed",
    );
  });

  it("reads truncated and bit-flipped hand-overs as one or a decode/* error, nothing else", async () => {
    expectOnlyDecodeErrors((await handover()).encode(), (b) => Handover.decode(b));
  });

  it("bounds the wire form to 4 MiB and the header to its fields", () => {
    expect(() => Handover.decode(new Uint8Array(MAX_HANDOVER_LEN + 1))).toThrowError(
      /decode\/too-long/,
    );
    const bad: Bytes = concatBytes(
      encodeDomain(Domain.Handover),
      AccountId.fromBytes(new Uint8Array(32)),
    );
    expect(() => HandoverHeader.decode(bad)).toThrowError(/decode\/truncated/);
  });
});
