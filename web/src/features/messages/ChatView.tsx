/**
 * A conversation: its header and banners, the timeline (day separators, the "New messages"
 * marker, messages as a roving-tabindex list moved through with ↑/↓) and the composer, or why
 * there is none (a request, a removed or departed member).
 *
 * The view follows new messages only while the reader is at the bottom; scrolled up, it stays put
 * and offers "↓ N new messages". Files come from the paperclip, a drop on the chat or a paste
 * into the composer, and go through the "Send a file" dialog (caption, limit checked first).
 */

import { type KeyboardEvent, useEffect, useRef, useState } from "react";
import { createPortal } from "react-dom";

import { ErrorText } from "../../components/ui";
import { RequestActions } from "../../components/ui/RequestActions";
import type { RequestInfo } from "../../lib/engine/consent";
import { useSotto, useSottoView } from "../../lib/sotto";
import type { ChatMessage, ConversationView } from "../../lib/engine/model";
import { describeRetention } from "../../lib/engine/retention";
import { type ComposeMode, Composer } from "./Composer";
import { dayKey, dayLabel } from "./days";
import { Dialog } from "./Dialog";
import { isContent, messageText } from "./content";
import { type MessageActions, MessageItem } from "./MessageItem";
import { SendFileDialog } from "./SendFileDialog";
import { useFollow } from "./useFollow";
import "./messages.css";

/** How long a jumped-to message stays highlighted (ms). */
const HIGHLIGHT_MS = 2500;

