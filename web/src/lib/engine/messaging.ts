/**
 * Sending and receiving (`docs/protocol.md` §7–§9):
 *
 * - **Outbox** (`outbox.ts`): queued with a fixed message id, sealed once, sent in order, retried
 *   with the same bytes; the server's de-duplication makes it idempotent.
 * - **Inbox**: frames are processed one at a time. A message is committed together with the
 *   receiver state in one IndexedDB transaction. Messages whose chain or epoch is unknown are
 *   *held* and retried when the distribution or group change arrives; after a few seconds a key
 *   request goes to the chain's owner. Anything that fails verification is kept as "could not be
 *   verified" (never as text) and counted; its id is unauthenticated, so a copy under that id
 *   that verifies later takes its place (`timeline.ts`) rather than being taken for a replay. A
 *   copy is acknowledged only once its outcome is stored; what could not be checked because the
 *   server was unreachable is retried, never counted.
 * - **Held payloads** (`held.ts`): what waits for its key, for the server, or for the user's
 *   decision about a sender's changed identity (held for that account only, acknowledged, so a
 *   server that swaps one contact's key cannot stall everyone else's messages); this module checks
 *   them when `held.ts` says so.
 */

import {
  AccountId,
  type Bytes,
  ChainId,
  DeviceId,
  Envelope,
  type ErrorCode,
  type ChainRecord,
  KeyDistribution,
  type MessageBody,
  KeyRequest,
  MessageId,
  ReceiverState,
  type ReceiverStateSnapshot,
  SenderChain,
  type SenderChainSnapshot,
  bytesEqual,
  isProtocolError,
  systemRandom,
  type VerifiedDevice,
  type VerifiedPrekey,
  idKey,
} from "../../crypto";
import type { ApiClient } from "../api";
import { fromB64, toB64 } from "../b64";
import type { EnvelopeFrame } from "../schemas";
import { withLock } from "../../storage/locks";
import type { SealedStore } from "../../storage/sealed";
import type { Conversations } from "./conversations";
import type { Contact, Directory } from "./directory";
import { type LoadedKeys, ringEntry } from "./keystore";
import { claimPrekeys, devicesById, v2Stats } from "./prekeys";
import { isTransient } from "./delivery";
import type { MessageContent } from "./model";
import type { StoredMessage } from "./stored";
import type { ConversationRecord } from "./conversations";
import { HELD, type HeldItem, HeldPayloads, type Outcome, SETTLED, UNREACHABLE } from "./held";
import { placeMessage } from "./timeline";
import { type Amendment, amendmentFrom, applyAmendment, applyPending, isContent } from "./amend";
import { Outbox, type OutboxItem, type StoredBody } from "./outbox";
import { type WireKind, wireKind } from "./wire";

export { BlockedError, type OutboxItem, type StoredBody } from "./outbox";
export type { HeldItem } from "./held";
export { wireKind } from "./wire";

/** What a text, message or attachment body shows. */
export function shownContent(
  body: Extract<MessageBody, { type: "text" | "attachment" | "message" }>,
): MessageContent {
  switch (body.type) {
    case "text":
    case "message":
      return { type: "text", text: body.text };
    case "attachment":
      return {
        type: "attachment",
        caption: body.caption,
        attachment: {
          blobId: body.attachment.blobId,
          fileName: body.attachment.fileName,
          mediaType: body.attachment.mediaType,
          size: Number(body.attachment.size),
          secret: body.attachment.secret,
          blobSha256: body.attachment.blobSha256,
        },
      };
  }
}

/** The reply and the mentions a Message body carries (§8.4), as a stored message keeps them. */
export function replyAndMentions(
  body: Extract<MessageBody, { type: "text" | "attachment" | "message" }>,
): Pick<StoredMessage, "replyTo" | "mentions"> {
  if (body.type !== "message") return {};
  return {
    ...(body.replyTo !== undefined ? { replyTo: MessageId.toText(body.replyTo) } : {}),
    ...(body.mentions.length > 0
      ? { mentions: body.mentions.map((a) => AccountId.toText(a)) }
      : {}),
  };
}

/** A sender's device as the directory shows it, checked against this device's pin. */
type SenderLookup =
  | { readonly kind: "verified"; readonly device: VerifiedDevice }
  /** The account's identity changed and is not accepted: nothing it sent can be checked yet. */
  | { readonly kind: "identity-changed"; readonly account: string }
  | { readonly kind: "unknown" };

