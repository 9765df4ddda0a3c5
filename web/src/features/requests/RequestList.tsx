/**
 * Requests: conversations someone who is not a contact yet added this account to, apart from the
 * conversations. Each shows who, the group's size and how much arrived, never what: the messages
 * show only once the user opens the request (reading does not accept it, and sends no receipt).
 */

import { formatTime } from "../../components/ui";
import { RequestActions } from "../../components/ui/RequestActions";
import type { RequestEntry } from "../../lib/engine/model";

/** Received messages in a request (text and attachments, and those that could not be verified). */
export function receivedCount(entry: RequestEntry): number {
  return (entry.conversation?.messages ?? []).filter((m) => !m.mine && m.content.type !== "gap")
    .length;
}

export function requestSummary(entry: RequestEntry): string {
  const { info, conversation } = entry;
  if (info.members <= 2) return `${info.fromUsername} wants to start a conversation with you`;
  const name = conversation === undefined ? "a group" : `the group “${conversation.name}”`;
  return `${info.fromUsername} added you to ${name} (${info.members} members)`;
}

export function RequestList({
  requests,
  onOpen,
  onAccepted,
}: {
  requests: readonly RequestEntry[];
  onOpen: (conv: string) => void;
  onAccepted: (conv: string) => void;
}) {
  return (
    <section className="page" aria-labelledby="requests-title">
      <h2 id="requests-title">Requests</h2>
      <p className="hint">
        From people who are not your contacts yet. What they sent is shown only when you open a
        request; they are not told whether you read it. Accept to reply.
      </p>
      {requests.length === 0 ? (
        <p data-testid="no-requests">No requests.</p>
      ) : (
        <ul className="request-list">
          {requests.map((entry) => {
            const n = receivedCount(entry);
            return (
              <li key={entry.info.conversation} data-testid="request-item">
                <p>
                  <strong>{requestSummary(entry)}</strong>
                </p>
                <p className="hint">
                  {n === 1 ? "1 message" : `${n} messages`} · {formatTime(entry.info.createdAt)}
                </p>
                <button
                  type="button"
                  onClick={() => {
                    onOpen(entry.info.conversation);
                  }}
                >
                  Open
                </button>
                <RequestActions
                  info={entry.info}
                  onAccepted={onAccepted}
                  onGone={() => undefined}
                />
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
