/**
 * The outbox (`docs/protocol.md` §7–§9): a message is queued with its id, then prepared under a
 * Web Lock on the conversation's sending chain (rotate if needed and distribute, *reserve* →
 * *persist the chain* → *seal* → persist the sealed envelope), then sent; a retry sends the same
 * bytes under the same message id, so the server's de-duplication makes it idempotent. Strictly
 * ordered; transient failures are retried on reconnect and after a backoff (see `delivery.ts`).
 *
 * Never silent: the server's answer names each member device it gave no copy, with the reason.
 * Such an item leaves the queue (it is stored; nothing behind it waits) and is kept in
 * `undelivered.ts`; the message shows "Not delivered to …" until a retry of the same id and bytes
 * reaches them, automatically (on reconnect; after a backoff while a queue drains; every few
 * minutes while the recipient has to act) or when the user presses Retry, or until the user
 * dismisses it.
 */

import {
  AccountId,
  ConversationId,
  DeviceId,
  MessageId,
  MessageBody,
  SenderChain,
  type SenderChainSnapshot,
  bytesEqual,
  isProtocolError,
  systemEnv,
  systemRandom,
  type VerifiedDevice,
  type VerifiedExchangeKey,
  type VerifiedPrekey,
  idKey,
} from "../../crypto";
import { type ApiClient, isApiError } from "../api";
import { toB64 } from "../b64";
import { withLock } from "../../storage/locks";
import type { SealedStore } from "../../storage/sealed";
import type { Conversations } from "./conversations";
import { isTransient, retryDelay } from "./delivery";
import type { Directory } from "./directory";
import { claimPrekeys, v2Stats } from "./prekeys";
import type { MessagingHost } from "./messaging";
import type { AttachmentInfo, MessageStatus, UndeliveredNote } from "./model";
import type { Undelivered } from "../schemas";
import { type KeptItem, UndeliveredItems } from "./undelivered";

/** Automatic retries of undelivered items that wait for the recipient (accept, unblock). */
const RECIPIENT_RETRY_MS = 5 * 60_000;

export interface OutboxItem {
  readonly conv: string;
  readonly messageId: string;
  /** `message`: an envelope sealed on first attempt; `raw`: a distribution or key request. */
  readonly kind: "message" | "raw";
  readonly body?: StoredBody;
  wire?: string;
  readonly to?: string;
  attempts: number;
  /**
   * When the user sent it (ms): sealed as its `sent_at`, so the time shown here and the order
   * of edits and reactions (§8.5) are the same on every device, however late it is sealed.
   */
  readonly sentAt?: number;
}

/** A message body in a form the tagged-JSON store keeps. */
export type StoredBody =
  | { readonly type: "text"; readonly text: string }
  /** Text with a reply (≤ 1 id) or mentions (account ids), §8.4. */
  | {
      readonly type: "message";
      readonly text: string;
      readonly replyTo?: string;
      readonly mentions: readonly string[];
    }
  /** Amendments (§8.5, §8.6): never shown as messages, applied to their target. */
  | {
      readonly type: "edit";
      readonly target: string;
      readonly text: string;
      readonly mentions: readonly string[];
    }
  | { readonly type: "delete"; readonly target: string }
  | {
      readonly type: "reaction";
      readonly target: string;
      readonly emoji: string;
      readonly added: boolean;
    }
  | { readonly type: "attachment"; readonly attachment: AttachmentInfo; readonly caption: string }
  | {
      readonly type: "receipt";
      readonly kind: "delivered" | "read";
      readonly messages: readonly string[];
    }
  /** A group's name for its members (protocol §6.5); like a receipt, never shown. */
  | {
      readonly type: "group-name";
      /** The epoch of the change whose commitment it opens, as decimal text. */
      readonly epoch: string;
      readonly salt: readonly number[];
      readonly name: string;
    };

/** Why the server (or this client) refused a message for good, in words. */
export function refusalText(e: unknown): string {
  if (e instanceof BlockedError) return "a member's identity changed";
  if (isApiError(e, "too_large")) return "too large for the server";
  // The server answers 404 to a post from someone not a member (or to a conversation gone).
  if (isApiError(e, "not_found")) return "you are no longer a member of this conversation";
  if (isApiError(e, "rejected"))
    return e.detail === "group/not-member" ? "you are no longer a member" : "refused by the server";
  if (isProtocolError(e)) return `could not be sealed (${e.code})`;
  return "refused by the server";
}

