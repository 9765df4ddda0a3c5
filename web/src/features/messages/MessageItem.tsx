import { formatTime } from "../../components/ui";
import { useSotto } from "../../lib/sotto";
import {
  type ChatMessage,
  type MessageStatus,
  type UndeliveredState,
  undeliveredLines,
} from "../../lib/engine/model";
import { AttachmentView } from "./Attachment";

const STATUS_TEXT: Record<MessageStatus, string> = {
  sending: "Sending…",
  sent: "Sent",
  delivered: "Delivered",
  read: "Read",
  waiting: "Waiting to send",
  refused: "Could not be sent",
};

export function MessageItem({
  conv,
  message: m,
  direct,
}: {
  conv: string;
  message: ChatMessage;
  direct: boolean;
}) {
  const client = useSotto();
  const time = <time dateTime={new Date(m.sentAt).toISOString()}>{formatTime(m.sentAt)}</time>;
  switch (m.content.type) {
    case "event":
      return null;
    case "gap":
      return (
        <li className="msg notice" data-testid="gap-notice" role="note">
          {m.content.count === 1
            ? `1 message from ${m.content.from} is missing`
            : `${m.content.count} messages from ${m.content.from} are missing`}
        </li>
      );
    case "unverified":
      return (
        <li className="msg unverified" data-testid="message-unverified" data-message-id={m.id}>
          A message from {m.fromUsername} could not be verified and is not shown.
          <span className="meta">
            {time} · <code>{m.content.code}</code>
          </span>
        </li>
      );
    case "text":
    case "attachment": {
      // Stored by the server but given to nobody: "Sent" would say more than happened.
      const showStatus =
        m.status !== undefined && !(m.status === "sent" && m.undelivered !== undefined);
      return (
        <li
          className={m.mine ? "msg mine" : "msg"}
          data-testid="message"
          data-message-id={m.id}
          data-status={m.status}
          data-delivery={m.undelivered === undefined ? undefined : "partial"}
        >
          {!m.mine && !direct && <strong>{m.fromUsername}: </strong>}
          {m.content.type === "text" ? (
            <span data-testid="message-text">{m.content.text}</span>
          ) : (
            <AttachmentView attachment={m.content.attachment} />
          )}
          <span className="meta">
            {time}
            {m.mine && showStatus && (
              <>
                {" · "}
                <span
                  data-testid="message-status"
                  className={m.status === "refused" ? "error" : undefined}
                >
                  {STATUS_TEXT[m.status]}
                </span>
                {m.status === "waiting" && (
                  <button
                    type="button"
                    className="link"
                    onClick={() => void client.retry(conv, m.id)}
                  >
                    Retry
                  </button>
                )}
              </>
            )}
          </span>
          {m.mine && m.undelivered !== undefined && (
            <Undelivered conv={conv} id={m.id} state={m.undelivered} />
          )}
        </li>
      );
    }
  }
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
