/**
 * Test helpers (never imported by the protocol module itself): the shared test vectors, a small
 * typed reader over their JSON, and assertions on error codes.
 */

import { readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";

import { expect } from "vitest";

import { type Bytes, fromHex } from "./bytes";
import { type ErrorCode, ProtocolError, isErrorCode } from "./errors";
import type { CreateKind, Member } from "./group";
import {
  AccountIdentity,
  DeviceKeys,
  MasterKey,
  type VerifiedDevice,
  type VerifiedExchangeKey,
} from "./identity";
import { DAY } from "./limits";
import { ExchangeKeyPair, SigningKeyPair } from "./primitives";
import type { Signed } from "./signed";

/** `test-vectors/` at the repository root. */
export const VECTOR_DIR = resolve(import.meta.dirname, "../../../test-vectors");

/** The `*.json` files in `test-vectors/`, sorted. */
export function vectorFiles(): string[] {
  try {
    return readdirSync(VECTOR_DIR)
      .filter((f) => f.endsWith(".json"))
      .sort();
  } catch {
    return [];
  }
}

function describe(value: unknown): string {
  // JSON.stringify returns undefined for `undefined`, whatever its declared type says.
  return value === undefined ? "undefined" : JSON.stringify(value).slice(0, 80);
}

/** A JSON value with the path it was reached by, read through typed accessors that fail loudly. */
export class J {
  constructor(
    readonly value: unknown,
    readonly path: string,
  ) {}

  static file(name: string): J {
    return new J(JSON.parse(readFileSync(join(VECTOR_DIR, name), "utf8")) as unknown, name);
  }

  private fail(what: string): never {
    throw new Error(`${this.path}: expected ${what}, got ${describe(this.value)}`);
  }

  private record(): Record<string, unknown> {
    if (typeof this.value !== "object" || this.value === null || Array.isArray(this.value))
      this.fail("an object");
    return this.value as Record<string, unknown>;
  }

  has(key: string): boolean {
    return key in this.record();
  }

  get(key: string): J {
    const record = this.record();
    if (!(key in record)) throw new Error(`${this.path}: missing field ${key}`);
    return new J(record[key], `${this.path}.${key}`);
  }

  opt(key: string): J | undefined {
    return this.has(key) ? this.get(key) : undefined;
  }

  keys(): string[] {
    return Object.keys(this.record());
  }

  isNull(): boolean {
    return this.value === null;
  }

  str(): string {
    return typeof this.value === "string" ? this.value : this.fail("a string");
  }

  num(): number {
    return typeof this.value === "number" && Number.isSafeInteger(this.value)
      ? this.value
      : this.fail("a safe integer");
  }

  big(): bigint {
    return BigInt(this.num());
  }

  bool(): boolean {
    return typeof this.value === "boolean" ? this.value : this.fail("a boolean");
  }

  arr(): J[] {
    if (!Array.isArray(this.value)) this.fail("an array");
    return (this.value as unknown[]).map((v, i) => new J(v, `${this.path}[${i}]`));
  }

  /** Lower-case hex (upper case is refused, as the vectors' README asks). */
  hex(): Bytes {
    return fromHex(this.str(), this.path);
  }

  /** The expected error of a negative vector, if any. */
  expectedError(): ErrorCode | undefined {
    const field = this.opt("expected_error");
    if (field === undefined) return undefined;
    const code = field.str();
    if (!isErrorCode(code)) throw new Error(`${this.path}: unknown error code ${code}`);
    return code;
  }
}

/** Runs `run` and checks it throws a {@link ProtocolError} with exactly `code`. */
export async function expectCode(run: () => unknown, code: ErrorCode): Promise<void> {
  let thrown: unknown;
  try {
    await run();
  } catch (error) {
    thrown = error;
  }
  if (thrown === undefined) throw new Error(`expected ${code}, but it succeeded`);
  if (!(thrown instanceof ProtocolError))
    throw new Error(
      `expected ProtocolError ${code}, got ${thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : typeof thrown}`,
    );
  expect(thrown.code).toBe(code);
}

// ---------------------------------------------------------------------------------------------
// Fixed test accounts, from the fixed keys of `test-vectors/keys.json`
// ---------------------------------------------------------------------------------------------

/** The fixed "now" of tests and vectors: 2027-01-15T08:00:00Z. */
export const T0 = 1_800_000_000_000n;

let fixedKeys: Map<number, Bytes> | undefined;

/** The PKCS#8 of fixed key `index` (0..15, 20..22). */
export function fixedPkcs8(index: number): Bytes {
  fixedKeys ??= new Map(
    J.file("keys.json")
      .get("vectors")
      .arr()
      .map((v) => [v.get("index").num(), v.get("pkcs8").hex()] as const),
  );
  const key = fixedKeys.get(index);
  if (key === undefined) throw new Error(`no fixed key ${index}`);
  return key;
}

/** One device of a test account. */
export interface TestDevice {
  readonly keys: DeviceKeys;
  readonly exchange: ExchangeKeyPair;
  readonly certificate: Signed;
  /** Serial 1, valid `T0 - 1 day .. T0 + 29 days`. */
  readonly exchangeCertificate: Signed;
  readonly verified: VerifiedDevice;
  readonly verifiedExchange: VerifiedExchangeKey;
}

/** A test account: slot `n` uses fixed keys `4n..4n+3` (master, signing, auth, exchange), like the Rust core's. */
export interface TestAccount {
  readonly name: string;
  readonly master: MasterKey;
  readonly identity: AccountIdentity;
  readonly device: TestDevice;
  member(admin: boolean): Member;
}

export async function testAccount(slot: number, name: string): Promise<TestAccount> {
  const master = await MasterKey.fromKey(await SigningKeyPair.fromPkcs8(fixedPkcs8(4 * slot)));
  const identity = await AccountIdentity.fromKey(master.verifyingKey);
  const keys = await DeviceKeys.fromKeys(
    await SigningKeyPair.fromPkcs8(fixedPkcs8(4 * slot + 1)),
    await SigningKeyPair.fromPkcs8(fixedPkcs8(4 * slot + 2)),
  );
  const exchange = await ExchangeKeyPair.fromPkcs8(fixedPkcs8(4 * slot + 3));
  const certificate = await master.certifyDevice(
    keys.signing.verifyingKey,
    keys.auth.verifyingKey,
    "first device",
    T0 - DAY,
  );
  const exchangeCertificate = await keys.certifyExchangeKey(
    master.account,
    exchange.encryptingKey,
    1n,
    T0 - DAY,
    T0 + 29n * DAY,
  );
  const verified = await identity.verifyDevice(certificate, []);
  const verifiedExchange = await verified.verifyExchangeKey(exchangeCertificate, T0);
  return {
    name,
    master,
    identity,
    device: { keys, exchange, certificate, exchangeCertificate, verified, verifiedExchange },
    member: (admin) => ({ account: master.account, admin }),
  };
}

/** A copy of `bytes` with bit 0 of byte `index` flipped. */
export function flipped(bytes: Uint8Array, index: number): Bytes {
  const out = Uint8Array.from(bytes);
  out[index] = (out[index] ?? 0) ^ 1;
  return out;
}

/**
 * A name commitment for tests that need one but check no name (§6.5): 32 bytes made from
 * `label`, any 32 bytes being a well-formed commitment.
 */
export function fakeCommitment(label: string): Bytes {
  const out: Bytes = new Uint8Array(32);
  const bytes = new TextEncoder().encode(label);
  for (let i = 0; i < 32; i++) out[i] = bytes[i % Math.max(bytes.length, 1)] ?? 0;
  return out;
}

/** The genesis kind of a group whose commitment is {@link fakeCommitment} of `name`. */
export function groupKind(name: string): CreateKind {
  return { type: "group", nameCommitment: fakeCommitment(name) };
}

/**
 * A second device of `account` (a laptop joining a phone), on fixed keys 21 (signing), 22 (auth)
 * and 20 (exchange), certified by the account's master key at `T0`.
 */
export async function testSecondDevice(account: TestAccount): Promise<TestDevice> {
  const keys = await DeviceKeys.fromKeys(
    await SigningKeyPair.fromPkcs8(fixedPkcs8(21)),
    await SigningKeyPair.fromPkcs8(fixedPkcs8(22)),
  );
  const exchange = await ExchangeKeyPair.fromPkcs8(fixedPkcs8(20));
  const certificate = await account.master.certifyDevice(
    keys.signing.verifyingKey,
    keys.auth.verifyingKey,
    "second device",
    T0,
  );
  const exchangeCertificate = await keys.certifyExchangeKey(
    account.master.account,
    exchange.encryptingKey,
    1n,
    T0 - DAY,
    T0 + 29n * DAY,
  );
  const verified = await account.identity.verifyDevice(certificate, []);
  const verifiedExchange = await verified.verifyExchangeKey(exchangeCertificate, T0);
  return { keys, exchange, certificate, exchangeCertificate, verified, verifiedExchange };
}

/**
 * Checks that `decode` reads every truncation of `bytes` and 64 single-bit flips of it (chosen by
 * a fixed xorshift generator) as a value or a `decode/*` {@link ProtocolError}, nothing else: the
 * in-process counterpart of a decoder's fuzz target.
 */
export function expectOnlyDecodeErrors(bytes: Uint8Array, decode: (bytes: Bytes) => unknown): void {
  let x = 0xc0de;
  const next = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) & 0xff;
  };
  const mutants: Bytes[] = [];
  for (let cut = 0; cut < bytes.length; cut += Math.max(1, Math.floor(bytes.length / 64)))
    mutants.push(Uint8Array.from(bytes.subarray(0, cut)));
  for (let i = 0; i < 64; i++) {
    const m = Uint8Array.from(bytes);
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
