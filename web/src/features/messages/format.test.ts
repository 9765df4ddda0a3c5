/** The message text parser: what becomes a link, code, emphasis or a mention, and what stays text. */

import { describe, expect, it } from "vitest";

import { type Inline, linkAt, mentionedAccounts, parseMessage } from "./format";

const alice = { account: "acct:a", username: "alice" };
const bob = { account: "acct:b", username: "Bob" };

function inline(s: string): readonly Inline[] {
  const blocks = parseMessage(s, [alice, bob]);
  expect(blocks).toHaveLength(1);
  const b = blocks[0];
  if (b?.kind !== "inline") throw new Error("expected inline");
  return b.children;
}

describe("links", () => {
  it("an https URL in a sentence is a link whose text is the URL, without the full stop", () => {
    expect(inline("see https://example.com/a?b=c#d.")).toEqual([
      { kind: "text", text: "see " },
      { kind: "link", href: "https://example.com/a?b=c#d", text: "https://example.com/a?b=c#d" },
      { kind: "text", text: "." },
    ]);
  });

  it("javascript:, data:, file: and scheme-less addresses are never links", () => {
    for (const s of [
      "javascript:alert(1)",
      "JaVaScRiPt:alert(1)",
      "data:text/html,<script>alert(1)</script>",
      "file:///etc/passwd",
      "www.example.com",
      "ftp://example.com",
      "http:/example.com",
      "https://",
    ]) {
      expect(inline(s).some((x) => x.kind === "link")).toBe(false);
    }
  });

  it("a javascript: URL hidden after http text stays text", () => {
    const xs = inline("xhttps://evil javascript:alert(1)");
    expect(xs.some((x) => x.kind === "link")).toBe(false);
  });

  it("balanced parentheses stay in a link, an enclosing one does not", () => {
    expect(linkAt("https://en.wikipedia.org/wiki/Foo_(bar)")?.length).toBe(39);
    expect(inline("(https://example.com/x)")).toEqual([
      { kind: "text", text: "(" },
      { kind: "link", href: "https://example.com/x", text: "https://example.com/x" },
      { kind: "text", text: ")" },
    ]);
  });

  it("underscores and stars inside a link do not format it", () => {
    expect(inline("https://example.com/a_b_c*d*")).toEqual([
      { kind: "link", href: "https://example.com/a_b_c*d", text: "https://example.com/a_b_c*d" },
      { kind: "text", text: "*" },
    ]);
  });

  it("markup characters cannot leave a link", () => {
    const xs = inline('https://example.com/"><img src=x onerror=alert(1)>');
    expect(xs[0]).toEqual({
      kind: "link",
      href: "https://example.com/",
      text: "https://example.com/",
    });
    expect(xs.slice(1).every((x) => x.kind === "text")).toBe(true);
  });

  it("a link inside bold is still a link", () => {
    expect(inline("*https://example.com*")).toEqual([
      {
        kind: "bold",
        children: [{ kind: "link", href: "https://example.com/", text: "https://example.com" }],
      },
    ]);
  });
});

describe("formatting", () => {
  it("bold, italic and nesting", () => {
    expect(inline("*bold _both_* and _it_")).toEqual([
      {
        kind: "bold",
        children: [
          { kind: "text", text: "bold " },
          { kind: "italic", children: [{ kind: "text", text: "both" }] },
        ],
      },
      { kind: "text", text: " and " },
      { kind: "italic", children: [{ kind: "text", text: "it" }] },
    ]);
  });

  it("snake_case, 2*3*4 and lone markers stay text", () => {
    for (const s of ["snake_case_name", "2*3*4", "* not bold *", "_", "**", "a * b"]) {
      expect(inline(s)).toEqual([{ kind: "text", text: s }]);
    }
  });

  it("inline code is verbatim: no links, no emphasis inside", () => {
    expect(inline("run `rm *x* https://a.b` now")).toEqual([
      { kind: "text", text: "run " },
      { kind: "code", text: "rm *x* https://a.b" },
      { kind: "text", text: " now" },
    ]);
  });

  it("an unclosed backtick is text", () => {
    expect(inline("a ` b")).toEqual([{ kind: "text", text: "a ` b" }]);
  });

  it("code blocks keep their text and drop the language tag", () => {
    expect(parseMessage("before\n```ts\nconst a = *b*;\n```\nafter")).toEqual([
      { kind: "inline", children: [{ kind: "text", text: "before\n" }] },
      { kind: "codeblock", text: "const a = *b*;" },
      { kind: "inline", children: [{ kind: "text", text: "after" }] },
    ]);
  });

  it("an unclosed fence is text", () => {
    expect(parseMessage("```x")).toEqual([
      { kind: "inline", children: [{ kind: "text", text: "```x" }] },
    ]);
  });

  it("deep nesting is bounded and does not throw", () => {
    const s = "*_".repeat(50) + "x" + "_*".repeat(50);
    expect(() => parseMessage(s)).not.toThrow();
    const long = "*".repeat(10_000);
    expect(parseMessage(long)).toEqual([
      { kind: "inline", children: [{ kind: "text", text: long }] },
    ]);
  });

  it("an empty text has no blocks", () => {
    expect(parseMessage("")).toEqual([]);
  });
});

describe("mentions", () => {
  it("@username of a member is a mention (case-insensitive), others stay text", () => {
    expect(inline("hi @alice and @bob, not @carol or me@alice")).toEqual([
      { kind: "text", text: "hi " },
      { kind: "mention", username: "alice", account: "acct:a" },
      { kind: "text", text: " and " },
      { kind: "mention", username: "bob", account: "acct:b" },
      { kind: "text", text: ", not @carol or me@alice" },
    ]);
  });

  it("a trailing full stop is not part of the username", () => {
    expect(inline("thanks @alice.")).toEqual([
      { kind: "text", text: "thanks " },
      { kind: "mention", username: "alice", account: "acct:a" },
      { kind: "text", text: "." },
    ]);
  });

  it("mentionedAccounts lists each account once, in order, ignoring code", () => {
    expect(mentionedAccounts("@bob @alice `@carol` *@bob*", [alice, bob])).toEqual([
      "acct:b",
      "acct:a",
    ]);
    expect(mentionedAccounts("`@alice`", [alice])).toEqual([]);
  });
});

describe("cost", () => {
  it("a body-sized text full of unmatched markers parses in bounded time (each marker looks at most 1000 characters ahead)", () => {
    const s = "(*a _b ".repeat(9000);
    const t = performance.now();
    parseMessage(s, [alice]);
    expect(performance.now() - t).toBeLessThan(2000);
  });
});
