import { type KeyboardEvent, useEffect, useRef, useState } from "react";

import { ErrorText } from "../../components/ui";
import { RequestActions } from "../../components/ui/RequestActions";
import type { RequestInfo } from "../../lib/engine/consent";
import { PaperclipIcon } from "../../components/ui/icons";
import { useSotto, useSottoView } from "../../lib/sotto";
import type { ConversationView } from "../../lib/engine/model";
import { describeRetention } from "../../lib/engine/retention";
import { MessageItem } from "./MessageItem";

export function ChatView({
  conv,
  request,
  onBack,
  onMembers,
  onVerify,
  onAccepted,
}: {
  conv: ConversationView;
  /** An opened request: read only, with Accept / Decline / Block instead of the composer. */
  request?: RequestInfo;
  onBack: () => void;
  onMembers: () => void;
  onVerify: (account: string) => void;
  onAccepted?: (conv: string) => void;
}) {
  const client = useSotto();
  const [text, setText] = useState("");
  const [progress, setProgress] = useState<number>();
  const [error, setError] = useState<string>();
  const list = useRef<HTMLOListElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const input = useRef<HTMLTextAreaElement>(null);
  const me = useSottoView().me?.account;
  const other = conv.direct ? conv.members.find((m) => m.account !== me) : undefined;

  useEffect(() => {
    client.setVisible(conv.id);
    return () => {
      client.setVisible(undefined);
    };
  }, [client, conv.id, conv.messages.length]);

  useEffect(() => {
    const el = list.current;
    if (el !== null) el.scrollTop = el.scrollHeight;
  }, [conv.messages.length]);

  useEffect(() => {
    input.current?.focus();
  }, [conv.id]);

  const blocked = conv.blockedBy.length > 0 || conv.alarm !== undefined;

  const send = async () => {
    const t = text.trim();
    if (t === "" || blocked) return;
    setText("");
    setError(undefined);
    try {
      await client.sendText(conv.id, t);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };

  const onKey = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      void send();
    }
  };

  const upload = async (file: File) => {
    setError(undefined);
    setProgress(0);
    try {
      await client.sendFile(conv.id, file, setProgress);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setProgress(undefined);
      if (fileInput.current !== null) fileInput.current.value = "";
    }
  };

  return (
    <section className="chat" aria-labelledby="chat-title">
      <div>
        <div className="chat-head">
          <button
            type="button"
            className="link"
            onClick={onBack}
            aria-label="Back to conversations"
          >
            ←
          </button>
          <h2 id="chat-title">{conv.name}</h2>
          {other !== undefined && (
            <button
              type="button"
              onClick={() => {
                onVerify(other.account);
              }}
              data-testid="open-safety"
            >
              {other.trust === "verified" ? "✓ Verified" : "Verify safety number"}
            </button>
          )}
          {conv.retention !== undefined && conv.retention !== 0 && (
            <span
              className="badge"
              data-testid="retention-badge"
              title="Messages are deleted after this time"
            >
              Kept {describeRetention(conv.retention)}
            </span>
          )}
          {request === undefined && (
            <button type="button" onClick={onMembers}>
              Members ({conv.members.length})
            </button>
          )}
        </div>
        {conv.alarm !== undefined && (
          <div className="banner error" role="alert">
            This conversation's history did not verify ({conv.alarm}). Sending is stopped.
          </div>
        )}
        {request !== undefined && (
          <div className="banner" data-testid="request-banner">
            <p>
              {request.fromUsername} is not a contact yet
              {request.members > 2
                ? ` and added you to this group of ${request.members}.`
                : " and wants to start a conversation with you."}{" "}
              Reading this does not accept it, and they are not told you read it.
            </p>
            <RequestActions
              info={request}
              onAccepted={(c) => {
                onAccepted?.(c);
              }}
              onGone={onBack}
            />
          </div>
        )}
        {conv.blockedBy.length > 0 && (
          <div className="banner" role="alert">
            The identity of {conv.blockedBy.join(", ")} changed. Review it before sending.
          </div>
        )}
      </div>
      <ol
        className="messages"
        ref={list}
        aria-label="Messages"
        aria-live="polite"
        data-testid="messages"
      >
        {conv.history.more && (
          <li className="load-earlier">
            <button
              type="button"
              className="link"
              data-testid="load-earlier"
              disabled={conv.history.loading}
              onClick={() => {
                void client.loadEarlier(conv.id).catch((e: unknown) => {
                  setError(e instanceof Error ? e.message : String(e));
                });
              }}
            >
              {conv.history.loading ? "Loading earlier messages…" : "Load earlier messages"}
            </button>
          </li>
        )}
        {conv.messages.map((m) => (
          <MessageItem key={m.id} conv={conv.id} message={m} direct={conv.direct} />
        ))}
      </ol>
      <div>
        <div className="typing" aria-live="polite" data-testid="typing">
          {conv.typing.length > 0
            ? `${conv.typing.join(", ")} ${conv.typing.length === 1 ? "is" : "are"} typing…`
            : ""}
        </div>
        {progress !== undefined && (
          <div className="page">
            <label htmlFor="upload-progress">Uploading (encrypted)</label>
            <progress id="upload-progress" value={progress} max={1} />
          </div>
        )}
        <ErrorText error={error} />
        {request !== undefined ? (
          <p className="hint page">Accept the request to reply.</p>
        ) : (
          <form
            className="composer"
            onSubmit={(e) => {
              e.preventDefault();
              void send();
            }}
          >
            <label htmlFor="attach" className="visually-hidden">
              Attach a file
            </label>
            <input
              id="attach"
              ref={fileInput}
              type="file"
              className="visually-hidden"
              disabled={blocked}
              onChange={(e) => {
                const f = e.target.files?.[0];
                if (f !== undefined) void upload(f);
              }}
            />
            <button
              type="button"
              aria-label="Attach a file"
              disabled={blocked}
              onClick={() => fileInput.current?.click()}
            >
              <PaperclipIcon />
            </button>
            <label htmlFor="composer" className="visually-hidden">
              Message
            </label>
            <textarea
              id="composer"
              ref={input}
              rows={1}
              value={text}
              placeholder={
                blocked
                  ? "Sending is blocked"
                  : "Write a message (Enter to send, Shift+Enter for a new line)"
              }
              disabled={blocked}
              onChange={(e) => {
                setText(e.target.value);
                if (e.target.value !== "") client.typingNow(conv.id);
              }}
              onKeyDown={onKey}
            />
            <button type="submit" className="primary" disabled={blocked || text.trim() === ""}>
              Send
            </button>
          </form>
        )}
      </div>
    </section>
  );
}
