/**
 * The plaintext inside an envelope and the padding that hides its length (`docs/protocol.md`
 * §8.2, §8.3).
 *
 * ```text
 * body = domain("sotto/body") ‖ kind
 * kind = 0x01 ‖ bytes(utf8 text)
 *      | 0x02 ‖ text(blob id) ‖ text(file name) ‖ text(media type) ‖ u64 size ‖ secret [32]
 *             ‖ blob sha256 [32] ‖ bytes(utf8 caption)
 *      | 0x03 ‖ u8 receipt kind ‖ list(message id [16])
 *      | 0x04 ‖ u64 epoch ‖ salt [32] ‖ text(name)          -- GroupName (§6.5)
 *      | 0x05 ‖ bytes(utf8 text) ‖ list(message id [16]) ‖ list(account id [32])  -- Message (§8.4)
 *      | 0x06 ‖ message id [16] ‖ bytes(utf8 text) ‖ list(account id [32])       -- Edit (§8.5)
 *      | 0x07 ‖ message id [16]                                                    -- Delete (§8.5)
 *      | 0x08 ‖ message id [16] ‖ text(reaction) ‖ bool added                      -- Reaction (§8.6)
 * pad(body) = body ‖ 0x80 ‖ 0x00 × (bucket(len) − len − 1),  bucket(n) = max(256, 2^⌈log2(n+1)⌉)
 * ```
 *
 * Every rule a decoder enforces, the encoder enforces first (`invalid-input`), so a sender learns
 * before sending what a receiver would refuse. Which edit or reaction applies is `amend.ts`.
 */

import { type Bytes, utf8Decode, utf8Encode } from "./bytes";
import { Reader, Writer, isDisplayText, utf8Length } from "./codec";
import { Domain } from "./domains";
import { ProtocolError, unreachable } from "./errors";
import { type NameReveal, NAME_SALT_LEN, checkGroupName } from "./group";
import {
  type AccountId as AccountIdT,
  type MessageId as MessageIdT,
  AccountId,
  MessageId,
  idKey,
} from "./ids";
import {
  MAX_BLOB_ID_LEN,
  MAX_BODY_LEN,
  MAX_FILE_NAME_LEN,
  MAX_GROUP_NAME_LEN,
  MAX_MEDIA_TYPE_LEN,
  MAX_MENTIONS,
  MAX_PADDED_LEN,
  MAX_REACTION_LEN,
  MAX_RECEIPT_IDS,
  MAX_REPLY_IDS,
  MIN_PADDED_LEN,
} from "./limits";

/** Everything a recipient needs to fetch and decrypt an attachment blob (§10). */
export interface AttachmentRef {
  /** The server's id for the blob, ≤ 64 bytes. */
  readonly blobId: string;
  /** Display text, ≤ 255 bytes. */
  readonly fileName: string;
  /** ≤ 127 bytes. */
  readonly mediaType: string;
  /** Plaintext size in bytes. */
  readonly size: bigint;
  /** The attachment secret (32 bytes). */
  readonly secret: Bytes;
  /** SHA-256 of the blob (32 bytes). */
  readonly blobSha256: Bytes;
}

/** What a receipt reports. */
export type ReceiptKind = "delivered" | "read";

/** The content of a message. */
export type MessageBody =
  | { readonly type: "text"; readonly text: string }
  | { readonly type: "attachment"; readonly attachment: AttachmentRef; readonly caption: string }
  | {
      readonly type: "receipt";
      readonly kind: ReceiptKind;
      readonly messages: readonly MessageIdT[];
    }
  /** A group's name for its members (§6.5): checked against the log, never shown as a message. */
  | { readonly type: "group-name"; readonly reveal: NameReveal }
  /** A text with a reply or mentions (§8.4); a text with neither is sent as `text`. */
  | {
      readonly type: "message";
      readonly text: string;
      readonly replyTo?: MessageIdT;
      readonly mentions: readonly AccountIdT[];
    }
  /** A new text (caption) for the sender's own content message; its mentions replace the old. */
  | {
      readonly type: "edit";
      readonly target: MessageIdT;
      readonly text: string;
      readonly mentions: readonly AccountIdT[];
    }
  /** Withdraws the sender's own content message (§8.5). */
  | { readonly type: "delete"; readonly target: MessageIdT }
  /** Adds (`added`) or takes back a reaction: 1 to 32 bytes of display text (§8.6). */
  | {
      readonly type: "reaction";
      readonly target: MessageIdT;
      readonly reaction: string;
      readonly added: boolean;
    };

