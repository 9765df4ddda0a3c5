import { describe, expect, it } from "vitest";

import { AuthChallenge } from "./auth";
import { MessageBody } from "./body";
import { type Bytes, fromHex, utf8Decode } from "./bytes";
import { REFUSED_IN_NAMES, Reader, Writer, isDisplayText } from "./codec";
import { DistributionHeader, KeyDistribution, KeyRequest } from "./distribution";
import { Domain, encodeDomain } from "./domains";
import { Envelope, EnvelopeHeader } from "./envelope";
import { ProtocolError } from "./errors";
import { GroupChange } from "./group";
import { DeviceCertificate, ExchangeKeyCertificate, Revocation } from "./identity";
import { Signed, SignedSealed } from "./signed";
import { J, expectCode } from "./test-support";

describe("Writer and Reader", () => {
  it("round-trip every primitive", () => {
    const w = Writer.forDomain(Domain.DeviceCertificate);
    w.u8(7);
    w.u16(0x0102);
    w.u32(0x0304_0506);
    w.u64(0x0708_090a_0b0c_0d0en);
    w.bool(true);
    w.bytes(Uint8Array.of(0x61, 0x62, 0x63));
    w.text("héllo");
    w.count(2);
    const r = Reader.forDomain(w.finish(), Domain.DeviceCertificate);
    expect(r.u8()).toBe(7);
    expect(r.u16()).toBe(0x0102);
    expect(r.u32()).toBe(0x0304_0506);
    expect(r.u64()).toBe(0x0708_090a_0b0c_0d0en);
    expect(r.bool()).toBe(true);
    expect([...r.bytes("b", 3)]).toEqual([0x61, 0x62, 0x63]);
    expect(r.text("t", 16)).toBe("héllo");
    expect(r.count("c", 2)).toBe(2);
    r.finish();
  });

  it("grows its buffer across many writes", () => {
    const w = new Writer();
    for (let i = 0; i < 10_000; i++) w.u32(i);
    const r = new Reader(w.finish());
    for (let i = 0; i < 10_000; i++) expect(r.u32()).toBe(i);
    r.finish();
  });

  it("encodes the spec's domain table", () => {
    expect(encodeDomain(Domain.DeviceCertificate)).toEqual(
      fromHex("11736f74746f2f6465766963652d6365727401"),
    );
    expect(encodeDomain(Domain.Envelope)).toEqual(fromHex("09736f74746f2f6d736701"));
    expect(encodeDomain(Domain.AttachmentCommitment)).toEqual(
      fromHex("17736f74746f2f6174746163686d656e742d636f6d6d697401"),
    );
  });

  it("no domain encoding is a prefix of another", () => {
    const all = Object.values(Domain).map((d) => encodeDomain(d));
    for (const [i, a] of all.entries()) {
      for (const b of all.slice(i + 1)) {
        const [short, long] = a.length <= b.length ? [a, b] : [b, a];
        expect(short.every((byte, k) => long[k] === byte)).toBe(false);
      }
    }
  });

  it("refuses another domain and another version", async () => {
    const bytes = Writer.forDomain(Domain.Envelope).finish();
    await expectCode(() => Reader.forDomain(bytes, Domain.KeyDistribution), "decode/wrong-domain");
    const v2 = bytes.slice();
    v2[v2.length - 1] = 2;
    await expectCode(() => Reader.forDomain(v2, Domain.Envelope), "decode/unsupported-version");
    await expectCode(
      () => Reader.forDomain(bytes.subarray(0, 4), Domain.Envelope),
      "decode/truncated",
    );
  });

  it("checks a length bound before reading", async () => {
    const w = new Writer();
    w.u32(0xffff_ffff);
    await expectCode(() => new Reader(w.finish()).bytes("blob", 1024), "decode/too-long");
    const t = new Writer();
    t.u16(65);
    await expectCode(() => new Reader(t.finish()).text("name", 64), "decode/too-long");
    const c = new Writer();
    c.u16(1001);
    await expectCode(() => new Reader(c.finish()).count("members", 1000), "decode/too-many");
  });

  it("refuses truncation, trailing bytes, a non-canonical bool and bad UTF-8", async () => {
    await expectCode(() => new Reader(Uint8Array.of(0, 0, 0)).u32(), "decode/truncated");
    await expectCode(
      () => new Reader(Uint8Array.of(0, 0, 0, 5, 1)).bytes("b", 10),
      "decode/truncated",
    );
    const r = new Reader(Uint8Array.of(1, 2));
    r.u8();
    await expectCode(() => {
      r.finish();
    }, "decode/trailing-bytes");
    await expectCode(() => new Reader(Uint8Array.of(2)).bool(), "decode/invalid-value");
    for (const bad of [[0xc0, 0x80], [0xed, 0xa0, 0x80], [0xff], [0xe2, 0x82]]) {
      const asText = Uint8Array.of(0, bad.length, ...bad);
      await expectCode(() => new Reader(asText).text("t", 10), "decode/invalid-utf8");
      await expectCode(() => utf8Decode(Uint8Array.from(bad)), "decode/invalid-utf8");
    }
  });

  it("keeps a leading byte-order mark as content", () => {
    expect(utf8Decode(Uint8Array.of(0xef, 0xbb, 0xbf, 0x61))).toBe("\ufeffa");
  });

  it("refuses values that do not fit their field", async () => {
    const w = new Writer();
    await expectCode(() => {
      w.u8(256);
    }, "invalid-input");
    await expectCode(() => {
      w.u16(-1);
    }, "invalid-input");
    await expectCode(() => {
      w.u32(1.5);
    }, "invalid-input");
    await expectCode(() => {
      w.u64(1n << 64n);
    }, "invalid-input");
    await expectCode(() => {
      w.text("\ud800");
    }, "invalid-input");
    await expectCode(() => {
      w.text("x".repeat(65_536));
    }, "invalid-input");
  });
});

