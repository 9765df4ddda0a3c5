/**
 * A message text as structure: code blocks, inline code, http(s) links, @mentions, *bold* and
 * _italic_. Pure data, rendered by `RichText.tsx` as React elements: nothing here ever becomes
 * HTML, so a message can never run as markup whatever it holds.
 *
 * Links are only `http:` and `https:` URLs written out in full; the visible text is the URL
 * itself (no labels that could hide where a link goes) and no other scheme is ever a link.
 */

export type Inline =
  | { readonly kind: "text"; readonly text: string }
  | { readonly kind: "link"; readonly href: string; readonly text: string }
  | { readonly kind: "code"; readonly text: string }
  | { readonly kind: "bold"; readonly children: readonly Inline[] }
  | { readonly kind: "italic"; readonly children: readonly Inline[] }
  | { readonly kind: "mention"; readonly username: string; readonly account: string };

export type Block =
  | { readonly kind: "codeblock"; readonly text: string }
  | { readonly kind: "inline"; readonly children: readonly Inline[] };

/** A member that `@username` may name (usernames compare case-insensitively). */
export interface Mentionable {
  readonly account: string;
  readonly username: string;
}

/** How deep *bold* and _italic_ may nest: deeper markers stay text (bounded recursion). */
const MAX_DEPTH = 4;

/** Characters a URL may not end with: sentence punctuation after a link is not part of it. */
const TRAILING = /[.,;:!?'"*_]+$/;

/** A username as `@` writes it: what the server allows (letters, digits, `_`, `.`, `-`). */
const MENTION = /^@([A-Za-z0-9_.-]{1,64})/;

const URL_START = /^https?:\/\/[^\s<>"`]+/i;

function isWordChar(c: string | undefined): boolean {
  return c !== undefined && /[\p{L}\p{N}]/u.test(c);
}

function isSpace(c: string | undefined): boolean {
  return c === undefined || /\s/.test(c);
}

/**
 * The link at the start of `s`, if any: trailing punctuation and an unbalanced closing
 * parenthesis are left out (Wikipedia links keep their balanced ones).
 */
export function linkAt(s: string): { href: string; length: number } | undefined {
  const m = URL_START.exec(s);
  if (m === null) return undefined;
  let url = m[0];
  for (;;) {
    const trimmed = url.replace(TRAILING, "");
    let next = trimmed;
    if (next.endsWith(")")) {
      const open = (next.match(/\(/g) ?? []).length;
      const close = (next.match(/\)/g) ?? []).length;
      if (close > open) next = next.slice(0, -1);
    }
    if (next === url) break;
    url = next;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if ((parsed.protocol !== "http:" && parsed.protocol !== "https:") || parsed.hostname === "")
    return undefined;
  return { href: parsed.href, length: url.length };
}

/**
 * How far an emphasis may reach: the search for its closing marker stops there, so a text full
 * of unmatched markers costs linear time, not quadratic.
 */
const MAX_SPAN = 1000;

/** Where the emphasis opened at `start` (marker `mark`) closes, or -1. */
function closingOf(s: string, start: number, mark: string): number {
  // `**` and `__` are not markers here (one character each), and `* x` is a list or a product.
  if (isSpace(s[start + 1]) || s[start + 1] === mark) return -1;
  const stop = Math.min(s.length, start + MAX_SPAN);
  for (let j = start + 2; j < stop; j++) {
    if (s[j] === "`") {
      const end = s.indexOf("`", j + 1);
      if (end > j) j = end;
      continue;
    }
    if (s[j] === "\n" && s[j + 1] === "\n") return -1;
    if (s[j] === mark && !isSpace(s[j - 1]) && !isWordChar(s[j + 1])) return j;
  }
  return -1;
}

function parseInline(s: string, members: readonly Mentionable[], depth: number): readonly Inline[] {
  const out: Inline[] = [];
  let text = "";
  const flush = () => {
    if (text !== "") out.push({ kind: "text", text });
    text = "";
  };
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    const prev = i === 0 ? undefined : s[i - 1];
    if (c === "`") {
      const end = s.indexOf("`", i + 1);
      if (end > i + 1) {
        flush();
        out.push({ kind: "code", text: s.slice(i + 1, end) });
        i = end + 1;
        continue;
      }
    }
    if ((c === "h" || c === "H") && !isWordChar(prev)) {
      const link = linkAt(s.slice(i));
      if (link !== undefined) {
        flush();
        out.push({ kind: "link", href: link.href, text: s.slice(i, i + link.length) });
        i += link.length;
        continue;
      }
    }
    if (c === "@" && !isWordChar(prev)) {
      const m = MENTION.exec(s.slice(i));
      const name = m?.[1]?.replace(/[.-]+$/, "");
      const who =
        name === undefined
          ? undefined
          : members.find((x) => x.username.toLowerCase() === name.toLowerCase());
      if (name !== undefined && who !== undefined) {
        flush();
        out.push({ kind: "mention", username: name, account: who.account });
        i += 1 + name.length;
        continue;
      }
    }
    if ((c === "*" || c === "_") && depth < MAX_DEPTH && !isWordChar(prev)) {
      const end = closingOf(s, i, c);
      if (end > i + 1) {
        flush();
        const children = parseInline(s.slice(i + 1, end), members, depth + 1);
        out.push(c === "*" ? { kind: "bold", children } : { kind: "italic", children });
        i = end + 1;
        continue;
      }
    }
    text += s.charAt(i);
    i++;
  }
  flush();
  return out;
}

/**
 * Parses a message text. Fenced blocks (```…```) are kept verbatim; an unclosed fence is text.
 * `members`: whom an `@username` can name; other `@words` stay text.
 */
export function parseMessage(s: string, members: readonly Mentionable[] = []): readonly Block[] {
  const blocks: Block[] = [];
  let rest = s;
  for (;;) {
    const open = rest.indexOf("```");
    const close = open < 0 ? -1 : rest.indexOf("```", open + 3);
    if (open < 0 || close < 0) break;
    const before = rest.slice(0, open);
    if (before !== "") blocks.push({ kind: "inline", children: parseInline(before, members, 0) });
    // The language tag or the newline right after the fence is not part of the code.
    const code = rest.slice(open + 3, close).replace(/^[A-Za-z0-9+-]*\n/, "");
    blocks.push({ kind: "codeblock", text: code.replace(/\n$/, "") });
    rest = rest.slice(close + 3).replace(/^\n/, "");
  }
  if (rest !== "") blocks.push({ kind: "inline", children: parseInline(rest, members, 0) });
  return blocks;
}

/** The accounts an `@username` of `text` names among `members`, each once, in text order. */
export function mentionedAccounts(text: string, members: readonly Mentionable[]): string[] {
  const found: string[] = [];
  const walk = (xs: readonly Inline[]) => {
    for (const x of xs) {
      if (x.kind === "mention" && !found.includes(x.account)) found.push(x.account);
      if (x.kind === "bold" || x.kind === "italic") walk(x.children);
    }
  };
  for (const b of parseMessage(text, members)) if (b.kind === "inline") walk(b.children);
  return found;
}
