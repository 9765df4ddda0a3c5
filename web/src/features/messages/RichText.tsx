/**
 * A message text rendered from `format.ts`'s structure as React elements (never HTML): links
 * open in a new tab with no referrer and no opener, mentions are marked, mentions of the reader
 * strongly and with words a screen reader says.
 */

import type { ReactNode } from "react";

import { type Inline, type Mentionable, parseMessage } from "./format";

function renderInline(xs: readonly Inline[], me: string | undefined, key: string): ReactNode[] {
  return xs.map((x, i): ReactNode => {
    const k = `${key}.${i}`;
    switch (x.kind) {
      case "text":
        return x.text;
      case "link":
        return (
          <a key={k} href={x.href} target="_blank" rel="noopener noreferrer nofollow">
            {x.text}
          </a>
        );
      case "code":
        return <code key={k}>{x.text}</code>;
      case "bold":
        return <strong key={k}>{renderInline(x.children, me, k)}</strong>;
      case "italic":
        return <em key={k}>{renderInline(x.children, me, k)}</em>;
      case "mention":
        return x.account === me ? (
          <mark key={k} className="mention mention-me" data-testid="mention-me">
            @{x.username}
            <span className="visually-hidden"> (mentions you)</span>
          </mark>
        ) : (
          <span key={k} className="mention" data-testid="mention">
            @{x.username}
          </span>
        );
    }
  });
}

export function RichText({
  text,
  members,
  me,
}: {
  text: string;
  /** Whom an `@username` names: the conversation's members, or those the message lists. */
  members: readonly Mentionable[];
  me: string | undefined;
}) {
  return (
    <>
      {parseMessage(text, members).map((b, i) =>
        b.kind === "codeblock" ? (
          <pre key={i} dir="auto">
            <code>{b.text}</code>
          </pre>
        ) : (
          <span key={i}>{renderInline(b.children, me, String(i))}</span>
        ),
      )}
    </>
  );
}