describe("display text (§4.8)", () => {
  it.each([
    ["alice", true],
    ["Ünïcødé 名前", true],
    ["a b", true],
    ["\ufeffalice", false], // U+FEFF: not White_Space, but a format character
    ["ali\u200bce", false],
    ["ali\u00adce", false],
    ["ali\u061cce", false],
    ["ali\u2028ce", false],
    ["ali\u2060ce", false],
    ["alice\u{e0041}", false],
    ["لپ\u200cتاپ", true], // ZWNJ: Persian needs it
    ["👩\u200d💻", true], // ZWJ: emoji sequences need it
    ["", false],
    [" alice", false],
    ["alice ", false],
    ["alice\u00a0", false],
    ["\u3000alice", false],
    ["ali\nce", false],
    ["ali\u0000ce", false],
    ["ali\u0085ce", false],
    ["ali\u009fce", false],
    ["abc\u202edef", false],
    ["abc\u2066def", false],
    ["abc\u2069def", false],
    ["\ud800", false],
  ])("%j → %s", (text, ok) => {
    expect(isDisplayText(text)).toBe(ok);
  });

  it("refuses every format character this engine knows except ZWNJ and ZWJ", () => {
    const cf = /\p{Cf}/u;
    const refused = (cp: number) => REFUSED_IN_NAMES.some(([lo, hi]) => cp >= lo && cp <= hi);
    const missing: string[] = [];
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const isCf = cf.test(String.fromCodePoint(cp));
      if (isCf && cp !== 0x200c && cp !== 0x200d && !refused(cp)) {
        missing.push(cp.toString(16));
      }
    }
    // A failure here means a newer Unicode added a format character: add it to §4.8 and to
    // both lists, with a vector.
    expect(missing).toEqual([]);
  });
});

/** A seeded xorshift generator: the same inputs on every run. */
function prng(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) & 0xff;
  };
}

