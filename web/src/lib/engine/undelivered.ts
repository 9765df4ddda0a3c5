/**
 * Sent items some member device did not get (`docs/api.md`: the send answer's `undelivered`): the
 * server stored the envelope and answered which devices it refused, and why. They are kept here, in
 * send order, until a retry of the same id and bytes reaches every device still refused (the server
 * answers with none left, or `409` once it holds no undelivered record for the id), or the user
 * dismisses the message. Pure state; the outbox (`outbox.ts`) posts the retries and persists this
 * list.
 *
 * Raw items (key distributions, key requests) are kept too, unseen: a message delivered late is
 * readable only with its chain's distribution, so a retry posts the conversation's kept
 * distributions before its messages. They are dropped once no message of their conversation is
 * kept.
 */

import type { Undelivered, UndeliveredReason } from "../schemas";
import type { OutboxItem } from "./outbox";

/** One kept item and the devices the server last refused it to. */
export interface KeptItem {
  readonly item: OutboxItem;
  readonly missing: readonly Undelivered[];
}

/**
 * Messages kept for a retry at most. A user writing on to someone who blocked them would otherwise
 * grow this list (and each retry round) without end; the oldest beyond it is dismissed (its note
 * stays, without Retry). The server keeps no more undelivered records per device either.
 */
export const MAX_KEPT_MESSAGES = 500;

/** Whether a refusal can clear without the recipient doing anything (their queue drains). */
export function clearsByItself(reason: UndeliveredReason): boolean {
  switch (reason) {
    case "queue_full":
    case "sender_share_full":
      return true;
    case "request_limit":
    case "blocked":
    case "declined":
      return false;
  }
}

export class UndeliveredItems {
  /** By message id, in the order the items were first sent (a Map keeps insertion order). */
  private readonly kept = new Map<string, KeptItem>();

  constructor(list: readonly KeptItem[] = []) {
    for (const k of list) this.kept.set(k.item.messageId, k);
  }

  /** What to persist (as `undelivered`). */
  list(): KeptItem[] {
    return [...this.kept.values()];
  }

  get(messageId: string): KeptItem | undefined {
    return this.kept.get(messageId);
  }

  /** Kept messages (not raw items): what the user can retry or dismiss. */
  get messageCount(): number {
    return [...this.kept.values()].filter((k) => k.item.kind === "message").length;
  }

  /**
   * Records the server's answer for a post of `item`: kept while `missing` is not empty, done
   * otherwise. Returns the messages dismissed to stay within {@link MAX_KEPT_MESSAGES}.
   */
  record(item: OutboxItem, missing: readonly Undelivered[]): readonly OutboxItem[] {
    if (missing.length === 0) {
      this.kept.delete(item.messageId);
      this.dropOrphans(item.conv);
      return [];
    }
    // Kept in its place: a retry round goes in send order.
    this.kept.set(item.messageId, { item, missing });
    const evicted: OutboxItem[] = [];
    while (this.messageCount > MAX_KEPT_MESSAGES) {
      const oldest = [...this.kept.values()].find((k) => k.item.kind === "message");
      if (oldest === undefined) break;
      this.kept.delete(oldest.item.messageId);
      this.dropOrphans(oldest.item.conv);
      evicted.push(oldest.item);
    }
    return evicted;
  }

  /** The user gave up on a message: it is no longer retried. Whether it was kept. */
  dismiss(messageId: string): OutboxItem | undefined {
    const k = this.kept.get(messageId);
    if (k?.item.kind !== "message") return undefined;
    this.kept.delete(messageId);
    this.dropOrphans(k.item.conv);
    return k.item;
  }

  /** A post failed for good (the conversation is gone, or this account left it): not kept. */
  drop(messageId: string): OutboxItem | undefined {
    const k = this.kept.get(messageId);
    if (k === undefined) return undefined;
    this.kept.delete(messageId);
    this.dropOrphans(k.item.conv);
    return k.item;
  }

  /**
   * What the user's Retry on `messageId` posts again: the conversation's kept items up to it and
   * including it, in send order (its distributions first; earlier messages keep their order).
   */
  forRetry(messageId: string): OutboxItem[] {
    const target = this.kept.get(messageId);
    if (target === undefined) return [];
    const out: OutboxItem[] = [];
    for (const k of this.kept.values()) {
      if (k.item.conv !== target.item.conv) continue;
      out.push(k.item);
      if (k.item.messageId === messageId) break;
    }
    return out;
  }

  /**
   * One automatic round: every conversation's kept items in send order. The driver stops a
   * conversation at its first item still refused, so a round costs one post per conversation
   * while nothing changes.
   */
  rounds(): OutboxItem[][] {
    const byConv = new Map<string, OutboxItem[]>();
    for (const k of this.kept.values()) {
      const list = byConv.get(k.item.conv) ?? [];
      list.push(k.item);
      byConv.set(k.item.conv, list);
    }
    return [...byConv.values()];
  }

  /** Whether some kept message may go through on its own soon (so retry after a short backoff). */
  anyClearsByItself(): boolean {
    return [...this.kept.values()].some(
      (k) => k.item.kind === "message" && k.missing.some((u) => clearsByItself(u.reason)),
    );
  }

  /** Raw items serve the messages of their conversation: none left, none kept. */
  private dropOrphans(conv: string): void {
    const items = [...this.kept.values()].filter((k) => k.item.conv === conv);
    if (items.some((k) => k.item.kind === "message")) return;
    for (const k of items) this.kept.delete(k.item.messageId);
  }
}