export interface MessagingHost {
  keys(): LoadedKeys;
  selfDevice(): VerifiedDevice;
  changed(): void;
  /** Acknowledge copies on the socket (after they are safely stored). */
  ack(ids: readonly string[]): void;
  isVisible(conv: string): boolean;
  /**
   * Whether this account has not accepted the conversation (a request, or not known yet): no
   * receipt goes out from it, so a stranger learns nothing about whether or when it was read.
   */
  isRequest(conv: string): boolean;
  /** A conversation this device did not know arrived with a payload: find out whether it is a request. */
  conversationAppeared(conv: string): Promise<void>;
  /**
   * A chain this device holds from now on (started here, or introduced by a distribution): kept
   * as a history key (§17.2). Returns the record to store in the same transaction.
   */
  historyKey(record: ChainRecord): Promise<readonly [string, unknown]>;
  /** A content message from someone else was committed (notifications). */
  incoming?(conv: string, messageId: string): void;
  /** The largest body the server takes, in bytes (its policy, §11). */
  maxBodyBytes?(): number;
  /** A one-time prekey was consumed: the server may need more (§18.4). */
  prekeyConsumed?(): void;
}

/** An edit, delete or reaction of this account, as the client asks for it. */
export type OwnAmendment = Extract<StoredBody, { type: "edit" | "delete" | "reaction" }>;

export class Messaging {
  receiver = new ReceiverState();
  undecryptable = 0;
  private readonly out: Outbox;
  /** What waits to be checked again, and when (`held.ts`). */
  private readonly holds: HeldPayloads;
  private rx: Promise<unknown> = Promise.resolve();
  private receipts = new Map<string, { delivered: Set<string>; read: Set<string> }>();
  private receiptTimer: ReturnType<typeof setTimeout> | undefined;
  /** Content messages from others committed by the payload being stored, announced after. */
  private announce: [string, string][] = [];

  constructor(
    private readonly api: ApiClient,
    private readonly store: SealedStore,
    private readonly directory: Directory,
    private readonly convs: Conversations,
    private readonly host: MessagingHost,
  ) {
    this.out = new Outbox(api, store, directory, convs, host);
    this.holds = new HeldPayloads(store, this.out, {
      keys: () => host.keys(),
      changed: () => {
        host.changed();
      },
      recheck: (h, bytes, kind) => this.check(kind, bytes, h, true),
      receive: (frame) => this.receive(frame),
      giveUp: (h, code) =>
        this.recordUnverified(h.conv, h.messageId, h.senderAccount, h.receivedAt, code),
      retryOnInbox: () => {
        void this.retryHeld().catch(() => undefined);
      },
    });
  }

  /** Payloads waiting to be checked (for a key, the server, or an identity decision), oldest first. */
  get held(): readonly HeldItem[] {
    return this.holds.items;
  }

  /** What is left to send, in order. */
  get outbox(): readonly OutboxItem[] {
    return this.out.items;
  }

  /** Queued messages not yet in the sealed store (not shown). */
  get unsaved(): ReadonlySet<string> {
    return this.out.unsaved;
  }

  /** Queues a message (shown at once when it is text or an attachment) and starts sending. */
  send(conv: string, body: StoredBody): Promise<string> {
    return this.out.send(conv, body, undefined, this.host.maxBodyBytes?.());
  }

  /**
   * Sends an edit, delete or reaction of this account and applies it here at once, in the same
   * transaction that queues it (a sender deletes its own copy too, §8.5). Refused before anything
   * is sealed when the target is not this account's to amend.
   */
  async amend(conv: string, body: OwnAmendment): Promise<void> {
    const rec = this.convs.records.get(conv);
    if (rec === undefined) throw new Error("unknown conversation");
    const me = this.host.keys().record.account;
    const target = rec.messages.find((m) => m.id === body.target);
    if (target === undefined || !isContent(target))
      throw new Error("That message is not in this conversation");
    if (target.deleted === true) throw new Error("That message was deleted");
    if (body.type !== "reaction" && target.from !== me)
      throw new Error(`You can only ${body.type} your own messages`);
    await this.out.send(
      conv,
      body,
      (id, sentAt) => {
        const base = { id, from: me, sentAt, receivedAt: sentAt, target: body.target };
        const a: Amendment =
          body.type === "edit"
            ? { ...base, kind: "edit", text: body.text, mentions: body.mentions }
            : body.type === "delete"
              ? { ...base, kind: "delete" }
              : { ...base, kind: "reaction", emoji: body.emoji, added: body.added };
        applyAmendment(rec, a, undefined, sentAt);
      },
      this.host.maxBodyBytes?.(),
    );
  }

