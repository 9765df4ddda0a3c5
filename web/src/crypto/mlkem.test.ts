/**
 * ML-KEM-768 known answers (FIPS 203) for the library backend, which runs wherever the browser
 * has no WebCrypto ML-KEM (D51), and the §7.2 encapsulation-key check. `testdata/ml-kem-768-kat.json`
 * says where each value comes from: the Go standard library's accumulated FIPS 203 test (KeyGen
 * from seeds, Encaps, Decaps, implicit rejection), C2SP CCTV's Encaps/Decaps cases (one of them
 * needing unusually many XOF reads), a ciphertext only a whole-buffer comparison rejects, and
 * encapsulation keys with one coefficient out of range.
 */

import { readFileSync } from "node:fs";
import { resolve } from "node:path";

import { shake128 } from "@noble/hashes/sha3.js";
import { ml_kem768 } from "@noble/post-quantum/ml-kem.js";
import { afterEach, describe, expect, it } from "vitest";

import { concatBytes, fromHex, toHex } from "./bytes";
import {
  MLKEM768_CT_LEN,
  MLKEM768_DK_LEN,
  MLKEM768_EK_LEN,
  MlKemPrivateKey,
  dangerMlKemDecapsulateExpanded,
  dangerMlKemKeygenExpanded,
  dangerSetMlKemBackend,
  isValidEncapsulationKey,
  mlKemBackend,
  mlKemEncapsulate,
} from "./mlkem";
import { expectCode } from "./test-support";

interface EncapsCase {
  ek: string;
  dk: string;
  m: string;
  c: string;
  K: string;
}

interface Kat {
  encaps_decaps: EncapsCase[];
  decaps_strcmp: Record<"dk" | "c" | "K", string>;
  invalid_ek: string[];
  accumulated: { iterations: number; shake128_32: string }[];
  acvp_decaps: { dk: string; tests: { tcId: number; c: string; k: string; reason: string }[] };
}

const KAT = JSON.parse(
  readFileSync(resolve(import.meta.dirname, "testdata/ml-kem-768-kat.json"), "utf8"),
) as Kat;

afterEach(() => {
  dangerSetMlKemBackend(undefined);
});

/**
 * The Go standard library's accumulated FIPS 203 test: every input from one SHAKE-128 stream,
 * every output into another, compared by hash. 100 iterations cover KeyGen from seeds, Encaps,
 * Decaps and implicit rejection over many random keys.
 */
function accumulated(iterations: number): string {
  const source = shake128.create({});
  const sink = shake128.create({ dkLen: 32 });
  for (let i = 0; i < iterations; i++) {
    const { ek, dk } = dangerMlKemKeygenExpanded(source.xof(64));
    sink.update(ek);
    const m = source.xof(32);
    const { cipherText, sharedSecret } = ml_kem768.encapsulate(ek, m);
    sink.update(cipherText);
    sink.update(sharedSecret);
    expect(toHex(dangerMlKemDecapsulateExpanded(cipherText, dk))).toBe(toHex(sharedSecret));
    sink.update(dangerMlKemDecapsulateExpanded(source.xof(MLKEM768_CT_LEN), dk));
  }
  return toHex(sink.digest());
}

