/** Day separators and sizes in words. */

import { describe, expect, it } from "vitest";

import { dayLabel, humanSize } from "./days";

const at = (y: number, m: number, d: number, h = 12) => new Date(y, m - 1, d, h).getTime();

describe("day separators", () => {
  const now = at(2026, 12, 6, 10);
  it("today and yesterday by the local calendar, not 24 hours", () => {
    expect(dayLabel(at(2026, 12, 6, 0), now)).toBe("Today");
    expect(dayLabel(at(2026, 12, 5, 23), now)).toBe("Yesterday");
    expect(dayLabel(at(2026, 12, 5, 0), now)).toBe("Yesterday");
  });
  it("an earlier day by weekday, day and month; another year adds it", () => {
    expect(dayLabel(at(2026, 11, 30), now)).toBe("Monday 30 November");
    expect(dayLabel(at(2025, 11, 30), now)).toBe("Sunday 30 November 2025");
  });
  it("the first of a month after the last of the previous one is yesterday", () => {
    expect(dayLabel(at(2026, 11, 30), at(2026, 12, 1))).toBe("Yesterday");
  });
});

describe("sizes in words", () => {
  it("bytes, kilobytes, megabytes", () => {
    expect(humanSize(1)).toBe("1 byte");
    expect(humanSize(812)).toBe("812 bytes");
    expect(humanSize(1023)).toBe("1023 bytes");
    expect(humanSize(4300)).toBe("4.2 KB");
    expect(humanSize(30 * 1024 * 1024)).toBe("30 MB");
    expect(humanSize(26_214_400)).toBe("25 MB");
    expect(humanSize(65_536)).toBe("64 KB");
  });
});
