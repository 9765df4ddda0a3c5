/**
 * Which structure a payload's wire form holds, read before anything is verified: the inbox and
 * the held queue route a payload by it (a message, a key distribution, a key request). Nothing
 * is trusted from it; each structure's own decoder and checks decide.
 */

export type WireKind = "envelope" | "distribution" | "key-request" | "unknown";

/** Which structure a wire form holds, from the domain after its first length prefix. */
export function wireKind(bytes: Uint8Array): WireKind {
  if (bytes.length < 6) return "unknown";
  const len = bytes[4] ?? 0;
  const label = String.fromCharCode(...bytes.subarray(5, 5 + len));
  switch (label) {
    case "sotto/msg":
      return "envelope";
    case "sotto/kdm":
      return "distribution";
    case "sotto/key-request":
      return "key-request";
    default:
      return "unknown";
  }
}
