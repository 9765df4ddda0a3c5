/**
 * How a conversation is named in lists, the switcher and the title: a 1:1 under the other
 * person's name, a group under its name plus a members line ("alice, bob, +3") so two groups
 * with the same name can be told apart.
 */

import type { ChatMessage, ConversationView, MemberView } from "../../lib/engine/model";

/** Members named in a members line before the rest is counted ("+3"). */
const NAMED_MEMBERS = 2;

export function displayName(conv: ConversationView, me: string | undefined): string {
  if (!conv.direct) return conv.name;
  return conv.members.find((m) => m.account !== me)?.username ?? conv.name;
}

/** Characters of an account id shown for a member whose username is not known here yet. */
const SHORT_ID = 13;

/** A member's username; an account id not resolved yet is cut short ("acct:9bf44350…"). */
function memberName(m: MemberView): string {
  return m.username === m.account && m.account.length > SHORT_ID
    ? `${m.account.slice(0, SHORT_ID)}…`
    : m.username;
}

/** The other members of a group, "alice, bob, +3"; "" for a 1:1 (its name says who). */
export function membersLine(conv: ConversationView, me: string | undefined): string {
  if (conv.direct) return "";
  const others = conv.members.filter((m) => m.account !== me).map(memberName);
  if (others.length === 0) return "Only you";
  const named = others.slice(0, NAMED_MEMBERS).join(", ");
  const rest = others.length - NAMED_MEMBERS;
  return rest > 0 ? `${named}, +${rest}` : named;
}

/** One line for the last message, when the engine gave none. */
export function preview(m: ChatMessage | undefined): string {
  if (m === undefined) return "No messages yet";
  const who = m.mine ? "You: " : "";
  if (m.deleted === true) return "Message deleted";
  switch (m.content.type) {
    case "text":
      return who + m.content.text;
    case "attachment":
      return `${who}📎 ${m.content.attachment.fileName}`;
    case "unverified":
      return "Message could not be verified";
    case "event":
    case "gap":
      return "";
  }
}

/** The last content message (not a timeline event, a gap or a deleted message's shell). */
function lastContent(conv: ConversationView): ChatMessage | undefined {
  return conv.messages.findLast(
    (m) =>
      m.content.type === "text" ||
      m.content.type === "attachment" ||
      m.content.type === "unverified",
  );
}

export function previewOf(conv: ConversationView): string {
  return conv.preview ?? preview(lastContent(conv));
}

export function lastActivityOf(conv: ConversationView): number | undefined {
  return conv.lastActivity ?? conv.messages.at(-1)?.sentAt;
}

/** Most recent activity first; conversations without any keep their order at the end. */
export function byActivity(list: readonly ConversationView[]): ConversationView[] {
  return [...list].sort((a, b) => (lastActivityOf(b) ?? 0) - (lastActivityOf(a) ?? 0));
}
