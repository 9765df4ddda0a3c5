import { describe, expect, it } from "vitest";

import { type Bytes, concatBytes, fromHex, toHex } from "./bytes";
import { encodeRsaPublicKey, encodeRsaSpki, parseSpki } from "./der";
import {
  AeadKey,
  EncryptingKey,
  ExchangeKeyPair,
  SigningKeyPair,
  checkRsaPublicKey,
  hkdfSha256,
  hmacSha256,
  sha256,
} from "./primitives";
import { expectCode, fixedPkcs8, flipped } from "./test-support";

/** An odd `bits`-bit "modulus" (structure is all the key checks look at). */
function modulus(bits: number): Bytes {
  const n = new Uint8Array(Math.ceil(bits / 8)).fill(0xa5);
  n[0] = (1 << ((bits - 1) % 8)) | 1;
  n[n.length - 1] = 0xa5 | 1;
  return n;
}

const F4 = Uint8Array.of(1, 0, 1);

/** DER TLV, for hand-made malformed keys. */
function tlv(tag: number, content: Uint8Array): Bytes {
  const len = content.length;
  const header =
    len < 0x80 ? [tag, len] : len < 0x100 ? [tag, 0x81, len] : [tag, 0x82, len >> 8, len & 0xff];
  return concatBytes(Uint8Array.from(header), content);
}

describe("RSA public key checks (§3)", () => {
  it("accepts canonical 3072- and 4096-bit SPKI with e = 65537", () => {
    expect(checkRsaPublicKey(encodeRsaSpki({ n: modulus(3072), e: F4 })).bits).toBe(3072);
    expect(checkRsaPublicKey(encodeRsaSpki({ n: modulus(4096), e: F4 })).bits).toBe(4096);
  });

  it("refuses small and large moduli, by bits", async () => {
    await expectCode(
      () => checkRsaPublicKey(encodeRsaSpki({ n: modulus(3071), e: F4 })),
      "key/too-small",
    );
    await expectCode(
      () => checkRsaPublicKey(encodeRsaSpki({ n: modulus(2048), e: F4 })),
      "key/too-small",
    );
    // The spec says too-small for any modulus below 3072 bits (see web/README.md on the Rust core).
    await expectCode(
      () => checkRsaPublicKey(encodeRsaSpki({ n: modulus(1024), e: F4 })),
      "key/too-small",
    );
    await expectCode(
      () => checkRsaPublicKey(encodeRsaSpki({ n: modulus(4097), e: F4 })),
      "key/too-large",
    );
    await expectCode(
      () => checkRsaPublicKey(encodeRsaSpki({ n: modulus(6144), e: F4 })),
      "key/too-large",
    );
  });

  it("refuses other exponents: odd ones as bad-exponent, impossible ones as malformed", async () => {
    await expectCode(
      () => checkRsaPublicKey(encodeRsaSpki({ n: modulus(3072), e: Uint8Array.of(3) })),
      "key/bad-exponent",
    );
    await expectCode(
      () => checkRsaPublicKey(encodeRsaSpki({ n: modulus(3072), e: Uint8Array.of(1, 0, 3) })),
      "key/bad-exponent",
    );
    await expectCode(
      () => checkRsaPublicKey(encodeRsaSpki({ n: modulus(3072), e: Uint8Array.of(1, 0, 0) })),
      "key/malformed",
    );
    await expectCode(
      () => checkRsaPublicKey(encodeRsaSpki({ n: modulus(3072), e: Uint8Array.of(1) })),
      "key/malformed",
    );
    await expectCode(
      () => checkRsaPublicKey(encodeRsaSpki({ n: modulus(3072), e: Uint8Array.of(3, 0, 0, 0, 1) })),
      "key/malformed",
    );
  });

  it("refuses PKCS#1 and absent parameters as not canonical, other algorithms as malformed", async () => {
    const key = { n: modulus(3072), e: F4 };
    await expectCode(() => checkRsaPublicKey(encodeRsaPublicKey(key)), "key/not-canonical-spki");
    const rsaOid = fromHex("06092a864886f70d010101");
    const bitString = tlv(0x03, concatBytes(Uint8Array.of(0), encodeRsaPublicKey(key)));
    const noParams = tlv(0x30, concatBytes(tlv(0x30, rsaOid), bitString));
    expect(parseSpki(noParams)?.isRsa).toBe(true);
    await expectCode(() => checkRsaPublicKey(noParams), "key/not-canonical-spki");
    const pssOid = fromHex("06092a864886f70d01010a");
    const pss = tlv(0x30, concatBytes(tlv(0x30, concatBytes(pssOid, fromHex("0500"))), bitString));
    await expectCode(() => checkRsaPublicKey(pss), "key/malformed");
  });

  it("refuses malformed DER", async () => {
    const good = encodeRsaSpki({ n: modulus(3072), e: F4 });
    await expectCode(() => checkRsaPublicKey(new Uint8Array(0)), "key/malformed");
    await expectCode(
      () => checkRsaPublicKey(new TextEncoder().encode("not a key")),
      "key/malformed",
    );
    await expectCode(() => checkRsaPublicKey(concatBytes(good, Uint8Array.of(0))), "key/malformed");
    await expectCode(() => checkRsaPublicKey(good.subarray(0, good.length - 1)), "key/malformed");
    await expectCode(() => checkRsaPublicKey(new Uint8Array(1025)), "key/malformed");
    // Non-minimal length: 0x82 0x01 0xa2 rewritten as 0x83 0x00 0x01 0xa2.
    const longForm = concatBytes(Uint8Array.of(0x30, 0x83, 0x00), good.subarray(2));
    await expectCode(() => checkRsaPublicKey(longForm), "key/malformed");
    // An even modulus, a negative one, an EC key OID.
    const even = modulus(3072);
    even[even.length - 1] = 0xa4;
    await expectCode(() => checkRsaPublicKey(encodeRsaSpki({ n: even, e: F4 })), "key/malformed");
    const ecOid = fromHex("06072a8648ce3d0201");
    const ec = tlv(
      0x30,
      concatBytes(
        tlv(0x30, concatBytes(ecOid, fromHex("0500"))),
        tlv(0x03, concatBytes(Uint8Array.of(0), encodeRsaPublicKey({ n: modulus(3072), e: F4 }))),
      ),
    );
    await expectCode(() => checkRsaPublicKey(ec), "key/malformed");
    // Every truncation of a good key is refused without any other kind of exception.
    for (let i = 0; i < good.length; i += 7)
      await expectCode(() => checkRsaPublicKey(good.subarray(0, i)), "key/malformed");
  });

  it("matches what WebCrypto exports", async () => {
    const pair = await SigningKeyPair.fromPkcs8(fixedPkcs8(0));
    expect(checkRsaPublicKey(pair.spki).bits).toBe(3072);
  });
});

