/**
 * JSON that keeps `bigint` and `Uint8Array` values (for local state before it is encrypted):
 * `{"$b": "123"}` and `{"$u": "base64"}`. `undefined` object fields are dropped, as in JSON.
 */

import { fromB64, toB64 } from "./b64";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function encodeValue(value: unknown): Json | undefined {
  if (value === null) return null;
  switch (typeof value) {
    case "bigint":
      return { $b: value.toString() };
    case "boolean":
    case "number":
    case "string":
      return value;
    case "undefined":
      return undefined;
    case "object": {
      if (value instanceof Uint8Array) return { $u: toB64(value) };
      if (Array.isArray(value)) return value.map((v: unknown) => encodeValue(v) ?? null);
      const out: Record<string, Json> = {};
      for (const [k, v] of Object.entries(value)) {
        const e = encodeValue(v);
        if (e !== undefined) out[k] = e;
      }
      return out;
    }
    case "function":
    case "symbol":
      break;
  }
  throw new TypeError(`cannot encode a ${typeof value}`);
}

function decodeValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decodeValue);
  if (value !== null && typeof value === "object") {
    const rec = value as Record<string, unknown>;
    const keys = Object.keys(rec);
    if (keys.length === 1 && typeof rec["$b"] === "string") return BigInt(rec["$b"]);
    if (keys.length === 1 && typeof rec["$u"] === "string") return fromB64(rec["$u"]);
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k] = decodeValue(rec[k]);
    return out;
  }
  return value;
}

export function encodeTagged(value: unknown): string {
  return JSON.stringify(encodeValue(value) ?? null);
}

/** The caller asserts the type: only this device's own encrypted store is read this way. */
export function decodeTagged(text: string): unknown {
  return decodeValue(JSON.parse(text));
}
