/**
 * Test helpers (never imported by the protocol module itself): the shared test vectors, a small
 * typed reader over their JSON, and assertions on error codes.
 */

import { readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";

import { expect } from "vitest";

import { type Bytes, fromHex } from "./bytes";
import { type ErrorCode, ProtocolError, isErrorCode } from "./errors";

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
    if (typeof this.value !== "object" || this.value === null || Array.isArray(this.value)) this.fail("an object");
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
    return typeof this.value === "number" && Number.isSafeInteger(this.value) ? this.value : this.fail("a safe integer");
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
  if (!(thrown instanceof ProtocolError)) throw new Error(`expected ProtocolError ${code}, got ${thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : typeof thrown}`);
  expect(thrown.code).toBe(code);
}
