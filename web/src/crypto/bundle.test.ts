import { beforeAll, describe, expect, it } from "vitest";

import { type BundleRecord, KeyBundle, chainRecords, masterKeyOf } from "./bundle";
import { concatBytes, toHex } from "./bytes";
import { Domain, encodeDomain } from "./domains";
import { AccountId, ChainId, ConversationId, DeviceId } from "./ids";
import { ChainKey } from "./ratchet";
import {
  T0,
  type TestAccount,
  expectCode,
  expectOnlyDecodeErrors,
  fixedPkcs8,
  testAccount,
} from "./test-support";

const CONV = ConversationId.fromBytes(new Uint8Array(16).fill(1));
const CHAIN = ChainId.fromBytes(new Uint8Array(16).fill(2));
const OWNER = AccountId.fromBytes(new Uint8Array(32).fill(3));
const DEVICE = DeviceId.fromBytes(new Uint8Array(32).fill(4));
const KEY = new Uint8Array(32).fill(5);
const SALT = new Uint8Array(32).fill(6);

const u16 = (n: number): Uint8Array => Uint8Array.of(n >> 8, n & 0xff);
const u32 = (n: number): Uint8Array =>
  Uint8Array.of(n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
const u64 = (n: bigint): Uint8Array => {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n);
  return out;
};

function chainRecord(startIndex = 7): BundleRecord {
  return {
    type: "chain",
    conversation: CONV,
    epoch: 3n,
    chain: CHAIN,
    ownerAccount: OWNER,
    ownerDevice: DEVICE,
    startIndex,
    key: ChainKey.fromBytes(KEY),
    createdAt: T0,
  };
}

/** The §15.1 encoding of `chainRecord()`, written out field by field. */
const CHAIN_RECORD_BYTES = concatBytes(
  Uint8Array.of(0x02),
  CONV,
  u64(3n),
  CHAIN,
  OWNER,
  DEVICE,
  u32(7),
  KEY,
  u64(T0),
);

let alice: TestAccount;
let bob: TestAccount;

beforeAll(async () => {
  [alice, bob] = await Promise.all([testAccount(0, "alice"), testAccount(1, "bob")]);
});

function bundleOf(...records: Uint8Array[]): Uint8Array<ArrayBuffer> {
  return concatBytes(encodeDomain(Domain.KeyBundle), u16(records.length), ...records);
}