  /** Removes a refused message of this account from the conversation and the retry list. */
  dismissRefused(conv: string, messageId: string): Promise<void> {
    return this.out.dismissRefused(conv, messageId);
  }

  /** Sends whatever is queued (again). */
  kick(): void {
    this.out.kick();
  }

  /** The user pressed "retry" on a failed or undelivered message. */
  retry(conv: string, messageId: string): Promise<void> {
    return this.out.retry(conv, messageId);
  }

  /** The user gave up delivering a message to the devices that did not get it. */
  dismissUndelivered(conv: string, messageId: string): Promise<void> {
    return this.out.dismiss(conv, messageId);
  }

  /** Back online, or a recipient may have accepted: retry what some device did not get. */
  redeliverNow(): void {
    this.out.redeliverNow();
  }

  /** Resolves once the inbox chain and the outbox have nothing in progress (tests, shutdown). */
  async whenIdle(): Promise<void> {
    for (;;) {
      const rx = this.rx;
      await rx;
      await this.out.whenIdle();
      if (rx === this.rx) return;
    }
  }

  /** Stops background retries (logout, shutdown). */
  stop(): void {
    this.out.stop();
    this.holds.stop();
  }

  async load(): Promise<void> {
    const snap = await this.store.get<ReceiverStateSnapshot>("receiver");
    if (snap !== undefined) this.receiver = ReceiverState.restore(snap);
    await this.out.load();
    await this.holds.load();
    this.undecryptable =
      (await this.store.get<{ undecryptable: number }>("stats"))?.undecryptable ?? 0;
  }

  private now(): bigint {
    return BigInt(Date.now());
  }

  // -------------------------------------------------------------------------------------------
  // Receipts
  // -------------------------------------------------------------------------------------------

  private queueReceipt(conv: string, kind: "delivered" | "read", id: string): void {
    if (this.host.isRequest(conv)) return;
    let r = this.receipts.get(conv);
    if (r === undefined) {
      r = { delivered: new Set(), read: new Set() };
      this.receipts.set(conv, r);
    }
    r[kind].add(id);
    if (kind === "read") r.delivered.delete(id);
    this.receiptTimer ??= setTimeout(() => {
      this.receiptTimer = undefined;
      void this.flushReceipts();
    }, 50);
  }

  private async flushReceipts(): Promise<void> {
    const all = [...this.receipts];
    this.receipts.clear();
    for (const [conv, r] of all) {
      for (const kind of ["read", "delivered"] as const) {
        const ids = [...r[kind]].slice(0, 256);
        if (ids.length === 0) continue;
        try {
          await this.send(conv, { type: "receipt", kind, messages: ids });
        } catch {
          // Not a member any more, or the conversation is gone: no receipt can go.
          continue;
        }
        // Only once the receipt is queued (persisted) is the message marked as receipted: a
        // reload before that sends it again.
        const rec = this.convs.records.get(conv);
        if (rec !== undefined) {
          rec.messages = rec.messages.map((m) =>
            !m.mine && ids.includes(m.id) && m.status !== "read"
              ? { ...m, status: kind === "read" ? "read" : "delivered" }
              : m,
          );
          await this.convs.save(conv);
        }
      }
    }
  }

