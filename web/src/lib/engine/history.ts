/**
 * The server's archive of a conversation (`docs/protocol.md` §17), read page by page, newest
 * first: "Load earlier messages" at the top of a chat, and the first page of every conversation
 * after a recovery or an approval. Each archived envelope is opened with the history keys
 * (§17.2) by the host, which owns the checks; this module owns the cursors (where each
 * conversation's reading stopped, whether the server has more) and what a page adds: a message
 * whose id is shown already is skipped, one past the retention is not kept, and none notifies or
 * sends a receipt.
 */

import type { ArchivedEnvelope, HistoryPage } from "../schemas";
import type { HistoryCursorView } from "./model";
import type { Amendment } from "./amend";
import type { StoredMessage } from "./stored";
import { isExpired } from "./retention";
import { placeMessage } from "./timeline";

/** Envelopes per request: the server allows 1..=500; a screenful or two of messages. */
export const HISTORY_PAGE = 100;

/** What opening one archived envelope gave. */
export type ArchiveOutcome =
  /** A message to show in its place. */
  | { readonly kind: "message"; readonly message: StoredMessage }
  /** An edit, delete or reaction: applied to its target, or kept until the target is read. */
  | { readonly kind: "amendment"; readonly amendment: Amendment }
  /** Conversation state, or a receipt: nothing to show. */
  | { readonly kind: "none" }
  /** No history key for its chain, or a check refused it: not shown, never retried from here. */
  | { readonly kind: "skipped"; readonly code: string };

export interface ArchiveHost {
  fetch(conv: string, before: number | undefined, limit: number): Promise<HistoryPage>;
  /** Opens one archived envelope (§17.2); throws only when the server cannot be reached. */
  open(conv: string, archived: ArchivedEnvelope): Promise<ArchiveOutcome>;
  /** The conversation's message list, changed in place, and its retention (s, 0: for good). */
  messages(conv: string): StoredMessage[] | undefined;
  retention(conv: string): number | undefined;
  /**
   * Applies an amendment (`placed`: undefined), or the amendments waiting for a message just
   * placed (`placed`: its id); the caller stores the record.
   */
  amend(conv: string, amendment: Amendment | undefined, placed?: string): void;
  /** Stores the conversation after a page added messages. */
  save(conv: string): Promise<void>;
  changed(): void;
}

interface Cursor {
  /** The lowest seq read so far; the next page asks for what is before it. */
  before: number | undefined;
  more: boolean;
  loading: boolean;
}

/** What one page did. */
export interface PageResult {
  readonly added: number;
  readonly skipped: number;
}

export class HistoryArchive {
  private readonly cursors = new Map<string, Cursor>();
  private readonly running = new Map<string, Promise<PageResult>>();

  constructor(
    private readonly host: ArchiveHost,
    private readonly now: () => number = Date.now,
  ) {}

  /** For the view: a conversation not read yet may have earlier messages. */
  cursor(conv: string): HistoryCursorView {
    const c = this.cursors.get(conv);
    return c === undefined ? { more: true, loading: false } : { more: c.more, loading: c.loading };
  }

  /** Whether any page of `conv` was read (or is being read) since the start or a reset. */
  started(conv: string): boolean {
    return this.cursors.has(conv);
  }

  /** Reads the next page of `conv` (one at a time per conversation). */
  loadEarlier(conv: string): Promise<PageResult> {
    const running = this.running.get(conv);
    if (running !== undefined) return running;
    const run = this.page(conv).finally(() => {
      this.running.delete(conv);
    });
    this.running.set(conv, run);
    return run;
  }

  private async page(conv: string): Promise<PageResult> {
    let c = this.cursors.get(conv);
    if (c === undefined) {
      c = { before: undefined, more: true, loading: false };
      this.cursors.set(conv, c);
    }
    if (!c.more) return { added: 0, skipped: 0 };
    c.loading = true;
    this.host.changed();
    try {
      const page = await this.host.fetch(conv, c.before, HISTORY_PAGE);
      let added = 0;
      let skipped = 0;
      let amended = false;
      const messages = this.host.messages(conv);
      const retention = this.host.retention(conv);
      const now = this.now();
      for (const archived of page.envelopes) {
        if (c.before === undefined || archived.seq < c.before) c.before = archived.seq;
        const outcome = await this.host.open(conv, archived);
        switch (outcome.kind) {
          case "message":
            if (messages === undefined || isExpired(outcome.message.sentAt, retention, now)) break;
            if (placeMessage(messages, outcome.message)) {
              added += 1;
              this.host.amend(conv, undefined, outcome.message.id);
            }
            break;
          case "amendment":
            if (isExpired(outcome.amendment.sentAt, retention, now)) break;
            this.host.amend(conv, outcome.amendment);
            amended = true;
            break;
          case "none":
            break;
          case "skipped":
            skipped += 1;
            break;
        }
      }
      c.more = page.more && page.envelopes.length > 0;
      if (added > 0 || amended) await this.host.save(conv);
      return { added, skipped };
    } finally {
      c.loading = false;
      this.host.changed();
    }
  }

  /** Forgets where reading stopped (new keys arrived: a page may now open what it skipped). */
  reset(conv?: string): void {
    if (conv === undefined) this.cursors.clear();
    else this.cursors.delete(conv);
  }
}
