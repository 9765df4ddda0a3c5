/**
 * One row of the timeline: a message (text or attachment) with its reply quote, "edited" label,
 * reactions, delivery state and actions menu; a deleted message; a gap or unverified notice; a
 * membership event. The row is focusable (the timeline moves focus with ↑/↓) and answers the
 * message shortcuts: R reply, E edit, Delete/Backspace delete, + or : react.
 */

import { type KeyboardEvent, useState } from "react";
import { createPortal } from "react-dom";

import type { ChatMessage, ConversationView } from "../../lib/engine/model";
import { AttachmentView } from "./Attachment";
import { eventText, isContent, messageText } from "./content";
import type { Mentionable } from "./format";
import { type MenuItem, MessageMenu, ReactionPicker } from "./MessageMenu";
import { EditHistory, Quote, Reactions, Status, Time, Undelivered } from "./MessageParts";
import { RichText } from "./RichText";

/** What a row asks of its timeline; the timeline owns the composer and the confirm dialog. */
export interface MessageActions {
  reply(m: ChatMessage): void;
  edit(m: ChatMessage): void;
  /** Asks for confirmation first. */
  remove(m: ChatMessage): void;
  react(m: ChatMessage, emoji: string, added: boolean): void;
  /** Scrolls to a message and highlights it (a reply quote's target). */
  jumpTo(id: string): void;
  copy(m: ChatMessage): void;
}