  /**
   * The user looked at a conversation: read receipts for what others sent, unread and mentions
   * to zero; the first message that was unread is kept for the "new messages" marker.
   */
  async markRead(conv: string): Promise<void> {
    const rec = this.convs.records.get(conv);
    if (rec === undefined) return;
    for (const m of rec.messages) {
      if (m.mine || m.status === "read" || !isContent(m)) continue;
      this.queueReceipt(conv, "read", m.id);
    }
    // The oldest of the last `unread` messages from others.
    let marker: string | undefined;
    let left = rec.unread;
    for (let i = rec.messages.length - 1; i >= 0 && left > 0; i--) {
      const m = rec.messages[i];
      if (m === undefined || m.mine || !isContent(m)) continue;
      marker = m.id;
      left -= 1;
    }
    if (rec.unread !== 0 || (rec.mentions ?? 0) !== 0 || rec.firstUnread !== marker) {
      rec.unread = 0;
      rec.mentions = 0;
      if (marker === undefined) delete rec.firstUnread;
      else rec.firstUnread = marker;
      await this.convs.save(conv);
      this.host.changed();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Receiving
  // -------------------------------------------------------------------------------------------

  /** Processes one queued copy from the socket; frames are handled strictly one at a time. */
  onFrame(frame: EnvelopeFrame): void {
    this.rx = this.rx.then(() => this.receive(frame)).catch(() => undefined);
  }

  /**
   * The sender's device, verified against this device's pin (throws when the directory cannot be
   * reached). A contact whose identity changed lists no devices: its payloads cannot be checked
   * until the user decides, which holds that account's traffic only. Payloads of a sender that
   * verifies again (accepted, or the directory shows the pinned key again) that were held for its
   * identity are handled first, so its messages keep their order.
   */
  private async sender(account: string, device: string, retrying: boolean): Promise<SenderLookup> {
    const find = (c: Contact) =>
      c.trust === "changed"
        ? undefined
        : c.devices.find((d) => DeviceId.toText(d.device) === device);
    let contact = await this.directory.contact(account);
    let found = find(contact);
    if (found === undefined) {
      // Fresh: a new device, or a changed identity the directory may have set right since.
      contact = await this.directory.contact(account, true);
      found = find(contact);
    }
    if (contact.trust === "changed")
      return { kind: "identity-changed", account: contact.accountText };
    if (found === undefined) return { kind: "unknown" };
    if (!retrying && this.holds.hasIdentityHolds(account))
      await this.holds.release({ from: account });
    return { kind: "verified", device: found };
  }

  private async receive(frame: EnvelopeFrame): Promise<void> {
    let bytes: Bytes;
    try {
      bytes = fromB64(frame.envelope);
    } catch {
      this.host.ack([frame.message_id]);
      return;
    }
    const {
      conversation: conv,
      message_id: messageId,
      sender_account: senderAccount,
      sender_device: senderDevice,
      received_at: receivedAt,
    } = frame;
    const kind = wireKind(bytes);
    const outcome = await this.check(
      kind,
      bytes,
      { conv, messageId, senderAccount, senderDevice, receivedAt },
      false,
    );
    if (outcome.kind === "unreachable" && kind !== "envelope") {
      this.holds.defer(frame);
      return;
    }
    if (outcome.kind !== "settled") {
      const item: HeldItem = {
        conv,
        messageId,
        wire: toB64(bytes),
        senderAccount,
        senderDevice,
        receivedAt,
        since: Date.now(),
      };
      // Why it waits decides whether a key is asked for and whether it may ever expire.
      let kept: boolean;
      switch (outcome.kind) {
        case "identity":
          kept = await this.holds.hold({ ...item, waitingFor: outcome.account });
          break;
        case "held":
          kept = await this.holds.hold({ ...item, reason: "key" });
          break;
        case "unreachable":
          kept = await this.holds.hold({ ...item, reason: "server" });
          break;
      }
      // The never-expiring holds are full (a server feeding this device payloads it cannot
      // check): a message is shown as "could not be verified", anything else is dropped.
      if (!kept && kind === "envelope")
        await this.recordUnverified(conv, messageId, senderAccount, receivedAt, "hold-full");
    }
    // Held payloads are acknowledged too: they are stored here, and the inbox goes on.
    this.host.ack([messageId]);
  }

  /**
   * Checks one payload by its kind. `retrying`: it was held, so checking it must not release its
   * sender's identity holds again from inside a release.
   */
  private check(
    kind: WireKind,
    bytes: Bytes,
    meta: Pick<HeldItem, "conv" | "messageId" | "senderAccount" | "senderDevice" | "receivedAt">,
    retrying: boolean,
  ): Promise<Outcome> {
    switch (kind) {
      case "envelope":
        return this.receiveEnvelope(
          meta.conv,
          meta.messageId,
          bytes,
          meta.senderAccount,
          meta.senderDevice,
          meta.receivedAt,
          retrying,
        );
      case "distribution":
        return this.receiveDistribution(
          meta.conv,
          bytes,
          meta.senderAccount,
          meta.senderDevice,
          retrying,
        );
      case "key-request":
        return this.answerKeyRequest(
          meta.conv,
          bytes,
          meta.senderAccount,
          meta.senderDevice,
          retrying,
        );
      case "unknown":
        return Promise.resolve(SETTLED);
    }
  }

  /** Whether the conversation is known and verified; throws when the server cannot be reached. */
  private async ensureConversation(conv: string): Promise<boolean> {
    if (this.convs.records.has(conv)) return true;
    try {
      await this.convs.sync(conv);
    } catch (e) {
      if (isTransient(e)) throw e;
      console.warn(
        `sotto: conversation ${conv} could not be verified: ${isProtocolError(e) ? e.code : e instanceof Error ? e.message : "error"}`,
      );
      return false;
    }
    if (this.convs.records.has(conv)) await this.host.conversationAppeared(conv);
    this.host.changed();
    return this.convs.records.has(conv);
  }

  private async recordUnverified(
    conv: string,
    messageId: string,
    from: string,
    receivedAt: number,
    code: string,
  ): Promise<void> {
    const rec = this.convs.records.get(conv);
    // A copy that comes back (its acknowledgement was lost) is not a second bad message.
    if (rec?.messages.some((m) => m.id === messageId) === true) return;
    this.undecryptable += 1;
    const entries: (readonly [string, unknown])[] = [
      ["stats", { undecryptable: this.undecryptable }],
    ];
    if (rec !== undefined) {
      const username = (await this.directory.pin(from))?.username ?? from.slice(0, 13);
      placeMessage(rec.messages, {
        id: messageId,
        from,
        fromUsername: username,
        mine: false,
        sentAt: receivedAt,
        receivedAt,
        content: { type: "unverified", code },
      });
      rec.unread += 1;
      entries.push(this.convs.entry(conv));
    }
    await this.store.put(entries);
    this.host.changed();
  }

  /** Verifies, opens and stores one message; the caller holds what is not settled. */
  private async receiveEnvelope(
    conv: string,
    messageId: string,
    bytes: Bytes,
    senderAccount: string,
    senderDevice: string,
    receivedAt: number,
    retrying: boolean,
  ): Promise<Outcome> {
    let known: boolean;
    try {
      known = await this.ensureConversation(conv);
    } catch {
      this.holds.retrySoon();
      return UNREACHABLE;
    }
    if (!known) return HELD;
    let envelope: Envelope;
    try {
      envelope = Envelope.decode(bytes);
    } catch (e) {
      await this.recordUnverified(
        conv,
        messageId,
        senderAccount,
        receivedAt,
        isProtocolError(e) ? e.code : "malformed",
      );
      return SETTLED;
    }
    if (MessageId.toText(envelope.header.messageId) !== messageId) {
      await this.recordUnverified(
        conv,
        messageId,
        senderAccount,
        receivedAt,
        "receive/sender-mismatch",
      );
      return SETTLED;
    }
    let lookup: SenderLookup;
    try {
      lookup = await this.sender(senderAccount, senderDevice, retrying);
    } catch (e) {
      // The directory could not be reached (server restarting, network gone): that says nothing
      // about the message. Hold it and try again, never count it as undecryptable.
      if (isTransient(e)) {
        this.holds.retrySoon();
        return UNREACHABLE;
      }
      lookup = { kind: "unknown" };
    }
    let sender: VerifiedDevice;
    switch (lookup.kind) {
      case "verified":
        sender = lookup.device;
        break;
      case "identity-changed":
        // Unchecked, so neither shown nor recorded (not even its id): it waits for the user.
        return { kind: "identity", account: lookup.account };
      case "unknown":
        await this.recordUnverified(
          conv,
          messageId,
          senderAccount,
          receivedAt,
          "unverified-device",
        );
        return SETTLED;
    }
    let state = this.convs.state(conv);
    if (state === undefined) return HELD;
    const now = this.now();
    let code: ErrorCode | undefined;
    let transient = false;
    this.announce = [];
    try {
      let opened;
      try {
        opened = await this.receiver.open(envelope, sender, state, now);
      } catch (e) {
        if (!isProtocolError(e, "receive/unknown-epoch")) throw e;
        await this.convs.sync(conv);
        state = this.convs.state(conv);
        if (state === undefined) throw e;
        opened = await this.receiver.open(envelope, sender, state, now);
      }
      const [, rec] = this.convs.entry(conv);
      const received = this.receiver.commit(opened, now);
      const from = senderAccount;
      const username = (await this.directory.pin(from))?.username ?? from;
      const sentAt = Number(received.header.sentAt);
      this.applyGapFill(rec.messages, received.header.chain, received.header.index);
      if (received.gap.length > 0) {
        placeMessage(rec.messages, {
          id: `gap:${ChainId.toText(received.header.chain)}:${received.header.index}`,
          from,
          fromUsername: username,
          mine: false,
          sentAt,
          receivedAt,
          content: {
            type: "gap",
            count: received.gap.length,
            from: username,
            chain: ChainId.toText(received.header.chain),
            indices: received.gap,
          },
        });
      }
      const body = received.body;
      switch (body.type) {
        case "text":
        case "message":
        case "attachment": {
          const content = shownContent(body);
          // A copy of what this account sent from another of its devices.
          const mine = from === this.host.keys().record.account;
          const chain = ChainId.toText(received.header.chain);
          const index = received.header.index;
          const shown = {
            id: messageId,
            from,
            fromUsername: username,
            mine,
            sentAt,
            receivedAt,
            content,
            chain,
            index,
            ...replyAndMentions(body),
            ...(mine ? { status: "sent" as const } : {}),
          };
          this.commitContent(conv, rec, shown);
          break;
        }
        case "edit":
        case "delete":
        case "reaction": {
          // Never shown as a message, never receipted: applied to its target (§8.5, §8.6).
          const a = amendmentFrom(body, { id: messageId, from, sentAt, receivedAt });
          if (a !== undefined) this.commitAmendment(conv, rec, a);
          break;
        }
        case "group-name":
          // Conversation state, never a message: kept if the log commits to it (§6.5); a name
          // the log does not commit to is refused (`group/name-mismatch`) and changes nothing.
          try {
            await this.convs.acceptName(conv, body.reveal);
          } catch (e) {
            if (!isProtocolError(e)) throw e;
          }
          break;
        case "receipt":
          // Receipts from this account's other devices say nothing about the recipients.
          if (from === this.host.keys().record.account) break;
          for (const id of body.messages) this.out.setStatus(conv, MessageId.toText(id), body.kind);
          break;
      }
      // The message and the receiver state that records it, in one transaction.
      await this.store.put([
        ["receiver", this.receiver.snapshot()],
        this.convs.entry(conv),
        ["stats", { undecryptable: this.undecryptable }],
      ]);
      this.host.changed();
      for (const [c, id] of this.announce.splice(0)) this.host.incoming?.(c, id);
      return SETTLED;
    } catch (e) {
      code = isProtocolError(e) ? e.code : undefined;
      transient = isTransient(e);
    }
    // Unknown keys, or a group log that could not be fetched: held until they arrive.
    if (transient) {
      this.holds.retrySoon();
      return UNREACHABLE;
    }
    if (code === "receive/unknown-chain" || code === "receive/unknown-epoch") return HELD;
    if (code === "receive/replay") return SETTLED;
    await this.recordUnverified(conv, messageId, senderAccount, receivedAt, code ?? "error");
    return SETTLED;
  }

  /**
   * A content message was committed: placed once, counted unread (and as a mention of this
   * account) unless open, receipted, announced, and the amendments waiting for it applied.
   */
  private commitContent(conv: string, rec: ConversationRecord, shown: StoredMessage): void {
    if (!placeMessage(rec.messages, shown)) return;
    const me = this.host.keys().record.account;
    if (shown.mine) {
      // no receipt to ourselves, nothing unread
    } else if (this.host.isVisible(conv)) this.queueReceipt(conv, "read", shown.id);
    else {
      rec.unread += 1;
      if (shown.mentions?.includes(me) === true) rec.mentions = (rec.mentions ?? 0) + 1;
      this.queueReceipt(conv, "delivered", shown.id);
    }
    for (const outcome of applyPending(rec, shown.id, Date.now()))
      if (outcome === "message/wrong-target" || outcome === "message/not-author")
        this.refusedAmendment(outcome);
    if (!shown.mine) this.announce.push([conv, shown.id]);
  }

  /**
   * From the archive (§17): an amendment, or the amendments waiting for a message just placed,
   * applied as if received live (the caller stores the record).
   */
  applyArchived(conv: string, amendment: Amendment | undefined, placed?: string): void {
    const rec = this.convs.records.get(conv);
    if (rec === undefined) return;
    if (amendment !== undefined) this.commitAmendment(conv, rec, amendment);
    if (placed !== undefined)
      for (const outcome of applyPending(rec, placed, Date.now()))
        if (outcome === "message/wrong-target" || outcome === "message/not-author")
          this.refusedAmendment(outcome);
  }

  /** A refused amendment changes nothing and is never shown; it is counted (§8.5, §9.4). */
  private refusedAmendment(code: string): void {
    this.undecryptable += 1;
    console.warn(`sotto: amendment refused: ${code}`);
  }

  /**
   * A checked edit, delete or reaction: applied to its target, kept until the target arrives, or
   * refused (`message/wrong-target`, `message/not-author`).
   */
  private commitAmendment(conv: string, rec: ConversationRecord, a: Amendment): void {
    let elsewhere: { conv: string; message: StoredMessage } | undefined;
    for (const [id, other] of this.convs.records) {
      const message = id === conv ? undefined : other.messages.find((m) => m.id === a.target);
      if (message !== undefined) elsewhere = { conv: id, message };
    }
    const outcome = applyAmendment(rec, a, elsewhere, Date.now());
    if (outcome === "message/wrong-target" || outcome === "message/not-author")
      this.refusedAmendment(outcome);
  }

  private applyGapFill(messages: StoredMessage[], chain: Uint8Array, index: number): void {
    const chainText = ChainId.toText(ChainId.fromBytes(chain));
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i];
      if (m?.content.type !== "gap") continue;
      const c = m.content;
      if (c.chain !== chainText || c.indices?.includes(index) !== true) continue;
      const indices = c.indices.filter((x) => x !== index);
      if (indices.length === 0) messages.splice(i, 1);
      else messages[i] = { ...m, content: { ...c, count: indices.length, indices } };
      return;
    }
  }

