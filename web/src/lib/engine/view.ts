/**
 * The UI's `ChatMessage` from a stored message: the current text of an edited message, the reply
 * quote as the target is now, reactions with names, mentions of this account, timeline events
 * with usernames. Pure: names come from `names`, so a view is rebuilt whenever they change.
 */

import { currentMentions, currentText, isContent } from "./amend";
import type {
  ChatMessage,
  EditRecord,
  MessageContent,
  ReactionView,
  ReplyQuote,
  TimelineEvent,
} from "./model";
import type { StoredMessage } from "./stored";

/** The longest reply preview, in characters (code points). */
export const PREVIEW_CHARS = 120;

export interface ViewContext {
  /** This account's id. */
  readonly me: string;
  /** A username for an account id (the id itself when unknown). */
  name(account: string): string;
  /** The conversation's messages by id (for reply quotes). */
  find(id: string): StoredMessage | undefined;
  /** The group name a Rename at `epoch` set, when known (timeline events). */
  nameAt?(epoch: number): string | undefined;
}

/** The first `n` characters of `text` on one line. */
export function oneLine(text: string, n: number): string {
  const flat = text.replace(/\s+/g, " ").trim();
  const chars = Array.from(flat);
  return chars.length <= n ? flat : `${chars.slice(0, n).join("")}…`;
}

/** What a message shows in one line: its current text, or the file name of an attachment. */
export function previewText(m: StoredMessage): string {
  if (m.deleted === true) return "Message deleted";
  const text = currentText(m);
  if (m.content.type === "attachment")
    return text === "" ? `📎 ${m.content.attachment.fileName}` : `📎 ${text}`;
  return text;
}

function quote(id: string, ctx: ViewContext): ReplyQuote {
  const target = ctx.find(id);
  if (target === undefined || !isContent(target)) return { id, state: "missing" };
  const fromUsername = ctx.name(target.from);
  if (target.deleted === true) return { id, state: "deleted", fromUsername };
  return {
    id,
    state: "available",
    fromUsername,
    preview: oneLine(previewText(target), PREVIEW_CHARS),
  };
}

function reactionViews(m: StoredMessage, ctx: ViewContext): ReactionView[] {
  const byEmoji = new Map<string, string[]>();
  for (const r of m.reactions ?? []) {
    if (!r.added) continue;
    const list = byEmoji.get(r.emoji) ?? [];
    if (!list.includes(r.account)) list.push(r.account);
    byEmoji.set(r.emoji, list);
  }
  return [...byEmoji].map(([emoji, accounts]) => ({
    emoji,
    accounts,
    usernames: accounts.map((a) => ctx.name(a)),
    mine: accounts.includes(ctx.me),
  }));
}

/** Earlier texts of an edited message, oldest first (the original, then all but the last edit). */
function earlierTexts(m: StoredMessage): EditRecord[] | undefined {
  const edits = m.edits;
  if (edits === undefined || edits.length === 0) return undefined;
  const original = m.content.type === "attachment" ? m.content.caption : "";
  const first: EditRecord = {
    text: m.content.type === "text" ? m.content.text : original,
    sentAt: m.sentAt,
  };
  return [first, ...edits.slice(0, -1).map((e) => ({ text: e.text, sentAt: e.sentAt }))];
}

function eventView(e: TimelineEvent, ctx: ViewContext, epoch: number): TimelineEvent {
  switch (e.kind) {
    case "created":
    case "left":
      return { kind: e.kind, actor: ctx.name(e.actor) };
    case "added":
    case "removed":
    case "admin-granted":
    case "admin-revoked":
      return { kind: e.kind, actor: ctx.name(e.actor), subject: ctx.name(e.subject) };
    case "renamed": {
      const name = e.name ?? ctx.nameAt?.(epoch);
      return { kind: "renamed", actor: ctx.name(e.actor), ...(name !== undefined ? { name } : {}) };
    }
    case "retention":
      return { kind: "retention", actor: ctx.name(e.actor), seconds: e.seconds };
  }
}

function shownContent(m: StoredMessage, ctx: ViewContext): MessageContent {
  const c = m.content;
  if (m.deleted === true) return { type: "text", text: "" };
  switch (c.type) {
    case "text":
      return { type: "text", text: currentText(m) };
    case "attachment":
      return { ...c, caption: currentText(m) };
    case "event":
      return { type: "event", event: eventView(c.event, ctx, Number(m.id.split(":")[1] ?? -1)) };
    case "unverified":
    case "gap":
      return c;
  }
}

/** The UI's form of a stored message. */
export function messageView(m: StoredMessage, ctx: ViewContext): ChatMessage {
  const mentions = m.deleted === true ? [] : currentMentions(m);
  const edits = m.deleted === true ? undefined : earlierTexts(m);
  return {
    id: m.id,
    from: m.from,
    fromUsername: m.fromUsername,
    mine: m.mine,
    sentAt: m.sentAt,
    receivedAt: m.receivedAt,
    content: shownContent(m, ctx),
    ...(m.status !== undefined ? { status: m.status } : {}),
    ...(m.undelivered !== undefined ? { undelivered: m.undelivered } : {}),
    ...(m.chain !== undefined ? { chain: m.chain } : {}),
    ...(m.index !== undefined ? { index: m.index } : {}),
    ...(m.replyTo !== undefined && m.deleted !== true ? { replyTo: quote(m.replyTo, ctx) } : {}),
    mentions,
    mentionsMe: !m.mine && mentions.includes(ctx.me),
    ...(edits !== undefined ? { edits } : {}),
    ...(m.deleted === true ? { deleted: true } : {}),
    reactions: m.deleted === true ? [] : reactionViews(m, ctx),
    ...(m.refusal !== undefined ? { refusal: m.refusal } : {}),
  };
}

/** The conversation list's line for the last content message ("You: …", "alice: …"). */
export function conversationPreview(
  messages: readonly StoredMessage[],
  ctx: ViewContext,
): string | undefined {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m === undefined || !isContent(m)) continue;
    const who = m.mine ? "You" : ctx.name(m.from);
    return `${who}: ${oneLine(previewText(m), PREVIEW_CHARS)}`;
  }
  return undefined;
}
