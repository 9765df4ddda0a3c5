/**
 * The conversation list: each item is a link to the conversation's address whose accessible
 * name gives who, the members line, the last message, its time and the unread count, so a
 * screen reader hears what a sighted user scans.
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
  const name = displayName(conv, me);
  const members = membersLine(conv, me);
  const at = lastActivityOf(conv);
  const unread = unreadPhrase(conv);
  const mentions = conv.mentions;
  const removed = conv.removed !== undefined;
  const time = at === undefined ? "" : formatTime(at);
  const last = previewOf(conv);
  // The accessible name says it all, in the order the row's text comes (axe's label-content
  // rule): name, members, last message, time, then the unread count ("Team, alice, bob, alice:
  // hi, 10:02, 2 unread"). The grid puts the time and the count where the eye expects them.
  const label = [name, removed ? "not a member" : "", members, last, time, unread]
    .filter((part) => part !== "")
    .join(", ");
  return (
    <a
      href={routeHash({ kind: "chat", conv: conv.id })}
      className={conv.unread > 0 ? "conv-item unread" : "conv-item"}
      aria-current={selected ? "page" : undefined}
      data-testid="conversation-item"
      aria-label={label}
    >
      <span className="conv-name">
        <strong>{name}</strong>
        {removed && <span className="hint"> · not a member</span>}
      </span>{" "}
      {/* The spaces keep the words of one span from running into the next in the row's text. */}
      {members !== "" && <span className="hint conv-members">{members} </span>}
      <span className="last">{last}</span> <span className="hint conv-time">{time}</span>{" "}
      <span className="conv-badges">
        {conv.unread > 0 && (
          <span className="count" data-testid="unread">
            {conv.unread}
          </span>
        )}
        {mentions > 0 && (
          <span className="count mention" data-testid="mentions" title="Mentions you">
            @
          </span>
        )}
      </span>
    </a>
  );
}