export function MessageItem({
  conv,
  message: m,
  me,
  focusable = false,
  highlighted = false,
  actions,
  readOnly = false,
}: {
  conv: ConversationView;
  message: ChatMessage;
  me: string | undefined;
  /** The one row of the timeline in the Tab order (roving tabindex). */
  focusable?: boolean;
  highlighted?: boolean;
  actions: MessageActions | undefined;
  /** Sending is not possible here (removed, blocked): only Copy text and quotes stay. */
  readOnly?: boolean;
}) {
  const [menuOpen, setMenuOpen] = useState(false);
  const [picking, setPicking] = useState(false);
  const [history, setHistory] = useState(false);
  const tabIndex = focusable ? 0 : -1;

  switch (m.content.type) {
    case "gap":
      return (
        <li
          className="msg notice"
          data-testid="gap-notice"
          data-message-id={m.id}
          tabIndex={tabIndex}
        >
          {/* The role is on the content: a list's children stay list items. */}
          <span role="note">
            {m.content.count === 1
              ? `1 message from ${m.content.from} is missing`
              : `${m.content.count} messages from ${m.content.from} are missing`}
          </span>
        </li>
      );
    case "event":
      return (
        <li
          className="msg event"
          data-testid="timeline-event"
          data-message-id={m.id}
          tabIndex={tabIndex}
          dir="auto"
        >
          <span role="note">
            {eventText(m.content.event)} · <Time ms={m.sentAt} />
          </span>
        </li>
      );
    case "unverified":
      return (
        <li
          className="msg unverified"
          data-testid="message-unverified"
          data-message-id={m.id}
          tabIndex={tabIndex}
        >
          A message from {m.fromUsername} could not be verified and is not shown.
          <span className="meta">
            <Time ms={m.sentAt} /> · <code>{m.content.code}</code>
          </span>
        </li>
      );
    case "text":
    case "attachment":
      break;
  }

  const rowClass = [
    "msg",
    m.mine ? "mine" : "",
    m.mentionsMe ? "mentions-me" : "",
    highlighted ? "highlight" : "",
    m.deleted === true ? "deleted" : "",
  ]
    .filter((c) => c !== "")
    .join(" ");

  if (m.deleted === true) {
    return (
      <li
        className={rowClass}
        data-testid="message"
        data-message-id={m.id}
        data-deleted="true"
        tabIndex={tabIndex}
      >
        <span className="deleted-text" data-testid="message-deleted">
          Message deleted
        </span>
        <span className="meta">
          {m.mine ? "You" : m.fromUsername} · <Time ms={m.sentAt} />
        </span>
      </li>
    );
  }

  const content = isContent(m);
  // What this row may still do: amend and answer only where sending is possible.
  const amendable = content && !readOnly;
  const items: MenuItem[] = [];
  if (actions !== undefined && content) {
    if (amendable) {
      items.push({
        label: "Reply",
        shortcut: "R",
        run: () => {
          actions.reply(m);
        },
      });
      items.push({
        label: "React",
        shortcut: "+",
        run: () => {
          setPicking(true);
        },
      });
      if (m.mine)
        items.push({
          label: "Edit",
          shortcut: "E",
          run: () => {
            actions.edit(m);
          },
        });
    }
    if (messageText(m) !== "")
      items.push({
        label: "Copy text",
        run: () => {
          actions.copy(m);
        },
      });
    if (amendable && m.mine)
      items.push({
        label: "Delete",
        shortcut: "Delete",
        danger: true,
        run: () => {
          actions.remove(m);
        },
      });
  }

  const onKey = (e: KeyboardEvent<HTMLLIElement>) => {
    // Only the row itself: keys typed in its buttons or fields are theirs.
    if (e.target !== e.currentTarget || actions === undefined) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const k = e.key;
    if ((k === "Enter" || k === "ContextMenu") && items.length > 0) setMenuOpen(true);
    else if (!amendable) return;
    else if (k === "r" || k === "R") actions.reply(m);
    else if ((k === "e" || k === "E") && m.mine) actions.edit(m);
    else if ((k === "Delete" || k === "Backspace") && m.mine) actions.remove(m);
    else if (k === "+" || k === ":") setPicking(true);
    else return;
    e.preventDefault();
  };

  // Stored by the server but given to nobody: "Sent" would say more than happened.
  const showStatus =
    m.status !== undefined && !(m.status === "sent" && m.undelivered !== undefined);
  const mentionable: Mentionable[] = conv.members.filter((x) => m.mentions.includes(x.account));

  return (
    <li
      className={rowClass}
      data-testid="message"
      data-message-id={m.id}
      data-status={m.status}
      data-mentions-me={m.mentionsMe ? "true" : undefined}
      data-delivery={m.undelivered === undefined ? undefined : "partial"}
      tabIndex={tabIndex}
      onKeyDown={onKey}
    >
      {m.mentionsMe && <span className="visually-hidden">Mentions you. </span>}
      {!m.mine && !conv.direct && (
        <strong className="from" dir="auto">
          {m.fromUsername}:{" "}
        </strong>
      )}
      {m.replyTo !== undefined && (
        <Quote
          quote={m.replyTo}
          onJump={
            actions === undefined
              ? undefined
              : (id) => {
                  actions.jumpTo(id);
                }
          }
        />
      )}
      {m.content.type === "text" ? (
        <span data-testid="message-text" className="text" dir="auto">
          <RichText text={m.content.text} members={mentionable} me={me} />
        </span>
      ) : (
        <AttachmentView
          attachment={m.content.attachment}
          caption={
            m.content.caption === "" ? undefined : (
              <RichText text={m.content.caption} members={mentionable} me={me} />
            )
          }
        />
      )}
      {items.length > 0 && <MessageMenu items={items} open={menuOpen} onOpenChange={setMenuOpen} />}
      {picking && actions !== undefined && (
        <ReactionPicker
          onPick={(emoji) => {
            setPicking(false);
            const mine = m.reactions.find((r) => r.emoji === emoji)?.mine ?? false;
            actions.react(m, emoji, !mine);
          }}
          onClose={() => {
            setPicking(false);
          }}
        />
      )}
      {m.reactions.length > 0 && (
        <Reactions
          reactions={m.reactions}
          onToggle={
            actions === undefined || !amendable
              ? undefined
              : (r) => {
                  actions.react(m, r.emoji, !r.mine);
                }
          }
        />
      )}
      <span className="meta">
        <Time ms={m.sentAt} />
        {m.edits !== undefined && (
          <>
            {" · "}
            <button
              type="button"
              className="link edited"
              data-testid="message-edited"
              aria-haspopup="dialog"
              onClick={() => {
                setHistory(true);
              }}
            >
              (edited)
            </button>
          </>
        )}
        {m.mine && showStatus && <Status conv={conv.id} m={m} />}
      </span>
      {m.mine && m.undelivered !== undefined && (
        <Undelivered conv={conv.id} id={m.id} state={m.undelivered} />
      )}
      {history &&
        m.edits !== undefined &&
        createPortal(
          <EditHistory
            edits={m.edits}
            current={messageText(m)}
            onClose={() => {
              setHistory(false);
            }}
          />,
          document.body,
        )}
    </li>
  );
}