  /** `unreachable` when it could not be checked for now (the server could not be reached). */
  private async receiveDistribution(
    conv: string,
    bytes: Bytes,
    senderAccount: string,
    senderDevice: string,
    retrying: boolean,
  ): Promise<Outcome> {
    try {
      if (!(await this.ensureConversation(conv))) return SETTLED;
      const kdm = KeyDistribution.decode(bytes);
      const lookup = await this.sender(senderAccount, senderDevice, retrying);
      if (lookup.kind === "identity-changed") return { kind: "identity", account: lookup.account };
      if (lookup.kind === "unknown") return SETTLED;
      let state = this.convs.state(conv);
      if (state === undefined) return SETTLED;
      if (kdm.header.epoch > state.epoch) {
        await this.convs.sync(conv);
        state = this.convs.state(conv);
        if (state === undefined) return SETTLED;
      }
      const keys = this.host.keys();
      const now = this.now();
      const accepted = await this.receiver.acceptDistribution(
        kdm,
        lookup.device,
        keys.local,
        state,
        now,
      );
      const snapshot = this.receiver.snapshot();
      const entries: (readonly [string, unknown])[] = [["receiver", snapshot]];
      const keyEntries: (readonly [string, unknown])[] = [];
      if (accepted.consumedPrekey !== undefined) {
        // The prekey's private keys go in the same write as the chain they introduced (§18.6).
        keys.prekeys.consume(accepted.consumedPrekey.id, accepted.consumedPrekey.wireHash, now);
        keys.prekeys.prune(now);
        keyEntries.push(ringEntry(keys.prekeys));
        v2Stats.receivedOneTime += 1;
      } else if (kdm.version === 2) {
        v2Stats.receivedLastResort += 1;
      }
      // The chain's key at its start: a history key (§17.2).
      if (!accepted.duplicate) entries.push(await this.host.historyKey(accepted.record));
      if (accepted.missingInPrevious.length > 0) {
        const [, rec] = this.convs.entry(conv);
        const username = (await this.directory.pin(senderAccount))?.username ?? senderAccount;
        placeMessage(rec.messages, {
          id: `gap:${ChainId.toText(accepted.chain)}:prev`,
          from: senderAccount,
          fromUsername: username,
          mine: false,
          sentAt: Number(kdm.header.createdAt),
          receivedAt: Date.now(),
          content: { type: "gap", count: accepted.missingInPrevious.length, from: username },
        });
        entries.push(this.convs.entry(conv));
      }
      await this.store.putWithKeys(entries, keyEntries);
      if (accepted.consumedPrekey !== undefined) this.host.prekeyConsumed?.();
      await this.holds.release({ chain: ChainId.toText(accepted.chain) });
      return SETTLED;
    } catch (e) {
      if (isTransient(e)) return UNREACHABLE;
      // The distribution that consumed its one-time prekey, again: it changed nothing, and
      // nothing is reported (§18.6).
      if (isProtocolError(e, "receive/duplicate")) return SETTLED;
      // A distribution that fails verification introduces nothing; the messages that needed it
      // stay held and a key request asks the owner again.
      console.warn(
        `sotto: key distribution refused: ${isProtocolError(e) ? e.code : e instanceof Error ? e.message : "error"}`,
      );
      return SETTLED;
    }
  }

