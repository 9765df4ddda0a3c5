/**
 * Search over the local decrypted history: an in-memory word index of each conversation's
 * current texts (edits replace, deletes remove), built from the records the sealed store loads
 * and rebuilt per conversation when its record changes. Nothing of it is ever written to disk:
 * the sealed records are the only copy at rest, so the index is exactly as protected as they are.
 */

import { isContent } from "./amend";
import type { Conversations } from "./conversations";
import type { StoredMessage } from "./stored";
import { previewText } from "./view";

/** Results returned at most, newest first. */
export const MAX_HITS = 200;

interface Doc {
  readonly conv: string;
  readonly message: StoredMessage;
  /** The searchable text: current text or caption, and a file's name. */
  readonly text: string;
}

/** Lower-case, accents folded: "Café" finds "cafe". */
export function fold(text: string): string {
  return text.normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase();
}

/** The words of `text` (letters and digits in any script). */
export function words(text: string): string[] {
  return fold(text).match(/[\p{L}\p{N}]+/gu) ?? [];
}

function searchable(m: StoredMessage): string | undefined {
  if (!isContent(m) || m.deleted === true) return undefined;
  const text = previewText(m);
  return m.content.type === "attachment" ? `${text} ${m.content.attachment.fileName}` : text;
}

export class SearchIndex {
  /** Per conversation: its documents by message id. */
  private readonly docs = new Map<string, Map<string, Doc>>();
  /** word → keys (`conv\u0000messageId`) of documents holding it. */
  private readonly postings = new Map<string, Set<string>>();
  /** Conversations whose record changed since they were indexed. */
  private readonly dirty = new Set<string>();

  constructor(private readonly source: (conv: string) => readonly StoredMessage[] | undefined) {}

  /**
   * The index of `convs`: every record it holds now, and each record again whenever it is about
   * to be stored (`Conversations.onTouched`), so edits, deletes and new messages show in results.
   */
  static over(convs: Conversations): SearchIndex {
    const index = new SearchIndex((conv) => convs.records.get(conv)?.messages);
    convs.onTouched = (conv) => {
      index.touch(conv);
    };
    for (const conv of convs.records.keys()) index.touch(conv);
    return index;
  }

  /** `conv`'s record changed: it is indexed again before the next query. */
  touch(conv: string): void {
    this.dirty.add(conv);
  }

  private unindex(conv: string): void {
    const docs = this.docs.get(conv);
    if (docs === undefined) return;
    for (const [id, doc] of docs)
      for (const w of new Set(words(doc.text))) {
        const keys = this.postings.get(w);
        keys?.delete(`${conv}\u0000${id}`);
        if (keys?.size === 0) this.postings.delete(w);
      }
    this.docs.delete(conv);
  }

  private index(conv: string): void {
    this.unindex(conv);
    const messages = this.source(conv);
    if (messages === undefined) return;
    const docs = new Map<string, Doc>();
    for (const message of messages) {
      const text = searchable(message);
      if (text === undefined) continue;
      docs.set(message.id, { conv, message, text });
      for (const w of new Set(words(text))) {
        let keys = this.postings.get(w);
        if (keys === undefined) {
          keys = new Set();
          this.postings.set(w, keys);
        }
        keys.add(`${conv}\u0000${message.id}`);
      }
    }
    this.docs.set(conv, docs);
  }

  private refresh(): void {
    for (const conv of this.dirty) this.index(conv);
    this.dirty.clear();
  }

  /**
   * Messages holding every word of `query` (the last one as a prefix, so results come while
   * typing), in `conv` only when given; newest first.
   */
  query(query: string, conv?: string): { conv: string; message: StoredMessage; text: string }[] {
    this.refresh();
    const terms = words(query);
    if (terms.length === 0) return [];
    let found: Set<string> | undefined;
    terms.forEach((term, i) => {
      const last = i === terms.length - 1;
      const keys = new Set<string>();
      for (const [w, ks] of this.postings)
        if (w === term || (last && w.startsWith(term))) for (const k of ks) keys.add(k);
      found = found === undefined ? keys : new Set([...found].filter((k) => keys.has(k)));
    });
    const hits: Doc[] = [];
    for (const key of found ?? []) {
      const [c = "", id = ""] = key.split("\u0000");
      if (conv !== undefined && c !== conv) continue;
      const doc = this.docs.get(c)?.get(id);
      if (doc !== undefined) hits.push(doc);
    }
    hits.sort((a, b) => b.message.sentAt - a.message.sentAt);
    return hits.slice(0, MAX_HITS);
  }
}