describe("ML-KEM-768 known answers", () => {
  it.runIf(process.env["SOTTO_MLKEM_10K"] === "1")(
    "KeyGen, Encaps and Decaps: 10 000 accumulated FIPS 203 iterations hash to the known value",
    () => {
      const v = KAT.accumulated.find((a) => a.iterations === 10_000);
      expect(accumulated(10_000)).toBe(v?.shake128_32);
    },
    600_000,
  );

  it("KeyGen, Encaps and Decaps: 100 accumulated FIPS 203 iterations hash to the known value", () => {
    const v = KAT.accumulated.find((a) => a.iterations === 100);
    expect(v).toBeDefined();
    expect(accumulated(100)).toBe(v?.shake128_32);
  });

  it.each(KAT.encaps_decaps.map((v, i) => [i, v] as const))(
    "case %i: Encaps(ek, m) and Decaps(dk, c) give the published c and K",
    async (_i, v) => {
      const sent = await mlKemEncapsulate(fromHex(v.ek), fromHex(v.m));
      expect(sent.ciphertext.length).toBe(MLKEM768_CT_LEN);
      expect(toHex(sent.ciphertext)).toBe(v.c.toLowerCase());
      expect(toHex(sent.sharedSecret)).toBe(v.K.toLowerCase());
      const dk = fromHex(v.dk);
      expect(dk.length).toBe(MLKEM768_DK_LEN);
      expect(toHex(dangerMlKemDecapsulateExpanded(fromHex(v.c), dk))).toBe(v.K.toLowerCase());
    },
  );

  it.each(KAT.acvp_decaps.tests.map((t) => [t.tcId, t.reason, t] as const))(
    "NIST ACVP decapsulation tcId %i (%s)",
    (_id, _reason, t) => {
      const dk = fromHex(KAT.acvp_decaps.dk.toLowerCase());
      expect(toHex(dangerMlKemDecapsulateExpanded(fromHex(t.c.toLowerCase()), dk))).toBe(
        t.k.toLowerCase(),
      );
    },
  );

  it("implicit rejection: the strcmp ciphertext decapsulates to the rejection secret", () => {
    const v = KAT.decaps_strcmp;
    expect(toHex(dangerMlKemDecapsulateExpanded(fromHex(v.c), fromHex(v.dk)))).toBe(
      v.K.toLowerCase(),
    );
  });

  it("the sealed-seed private key decapsulates like the expanded key, and a changed ciphertext gives another secret", async () => {
    dangerSetMlKemBackend("library");
    const seed = new Uint8Array(64).map((_, i) => i);
    const { ek, dk } = dangerMlKemKeygenExpanded(seed);
    const { privateKey, encapsulationKey } = await MlKemPrivateKey.fromSeed(seed);
    expect(toHex(encapsulationKey)).toBe(toHex(ek));
    expect(ek.length).toBe(MLKEM768_EK_LEN);
    const sent = await mlKemEncapsulate(ek);
    expect(toHex(await privateKey.decapsulate(sent.ciphertext))).toBe(toHex(sent.sharedSecret));
    const c = sent.ciphertext.slice();
    c[100] = (c[100] ?? 0) ^ 1;
    const k = await privateKey.decapsulate(c);
    expect(toHex(k)).toBe(toHex(dangerMlKemDecapsulateExpanded(c, dk)));
    expect(toHex(k)).not.toBe(toHex(sent.sharedSecret));
    await expectCode(() => privateKey.decapsulate(c.subarray(1)), "decryption-failed");
  });

  it("an expanded dk given in the clear (vectors) is held sealed and decapsulates like the library; a wrong H(ek) or length is refused", async () => {
    const seed = new Uint8Array(64).map((_, i) => 255 - i);
    const { ek, dk } = dangerMlKemKeygenExpanded(seed);
    const { privateKey, encapsulationKey } = await MlKemPrivateKey.dangerFromExpanded(dk);
    expect(toHex(encapsulationKey)).toBe(toHex(ek));
    const stored = privateKey.toStored();
    expect(stored.kind).toBe("sealed-expanded");
    const sent = await mlKemEncapsulate(ek);
    expect(toHex(await privateKey.decapsulate(sent.ciphertext))).toBe(toHex(sent.sharedSecret));
    const c = sent.ciphertext.slice();
    c[7] = (c[7] ?? 0) ^ 1;
    expect(toHex(await privateKey.decapsulate(c))).toBe(
      toHex(dangerMlKemDecapsulateExpanded(c, dk)),
    );
    const badHash = dk.slice();
    const at = MLKEM768_DK_LEN - 64; // the first byte of H(ek)
    badHash[at] = (badHash[at] ?? 0) ^ 1;
    await expectCode(() => MlKemPrivateKey.dangerFromExpanded(badHash), "prekey/invalid-key");
    await expectCode(
      () => MlKemPrivateKey.dangerFromExpanded(dk.subarray(1)),
      "prekey/invalid-key",
    );
  });
});

describe("encapsulation-key check (FIPS 203 §7.2)", () => {
  it("accepts the published keys", () => {
    for (const v of KAT.encaps_decaps) expect(isValidEncapsulationKey(fromHex(v.ek))).toBe(true);
  });

  it("refuses keys with a coefficient of q or more, and wrong lengths", async () => {
    expect(KAT.invalid_ek.length).toBe(3);
    for (const hex of KAT.invalid_ek) {
      const ek = fromHex(hex);
      expect(ek.length).toBe(MLKEM768_EK_LEN);
      expect(isValidEncapsulationKey(ek)).toBe(false);
      await expectCode(() => mlKemEncapsulate(ek), "prekey/invalid-key");
    }
    const good = fromHex(KAT.encaps_decaps[0]?.ek ?? "");
    expect(isValidEncapsulationKey(good.subarray(1))).toBe(false);
    expect(isValidEncapsulationKey(concatBytes(good, new Uint8Array(1)))).toBe(false);
  });
});

describe("backend", () => {
  it("uses the library where WebCrypto has no ML-KEM (Node), and round-trips fresh keys", async () => {
    expect(await mlKemBackend()).toBe("library");
    const { privateKey, encapsulationKey } = await MlKemPrivateKey.generate();
    const stored = privateKey.toStored();
    expect(stored.kind).toBe("sealed-seed");
    if (stored.kind === "sealed-seed") {
      expect(stored.wrap.extractable).toBe(false);
      expect(stored.sealed.length).toBe(64 + 16);
    }
    const sent = await mlKemEncapsulate(encapsulationKey);
    const back = MlKemPrivateKey.fromStored(stored);
    expect(toHex(await back.decapsulate(sent.ciphertext))).toBe(toHex(sent.sharedSecret));
  });
});
