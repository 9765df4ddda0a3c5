/** @-completion in the composer. */

import { describe, expect, it } from "vitest";

import { applyMention, mentionCandidates, mentionQueryAt } from "./mentions";

const members = [
  { account: "a", username: "alice" },
  { account: "b", username: "albert" },
  { account: "c", username: "carol" },
  { account: "m", username: "me" },
];

describe("@-completion", () => {
  it("a query is an @ at the start or after a space, up to the caret", () => {
    expect(mentionQueryAt("@", 1)).toEqual({ start: 0, query: "" });
    expect(mentionQueryAt("hi @al", 6)).toEqual({ start: 3, query: "al" });
    expect(mentionQueryAt("mail me@al", 10)).toBeUndefined();
    expect(mentionQueryAt("hi @al there", 12)).toBeUndefined();
  });

  it("candidates: prefix matches first, then contains; never me", () => {
    expect(mentionCandidates(members, "al", "m").map((m) => m.username)).toEqual([
      "alice",
      "albert",
    ]);
    expect(mentionCandidates(members, "r", "m").map((m) => m.username)).toEqual([
      "albert",
      "carol",
    ]);
    expect(mentionCandidates(members, "", "m")).toHaveLength(3);
  });

  it("picking replaces the query with @username and a space, caret after it", () => {
    expect(applyMention("hi @al", { start: 3, query: "al" }, 6, "alice")).toEqual({
      text: "hi @alice ",
      caret: 10,
    });
    expect(applyMention("@a x", { start: 0, query: "a" }, 2, "alice")).toEqual({
      text: "@alice x",
      caret: 7,
    });
  });
});
