import { describe, expect, it } from "vitest";

import { passwordStrength } from "./strength";

describe("password strength", () => {
  it("grades short, common and long passwords", () => {
    expect(passwordStrength("").score).toBe(0);
    expect(passwordStrength("abc").label).toBe("Too short");
    expect(passwordStrength("password1").score).toBeLessThanOrEqual(1);
    expect(passwordStrength("alice2024!", "alice").score).toBeLessThanOrEqual(2);
    expect(passwordStrength("correct horse battery staple 42").score).toBeGreaterThanOrEqual(3);
  });
});