  /**
   * Retries distributions and key requests that could not be checked and every held payload, in
   * turn with the frames coming in (never two at once).
   */
  retryHeld(): Promise<void> {
    const run = this.rx.then(() => this.holds.retry());
    this.rx = run.catch(() => undefined);
    return run;
  }

  /** How many payloads wait for the user's decision about `account`'s changed identity. */
  heldFor(account: string): number {
    return this.holds.heldFor(account);
  }

  /**
   * The user accepted `account`'s new identity: it becomes the pin, and what was held for it is
   * checked now, as if it had just arrived (in turn with the frames coming in).
   */
  async acceptIdentity(account: string): Promise<void> {
    await this.directory.acceptChange(account);
    const run = this.rx.then(() => this.holds.release({ waitingFor: account }));
    this.rx = run.catch(() => undefined);
    await run;
  }

  /** Runs `f` in turn with the frames coming in (never two at once): bundles, hand-overs. */
  inTurn<T>(f: () => Promise<T>): Promise<T> {
    const run = this.rx.then(f);
    this.rx = run.catch(() => undefined);
    return run;
  }

  /** Asks chain owners to re-send distributions for messages held for a while (`held.ts`). */
  requestMissingKeys(): Promise<void> {
    return this.holds.requestMissingKeys();
  }

