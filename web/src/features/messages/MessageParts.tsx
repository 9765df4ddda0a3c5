/**
 * The pieces of a message row: its delivery state, reply quote, reaction chips, edit history and
 * the "not delivered to" note. Each renders from the view model and asks the engine through
 * `useSotto()` only for what the user clicks (dismiss, retry).
 */

import { formatTime } from "../../components/ui";
import { useSotto } from "../../lib/sotto";
import {
  type ChatMessage,
  type EditRecord,
  type MessageStatus,
  type ReactionView,
  type ReplyQuote,
  type UndeliveredState,
  undeliveredLines,
} from "../../lib/engine/model";
import { Dialog } from "./Dialog";

const STATUS_TEXT: Record<Exclude<MessageStatus, "refused" | "waiting">, string> = {
  sending: "Sending…",
  sent: "Sent",
  delivered: "Delivered",
  read: "Read",
};

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

export function Time({ ms }: { ms: number }) {
  return <time dateTime={new Date(ms).toISOString()}>{formatTime(ms)}</time>;
}

export function Status({ conv, m }: { conv: string; m: ChatMessage }) {
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
export function Quote({
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

export function Reactions({
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
export function EditHistory({
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
export function Undelivered({
  conv,
  id,
  state,
}: {
  conv: string;
  id: string;
  state: UndeliveredState;
}) {
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
