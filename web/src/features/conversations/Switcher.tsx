/**
 * The conversation switcher (Ctrl+K / Cmd+K): a dialog with a filter box over the conversations
 * (a combobox and its listbox, WAI-ARIA 1.2), Up/Down to move, Enter to open, Escape to close.
 * Matches on the name and the members, most recent first.
 */

import { type KeyboardEvent, useState } from "react";

import { Dialog } from "../../components/ui/Dialog";
import type { ConversationView } from "../../lib/engine/model";
import { byActivity, displayName, membersLine } from "./names";

/** Conversations whose name or members contain every word of `query` (case-insensitive). */
export function filterConversations(
  list: readonly ConversationView[],
  query: string,
  me: string | undefined,
): ConversationView[] {
  const words = query
    .toLowerCase()
    .split(/\s+/)
    .filter((w) => w !== "");
  return byActivity(list).filter((c) => {
    const hay = [displayName(c, me), ...c.members.map((m) => m.username)].join(" ").toLowerCase();
    return words.every((w) => hay.includes(w));
  });
}

export function Switcher({
  conversations,
  me,
  onOpen,
  onClose,
}: {
  conversations: readonly ConversationView[];
  me: string | undefined;
  onOpen: (conv: string) => void;
  onClose: () => void;
}) {
  const [query, setQuery] = useState("");
  const [active, setActive] = useState(0);
  const shown = filterConversations(conversations, query, me);
  const current = Math.min(active, Math.max(0, shown.length - 1));
  const optionId = (i: number) => `switcher-option-${i}`;

  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    switch (e.key) {
      case "ArrowDown":
        e.preventDefault();
        setActive(shown.length === 0 ? 0 : (current + 1) % shown.length);
        break;
      case "ArrowUp":
        e.preventDefault();
        setActive(shown.length === 0 ? 0 : (current - 1 + shown.length) % shown.length);
        break;
      case "Home":
        e.preventDefault();
        setActive(0);
        break;
      case "End":
        e.preventDefault();
        setActive(Math.max(0, shown.length - 1));
        break;
      case "Enter": {
        e.preventDefault();
        const pick = shown[current];
        if (pick !== undefined) onOpen(pick.id);
        break;
      }
      default:
        break;
    }
  };

  return (
    <Dialog title="Go to a conversation" onClose={onClose} className="switcher">
      <label htmlFor="switcher-input" className="visually-hidden">
        Conversation name or member
      </label>
      <input
        id="switcher-input"
        type="text"
        role="combobox"
        aria-expanded="true"
        aria-controls="switcher-list"
        aria-autocomplete="list"
        aria-activedescendant={shown.length === 0 ? undefined : optionId(current)}
        placeholder="Type a name…"
        autoComplete="off"
        value={query}
        onChange={(e) => {
          setQuery(e.target.value);
          setActive(0);
        }}
        onKeyDown={onKeyDown}
      />
      <ul id="switcher-list" role="listbox" aria-label="Conversations" className="switcher-list">
        {shown.map((c, i) => {
          const members = membersLine(c, me);
          return (
            <li
              key={c.id}
              id={optionId(i)}
              role="option"
              aria-selected={i === current}
              data-testid="switcher-option"
              onMouseDown={(e) => {
                // Keep focus in the box; the click opens it.
                e.preventDefault();
              }}
              onClick={() => {
                onOpen(c.id);
              }}
            >
              <strong>{displayName(c, me)}</strong>
              {members !== "" && <span className="hint"> · {members}</span>}
              {c.unread > 0 && <span className="hint"> · {c.unread} unread</span>}
            </li>
          );
        })}
      </ul>
      {shown.length === 0 && (
        <p className="hint" role="status">
          No conversation matches.
        </p>
      )}
      <p className="hint">↑ ↓ to move, Enter to open, Esc to close.</p>
    </Dialog>
  );
}