describe("key bundle (§15.1)", () => {
  it("encodes every record kind byte for byte as the spec writes them", () => {
    const name = new TextEncoder().encode("Team");
    const user = new TextEncoder().encode("bob");
    const pkcs8 = Uint8Array.of(1, 2, 3);
    const records: BundleRecord[] = [
      { type: "master-key", pkcs8 },
      chainRecord(),
      { type: "pin", account: OWNER, username: "bob", verified: true },
      { type: "group-name", conversation: CONV, reveal: { epoch: 9n, salt: SALT, name: "Team" } },
    ];
    const expected = bundleOf(
      concatBytes(Uint8Array.of(0x01), u32(3), pkcs8),
      CHAIN_RECORD_BYTES,
      concatBytes(Uint8Array.of(0x03), OWNER, u16(user.length), user, Uint8Array.of(1)),
      concatBytes(Uint8Array.of(0x04), CONV, u64(9n), SALT, u16(name.length), name),
    );
    const encoded = KeyBundle.encode(records);
    expect(toHex(encoded)).toBe(toHex(expected));
    const decoded = KeyBundle.decode(encoded);
    expect(toHex(KeyBundle.encode(decoded))).toBe(toHex(encoded));
    expect(decoded.map((r) => r.type)).toEqual(["master-key", "chain", "pin", "group-name"]);
    expect(chainRecords(decoded)).toHaveLength(1);
  });

  it("refuses an unknown record tag, record tags 0x05 and up being free", () => {
    for (const tag of [0x00, 0x05, 0xff]) {
      expect(() => KeyBundle.decode(bundleOf(Uint8Array.of(tag)))).toThrowError(
        /decode\/unknown-tag/,
      );
    }
  });

  it("refuses a chain record whose start index is 100 or more", () => {
    const bad = CHAIN_RECORD_BYTES.slice();
    bad.set(u32(100), 1 + 16 + 8 + 16 + 32 + 32);
    expect(() => KeyBundle.decode(bundleOf(bad))).toThrowError(/decode\/invalid-value/);
    expect(() => KeyBundle.encode([chainRecord(100)])).toThrowError(/invalid-input/);
  });

  it("bounds records, usernames and master keys before reading them", () => {
    expect(() =>
      KeyBundle.decode(concatBytes(encodeDomain(Domain.KeyBundle), u16(20_001))),
    ).toThrowError(/decode\/too-many/);
    expect(() =>
      KeyBundle.decode(bundleOf(CHAIN_RECORD_BYTES, CHAIN_RECORD_BYTES), 1),
    ).toThrowError(/decode\/too-many/);
    const longName = concatBytes(
      Uint8Array.of(0x03),
      OWNER,
      u16(65),
      new Uint8Array(65).fill(0x61),
    );
    expect(() => KeyBundle.decode(bundleOf(longName))).toThrowError(/decode\/too-long/);
    const longKey = concatBytes(Uint8Array.of(0x01), u32(4097));
    expect(() => KeyBundle.decode(bundleOf(longKey))).toThrowError(/decode\/too-long/);
    expect(() =>
      KeyBundle.encode([
        { type: "pin", account: OWNER, username: "a".repeat(65), verified: false },
      ]),
    ).toThrowError(/invalid-input/);
  });

  it("refuses a non-canonical bool, a group name that is not display text, and leftovers", () => {
    const pin = concatBytes(Uint8Array.of(0x03), OWNER, u16(1), Uint8Array.of(0x61, 0x02));
    expect(() => KeyBundle.decode(bundleOf(pin))).toThrowError(/decode\/invalid-value/);
    const name = new TextEncoder().encode(" Team");
    const groupName = concatBytes(Uint8Array.of(0x04), CONV, u64(1n), SALT, u16(name.length), name);
    expect(() => KeyBundle.decode(bundleOf(groupName))).toThrowError(/decode\/invalid-value/);
    expect(() =>
      KeyBundle.decode(concatBytes(bundleOf(CHAIN_RECORD_BYTES), Uint8Array.of(0))),
    ).toThrowError(/decode\/trailing-bytes/);
    expect(() => KeyBundle.decode(bundleOf(CHAIN_RECORD_BYTES.subarray(0, 50)))).toThrowError(
      /decode\/truncated/,
    );
    expect(() =>
      KeyBundle.decode(concatBytes(encodeDomain(Domain.MessageBody), u16(0))),
    ).toThrowError(/decode\/wrong-domain/);
  });

  it("reads truncated and bit-flipped bundles as a bundle or a decode/* error, nothing else", () => {
    const bytes = KeyBundle.encode([
      { type: "master-key", pkcs8: Uint8Array.of(1, 2, 3) },
      chainRecord(),
      { type: "pin", account: OWNER, username: "bob", verified: true },
      { type: "group-name", conversation: CONV, reveal: { epoch: 9n, salt: SALT, name: "Team" } },
    ]);
    expectOnlyDecodeErrors(bytes, (b) => KeyBundle.decode(b));
  });

  it("takes a master key record only for its own account", async () => {
    const master = await masterKeyOf(fixedPkcs8(0), alice.master.account);
    expect(toHex(master.account)).toBe(toHex(alice.master.account));
    await expectCode(() => masterKeyOf(fixedPkcs8(4), alice.master.account), "wrong-account");
    await expectCode(
      () => masterKeyOf(Uint8Array.of(1, 2, 3), bob.master.account),
      "key/malformed",
    );
  });
});
