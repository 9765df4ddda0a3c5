/**
 * One row of the timeline: a message (text or attachment) with its reply quote, "edited" label,
 * reactions, delivery state and actions menu; a deleted message; a gap or unverified notice; a
 * membership event. The row is focusable (the timeline moves focus with ↑/↓) and answers the
 * message shortcuts: R reply, E edit, Delete/Backspace delete, + or : react.
 */

import { type KeyboardEvent, useState } from "react";
import { createPortal } from "react-dom";

import { formatTime } from "../../components/ui";
import { useSotto } from "../../lib/sotto";
import {
  type ChatMessage,
  type ConversationView,
  type EditRecord,
  type MessageStatus,
  type ReactionView,
  type ReplyQuote,
  type TimelineEvent,
  type UndeliveredState,
  undeliveredLines,
} from "../../lib/engine/model";
import { describeRetention } from "../../lib/engine/retention";
import { AttachmentView } from "./Attachment";
import { Dialog } from "./Dialog";
import type { Mentionable } from "./format";
import { type MenuItem, MessageMenu, ReactionPicker } from "./MessageMenu";
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

const STATUS_TEXT: Record<Exclude<MessageStatus, "refused" | "waiting">, string> = {
  sending: "Sending…",
  sent: "Sent",
  delivered: "Delivered",
  read: "Read",
};

/** The text a message shows now (its caption for an attachment); "" when it has none. */
export function messageText(m: ChatMessage): string {
  if (m.deleted === true) return "";
  switch (m.content.type) {
    case "text":
      return m.content.text;
    case "attachment":
      return m.content.caption;
    case "gap":
    case "unverified":
    case "event":
      return "";
  }
}

/** Whether a message can be replied to, reacted to, edited (if mine) and deleted (if mine). */
export function isContent(m: ChatMessage): boolean {
  return (
    m.deleted !== true &&
    (m.content.type === "text" || m.content.type === "attachment") &&
    m.status !== "refused"
  );
}

/** A membership or settings change as one line. */
export function eventText(e: TimelineEvent): string {
  switch (e.kind) {
    case "created":
      return `${e.actor} created the group`;
    case "added":
      return `${e.actor} added ${e.subject}`;
    case "removed":
      return `${e.actor} removed ${e.subject}`;
    case "left":
      return `${e.actor} left`;
    case "renamed":
      return e.name === undefined
        ? `${e.actor} renamed the group`
        : `${e.actor} renamed the group to “${e.name}”`;
    case "admin-granted":
      return `${e.actor} made ${e.subject} an admin`;
    case "admin-revoked":
      return `${e.actor} removed ${e.subject} as an admin`;
    case "retention":
      return e.seconds === 0
        ? `${e.actor} set messages to be kept for good`
        : `${e.actor} set messages to be kept for ${describeRetention(e.seconds)}`;
  }
}

/** "Waiting to send": a small clock, drawn (an emoji clock is missing from some fonts). */
function ClockIcon() {
  return (
    <svg
      className="clock"
      viewBox="0 0 16 16"
      width="12"
      height="12"
      aria-hidden="true"
      focusable="false"
    >
      <circle cx="8" cy="8" r="6.5" fill="none" stroke="currentColor" strokeWidth="1.5" />
      <path d="M8 4v4.5l3 1.5" fill="none" stroke="currentColor" strokeWidth="1.5" />
    </svg>
  );
}

function Time({ ms }: { ms: number }) {
  return <time dateTime={new Date(ms).toISOString()}>{formatTime(ms)}</time>;
}

