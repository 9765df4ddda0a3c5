/**
 * The composer's @-completion as pure functions: which `@word` the caret is in, which members it
 * could name, and the text after one is picked.
 */

import type { Mentionable } from "./format";

/** The `@query` ending at the caret: `start` is the index of the `@`. */
export interface MentionQuery {
  readonly start: number;
  readonly query: string;
}

export function mentionQueryAt(text: string, caret: number): MentionQuery | undefined {
  const before = text.slice(0, caret);
  const m = /(^|[\s(])@([A-Za-z0-9_.-]{0,64})$/.exec(before);
  if (m === null) return undefined;
  const query = m[2] ?? "";
  return { start: caret - query.length - 1, query };
}

/** Members whose username starts with the query (then contains it), at most `max`. */
export function mentionCandidates<T extends Mentionable>(
  members: readonly T[],
  query: string,
  me: string | undefined,
  max = 8,
): T[] {
  const q = query.toLowerCase();
  const others = members.filter((m) => m.account !== me);
  const starts = others.filter((m) => m.username.toLowerCase().startsWith(q));
  const contains = others.filter(
    (m) => !m.username.toLowerCase().startsWith(q) && m.username.toLowerCase().includes(q),
  );
  return [...starts, ...contains].slice(0, max);
}

/** The text with the query replaced by `@username ` and where the caret goes after it. */
export function applyMention(
  text: string,
  q: MentionQuery,
  caret: number,
  username: string,
): { text: string; caret: number } {
  const inserted = `@${username} `;
  const after = text.slice(caret).replace(/^ /, "");
  return {
    text: text.slice(0, q.start) + inserted + after,
    caret: q.start + inserted.length,
  };
}