/** The body kinds a client shows as messages, and that replies and amendments may name (§8.2). */
export type ContentBodyType = "text" | "attachment" | "message";

/** Whether `body` is a content message (Text, Message or Attachment). */
export function isContentBody(body: MessageBody): boolean {
  switch (body.type) {
    case "text":
    case "attachment":
    case "message":
      return true;
    case "receipt":
    case "group-name":
    case "edit":
    case "delete":
    case "reaction":
      return false;
    default:
      return unreachable(body);
  }
}

/**
 * Checks a mention list as a receiver would (§8.4): at most 64 accounts, none twice. `invalid-input`
 * when encoding; the decoder reports the same rules as `decode/too-many`, `decode/invalid-value`.
 */
export function checkMentions(mentions: readonly AccountIdT[]): void {
  if (mentions.length > MAX_MENTIONS)
    throw new ProtocolError("invalid-input", `more than ${MAX_MENTIONS} mentions`);
  if (hasRepeat(mentions)) throw new ProtocolError("invalid-input", "an account mentioned twice");
}

/** Checks a reaction as a receiver would (§8.6): 1 to 32 bytes of display text. */
export function checkReaction(reaction: string): void {
  if (utf8Length(reaction) > MAX_REACTION_LEN || !isDisplayText(reaction)) {
    throw new ProtocolError("invalid-input", "reaction: 1 to 32 bytes of display text");
  }
}

function hasRepeat(accounts: readonly AccountIdT[]): boolean {
  const seen = new Set<string>();
  for (const account of accounts) {
    const key = idKey(account);
    if (seen.has(key)) return true;
    seen.add(key);
  }
  return false;
}

function encodeMentions(w: Writer, mentions: readonly AccountIdT[]): void {
  checkMentions(mentions);
  w.count(mentions.length);
  for (const account of mentions) AccountId.encode(w, checkedId(AccountId, account));
}

function decodeMentions(r: Reader): AccountIdT[] {
  // The count is checked before anything is read or allocated.
  const count = r.count("mentions", MAX_MENTIONS);
  const mentions: AccountIdT[] = [];
  for (let i = 0; i < count; i++) mentions.push(AccountId.decode(r));
  if (hasRepeat(mentions)) throw new ProtocolError("decode/invalid-value", "mentions");
  return mentions;
}

/** An id of the right length (a shorter one would shift every later field). */
function checkedId<T extends Uint8Array>(kind: { readonly LEN: number }, id: T): T {
  if (id.length !== kind.LEN) throw new ProtocolError("invalid-input", "id of the wrong length");
  return id;
}

const KIND_TEXT = 0x01;
const KIND_ATTACHMENT = 0x02;
const KIND_RECEIPT = 0x03;
const KIND_GROUP_NAME = 0x04;
const KIND_MESSAGE = 0x05;
const KIND_EDIT = 0x06;
const KIND_DELETE = 0x07;
const KIND_REACTION = 0x08;
const RECEIPT_DELIVERED = 1;
const RECEIPT_READ = 2;
const PAD_MARK = 0x80;