  private async answerKeyRequest(
    conv: string,
    bytes: Bytes,
    senderAccount: string,
    senderDevice: string,
    retrying: boolean,
  ): Promise<Outcome> {
    try {
      const signed = KeyRequest.decodeSigned(bytes);
      const request = KeyRequest.decode(signed.body);
      const me = this.host.keys();
      const lookup = await this.sender(senderAccount, senderDevice, retrying);
      if (lookup.kind === "identity-changed") return { kind: "identity", account: lookup.account };
      const state = this.convs.state(conv);
      if (lookup.kind === "unknown" || state === undefined) return SETTLED;
      const requester = lookup.device;
      const contact = await this.directory.contact(senderAccount);
      const xkey = contact.exchangeKeys.find(
        (k) => bytesEqual(k.device, requester.device) && bytesEqual(k.keyId, request.requesterKey),
      );
      if (xkey === undefined) return SETTLED;
      await withLock(this.store.lockName(`chain:${conv}`), async () => {
        const snap = await this.store.get<SenderChainSnapshot>(`chain:${conv}`);
        if (snap === undefined || !bytesEqual(snap.chain, request.chain)) return;
        const chain = SenderChain.restore(snap);
        const now = this.now();
        // Answered like a new chain's distribution: a one-time prekey when the server has one.
        const claimed = xkey.isV2
          ? await claimPrekeys(this.api, [xkey], devicesById([requester]), now).catch(() => ({
              prekeys: new Map<string, VerifiedPrekey>(),
            }))
          : { prekeys: new Map<string, VerifiedPrekey>() };
        const kdm = await chain.answerKeyRequestWith(
          signed,
          requester,
          xkey,
          claimed.prekeys.get(idKey(requester.device)),
          state,
          me.device,
          now,
        );
        this.out.items.unshift({
          conv,
          messageId: MessageId.toText(MessageId.fromBytes(systemRandom(16))),
          kind: "raw",
          wire: toB64(kdm.encode()),
          to: DeviceId.toText(requester.device),
          attempts: 0,
        });
        await this.store.put([this.out.entry()]);
      });
      this.kick();
    } catch (e) {
      // Who asks could not be checked for now: tried again, not dropped (the requester would
      // otherwise wait five minutes to ask again). Refused requests get no answer.
      if (isTransient(e)) return UNREACHABLE;
    }
    return SETTLED;
  }
}
