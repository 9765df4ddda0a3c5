/**
 * The message composer: writes a new message, a reply (the quoted message shown above it) or an
 * edit in place. It completes `@username` from the conversation's members, sends the accounts the
 * text names as mentions, refuses a text over the body limit before sending (with the limit in
 * words and a counter near it), takes pasted files, and stops the typing signal when the text is
 * emptied, sent or left.
 */

import {
  type ClipboardEvent,
  type KeyboardEvent,
  type RefObject,
  useEffect,
  useId,
  useLayoutEffect,
  useRef,
  useState,
} from "react";

import { PaperclipIcon } from "../../components/ui/icons";
import { useSotto, useSottoView } from "../../lib/sotto";
import type { ChatMessage, ConversationView, MemberView } from "../../lib/engine/model";
import { humanSize } from "./days";
import { mentionedAccounts } from "./format";
import { type MentionQuery, applyMention, mentionCandidates, mentionQueryAt } from "./mentions";
import { messageText } from "./content";

export type ComposeMode =
  | { readonly kind: "new" }
  | { readonly kind: "reply"; readonly to: ChatMessage }
  | { readonly kind: "edit"; readonly target: ChatMessage };

/**
 * Bytes of a body beyond its text (§8.2): the domain label, kind, length prefixes, a reply id
 * and 32 bytes per mention. Generous, so a text the composer lets through is never refused.
 */
const BODY_OVERHEAD = 64;

/** The longest text (UTF-8 bytes) a body with `mentions` mentions can carry. */
export function textLimit(maxBodyBytes: number, mentions: number): number {
  return maxBodyBytes - BODY_OVERHEAD - 16 - 32 * mentions;
}

/** Why a text cannot be sent, in words, or undefined when it can. */
export function tooLong(bytes: number, limit: number): string | undefined {
  if (bytes <= limit) return undefined;
  return `This message is ${humanSize(bytes)}, the limit is ${humanSize(limit)}. Shorten it or send it as a file.`;
}

const utf8 = new TextEncoder();

function useNarrow(): boolean {
  const query = "(max-width: 480px)";
  const [narrow, setNarrow] = useState(
    () => typeof window !== "undefined" && window.matchMedia(query).matches,
  );
  useEffect(() => {
    const mq = window.matchMedia(query);
    const on = () => {
      setNarrow(mq.matches);
    };
    mq.addEventListener("change", on);
    return () => {
      mq.removeEventListener("change", on);
    };
  }, []);
  return narrow;
}

