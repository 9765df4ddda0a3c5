/**
 * The protocol module's one error type, {@link ProtocolError}, and the stable codes it carries
 * (`docs/protocol.md` §12). The codes are the same strings the Rust core returns from
 * `Error::code()`, and what the test vectors name as expected outcomes; callers branch on `code`,
 * never on the message text.
 */

/** Malformed encodings (§2.1, §2.2). */
export const DECODE_CODES = [
  "decode/truncated",
  "decode/trailing-bytes",
  "decode/too-long",
  "decode/too-many",
  "decode/invalid-utf8",
  "decode/invalid-value",
  "decode/unknown-tag",
  "decode/wrong-domain",
  "decode/unsupported-version",
] as const;

/** Unacceptable RSA public keys (§3). */
export const KEY_CODES = [
  "key/malformed",
  "key/not-canonical-spki",
  "key/too-small",
  "key/too-large",
  "key/bad-exponent",
] as const;

/** Prekeys (§18.2, §18.6). */
export const PREKEY_CODES = ["prekey/unknown", "prekey/invalid-key"] as const;

/** Refused group changes (§6.3): clients raise an alarm on some of them. */
export const GROUP_CODES = [
  "group/wrong-conversation",
  "group/not-genesis",
  "group/replayed",
  "group/fork",
  "group/epoch-gap",
  "group/previous-hash-mismatch",
  "group/signer-not-member",
  "group/signer-not-admin",
  "group/signer-mismatch",
  "group/already-member",
  "group/not-member",
  "group/last-admin",
  "group/too-many-members",
  "group/no-op",
  "group/invalid-text",
  "group/direct-conversation",
  "group/name-mismatch",
] as const;

/** Refused edits, deletes and reactions (§8.5, §8.6). */
export const MESSAGE_CODES = ["message/wrong-target", "message/not-author"] as const;

/** Recovery keys and backups (§14, §15). */
export const RECOVERY_CODES = [
  "recovery/malformed",
  "recovery/bad-checksum",
  "recovery/no-master-key",
] as const;

/** Refused messages and distributions (§7.5, §7.6, §9.2). */
export const RECEIVE_CODES = [
  "receive/replay",
  "receive/unknown-chain",
  "receive/chain-owner-mismatch",
  "receive/epoch-mismatch",
  "receive/unknown-epoch",
  "receive/sender-not-member",
  "receive/sender-mismatch",
  "receive/wrong-conversation",
  "receive/wrong-recipient",
  "receive/index-out-of-bounds",
  "receive/key-evicted",
  "receive/far-future",
  "receive/stale-distribution",
  "receive/chain-key-conflict",
  "receive/downgrade",
  "receive/duplicate",
] as const;

/** Everything else (§12, "Others"). */
export const OTHER_CODES = [
  "bad-signature",
  "decryption-failed",
  "crypto-failure",
  "wrong-account",
  "id-mismatch",
  "device-revoked",
  "exchange-key-not-valid-now",
  "exchange-key-rollback",
  "recipient-not-member",
  "chain-needs-rotation",
  "invalid-input",
] as const;

export type DecodeCode = (typeof DECODE_CODES)[number];
export type KeyCode = (typeof KEY_CODES)[number];
export type PrekeyCode = (typeof PREKEY_CODES)[number];
export type GroupCode = (typeof GROUP_CODES)[number];
export type MessageCode = (typeof MESSAGE_CODES)[number];
export type RecoveryCode = (typeof RECOVERY_CODES)[number];
export type ReceiveCode = (typeof RECEIVE_CODES)[number];
export type OtherCode = (typeof OTHER_CODES)[number];

/** Every stable code. */
export type ErrorCode =
  | DecodeCode
  | KeyCode
  | PrekeyCode
  | GroupCode
  | MessageCode
  | RecoveryCode
  | ReceiveCode
  | OtherCode;

/** Every code, for parsing a code read from elsewhere (a test vector). */
export const ERROR_CODES: readonly ErrorCode[] = [
  ...DECODE_CODES,
  ...KEY_CODES,
  ...PREKEY_CODES,
  ...GROUP_CODES,
  ...MESSAGE_CODES,
  ...RECOVERY_CODES,
  ...RECEIVE_CODES,
  ...OTHER_CODES,
];

const CODE_SET: ReadonlySet<string> = new Set(ERROR_CODES);

/** Whether `value` is one of the stable codes. */
export function isErrorCode(value: string): value is ErrorCode {
  return CODE_SET.has(value);
}

/**
 * A refusal by the protocol. `code` is stable and machine-readable; `detail` names the field or
 * structure involved, for logs (it never holds a secret and is not API).
 */
export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
  readonly code: ErrorCode;
  readonly detail: string | undefined;

  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail === undefined ? code : `${code} (${detail})`, options);
    this.code = code;
    this.detail = detail;
  }
}

/** Whether `error` is a {@link ProtocolError}, optionally with the given code. */
export function isProtocolError(error: unknown, code?: ErrorCode): error is ProtocolError {
  return error instanceof ProtocolError && (code === undefined || error.code === code);
}

/**
 * Runs a WebCrypto operation whose failure is not caused by input (key generation, a well-formed
 * import): anything it throws becomes `crypto-failure`, with the original as `cause`.
 */
export async function cryptoOp<T>(operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    throw new ProtocolError("crypto-failure", operation, { cause: error });
  }
}

/** Marks a branch the type system proves unreachable (exhaustive `switch` over a union). */
export function unreachable(value: never): never {
  throw new ProtocolError("invalid-input", `unexpected value ${String(value)}`);
}