export class BlockedError extends Error {
  constructor(readonly accounts: readonly string[]) {
    super("a member's identity changed");
  }
}

const STATUS_RANK: Record<MessageStatus, number> = {
  refused: -1,
  sending: 0,
  waiting: 0,
  sent: 1,
  delivered: 2,
  read: 3,
};

function toBody(b: StoredBody): MessageBody {
  switch (b.type) {
    case "text":
      return b;
    case "attachment":
      return {
        type: "attachment",
        caption: b.caption,
        attachment: {
          blobId: b.attachment.blobId,
          fileName: b.attachment.fileName,
          mediaType: b.attachment.mediaType,
          size: BigInt(b.attachment.size),
          secret: new Uint8Array(b.attachment.secret),
          blobSha256: new Uint8Array(b.attachment.blobSha256),
        },
      };
    case "receipt":
      return { type: "receipt", kind: b.kind, messages: b.messages.map((m) => MessageId.parse(m)) };
    case "group-name":
      return {
        type: "group-name",
        reveal: { epoch: BigInt(b.epoch), salt: new Uint8Array(b.salt), name: b.name },
      };
    case "message":
    case "edit":
    case "delete":
    case "reaction":
      return amendmentBody(b);
  }
}

/** Bodies of kinds 0x05–0x08 (§8.2) in the protocol's form. */
function amendmentBody(
  b: Extract<StoredBody, { type: "message" | "edit" | "delete" | "reaction" }>,
): MessageBody {
  switch (b.type) {
    case "message":
      return {
        type: "message",
        text: b.text,
        mentions: b.mentions.map((a) => AccountId.parse(a)),
        ...(b.replyTo !== undefined ? { replyTo: MessageId.parse(b.replyTo) } : {}),
      };
    case "edit":
      return {
        type: "edit",
        target: MessageId.parse(b.target),
        text: b.text,
        mentions: b.mentions.map((a) => AccountId.parse(a)),
      };
    case "delete":
      return { type: "delete", target: MessageId.parse(b.target) };
    case "reaction":
      return {
        type: "reaction",
        target: MessageId.parse(b.target),
        reaction: b.emoji,
        added: b.added,
      };
  }
}

/** The largest encoded body the protocol takes (§11), in bytes. */
export const MAX_BODY_BYTES = 65_536;

/** A message longer than the protocol allows: refused before it is sealed or queued. */
export class TooLongError extends Error {
  constructor(chars: number, limit: number) {
    super(
      `Message too long: ${chars.toLocaleString("en-US")} characters, the limit is ${limit.toLocaleString("en-US")} bytes`,
    );
  }
}

/** This account is no longer a member: nothing is sealed for the conversation. */
export class NotMemberError extends Error {
  constructor() {
    super("You are no longer a member of this conversation");
  }
}

/** The text a body carries, for the length check's message. */
function bodyText(b: StoredBody): string {
  switch (b.type) {
    case "text":
    case "message":
    case "edit":
      return b.text;
    case "attachment":
      return b.caption;
    case "delete":
    case "reaction":
    case "receipt":
    case "group-name":
      return "";
  }
}

/**
 * Checks what can be known before sealing (protocol §11): the encoded body's length. Throws
 * {@link TooLongError}.
 */
export function checkBody(body: StoredBody, maxBytes: number = MAX_BODY_BYTES): void {
  let length: number;
  try {
    length = MessageBody.encode(toBody(body)).length;
  } catch (e) {
    if (!isProtocolError(e, "invalid-input")) throw e;
    // The encoder refuses anything over the protocol's own limit.
    length = Number.POSITIVE_INFINITY;
    if (utf8Bytes(bodyText(body)) <= maxBytes) throw e;
  }
  if (length > maxBytes) throw new TooLongError(Array.from(bodyText(body)).length, maxBytes);
}

function utf8Bytes(text: string): number {
  return new TextEncoder().encode(text).length;
}

