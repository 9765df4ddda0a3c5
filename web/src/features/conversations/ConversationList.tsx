/**
 * The conversation list: each item is a link to the conversation's address whose accessible
 * name says who and how many are unread, and whose description gives the members line, the last
 * message and its time, so a screen reader hears what a sighted user scans.
 */

import { formatTime } from "../../components/ui";
import { routeHash } from "../../components/route";
import type { ConversationView } from "../../lib/engine/model";
import { byActivity, displayName, lastActivityOf, membersLine, previewOf } from "./names";

export function ConversationList({
  conversations,
  selected,
  me,
  empty,
}: {
  conversations: readonly ConversationView[];
  selected: string | undefined;
  me: string | undefined;
  /** What an empty list says, when not the default. */
  empty?: string | undefined;
}) {
  if (conversations.length === 0)
    return (
      <p className="hint page">{empty ?? "No conversations yet. Start one with “New chat”."}</p>
    );
  return (
    <ul className="conv-list">
      {byActivity(conversations).map((c) => (
        <li key={c.id}>
          <ConversationItem conv={c} selected={selected === c.id} me={me} />
        </li>
      ))}
    </ul>
  );
}

/** A DOM id for a conversation id (which holds `:` and base64 characters). */
function domId(conv: string): string {
  return `conv-${conv.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

export function unreadPhrase(conv: ConversationView): string {
  const parts: string[] = [];
  if (conv.unread > 0) parts.push(`${conv.unread} unread`);
  const mentions = conv.mentions;
  if (mentions > 0) parts.push(mentions === 1 ? "mentions you" : `${mentions} mentions of you`);
  return parts.join(", ");
}

function ConversationItem({
  conv,
  selected,
  me,
}: {
  conv: ConversationView;
  selected: boolean;
  me: string | undefined;
}) {
  const id = domId(conv.id);
  const name = displayName(conv, me);
  const members = membersLine(conv, me);
  const at = lastActivityOf(conv);
  const unread = unreadPhrase(conv);
  const mentions = conv.mentions;
  const removed = conv.removed !== undefined;
  // The accessible name is the name and the unread count; the rest of the row (members, last
  // message, time) is its description, read after it, and hidden from the name itself.
  return (
    <a
      href={routeHash({ kind: "chat", conv: conv.id })}
      className={conv.unread > 0 ? "conv-item unread" : "conv-item"}
      aria-current={selected ? "page" : undefined}
      data-testid="conversation-item"
      aria-label={unread === "" ? name : `${name}, ${unread}`}
      aria-describedby={`${id}-members ${id}-preview ${id}-time`}
    >
      <span className="conv-name">
        <strong>{name}</strong>
        {removed && <span className="hint"> · not a member</span>}
      </span>
      <span className="hint conv-time" id={`${id}-time`} aria-hidden="true">
        {at === undefined ? "" : formatTime(at)}
      </span>
      <span className="hint conv-members" id={`${id}-members`} aria-hidden="true">
        {members}
      </span>
      <span className="last" id={`${id}-preview`} aria-hidden="true">
        {previewOf(conv)}
      </span>
      <span className="conv-badges" aria-hidden="true">
        {mentions > 0 && (
          <span className="count mention" data-testid="mentions" title="Mentions you">
            @
          </span>
        )}
        {conv.unread > 0 && (
          <span className="count" data-testid="unread">
            {conv.unread}
          </span>
        )}
      </span>
    </a>
  );
}
