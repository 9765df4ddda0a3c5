/**
 * Typed identifiers (`docs/protocol.md` §4.2). Key-derived ids (account, device, exchange key,
 * auth key) hash the key's SPKI together with the id's kind, so one key yields unrelated ids of
 * different kinds; random ids (conversation, chain, message) are 16 bytes from the caller's
 * generator. Each kind is a branded `Uint8Array`, so one can never be passed as another, and each
 * has a text form with its own prefix (`acct:`, `dev:`, …) and lower-case hex, which the parser
 * insists on.
 */

import { type Bytes, bytesEqual, copyBytes, toHex } from "./bytes";
import { type Reader, Writer } from "./codec";
import { Domain } from "./domains";
import { ProtocolError } from "./errors";
import { sha256 } from "./primitives";

declare const idBrand: unique symbol;

/** Bytes that are known to be an id of kind `K`. */
export type Id<K extends string> = Bytes & { readonly [idBrand]: K };

/** An account, identified by its master signing key. */
export type AccountId = Id<"AccountId">;
/** A device, identified by its device signing key. */
export type DeviceId = Id<"DeviceId">;
/** A device exchange (RSA-OAEP) key. */
export type ExchangeKeyId = Id<"ExchangeKeyId">;
/** A device auth key (server login challenges only). */
export type AuthKeyId = Id<"AuthKeyId">;
/** A conversation, chosen at random by its creator. */
export type ConversationId = Id<"ConversationId">;
/** A sender chain, chosen at random by its owner. */
export type ChainId = Id<"ChainId">;
/** A message, chosen at random by its sender. */
export type MessageId = Id<"MessageId">;
/** A recovery set-up (§14.2), chosen at random at each set-up. */
export type RecoveryId = Id<"RecoveryId">;
/** A backup item (§15.2), chosen at random by its writer. */
export type BackupItemId = Id<"BackupItemId">;
/** A hand-over (§16.1), chosen at random by its sender. */
export type HandoverId = Id<"HandoverId">;
/** A prekey's random id (§18.2). */
export type PrekeyId = Id<"PrekeyId">;

/** What every id kind offers: its size, prefix, constructors, codecs and text form. */
export interface IdKind<T extends Bytes> {
  /** Bytes in the binary form. */
  readonly LEN: number;
  /** Prefix of the text form. */
  readonly PREFIX: string;
  /** Wraps raw bytes (copied); a wrong length is `invalid-input`. */
  fromBytes(bytes: Uint8Array): T;
  /** Reads the binary form. */
  decode(reader: Reader): T;
  /** Writes the binary form. */
  encode(writer: Writer, id: T): void;
  /** `prefix` + lower-case hex. */
  toText(id: T): string;
  /** Parses the text form; a missing or other prefix, upper case or bad hex is `decode/invalid-value`. */
  parse(text: string): T;
  /** Byte equality. */
  equals(a: T, b: T): boolean;
}

function idKind<T extends Bytes>(name: string, len: number, prefix: string): IdKind<T> {
  const wrap = (bytes: Uint8Array): T => {
    if (bytes.length !== len)
      throw new ProtocolError("invalid-input", `${name} must be ${len} bytes`);
    return copyBytes(bytes) as T;
  };
  return {
    LEN: len,
    PREFIX: prefix,
    fromBytes: wrap,
    decode: (reader) => reader.array(len) as T,
    encode: (writer, id) => {
      writer.fixed(id);
    },
    toText: (id) => prefix + toHex(id),
    parse: (text) => {
      if (!text.startsWith(prefix) || text.length !== prefix.length + 2 * len) {
        throw new ProtocolError("decode/invalid-value", name);
      }
      const hex = text.slice(prefix.length);
      if (!/^[0-9a-f]*$/.test(hex)) throw new ProtocolError("decode/invalid-value", name);
      const out = new Uint8Array(len);
      for (let i = 0; i < len; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
      return out as T;
    },
    equals: (a, b) => bytesEqual(a, b),
  };
}

/** Account ids: `acct:` + 64 hex. */
export const AccountId = idKind<AccountId>("AccountId", 32, "acct:");
/** Device ids: `dev:` + 64 hex. */
export const DeviceId = idKind<DeviceId>("DeviceId", 32, "dev:");
/** Exchange key ids: `xkey:` + 64 hex. */
export const ExchangeKeyId = idKind<ExchangeKeyId>("ExchangeKeyId", 32, "xkey:");
/** Auth key ids: `auth:` + 64 hex. */
export const AuthKeyId = idKind<AuthKeyId>("AuthKeyId", 32, "auth:");
/** Conversation ids: `conv:` + 32 hex. */
export const ConversationId = idKind<ConversationId>("ConversationId", 16, "conv:");
/** Chain ids: `chain:` + 32 hex. */
export const ChainId = idKind<ChainId>("ChainId", 16, "chain:");
/** Message ids: `msg:` + 32 hex. */
export const MessageId = idKind<MessageId>("MessageId", 16, "msg:");

/**
 * Recovery ids: `recovery:` + 32 hex. The spec gives the ids of §14–§16 no text form (the server
 * API carries them in base64); these prefixes are this client's, for logs and local storage.
 */
export const RecoveryId = idKind<RecoveryId>("RecoveryId", 16, "recovery:");
/** Backup item ids: `item:` + 32 hex (local text form, as {@link RecoveryId}). */
export const BackupItemId = idKind<BackupItemId>("BackupItemId", 16, "item:");
/** Hand-over ids: `handover:` + 32 hex (local text form, as {@link RecoveryId}). */
export const HandoverId = idKind<HandoverId>("HandoverId", 16, "handover:");
/** Prekey ids: `pk:` + 32 hex. */
export const PrekeyId = idKind<PrekeyId>("PrekeyId", 16, "pk:");

/** The kind tag hashed into a key-derived id. */
export type KeyIdKind = "acct" | "dev" | "xkey" | "auth";

/** The SHA-256 input of a key-derived id: `domain("sotto/id") ‖ u8 len(kind) ‖ ascii(kind) ‖ bytes(spki)`. */
export function keyIdPreimage(kind: KeyIdKind, spki: Uint8Array): Bytes {
  const w = Writer.forDomain(Domain.Identifier);
  w.u8(kind.length);
  for (let i = 0; i < kind.length; i++) w.u8(kind.charCodeAt(i));
  w.bytes(spki);
  return w.finish();
}

/** `id(kind, spki) = SHA-256(keyIdPreimage(kind, spki))`. */
async function keyId(kind: KeyIdKind, spki: Uint8Array): Promise<Bytes> {
  return sha256(keyIdPreimage(kind, spki));
}

/** The id of the account whose master key has this SPKI. */
export async function accountIdOf(masterSpki: Uint8Array): Promise<AccountId> {
  return (await keyId("acct", masterSpki)) as AccountId;
}

/** The id of the device whose signing key has this SPKI. */
export async function deviceIdOf(signingSpki: Uint8Array): Promise<DeviceId> {
  return (await keyId("dev", signingSpki)) as DeviceId;
}

/** The id of this exchange key. */
export async function exchangeKeyIdOf(spki: Uint8Array): Promise<ExchangeKeyId> {
  return (await keyId("xkey", spki)) as ExchangeKeyId;
}

/** The id of this auth key. */
export async function authKeyIdOf(spki: Uint8Array): Promise<AuthKeyId> {
  return (await keyId("auth", spki)) as AuthKeyId;
}

/** A string key for maps and sets of ids (lower-case hex of the bytes). */
export function idKey(id: Bytes): string {
  return toHex(id);
}
