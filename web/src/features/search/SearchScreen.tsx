/**
 * Search over this device's decrypted history (the engine's in-memory index; nothing leaves the
 * device): results grouped by conversation, the term highlighted, and each result a link to the
 * conversation at that message (`?m=` in its address, which the chat view scrolls to).
 */

import { type ReactNode, useEffect, useId, useState } from "react";

import { formatTime } from "../../components/ui";
import { routeHash } from "../../components/route";
import type { SearchHit } from "../../lib/engine/model";
import { useSotto, useSottoView } from "../../lib/sotto";

/** Typing pauses this long before a search runs: one search per word, not per keystroke. */
const DEBOUNCE_MS = 200;
/** Characters of context kept before the first match in a long message. */
const CONTEXT_CHARS = 60;

/** The words of a query (the engine matches every word, the last as a prefix). */
function words(query: string): string[] {
  return query
    .toLowerCase()
    .split(/\s+/)
    .filter((w) => w !== "");
}

/** The first occurrence of any of `ws` in `lower` at or after `from`: [index, length]. */
function nextMatch(lower: string, ws: readonly string[], from: number): [number, number] {
  let best: [number, number] = [-1, 0];
  for (const w of ws) {
    const i = lower.indexOf(w, from);
    if (i >= 0 && (best[0] < 0 || i < best[0] || (i === best[0] && w.length > best[1])))
      best = [i, w.length];
  }
  return best;
}

/** `text` with every case-insensitive occurrence of the query's words wrapped in <mark>. */
export function highlight(text: string, query: string): ReactNode[] {
  const ws = words(query);
  if (ws.length === 0) return [text];
  const lower = text.toLowerCase();
  const out: ReactNode[] = [];
  let at = 0;
  for (;;) {
    const [i, n] = nextMatch(lower, ws, at);
    if (i < 0) break;
    if (i > at) out.push(text.slice(at, i));
    out.push(<mark key={i}>{text.slice(i, i + n)}</mark>);
    at = i + n;
  }
  if (at < text.length) out.push(text.slice(at));
  return out;
}

/** A long message cut to start a little before the first match, so the match shows. */
export function snippet(text: string, query: string): string {
  const [i] = nextMatch(text.toLowerCase(), words(query), 0);
  if (i <= CONTEXT_CHARS) return text;
  const from = text.lastIndexOf(" ", i - CONTEXT_CHARS / 2);
  return `…${text.slice(from < 0 ? i - CONTEXT_CHARS / 2 : from + 1)}`;
}

/** Hits grouped by conversation, in the order of their first hit. */
export function groupHits(
  hits: readonly SearchHit[],
): { conv: string; name: string; hits: SearchHit[] }[] {
  const groups = new Map<string, { conv: string; name: string; hits: SearchHit[] }>();
  for (const h of hits) {
    const g = groups.get(h.conv) ?? { conv: h.conv, name: h.convName, hits: [] };
    g.hits.push(h);
    groups.set(h.conv, g);
  }
  return [...groups.values()];
}

type Results =
  | { readonly kind: "idle" }
  | { readonly kind: "searching" }
  | { readonly kind: "done"; readonly q: string; readonly hits: readonly SearchHit[] }
  | { readonly kind: "failed"; readonly error: string };

export function SearchScreen({
  query,
  onQuery,
}: {
  query: string;
  /** The box changed (the words live in memory only, never in the address or the history). */
  onQuery: (q: string) => void;
}) {
  const client = useSotto();
  const view = useSottoView();
  const [conv, setConv] = useState("");
  const [results, setResults] = useState<Results>({ kind: "idle" });
  const headingId = useId();

  useEffect(() => {
    const q = query.trim();
    if (q === "") {
      setResults({ kind: "idle" });
      return;
    }
    let live = true;
    // A new search for the same words (new messages came) keeps the results shown meanwhile.
    setResults((prev) => (prev.kind === "done" && prev.q === q ? prev : { kind: "searching" }));
    const timer = setTimeout(() => {
      client.search(q, conv === "" ? undefined : conv).then(
        (hits) => {
          if (live) setResults({ kind: "done", q, hits });
        },
        (e: unknown) => {
          if (live)
            setResults({ kind: "failed", error: e instanceof Error ? e.message : String(e) });
        },
      );
    }, DEBOUNCE_MS);
    return () => {
      live = false;
      clearTimeout(timer);
    };
    // A new message may match: search again when the conversations change.
  }, [client, query, conv, view.conversations]);

  return (
    <section className="page search" aria-labelledby={headingId}>
      <h2 id={headingId}>Search messages</h2>
      <form
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
        }}
      >
        <label htmlFor="search-box">Search messages on this device</label>
        <input
          id="search-box"
          type="search"
          value={query}
          autoComplete="off"
          // The search screen exists to type into: focus lands here.
          autoFocus
          onChange={(e) => {
            onQuery(e.target.value);
          }}
        />
        <label htmlFor="search-conv">In</label>
        <select
          id="search-conv"
          value={conv}
          onChange={(e) => {
            setConv(e.target.value);
          }}
        >
          <option value="">All conversations</option>
          {view.conversations.map((c) => (
            <option key={c.id} value={c.id}>
              {c.name}
            </option>
          ))}
        </select>
      </form>
      <p className="hint">Only messages kept on this device are searched; nothing is sent.</p>
      <SearchResults results={results} />
    </section>
  );
}

function SearchResults({ results }: { results: Results }) {
  switch (results.kind) {
    case "idle":
      return null;
    case "searching":
      return (
        <p role="status" className="hint">
          Searching…
        </p>
      );
    case "failed":
      return (
        <p role="alert" className="error">
          {results.error}
        </p>
      );
    case "done":
      break;
  }
  const { q, hits } = results;
  if (hits.length === 0)
    return (
      <p role="status" data-testid="search-empty">
        No messages contain “{q}”.
      </p>
    );
  return (
    <>
      <p role="status" className="hint">
        {hits.length === 1 ? "1 message" : `${hits.length} messages`}
      </p>
      {groupHits(hits).map((g) => (
        <section key={g.conv} className="search-group" aria-label={g.name}>
          <h3>{g.name}</h3>
          <ul>
            {g.hits.map((h) => (
              <li key={h.messageId}>
                <a
                  className="search-hit"
                  data-testid="search-hit"
                  href={routeHash({ kind: "chat", conv: h.conv, m: h.messageId })}
                >
                  <span className="hint">
                    {h.fromUsername} · {formatTime(h.sentAt)}
                  </span>
                  <span className="search-text">{highlight(snippet(h.text, q), q)}</span>
                </a>
              </li>
            ))}
          </ul>
        </section>
      ))}
    </>
  );
}