const DECODERS: readonly [string, (bytes: Bytes) => unknown][] = [
  ["DeviceCertificate", (b) => DeviceCertificate.decode(b)],
  ["Revocation", (b) => Revocation.decode(b)],
  ["ExchangeKeyCertificate", (b) => ExchangeKeyCertificate.decode(b)],
  ["GroupChange", (b) => GroupChange.decode(b)],
  ["DistributionHeader", (b) => DistributionHeader.decode(b)],
  ["KeyDistribution", (b) => KeyDistribution.decode(b)],
  ["KeyRequest", (b) => KeyRequest.decode(b)],
  ["EnvelopeHeader", (b) => EnvelopeHeader.decode(b)],
  ["Envelope", (b) => Envelope.decode(b)],
  ["MessageBody", (b) => MessageBody.decode(b)],
  ["AuthChallenge", (b) => AuthChallenge.decode(b)],
  ["Signed", (b) => Signed.decode(b, 4096)],
  ["SignedSealed", (b) => SignedSealed.decode(b, 512, 512)],
];

describe("decoders on hostile input", () => {
  it.each(DECODERS)("%s throws only ProtocolError with a decode code", (_name, decode) => {
    const next = prng(0x5eed);
    const domains = Object.values(Domain).map((d) => encodeDomain(d));
    for (let round = 0; round < 2_000; round++) {
      const len = next() % 96;
      const input = new Uint8Array(len + 32);
      // Half the inputs start with a real domain so the decoders get past the first check.
      const domain = domains[next() % domains.length] ?? new Uint8Array(0);
      if (round % 2 === 0) input.set(domain);
      for (let i = round % 2 === 0 ? domain.length : 0; i < input.length; i++) input[i] = next();
      try {
        decode(input);
      } catch (error) {
        expect(error).toBeInstanceOf(ProtocolError);
        expect((error as ProtocolError).code).toMatch(/^decode\//);
      }
    }
  });
});

describe("decoders on mutated real encodings", () => {
  /** Real wire forms from the vectors, with the decoder that reads each. */
  function samples(): [string, Bytes, (bytes: Bytes) => unknown][] {
    const out: [string, Bytes, (bytes: Bytes) => unknown][] = [];
    for (const v of J.file("envelope.json").get("vectors").arr()) {
      for (const m of v.get("messages").arr()) {
        out.push(["envelope", m.get("wire").hex(), (b) => Envelope.decode(b)]);
        out.push(["body", m.get("body_hex").hex(), (b) => MessageBody.decode(b)]);
      }
    }
    for (const v of J.file("distribution.json").get("vectors").arr()) {
      for (const d of v.get("distributions").arr())
        out.push(["distribution", d.get("wire").hex(), (b) => KeyDistribution.decode(b)]);
    }
    for (const v of J.file("group.json").get("vectors").arr()) {
      for (const c of v.opt("changes")?.arr() ?? []) {
        out.push([
          "group change",
          Signed.decode(c.get("change").hex(), 262_144).body,
          (b) => GroupChange.decode(b),
        ]);
      }
    }
    const device = J.file("auth.json").get("vectors").arr()[0]?.get("device_certificate").hex();
    if (device !== undefined)
      out.push([
        "device certificate",
        Signed.decode(device, 4096).body,
        (b) => DeviceCertificate.decode(b),
      ]);
    return out.slice(0, 40);
  }

  it("truncations and bit flips yield a value or a decode/* ProtocolError, nothing else", () => {
    const next = prng(0xc0de);
    for (const [, bytes, decode] of samples()) {
      const mutants: Bytes[] = [];
      for (let cut = 0; cut < bytes.length; cut += Math.max(1, Math.floor(bytes.length / 64)))
        mutants.push(bytes.subarray(0, cut));
      for (let i = 0; i < 64; i++) {
        const m = bytes.slice();
        const at = (next() * 256 + next()) % m.length;
        m[at] = (m[at] ?? 0) ^ (1 << (next() % 8));
        mutants.push(m);
      }
      for (const m of mutants) {
        try {
          decode(m);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
          expect((error as ProtocolError).code).toMatch(/^decode\//);
        }
      }
    }
  });
});