export function MessageItem({
  conv,
  message: m,
  me,
  focusable = false,
  highlighted = false,
  actions,
}: {
  conv: ConversationView;
  message: ChatMessage;
  me: string | undefined;
  /** The one row of the timeline in the Tab order (roving tabindex). */
  focusable?: boolean;
  highlighted?: boolean;
  actions: MessageActions | undefined;
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
          role="note"
          data-message-id={m.id}
          tabIndex={tabIndex}
        >
          {m.content.count === 1
            ? `1 message from ${m.content.from} is missing`
            : `${m.content.count} messages from ${m.content.from} are missing`}
        </li>
      );
    case "event":
      return (
        <li
          className="msg event"
          data-testid="timeline-event"
          role="note"
          data-message-id={m.id}
          tabIndex={tabIndex}
          dir="auto"
        >
          {eventText(m.content.event)} · <Time ms={m.sentAt} />
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
  const items: MenuItem[] = [];
  if (actions !== undefined && content) {
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
    if (messageText(m) !== "")
      items.push({
        label: "Copy text",
        run: () => {
          actions.copy(m);
        },
      });
    if (m.mine)
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
    if (e.target !== e.currentTarget || actions === undefined || !content) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const k = e.key;
    if (k === "r" || k === "R") actions.reply(m);
    else if ((k === "e" || k === "E") && m.mine) actions.edit(m);
    else if ((k === "Delete" || k === "Backspace") && m.mine) actions.remove(m);
    else if (k === "+" || k === ":") setPicking(true);
    else if (k === "Enter" || k === "ContextMenu") setMenuOpen(true);
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
            actions === undefined || !content
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

function Status({ conv, m }: { conv: string; m: ChatMessage }) {
  const client = useSotto();
  const status = m.status;
  if (status === undefined) return null;
  switch (status) {
    case "waiting":
      return (
        <>
          {" · "}
          <span data-testid="message-status" className="waiting">
            <ClockIcon /> Waiting to send
          </span>
        </>
      );
    case "refused":
      return (
        <>
          {" · "}
          <span data-testid="message-status" className="error">
            Could not be sent{m.refusal === undefined ? "" : `: ${m.refusal}`}
          </span>{" "}
          <button
            type="button"
            className="link"
            onClick={() => void client.dismissRefused(conv, m.id)}
          >
            Dismiss
          </button>
        </>
      );
    case "sending":
    case "sent":
    case "delivered":
    case "read":
      return (
        <>
          {" · "}
          <span data-testid="message-status">{STATUS_TEXT[status]}</span>
        </>
      );
  }
}

/** The quoted message above a reply; a click scrolls to it (when it is still there). */
function Quote({
  quote,
  onJump,
}: {
  quote: ReplyQuote;
  onJump: ((id: string) => void) | undefined;
}) {
  const body =
    quote.state === "available" ? (
      <>
        <strong dir="auto">{quote.fromUsername}</strong> <span dir="auto">{quote.preview}</span>
      </>
    ) : quote.state === "deleted" ? (
      <em>{quote.fromUsername === undefined ? "" : `${quote.fromUsername}: `}Message deleted</em>
    ) : (
      <em>Message not available</em>
    );
  if (quote.state === "missing" || onJump === undefined)
    return (
      <span className="reply-quote" data-testid="reply-quote" data-state={quote.state}>
        {body}
      </span>
    );
  return (
    <button
      type="button"
      className="reply-quote"
      data-testid="reply-quote"
      data-state={quote.state}
      aria-label={
        quote.state === "available"
          ? `Reply to ${quote.fromUsername ?? ""}: ${quote.preview ?? ""}. Show the message`
          : "Reply to a deleted message. Show it"
      }
      onClick={() => {
        onJump(quote.id);
      }}
    >
      {body}
    </button>
  );
}

function Reactions({
  reactions,
  onToggle,
}: {
  reactions: readonly ReactionView[];
  onToggle: ((r: ReactionView) => void) | undefined;
}) {
  return (
    <span className="reactions" role="group" aria-label="Reactions" data-testid="reactions">
      {reactions.map((r) => (
        <button
          key={r.emoji}
          type="button"
          className={r.mine ? "reaction mine" : "reaction"}
          aria-pressed={r.mine}
          aria-label={`${r.emoji} reacted by ${r.usernames.join(", ")}`}
          title={r.usernames.join(", ")}
          disabled={onToggle === undefined}
          data-testid="reaction"
          onClick={() => onToggle?.(r)}
        >
          {r.emoji} <span className="reaction-count" data-count={r.accounts.length} />
        </button>
      ))}
    </span>
  );
}

/** The earlier versions of an edited message, oldest first, and the current one. */
function EditHistory({
  edits,
  current,
  onClose,
}: {
  edits: readonly EditRecord[];
  current: string;
  onClose: () => void;
}) {
  return (
    <Dialog title="Edit history" onClose={onClose} testId="edit-history">
      <ol className="edit-history">
        {edits.map((e, i) => (
          <li key={i}>
            <Time ms={e.sentAt} />
            <p dir="auto" className="pre">
              {e.text}
            </p>
          </li>
        ))}
        <li>
          <strong>Now</strong>
          <p dir="auto" className="pre">
            {current}
          </p>
        </li>
      </ol>
      <div className="actions">
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}

/**
 * Who did not get a sent message and why; while the outbox keeps it, Retry posts it again (same
 * id and bytes: only the devices still missing get it) and Dismiss stops trying.
 */
function Undelivered({ conv, id, state }: { conv: string; id: string; state: UndeliveredState }) {
  const client = useSotto();
  return (
    <span className="undelivered" data-testid="message-undelivered">
      {undeliveredLines(state.missing).map((line) => (
        <span key={line} className="error">
          {line}
        </span>
      ))}
      {state.kept && (
        <span>
          <button type="button" className="link" onClick={() => void client.retry(conv, id)}>
            Retry
          </button>
          <button
            type="button"
            className="link"
            onClick={() => void client.dismissUndelivered(conv, id)}
          >
            Dismiss
          </button>
        </span>
      )}
    </span>
  );
}
