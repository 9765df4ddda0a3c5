/** Limits in words, checked before anything is sent or uploaded. */

import { describe, expect, it } from "vitest";

import { removedText } from "./ChatView";
import { textLimit, tooLong } from "./Composer";
import { overLimit } from "./SendFileDialog";

describe("limits before sending", () => {
  it("a text over the body limit is refused with both sizes in words", () => {
    const limit = textLimit(65536, 0);
    expect(limit).toBeLessThan(65536);
    expect(tooLong(limit, limit)).toBeUndefined();
    expect(tooLong(200_000, limit)).toBe(
      "This message is 195 KB, the limit is 64 KB. Shorten it or send it as a file.",
    );
  });

  it("each mention takes its 32 bytes from the text's room", () => {
    expect(textLimit(65536, 2)).toBe(textLimit(65536, 0) - 64);
  });

  it("a file over the attachment limit says how big it is and what the limit is", () => {
    const mb = 1024 * 1024;
    expect(overLimit("film.mp4", 30 * mb, 25 * mb)).toBe(
      "“film.mp4” is 30 MB, the limit is 25 MB.",
    );
    expect(overLimit("ok.pdf", 25 * mb, 25 * mb)).toBeUndefined();
    // No limit known yet: the engine's own check decides.
    expect(overLimit("x", 30 * mb, 0)).toBeUndefined();
  });

  it("a removed member is told who removed it; one who left is told so", () => {
    expect(removedText({ by: "alice", left: false })).toBe(
      "You were removed from this group by alice.",
    );
    expect(removedText({ left: false })).toBe("You were removed from this group.");
    expect(removedText({ left: true })).toBe("You left this group.");
  });
});