describe("RSA key pairs", () => {
  it("generates non-extractable private keys", async () => {
    const signing = await SigningKeyPair.generate();
    const exchange = await ExchangeKeyPair.generate();
    for (const key of [signing.privateKey, exchange.privateKey]) {
      expect(key.extractable).toBe(false);
      await expect(crypto.subtle.exportKey("pkcs8", key)).rejects.toThrow();
      await expect(crypto.subtle.exportKey("jwk", key)).rejects.toThrow();
    }
    expect(signing.verifyingKey.bits).toBe(3072);
    expect(exchange.encryptingKey.bits).toBe(3072);
    const message = Uint8Array.of(1, 2, 3);
    await signing.verifyingKey.verify("test", message, await signing.sign(message));
  }, 120_000);

  it("imports PKCS#8 non-extractable, and rebuilds a stored pair only with its own public key", async () => {
    const pair = await SigningKeyPair.fromPkcs8(fixedPkcs8(1));
    expect(pair.privateKey.extractable).toBe(false);
    await expect(crypto.subtle.exportKey("pkcs8", pair.privateKey)).rejects.toThrow();
    const again = await SigningKeyPair.fromStored(pair.privateKey, pair.spki);
    expect(again.verifyingKey.equals(pair.verifyingKey)).toBe(true);
    const other = await SigningKeyPair.fromPkcs8(fixedPkcs8(2));
    await expectCode(() => SigningKeyPair.fromStored(pair.privateKey, other.spki), "invalid-input");
    const x = await ExchangeKeyPair.fromPkcs8(fixedPkcs8(3));
    expect(x.privateKey.extractable).toBe(false);
    await expectCode(() => SigningKeyPair.fromStored(x.privateKey, x.spki), "invalid-input");
    expect(
      (await ExchangeKeyPair.fromStored(x.privateKey, x.spki)).encryptingKey.equals(
        x.encryptingKey,
      ),
    ).toBe(true);
  });

  it("refuses unreadable PKCS#8", async () => {
    await expectCode(() => SigningKeyPair.fromPkcs8(Uint8Array.of(0x30, 0x00)), "key/malformed");
    await expectCode(() => SigningKeyPair.fromPkcs8(new Uint8Array(4097)), "key/malformed");
    const good = fixedPkcs8(0);
    for (const cut of [1, 30, 200, good.length - 1]) {
      await expectCode(() => SigningKeyPair.fromPkcs8(good.subarray(0, cut)), "key/malformed");
    }
  });

  it("verifies only RSA-PSS-SHA-256 with a 32-byte salt", async () => {
    const pkcs8 = fixedPkcs8(1);
    const pair = await SigningKeyPair.fromPkcs8(pkcs8);
    const raw = await crypto.subtle.importKey(
      "pkcs8",
      pkcs8,
      { name: "RSA-PSS", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const message = Uint8Array.of(9, 9, 9);
    for (const saltLength of [0, 20, 64]) {
      const sig = new Uint8Array(
        await crypto.subtle.sign({ name: "RSA-PSS", saltLength }, raw, message),
      );
      await expectCode(() => pair.verifyingKey.verify("test", message, sig), "bad-signature");
    }
    const sig = await pair.sign(message);
    await pair.verifyingKey.verify("test", message, sig);
    await expectCode(
      () => pair.verifyingKey.verify("test", Uint8Array.of(9, 9, 8), sig),
      "bad-signature",
    );
    await expectCode(
      () => pair.verifyingKey.verify("test", message, sig.subarray(1)),
      "bad-signature",
    );
    await expectCode(
      () => pair.verifyingKey.verify("test", message, new Uint8Array(0)),
      "bad-signature",
    );
  });

  it("binds OAEP ciphertexts to their label; every failure is decryption-failed", async () => {
    const pair = await ExchangeKeyPair.fromPkcs8(fixedPkcs8(3));
    const public_ = await EncryptingKey.fromSpki(pair.spki);
    const ct = await public_.encrypt(Uint8Array.of(1, 2, 3), Uint8Array.of(0xaa));
    expect(toHex(await pair.decrypt(ct, Uint8Array.of(0xaa)))).toBe("010203");
    await expectCode(() => pair.decrypt(ct, Uint8Array.of(0xab)), "decryption-failed");
    await expectCode(() => pair.decrypt(ct.subarray(1), Uint8Array.of(0xaa)), "decryption-failed");
    await expectCode(() => pair.decrypt(flipped(ct, 10), Uint8Array.of(0xaa)), "decryption-failed");
  });
});

describe("symmetric primitives", () => {
  it("SHA-256 and HMAC-SHA-256 known answers (FIPS 180, RFC 4231 case 2)", async () => {
    expect(toHex(await sha256(new TextEncoder().encode("abc")))).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    expect(toHex(await sha256(Uint8Array.of(0x61), Uint8Array.of(0x62, 0x63)))).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    const enc = new TextEncoder();
    expect(
      toHex(await hmacSha256(enc.encode("Jefe"), enc.encode("what do ya want for nothing?"))),
    ).toBe("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  });

  it("HKDF-SHA-256 with an empty salt (RFC 5869 case 3)", async () => {
    expect(toHex(await hkdfSha256(new Uint8Array(22).fill(0x0b), new Uint8Array(0), 42))).toBe(
      "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
    );
  });

  it("AES-256-GCM seals and refuses any change", async () => {
    const key = new AeadKey(new Uint8Array(32).fill(7), new Uint8Array(12).fill(9));
    const aad = Uint8Array.of(0x61, 0x64);
    const sealed = await key.seal(aad, new TextEncoder().encode("hello"));
    expect(sealed.length).toBe(5 + 16);
    expect(new TextDecoder().decode(await key.open(aad, sealed))).toBe("hello");
    await expectCode(() => key.open(Uint8Array.of(0x61, 0x65), sealed), "decryption-failed");
    for (let i = 0; i < sealed.length; i++) {
      await expectCode(() => key.open(aad, flipped(sealed, i)), "decryption-failed");
    }
    await expectCode(() => key.open(aad, sealed.subarray(0, 3)), "decryption-failed");
    await expectCode(() => new AeadKey(new Uint8Array(16), new Uint8Array(12)), "invalid-input");
  });
});