/** What the composer is replaced with when this account is no longer a member. */
export function removedText(removed: { by?: string; left: boolean }): string {
  if (removed.left) return "You left this group.";
  return removed.by === undefined
    ? "You were removed from this group."
    : `You were removed from this group by ${removed.by}.`;
}

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
  const me = useSottoView().me?.account;
  const [progress, setProgress] = useState<number>();
  const [error, setError] = useState<string>();
  const [notice, setNotice] = useState<string>();
  const [mode, setMode] = useState<ComposeMode>({ kind: "new" });
  const [pendingFile, setPendingFile] = useState<File>();
  const [confirmDelete, setConfirmDelete] = useState<ChatMessage>();
  const [highlight, setHighlight] = useState<string>();
  const [focused, setFocused] = useState<string>();
  const [dragging, setDragging] = useState(false);
  const list = useRef<HTMLOListElement>(null);
  const input = useRef<HTMLTextAreaElement>(null);
  const other = conv.direct ? conv.members.find((m) => m.account !== me) : undefined;
  const messages = conv.messages;
  const lastId = messages.at(-1)?.id ?? "";
  const { marker, unseen, scrollToBottom, onScroll, onLoad } = useFollow(conv, list);

  useEffect(() => {
    client.setVisible(conv.id);
    return () => {
      client.setVisible(undefined);
    };
  }, [client, conv.id, messages.length]);

  // A new conversation: its own reply/edit and focus.
  useEffect(() => {
    setMode({ kind: "new" });
    setFocused(undefined);
    input.current?.focus();
  }, [conv.id]);

  const blocked =
    conv.blockedBy.length > 0 || conv.alarm !== undefined || conv.removed !== undefined;

  const fail = (e: unknown) => {
    setError(e instanceof Error ? e.message : String(e));
  };

  const jumpTo = (id: string) => {
    const el = list.current?.querySelector<HTMLElement>(`[data-message-id="${CSS.escape(id)}"]`);
    if (el === null || el === undefined) {
      setError("The original message is not loaded. Load earlier messages to see it.");
      return;
    }
    el.scrollIntoView({ block: "center", behavior: "smooth" });
    setFocused(id);
    el.focus({ preventScroll: true });
    setHighlight(id);
    window.setTimeout(() => {
      setHighlight((h) => (h === id ? undefined : h));
    }, HIGHLIGHT_MS);
  };

  const actions: MessageActions = {
    reply: (m) => {
      setMode({ kind: "reply", to: m });
      input.current?.focus();
    },
    edit: (m) => {
      setMode({ kind: "edit", target: m });
    },
    remove: (m) => {
      setConfirmDelete(m);
    },
    react: (m, emoji, added) => {
      client.react(conv.id, m.id, emoji, added).catch(fail);
    },
    jumpTo,
    copy: (m) => {
      navigator.clipboard.writeText(messageText(m)).then(
        () => {
          setNotice("Copied");
          window.setTimeout(() => {
            setNotice(undefined);
          }, 2000);
        },
        () => {
          setError("The text could not be copied.");
        },
      );
    },
  };

  const editLast = (): boolean => {
    const last = [...messages].reverse().find((m) => m.mine && isContent(m));
    if (last === undefined) return false;
    setMode({ kind: "edit", target: last });
    return true;
  };

  const upload = async (file: File, caption: string) => {
    setError(undefined);
    setProgress(0);
    try {
      await client.sendFile(conv.id, file, setProgress, caption);
      scrollToBottom();
    } catch (e) {
      fail(e);
    } finally {
      setProgress(undefined);
    }
  };

  // Roving tabindex: one row is in the Tab order; ↑/↓, Home/End move between rows.
  const rows = () => [
    ...(list.current?.querySelectorAll<HTMLElement>(":scope > li[data-message-id]") ?? []),
  ];
  const focusedId =
    focused !== undefined && messages.some((m) => m.id === focused) ? focused : lastId;
  const onListKey = (e: KeyboardEvent<HTMLOListElement>) => {
    const all = rows();
    const at = all.indexOf(e.target as HTMLElement);
    if (at < 0) return;
    let next: number;
    switch (e.key) {
      case "ArrowUp":
        next = at - 1;
        break;
      case "ArrowDown":
        next = at + 1;
        break;
      case "Home":
        next = 0;
        break;
      case "End":
        next = all.length - 1;
        break;
      case "Escape":
        input.current?.focus();
        e.preventDefault();
        return;
      default:
        return;
    }
    e.preventDefault();
    const row = all[Math.max(0, Math.min(all.length - 1, next))];
    if (row === undefined) return;
    setFocused(row.dataset["messageId"]);
    row.focus();
  };

  let lastDay = "";
  const now = Date.now();
  const timeline = messages.flatMap((m) => {
    const out = [];
    const day = dayKey(m.sentAt);
    if (day !== lastDay) {
      lastDay = day;
      out.push(
        <li key={`day-${day}`} className="day-separator" data-testid="day-separator">
          <span>{dayLabel(m.sentAt, now)}</span>
        </li>,
      );
    }
    if (m.id === marker) {
      out.push(
        <li key="new-marker" className="new-marker" data-testid="new-messages-marker">
          <span>New messages</span>
        </li>,
      );
    }
    out.push(
      <MessageItem
        key={m.id}
        conv={conv}
        message={m}
        me={me}
        focusable={m.id === focusedId}
        highlighted={m.id === highlight}
        actions={request === undefined ? actions : undefined}
        readOnly={blocked}
      />,
    );
    return out;
  });

  return (
    <section
      className={dragging ? "chat dragging" : "chat"}
      aria-labelledby="chat-title"
      onDragOver={(e) => {
        if (blocked || request !== undefined || !e.dataTransfer.types.includes("Files")) return;
        e.preventDefault();
        e.dataTransfer.dropEffect = "copy";
        setDragging(true);
      }}
      onDragLeave={(e) => {
        if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setDragging(false);
      }}
      onDrop={(e) => {
        setDragging(false);
        const f = e.dataTransfer.files[0];
        if (f === undefined || blocked || request !== undefined) return;
        e.preventDefault();
        setPendingFile(f);
      }}
    >
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
          <h2 id="chat-title" dir="auto">
            {conv.name}
          </h2>
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
      <div className="timeline">
        <ol
          className="messages"
          ref={list}
          aria-label="Messages"
          aria-live="polite"
          data-testid="messages"
          onKeyDown={onListKey}
          onScroll={onScroll}
          onLoadCapture={onLoad}
        >
          {conv.history.more && (
            <li className="load-earlier">
              <button
                type="button"
                className="link"
                data-testid="load-earlier"
                disabled={conv.history.loading}
                onClick={() => {
                  void client.loadEarlier(conv.id).catch(fail);
                }}
              >
                {conv.history.loading ? "Loading earlier messages…" : "Load earlier messages"}
              </button>
            </li>
          )}
          {timeline}
        </ol>
        {unseen > 0 && (
          <button
            type="button"
            className="jump-new"
            data-testid="jump-new"
            onClick={scrollToBottom}
          >
            ↓ {unseen === 1 ? "1 new message" : `${unseen} new messages`}
          </button>
        )}
        {dragging && (
          <div className="drop-hint" aria-hidden="true">
            Drop the file to send it
          </div>
        )}
      </div>
      <div>
        <div className="typing" aria-live="polite" data-testid="typing" dir="auto">
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
        <p className="visually-hidden" role="status">
          {notice}
        </p>
        {request !== undefined ? (
          <p className="hint page">Accept the request to reply.</p>
        ) : conv.removed !== undefined ? (
          <p className="removed-notice" role="status" data-testid="removed-notice">
            {removedText(conv.removed)} You can still read the history.
          </p>
        ) : (
          <Composer
            key={conv.id}
            conv={conv}
            mode={mode}
            onModeChange={setMode}
            onEditLast={editLast}
            onFile={setPendingFile}
            onSent={scrollToBottom}
            onError={setError}
            blocked={blocked}
            input={input}
          />
        )}
      </div>
      {pendingFile !== undefined &&
        createPortal(
          <SendFileDialog
            file={pendingFile}
            onCancel={() => {
              setPendingFile(undefined);
            }}
            onSend={(caption) => {
              const f = pendingFile;
              setPendingFile(undefined);
              void upload(f, caption);
            }}
          />,
          document.body,
        )}
      {confirmDelete !== undefined &&
        createPortal(
          <Dialog
            title="Delete this message?"
            onClose={() => {
              setConfirmDelete(undefined);
            }}
            testId="confirm-delete"
          >
            <p>It is deleted for everyone in the conversation. This cannot be undone.</p>
            <div className="actions">
              <button
                type="button"
                className="danger"
                onClick={() => {
                  const m = confirmDelete;
                  setConfirmDelete(undefined);
                  if (mode.kind === "edit" && mode.target.id === m.id) setMode({ kind: "new" });
                  client.deleteMessage(conv.id, m.id).catch(fail);
                }}
              >
                Delete
              </button>
              <button
                type="button"
                onClick={() => {
                  setConfirmDelete(undefined);
                }}
              >
                Cancel
              </button>
            </div>
          </Dialog>,
          document.body,
        )}
    </section>
  );
}