export const MessageBody = {
  /** The canonical encoding (before padding); out-of-bounds content is `invalid-input`. */
  encode(body: MessageBody): Bytes {
    const w = Writer.forDomain(Domain.MessageBody);
    switch (body.type) {
      case "text":
        w.u8(KIND_TEXT);
        w.bytes(utf8Encode(body.text));
        break;
      case "attachment": {
        const a = body.attachment;
        if (utf8Length(a.blobId) > MAX_BLOB_ID_LEN)
          throw new ProtocolError("invalid-input", "blob id too long");
        if (!isDisplayText(a.fileName) || utf8Length(a.fileName) > MAX_FILE_NAME_LEN) {
          throw new ProtocolError("invalid-input", "file name: 1 to 255 bytes of display text");
        }
        if (utf8Length(a.mediaType) > MAX_MEDIA_TYPE_LEN)
          throw new ProtocolError("invalid-input", "media type too long");
        if (a.secret.length !== 32 || a.blobSha256.length !== 32) {
          throw new ProtocolError("invalid-input", "attachment secret and hash are 32 bytes");
        }
        w.u8(KIND_ATTACHMENT);
        w.text(a.blobId, "blob id");
        w.text(a.fileName, "file name");
        w.text(a.mediaType, "media type");
        w.u64(a.size);
        w.fixed(a.secret);
        w.fixed(a.blobSha256);
        w.bytes(utf8Encode(body.caption, "caption"));
        break;
      }
      case "receipt":
        if (body.messages.length > MAX_RECEIPT_IDS)
          throw new ProtocolError("invalid-input", "receipt names too many messages");
        w.u8(KIND_RECEIPT);
        w.u8(receiptTag(body.kind));
        w.count(body.messages.length);
        for (const id of body.messages) MessageId.encode(w, id);
        break;
      case "group-name":
        if (body.reveal.salt.length !== NAME_SALT_LEN)
          throw new ProtocolError("invalid-input", "a name salt is 32 bytes");
        checkGroupName(body.reveal.name);
        w.u8(KIND_GROUP_NAME);
        w.u64(body.reveal.epoch);
        w.fixed(body.reveal.salt);
        w.text(body.reveal.name, "group name");
        break;
      case "message": {
        const text = utf8Encode(body.text, "text");
        w.u8(KIND_MESSAGE);
        w.bytes(text);
        // The reply is a list of at most one id, so a later version may name more.
        if (body.replyTo === undefined) w.count(0);
        else {
          w.count(1);
          MessageId.encode(w, checkedId(MessageId, body.replyTo));
        }
        encodeMentions(w, body.mentions);
        break;
      }
      case "edit": {
        const text = utf8Encode(body.text, "text");
        w.u8(KIND_EDIT);
        MessageId.encode(w, checkedId(MessageId, body.target));
        w.bytes(text);
        encodeMentions(w, body.mentions);
        break;
      }
      case "delete":
        w.u8(KIND_DELETE);
        MessageId.encode(w, checkedId(MessageId, body.target));
        break;
      case "reaction":
        checkReaction(body.reaction);
        w.u8(KIND_REACTION);
        MessageId.encode(w, checkedId(MessageId, body.target));
        w.text(body.reaction, "reaction");
        w.bool(body.added);
        break;
      default:
        unreachable(body);
    }
    const bytes = w.finish();
    if (bytes.length > MAX_BODY_LEN)
      throw new ProtocolError("invalid-input", "message body longer than 64 KiB");
    return bytes;
  },

  /** Decodes a body. */
  decode(bytes: Bytes): MessageBody {
    // The whole body's bound first, before its domain (§2.1, §8.2).
    if (bytes.length > MAX_BODY_LEN) throw new ProtocolError("decode/too-long", "message body");
    const r = Reader.forDomain(bytes, Domain.MessageBody);
    let body: MessageBody;
    const kind = r.u8();
    switch (kind) {
      case KIND_TEXT:
        body = { type: "text", text: utf8Decode(r.bytes("text", MAX_BODY_LEN), "text") };
        break;
      case KIND_ATTACHMENT: {
        const attachment: AttachmentRef = {
          blobId: r.text("blob id", MAX_BLOB_ID_LEN),
          fileName: r.displayText("file name", MAX_FILE_NAME_LEN),
          mediaType: r.text("media type", MAX_MEDIA_TYPE_LEN),
          size: r.u64(),
          secret: r.array(32),
          blobSha256: r.array(32),
        };
        body = {
          type: "attachment",
          attachment,
          caption: utf8Decode(r.bytes("caption", MAX_BODY_LEN), "caption"),
        };
        break;
      }
      case KIND_RECEIPT: {
        const tag = r.u8();
        let receipt: ReceiptKind;
        if (tag === RECEIPT_DELIVERED) receipt = "delivered";
        else if (tag === RECEIPT_READ) receipt = "read";
        else throw new ProtocolError("decode/unknown-tag", `receipt kind ${tag}`);
        const count = r.count("receipt ids", MAX_RECEIPT_IDS);
        const messages: MessageIdT[] = [];
        for (let i = 0; i < count; i++) messages.push(MessageId.decode(r));
        body = { type: "receipt", kind: receipt, messages };
        break;
      }
      case KIND_GROUP_NAME: {
        const epoch = r.u64();
        const salt = r.array(NAME_SALT_LEN);
        const name = r.displayText("group name", MAX_GROUP_NAME_LEN);
        body = { type: "group-name", reveal: { epoch, salt, name } };
        break;
      }
      case KIND_MESSAGE: {
        const text = utf8Decode(r.bytes("text", MAX_BODY_LEN), "text");
        const replies = r.count("reply to", MAX_REPLY_IDS);
        const replyTo = replies === 0 ? undefined : MessageId.decode(r);
        const mentions = decodeMentions(r);
        body =
          replyTo === undefined
            ? { type: "message", text, mentions }
            : { type: "message", text, replyTo, mentions };
        break;
      }
      case KIND_EDIT: {
        const target = MessageId.decode(r);
        const text = utf8Decode(r.bytes("text", MAX_BODY_LEN), "text");
        body = { type: "edit", target, text, mentions: decodeMentions(r) };
        break;
      }
      case KIND_DELETE:
        body = { type: "delete", target: MessageId.decode(r) };
        break;
      case KIND_REACTION: {
        const target = MessageId.decode(r);
        const reaction = r.displayText("reaction", MAX_REACTION_LEN);
        body = { type: "reaction", target, reaction, added: r.bool("added") };
        break;
      }
      default:
        throw new ProtocolError("decode/unknown-tag", `body kind ${kind}`);
    }
    r.finish();
    return body;
  },
};

