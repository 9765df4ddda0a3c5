/** Search results: grouped by conversation, the term highlighted, long texts cut to the match. */

import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";

import type { SearchHit } from "../../lib/engine/model";
import { groupHits, highlight, snippet } from "./SearchScreen";

const hit = (conv: string, id: string): SearchHit => ({
  conv,
  convName: conv.toUpperCase(),
  messageId: id,
  fromUsername: "alice",
  sentAt: 0,
  text: "x",
});

describe("search results", () => {
  it("mark every occurrence, whatever its case, as text (never markup)", () => {
    const html = renderToStaticMarkup(<p>{highlight("Lunch <b>at</b> lunchtime", "LUNCH")}</p>);
    expect(html).toBe("<p><mark>Lunch</mark> &lt;b&gt;at&lt;/b&gt; <mark>lunch</mark>time</p>");
  });

  it("mark each word of a query, wherever it is", () => {
    const html = renderToStaticMarkup(<p>{highlight("noon lunch", "lunch noo")}</p>);
    expect(html).toBe("<p><mark>noo</mark>n <mark>lunch</mark></p>");
  });

  it("group by conversation in the order of the first hit", () => {
    const groups = groupHits([hit("b", "1"), hit("a", "2"), hit("b", "3")]);
    expect(groups.map((g) => [g.name, g.hits.map((h) => h.messageId)])).toEqual([
      ["B", ["1", "3"]],
      ["A", ["2"]],
    ]);
  });

  it("a long message starts near its match", () => {
    const text = `${"word ".repeat(40)}needle and more`;
    const s = snippet(text, "needle");
    expect(s.startsWith("…")).toBe(true);
    expect(s).toContain("needle and more");
    expect(snippet("short needle", "needle")).toBe("short needle");
  });
});
