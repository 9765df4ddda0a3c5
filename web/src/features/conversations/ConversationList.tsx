import type { ChatMessage, ConversationView } from "../../lib/engine/model";
import { formatTime } from "../../components/ui";

export function preview(m: ChatMessage | undefined): string {
  if (m === undefined) return "No messages yet";
  const who = m.mine ? "You: " : "";
  switch (m.content.type) {
    case "text":
      return who + m.content.text;
    case "attachment":
      return `${who}Attachment: ${m.content.attachment.fileName}`;
    case "unverified":
      return "Message could not be verified";
    case "gap":
      return `${m.content.count} missing`;
    case "event":
      return "";
  }
}

export function ConversationList({
  conversations,
  selected,
  onSelect,
}: {
  conversations: readonly ConversationView[];
  selected: string | undefined;
  onSelect: (id: string) => void;
}) {
  if (conversations.length === 0)
    return <p className="hint page">No conversations yet. Start one with “New chat”.</p>;
  return (
    <nav aria-label="Conversations">
      <ul>
        {conversations.map((c) => {
          const last = c.messages.filter((m) => m.content.type !== "gap").at(-1);
          return (
            <li key={c.id}>
              <button
                type="button"
                className="conv-item"
                aria-current={selected === c.id}
                data-testid="conversation-item"
                aria-label={`${c.name}${c.unread > 0 ? `, ${c.unread} unread` : ""}`}
                onClick={() => {
                  onSelect(c.id);
                }}
              >
                <strong>
                  {c.name}
                  {!c.direct && <span className="hint"> · {c.members.length} members</span>}
                </strong>
                <span>
                  {c.unread > 0 && (
                    <span className="count" data-testid="unread">
                      {c.unread}
                    </span>
                  )}
                </span>
                <span className="last">{preview(last)}</span>
                <span className="hint">{last !== undefined ? formatTime(last.sentAt) : ""}</span>
              </button>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}