function receiptTag(kind: ReceiptKind): number {
  switch (kind) {
    case "delivered":
      return RECEIPT_DELIVERED;
    case "read":
      return RECEIPT_READ;
    default:
      return unreachable(kind);
  }
}

/** `bucket(n)`: the padded length of a body of `n` bytes. */
export function paddedLength(n: number): number {
  let bucket = MIN_PADDED_LEN;
  while (bucket < n + 1) bucket *= 2;
  return bucket;
}

/** Pads an encoded body to its bucket; a bucket above 128 KiB is `invalid-input`. */
export function pad(body: Uint8Array): Bytes {
  const target = paddedLength(body.length);
  if (target > MAX_PADDED_LEN)
    throw new ProtocolError("invalid-input", "message body too long to pad");
  const out = new Uint8Array(target);
  out.set(body);
  out[body.length] = PAD_MARK;
  return out;
}

/**
 * Strips the padding, checking it is exactly what {@link pad} makes. Any violation is
 * `decryption-failed`, the same error as a bad tag.
 */
export function unpad(padded: Bytes): Bytes {
  let mark = padded.length - 1;
  while (mark >= 0 && padded[mark] === 0) mark--;
  if (mark < 0 || padded[mark] !== PAD_MARK || padded.length !== paddedLength(mark)) {
    throw new ProtocolError("decryption-failed");
  }
  return padded.subarray(0, mark);
}