export function Composer({
  conv,
  mode,
  onModeChange,
  onEditLast,
  onFile,
  onSent,
  onError,
  blocked,
  input,
}: {
  conv: ConversationView;
  mode: ComposeMode;
  onModeChange: (m: ComposeMode) => void;
  /** ↑ in an empty composer: start editing my last message; false when there is none. */
  onEditLast: () => boolean;
  onFile: (f: File) => void;
  onSent: () => void;
  onError: (e: string | undefined) => void;
  blocked: boolean;
  input: RefObject<HTMLTextAreaElement | null>;
}) {
  const client = useSotto();
  const view = useSottoView();
  const me = view.me?.account;
  const narrow = useNarrow();
  const [text, setText] = useState("");
  const [query, setQuery] = useState<MentionQuery>();
  const [active, setActive] = useState(0);
  /** The over-limit refusal shown after a send was tried; cleared as soon as the text changes. */
  const [refused, setRefused] = useState<string>();
  const draft = useRef("");
  /**
   * Where the caret goes once a picked mention is in the text: set as the new value is committed,
   * before the next keystroke, so fast typing after a pick lands after the mention.
   */
  const caretAfter = useRef<number>(undefined);
  useLayoutEffect(() => {
    const at = caretAfter.current;
    if (at === undefined) return;
    caretAfter.current = undefined;
    input.current?.setSelectionRange(at, at);
  }, [text]);
  const fileInput = useRef<HTMLInputElement>(null);
  const listId = useId();
  const counterId = useId();

  // Editing puts the message's text in the composer; the draft comes back afterwards.
  const editing = mode.kind === "edit" ? mode.target.id : undefined;
  useEffect(() => {
    if (mode.kind === "edit") {
      draft.current = text;
      setText(messageText(mode.target));
    } else if (draft.current !== "") {
      setText(draft.current);
      draft.current = "";
    }
    input.current?.focus();
  }, [editing]);
  useEffect(() => {
    if (mode.kind === "reply") input.current?.focus();
  }, [mode]);

  const members: readonly MemberView[] = conv.members;
  const candidates =
    query === undefined ? [] : mentionCandidates(members, query.query, me).slice(0, 8);
  const open = candidates.length > 0;
  const mentions = mentionedAccounts(text, members);
  const bytes = utf8.encode(text.trim()).length;
  const limit = textLimit(view.limits.maxBodyBytes, mentions.length);
  const over = tooLong(bytes, limit);
  const near = bytes >= limit * 0.9;

  const refreshQuery = (value: string, caret: number | null) => {
    const q = caret === null ? undefined : mentionQueryAt(value, caret);
    setQuery(q);
    if (q?.query !== query?.query) setActive(0);
  };

  const cancel = () => {
    if (mode.kind === "edit") {
      setText("");
      onModeChange({ kind: "new" });
    } else if (mode.kind === "reply") onModeChange({ kind: "new" });
  };

  const pick = (username: string) => {
    const el = input.current;
    if (query === undefined || el === null) return;
    const next = applyMention(text, query, el.selectionStart, username);
    caretAfter.current = next.caret;
    setText(next.text);
    setQuery(undefined);
    el.focus();
  };

  const send = async () => {
    const t = text.trim();
    if (t === "" || blocked) return;
    if (over !== undefined) {
      setRefused(over);
      return;
    }
    onError(undefined);
    client.typingStopped(conv.id);
    const before = mode;
    setText("");
    setQuery(undefined);
    onModeChange({ kind: "new" });
    try {
      if (before.kind === "edit") {
        if (t !== messageText(before.target))
          await client.editMessage(conv.id, before.target.id, t, mentions);
      } else {
        await client.sendText(
          conv.id,
          t,
          before.kind === "reply" ? { replyTo: before.to.id, mentions } : { mentions },
        );
        onSent();
      }
    } catch (e) {
      // Nothing was queued: give the text back so it is not lost.
      setText(t);
      onModeChange(before);
      onError(e instanceof Error ? e.message : String(e));
    }
  };

  const onKey = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (open) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        const d = e.key === "ArrowDown" ? 1 : -1;
        setActive((active + d + candidates.length) % candidates.length);
        return;
      }
      if (e.key === "Enter" || e.key === "Tab") {
        e.preventDefault();
        const c = candidates[active];
        if (c !== undefined) pick(c.username);
        return;
      }
      if (e.key === "Escape") {
        e.preventDefault();
        setQuery(undefined);
        return;
      }
    }
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void send();
    } else if (e.key === "ArrowUp" && text === "" && mode.kind !== "edit") {
      if (onEditLast()) e.preventDefault();
    } else if (e.key === "Escape" && mode.kind !== "new") {
      e.preventDefault();
      cancel();
    }
  };

  const onPaste = (e: ClipboardEvent<HTMLTextAreaElement>) => {
    const f = e.clipboardData.files[0];
    if (f === undefined) return;
    e.preventDefault();
    onFile(f);
  };

  const placeholder = blocked
    ? "Sending is blocked"
    : narrow
      ? "Message"
      : mode.kind === "edit"
        ? "Edit the message (Enter to save, Esc to cancel)"
        : "Write a message (Enter to send, Shift+Enter for a new line)";

  return (
    <>
      {mode.kind === "reply" && (
        <div className="compose-bar" data-testid="replying-to">
          <span dir="auto">
            Replying to <strong>{mode.to.mine ? "yourself" : mode.to.fromUsername}</strong>:{" "}
            {messageText(mode.to).slice(0, 120) ||
              (mode.to.content.type === "attachment" ? mode.to.content.attachment.fileName : "")}
          </span>
          <button type="button" className="link" aria-label="Cancel reply" onClick={cancel}>
            ✕
          </button>
        </div>
      )}
      {mode.kind === "edit" && (
        <div className="compose-bar editing" data-testid="editing">
          <span>
            <strong>Editing</strong>{" "}
            {mode.target.content.type === "attachment" ? "the caption" : "your message"}
          </span>
          <button type="button" className="link" aria-label="Cancel editing" onClick={cancel}>
            ✕
          </button>
        </div>
      )}
      {refused !== undefined && (
        <p role="alert" className="error compose-error" data-testid="composer-refused">
          {refused}
        </p>
      )}
      {open && (
        <ul id={listId} role="listbox" aria-label="Members" className="mention-list">
          {candidates.map((c, i) => (
            <li
              key={c.account}
              id={`${listId}-${i}`}
              role="option"
              aria-selected={i === active}
              className={i === active ? "active" : undefined}
              onMouseDown={(e) => {
                // Keep focus in the composer; the click picks.
                e.preventDefault();
                pick(c.username);
              }}
            >
              @{c.username}
            </li>
          ))}
        </ul>
      )}
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
          tabIndex={-1}
          onChange={(e) => {
            const f = e.target.files?.[0];
            if (f !== undefined) onFile(f);
            e.target.value = "";
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
          dir="auto"
          placeholder={placeholder}
          disabled={blocked}
          aria-autocomplete="list"
          aria-controls={open ? listId : undefined}
          aria-activedescendant={open ? `${listId}-${active}` : undefined}
          aria-describedby={near ? counterId : undefined}
          aria-invalid={over !== undefined}
          onChange={(e) => {
            const v = e.target.value;
            setText(v);
            setRefused(undefined);
            refreshQuery(v, e.target.selectionStart);
            if (v === "") client.typingStopped(conv.id);
            else client.typingNow(conv.id);
          }}
          onSelect={(e) => {
            refreshQuery(e.currentTarget.value, e.currentTarget.selectionStart);
          }}
          onBlur={() => {
            setQuery(undefined);
            client.typingStopped(conv.id);
          }}
          onKeyDown={onKey}
          onPaste={onPaste}
        />
        {near && (
          <span
            id={counterId}
            className={over === undefined ? "counter" : "counter error"}
            data-testid="composer-counter"
          >
            {bytes.toLocaleString("en")} / {limit.toLocaleString("en")}
          </span>
        )}
        <button type="submit" className="primary" disabled={blocked || text.trim() === ""}>
          {mode.kind === "edit" ? "Save" : "Send"}
        </button>
      </form>
    </>
  );
}