export class Outbox {
  /** What is left to send, in order (persisted as `outbox`). */
  items: OutboxItem[] = [];
  /**
   * Messages queued but not yet written to the sealed store: the view leaves them out, so a
   * message is never shown as pending unless a reload would show (and send) it too.
   */
  readonly unsaved = new Set<string>();
  /** Permanently refused messages, kept for "retry" (persisted as `failed`). */
  private readonly failed = new Map<string, OutboxItem>();
  /** Sent, but refused to some member device: kept for a retry (persisted as `undelivered`). */
  private undelivered = new UndeliveredItems();
  /** Retries of undelivered items run one at a time, beside the queue. */
  private redelivering: Promise<void> = Promise.resolve();
  private redeliverTimer: ReturnType<typeof setTimeout> | undefined;
  private redeliverAttempts = 0;
  private redeliverDue = 0;
  private sending: Promise<void> | undefined;
  private again = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly api: ApiClient,
    private readonly store: SealedStore,
    private readonly directory: Directory,
    private readonly convs: Conversations,
    private readonly host: MessagingHost,
  ) {}

  async load(): Promise<void> {
    // A fresh start retries at once: the backoff starts over.
    this.items = ((await this.store.get<OutboxItem[]>("outbox")) ?? []).map((o) => ({
      ...o,
      attempts: 0,
    }));
    for (const f of (await this.store.get<OutboxItem[]>("failed")) ?? [])
      this.failed.set(f.messageId, f);
    this.undelivered = new UndeliveredItems(
      (await this.store.get<KeptItem[]>("undelivered")) ?? [],
    );
    this.renameFailed();
  }

  /**
   * Records stored by earlier versions say "failed" for both states: what the server refused
   * for good (kept in `failed`) is refused, what is still queued waits. In memory; the next save
   * of the record keeps it.
   */
  private renameFailed(): void {
    for (const rec of this.convs.records.values()) {
      if (!rec.messages.some((m) => (m.status as string) === "failed")) continue;
      rec.messages = rec.messages.map((m) =>
        (m.status as string) !== "failed"
          ? m
          : this.failed.has(m.id)
            ? { ...m, status: "refused", refusal: "refused by the server" }
            : { ...m, status: "waiting" },
      );
    }
  }

  private undeliveredEntry(): readonly [string, unknown] {
    return ["undelivered", this.undelivered.list()];
  }

  entry(): readonly [string, unknown] {
    return ["outbox", this.items];
  }

  /**
   * Refuses, before anything is sealed or queued, what the server would refuse for sure: a body
   * over the limit, a conversation this account left.
   */
  private precheck(conv: string, body: StoredBody, maxBodyBytes: number): void {
    checkBody(body, maxBodyBytes);
    const state = this.convs.state(conv);
    if (state === undefined) throw new Error("unknown conversation");
    if (!state.isMember(this.host.keys().account)) throw new NotMemberError();
  }

  /** A member whose identity changed (pinned state only: never waits for the network). */
  private async checkIdentities(conv: string): Promise<void> {
    const blocked: string[] = [];
    for (const m of this.convs.state(conv)?.members() ?? []) {
      const pin = await this.directory.pin(AccountId.toText(m.account));
      if (pin !== undefined && (pin.pendingSpki !== undefined || pin.replaces !== undefined))
        blocked.push(AccountId.toText(m.account));
    }
    if (blocked.length > 0) throw new BlockedError(blocked);
  }

  /**
   * Queues a message and starts sending; a text or attachment is shown at once. `local` applies
   * the message here (an edit, delete or reaction of this account) in the same transaction that
   * queues it. Throws, with nothing queued, what {@link precheck} refuses, and a member's changed
   * identity for what the user sends (receipts and names wait in the queue instead).
   */
  async send(
    conv: string,
    body: StoredBody,
    local?: (messageId: string, sentAt: number) => void,
    maxBodyBytes: number = MAX_BODY_BYTES,
  ): Promise<string> {
    this.precheck(conv, body, maxBodyBytes);
    const [, rec] = this.convs.entry(conv);
    const me = this.host.keys();
    const messageId = MessageId.toText(MessageId.fromBytes(systemRandom(16)));
    const sentAt = Date.now();
    const before = rec.messages;
    if (body.type === "text" || body.type === "attachment" || body.type === "message") {
      // Not shown until the outbox entry and the record holding it are stored (see `unsaved`).
      this.unsaved.add(messageId);
      const content =
        body.type === "attachment"
          ? { type: "attachment" as const, attachment: body.attachment, caption: body.caption }
          : { type: "text" as const, text: body.text };
      rec.messages.push({
        id: messageId,
        from: me.record.account,
        fromUsername: me.record.username,
        mine: true,
        sentAt,
        receivedAt: sentAt,
        content,
        status: "sending",
        ...(body.type === "message" && body.replyTo !== undefined ? { replyTo: body.replyTo } : {}),
        ...(body.type === "message" && body.mentions.length > 0 ? { mentions: body.mentions } : {}),
      });
    }
    rec.messages = [...rec.messages];
    local?.(messageId, sentAt);
    this.items.push({ conv, messageId, kind: "message", body, attempts: 0, sentAt });
    try {
      if (body.type !== "receipt" && body.type !== "group-name") await this.checkIdentities(conv);
      await this.store.put([this.convs.entry(conv), this.entry()]);
    } catch (e) {
      // Not stored, so not queued either: the caller shows the error.
      rec.messages = before.filter((m) => m.id !== messageId);
      this.items = this.items.filter((o) => o.messageId !== messageId);
      throw e;
    } finally {
      this.unsaved.delete(messageId);
    }
    this.host.changed();
    this.kick();
    return messageId;
  }

  /** Sends whatever is queued (again). */
  kick(): void {
    if (this.sending !== undefined) {
      this.again = true;
      return;
    }
    this.sending = this.drain().finally(() => {
      this.sending = undefined;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  /**
   * Moves a message of this account to `status`: before it is sent, between sending, waiting and
   * refused (`refusal` says why); once sent, only forward (a late receipt never goes back).
   */
  setStatus(conv: string, id: string, status: MessageStatus, refusal?: string): void {
    const rec = this.convs.records.get(conv);
    const msg = rec?.messages.find((m) => m.id === id && m.mine);
    if (rec === undefined || msg === undefined) return;
    const current = msg.status ?? "sent";
    const unsent = (s: MessageStatus) => STATUS_RANK[s] < STATUS_RANK.sent;
    if (unsent(status) ? !unsent(current) : STATUS_RANK[status] <= STATUS_RANK[current]) return;
    rec.messages = rec.messages.map((m) => {
      if (m !== msg) return m;
      const rest = { ...m, status };
      delete rest.refusal;
      return status === "refused" && refusal !== undefined ? { ...rest, refusal } : rest;
    });
  }

  private async drain(): Promise<void> {
    while (this.items.length > 0) {
      const item = this.items[0];
      if (item === undefined) break;
      try {
        if (item.wire === undefined) {
          await this.prepare(item);
          // Distributions were queued ahead of the message: they go first.
          if (this.items[0] !== item) continue;
        }
        const wire = item.wire;
        if (wire === undefined) throw new Error("not sealed");
        const missing = await this.post(item, wire);
        this.items = this.items.filter((o) => o !== item);
        this.setStatus(item.conv, item.messageId, "sent");
        const touched = await this.recordAnswer(item, missing);
        await this.store.put([
          this.entry(),
          this.undeliveredEntry(),
          ...this.convEntries([item.conv, ...touched]),
        ]);
        this.host.changed();
        if (missing.length > 0) this.scheduleRedelivery();
      } catch (e) {
        item.attempts += 1;
        const permanent =
          e instanceof BlockedError ||
          isProtocolError(e) ||
          isApiError(e, "not_found") ||
          isApiError(e, "rejected") ||
          isApiError(e, "invalid_field") ||
          isApiError(e, "malformed_body") ||
          isApiError(e, "too_large");
        if (permanent) this.setStatus(item.conv, item.messageId, "refused", refusalText(e));
        // Everything queued behind it waits too (Retry, the next reconnect or the backoff sends
        // the queue again in order, the same sealed bytes).
        else
          for (const o of this.items)
            if (o.kind === "message") this.setStatus(o.conv, o.messageId, "waiting");
        if (permanent) {
          // Dropped from the queue; "retry" queues it again (same id, same sealed bytes).
          this.items = this.items.filter((o) => o !== item);
          if (item.kind === "message") this.failed.set(item.messageId, item);
        }
        await this.store.put([
          this.entry(),
          ["failed", [...this.failed.values()]],
          ...(this.convs.records.has(item.conv) ? [this.convs.entry(item.conv)] : []),
        ]);
        this.host.changed();
        if (!permanent) {
          // Keep the order and try again: on reconnect, on "retry", or after a backoff (a
          // throttle or a 503 does not drop the socket).
          this.scheduleRetry(item.attempts);
          return;
        }
      }
    }
  }

  /**
   * Posts an item's sealed bytes; returns the member devices that got no copy. A reused id is
   * refused (`409`) once the server holds a copy and no undelivered record for it: the earlier
   * attempt went through to every device that could take it.
   */
  private async post(item: OutboxItem, wire: string): Promise<readonly Undelivered[]> {
    try {
      return (await this.api.sendMessage(item.conv, item.messageId, wire, item.to)).undelivered;
    } catch (e) {
      if (!isApiError(e, "conflict")) throw e;
      return [];
    }
  }

  /**
   * Records which devices an item did not reach: kept (with the message's note) while some did
   * not, done otherwise. Returns the conversations whose records changed.
   */
  private async recordAnswer(item: OutboxItem, missing: readonly Undelivered[]): Promise<string[]> {
    const wasKept = this.undelivered.get(item.messageId) !== undefined;
    const evicted = this.undelivered.record(item, missing);
    const touched = new Set<string>();
    if (item.kind === "message" && (missing.length > 0 || wasKept)) {
      const notes = missing.length === 0 ? [] : await this.names(item.conv, missing);
      this.setUndelivered(item.conv, item.messageId, notes, true);
      touched.add(item.conv);
    }
    for (const e of evicted) {
      this.keepNote(e.conv, e.messageId, false);
      touched.add(e.conv);
    }
    return [...touched];
  }

  private convEntries(convs: readonly string[]): (readonly [string, unknown])[] {
    return [...new Set(convs)]
      .filter((c) => this.convs.records.has(c))
      .map((c) => this.convs.entry(c));
  }

  /** Sets (or, with no device left, clears) a message's "Not delivered to …" note. */
  private setUndelivered(
    conv: string,
    id: string,
    missing: readonly UndeliveredNote[],
    kept: boolean,
  ): void {
    const rec = this.convs.records.get(conv);
    if (rec === undefined) return;
    rec.messages = rec.messages.map((m) => {
      if (m.id !== id || !m.mine) return m;
      const rest = { ...m };
      delete rest.undelivered;
      return missing.length === 0 ? rest : { ...rest, undelivered: { missing, kept } };
    });
  }

  /** Keeps the note but marks whether the outbox still retries it. */
  private keepNote(conv: string, id: string, kept: boolean): void {
    const rec = this.convs.records.get(conv);
    if (rec === undefined) return;
    rec.messages = rec.messages.map((m) =>
      m.id === id && m.undelivered !== undefined
        ? { ...m, undelivered: { ...m.undelivered, kept } }
        : m,
    );
  }

  /** The member each refused device belongs to, from the verified directory. */
  private async names(conv: string, missing: readonly Undelivered[]): Promise<UndeliveredNote[]> {
    const members = this.convs.state(conv)?.members() ?? [];
    const owners = new Map<string, string>();
    for (const m of members) {
      try {
        const contact = await this.directory.contact(AccountId.toText(m.account));
        for (const d of contact.devices) owners.set(DeviceId.toText(d.device), contact.username);
      } catch {
        // not reachable now: the device is named without its owner
      }
    }
    return missing.map((u) => ({
      device: u.device,
      username: owners.get(u.device) ?? `device ${u.device.slice(4, 12)}`,
      reason: u.reason,
    }));
  }

  /**
   * Posts kept items again, in order. `stopAtRefusal`: an automatic round stops a conversation at
   * its first item still refused (one post per conversation while nothing changes). Returns
   * whether any device got a copy it had not.
   */
  private redeliver(items: readonly OutboxItem[], stopAtRefusal: boolean): Promise<boolean> {
    const run = this.redelivering.then(async () => {
      let progressed = false;
      for (const item of items) {
        const kept = this.undelivered.get(item.messageId);
        if (kept === undefined || item.wire === undefined) continue;
        let missing: readonly Undelivered[];
        try {
          missing = await this.post(item, item.wire);
        } catch (e) {
          if (isTransient(e)) return progressed;
          // Refused for good (no longer a member, the conversation gone): nothing to retry.
          const dropped = this.undelivered.drop(item.messageId);
          if (dropped?.kind === "message") this.keepNote(dropped.conv, dropped.messageId, false);
          await this.store.put([this.undeliveredEntry(), ...this.convEntries([item.conv])]);
          this.host.changed();
          continue;
        }
        if (missing.length < kept.missing.length) progressed = true;
        const touched = await this.recordAnswer(item, missing);
        await this.store.put([this.undeliveredEntry(), ...this.convEntries(touched)]);
        this.host.changed();
        if (stopAtRefusal && missing.length > 0) break;
      }
      return progressed;
    });
    this.redelivering = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** One automatic retry round over every kept item, then the next one scheduled. */
  private async redeliverRound(): Promise<void> {
    let progressed = false;
    for (const items of this.undelivered.rounds())
      if (await this.redeliver(items, true).catch(() => false)) progressed = true;
    this.redeliverAttempts = progressed ? 0 : this.redeliverAttempts + 1;
    this.scheduleRedelivery();
  }

  /**
   * The next automatic round: soon (with a backoff) while a queue may drain by itself, every few
   * minutes while every refusal waits for its recipient.
   */
  private scheduleRedelivery(): void {
    if (this.undelivered.list().length === 0) return;
    const delay = this.undelivered.anyClearsByItself()
      ? retryDelay(this.redeliverAttempts + 1)
      : RECIPIENT_RETRY_MS;
    // A round already due sooner stands; one due later gives way (a queue_full after a block).
    const due = Date.now() + delay;
    if (this.redeliverTimer !== undefined) {
      if (this.redeliverDue <= due) return;
      clearTimeout(this.redeliverTimer);
    }
    this.redeliverDue = due;
    this.redeliverTimer = setTimeout(() => {
      this.redeliverTimer = undefined;
      void this.redeliverRound();
    }, delay);
  }

  /** Back online: every kept item gets a retry round now. */
  redeliverNow(): void {
    if (this.redeliverTimer !== undefined) clearTimeout(this.redeliverTimer);
    this.redeliverTimer = undefined;
    this.redeliverAttempts = 0;
    void this.redeliverRound();
  }

  /** The user gave up on delivering a message to the devices that did not get it. */
  async dismiss(conv: string, messageId: string): Promise<void> {
    await this.redelivering;
    if (this.undelivered.dismiss(messageId) === undefined) return;
    this.keepNote(conv, messageId, false);
    await this.store.put([this.undeliveredEntry(), ...this.convEntries([conv])]);
    this.host.changed();
  }

  private scheduleRetry(attempts: number): void {
    if (this.retryTimer !== undefined) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, retryDelay(attempts));
  }

  /** Resolves once nothing is being sent (tests, shutdown). */
  async whenIdle(): Promise<void> {
    while (this.sending !== undefined) await this.sending;
    await this.redelivering;
  }

  /** Stops background retries (logout, shutdown). */
  stop(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.redeliverTimer !== undefined) clearTimeout(this.redeliverTimer);
    this.redeliverTimer = undefined;
  }

  /**
   * The user pressed "retry": a failed message is queued again; a message some device did not get
   * is posted again (with its conversation's earlier kept items), same id and bytes.
   */
  async retry(conv: string, messageId: string): Promise<void> {
    if (this.undelivered.get(messageId) !== undefined) {
      await this.redeliver(this.undelivered.forRetry(messageId), false);
      return;
    }
    const dropped = this.failed.get(messageId);
    if (dropped !== undefined) {
      this.failed.delete(messageId);
      this.items.push(dropped);
    }
    // Sent meanwhile (the automatic retry got there first): nothing to do, keep its status.
    if (!this.items.some((o) => o.messageId === messageId)) {
      this.kick();
      return;
    }
    const rec = this.convs.records.get(conv);
    if (rec !== undefined)
      rec.messages = rec.messages.map((m) =>
        m.id === messageId ? { ...m, status: "sending" } : m,
      );
    await this.store.put([
      this.entry(),
      ["failed", [...this.failed.values()]],
      this.convs.entry(conv),
    ]);
    this.host.changed();
    this.kick();
  }

  /** The user dismissed a refused message: it leaves the conversation and the retry list. */
  async dismissRefused(conv: string, messageId: string): Promise<void> {
    const rec = this.convs.records.get(conv);
    const msg = rec?.messages.find((m) => m.id === messageId && m.mine);
    if (rec === undefined || msg?.status !== "refused") return;
    this.failed.delete(messageId);
    rec.messages = rec.messages.filter((m) => m !== msg);
    await this.store.put([["failed", [...this.failed.values()]], this.convs.entry(conv)]);
    this.host.changed();
  }

  /** Recipients: verified exchange keys of verified devices of current members, not this device. */
  private async recipients(conv: string): Promise<VerifiedExchangeKey[]> {
    const state = this.convs.state(conv);
    if (state === undefined) throw new Error("unknown conversation");
    const blocked: string[] = [];
    const keys: VerifiedExchangeKey[] = [];
    for (const m of state.members()) {
      const contact = await this.directory.contact(AccountId.toText(m.account));
      if (contact.trust === "changed") blocked.push(contact.accountText);
      keys.push(...contact.exchangeKeys);
    }
    if (blocked.length > 0) throw new BlockedError(blocked);
    const me = this.host.keys();
    return keys.filter((k) => state.isMember(k.account) && !bytesEqual(k.device, me.device.device));
  }

  /**
   * One verified one-time prekey per version-2 recipient device, claimed in one request
   * (§18.7). A device the server gives none for, or whose prekey fails verification (counted and
   * reported as a refused answer), gets a distribution under its last-resort prekey; so does
   * every device when the claim cannot be made at all: still hybrid, only not yet forward-secret.
   */
  private async claimFor(
    recipients: readonly VerifiedExchangeKey[],
    now: bigint,
  ): Promise<ReadonlyMap<string, VerifiedPrekey>> {
    if (!recipients.some((r) => r.isV2)) return new Map();
    try {
      const devices = new Map<string, VerifiedDevice>();
      const accounts = new Set(recipients.map((r) => AccountId.toText(r.account)));
      for (const account of accounts) {
        for (const d of (await this.directory.contact(account)).devices) {
          devices.set(idKey(d.device), d);
        }
      }
      const out = await claimPrekeys(this.api, recipients, devices, now);
      if (out.refused.length > 0) {
        console.warn(`sotto: one-time prekey refused for ${out.refused.join(", ")}`);
      }
      return out.prekeys;
    } catch (e) {
      console.warn(
        `sotto: no one-time prekeys claimed: ${e instanceof Error ? e.message : "error"}`,
      );
      return new Map();
    }
  }

  /** Chain rotation and distribution, then reserve → persist → seal → persist, under the chain's lock. */
  private async prepare(item: OutboxItem): Promise<void> {
    if (item.body === undefined) throw new Error("nothing to seal");
    const body = item.body;
    await withLock(this.store.lockName(`chain:${item.conv}`), async () => {
      const me = this.host.keys();
      const state = this.convs.state(item.conv);
      if (state === undefined) throw new Error("unknown conversation");
      const recipients = await this.recipients(item.conv);
      const key = `chain:${item.conv}`;
      const snap = await this.store.get<SenderChainSnapshot>(key);
      let chain = snap === undefined ? undefined : SenderChain.restore(snap);
      const env = systemEnv();
      const extra: OutboxItem[] = [];
      let startedNew = false;
      if (
        chain === undefined ||
        chain.needsRotation(
          env.now,
          state.epoch,
          recipients.map((r) => r.device),
        )
      ) {
        chain =
          chain === undefined
            ? await SenderChain.start(
                ConversationId.parse(item.conv),
                state.epoch,
                me.account,
                me.device.device,
                undefined,
                env,
              )
            : await chain.successor(state.epoch, env);
        startedNew = true;
        const prekeys = await this.claimFor(recipients, env.now);
        for (const r of recipients) {
          const prekey = prekeys.get(idKey(r.device));
          const kdm = await chain.distributeWith(state, r, prekey, me.device, env.now);
          if (!r.isV2) v2Stats.sentV1 += 1;
          else if (prekey === undefined) v2Stats.sentLastResort += 1;
          else v2Stats.sentOneTime += 1;
          extra.push({
            conv: item.conv,
            messageId: MessageId.toText(MessageId.fromBytes(systemRandom(16))),
            kind: "raw",
            wire: toB64(kdm.encode()),
            to: DeviceId.toText(r.device),
            attempts: 0,
          });
        }
      }
      const started: (readonly [string, unknown])[] = [];
      if (startedNew) {
        // A chain this device starts is a history key too (§17.2): its own messages in the
        // archive, and what a backup or a hand-over gives the account's other devices.
        started.push(await this.host.historyKey(chain.historyRecord()));
      }
      const reserved = await chain.reserve(env.now);
      // Distributions go out before the message that needs them.
      const at = this.items.indexOf(item);
      this.items.splice(at < 0 ? 0 : at, 0, ...extra);
      await this.store.put([[key, chain.snapshot()], this.entry(), ...started]);
      const envelope = await reserved.seal(
        toBody(body),
        MessageId.parse(item.messageId),
        item.sentAt === undefined ? env.now : BigInt(item.sentAt),
        me.device,
      );
      item.wire = toB64(envelope.encode());
      await this.store.put([this.entry()]);
    });
  }
}
