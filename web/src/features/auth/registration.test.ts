import { describe, expect, it, vi } from "vitest";

import { ApiClient, ApiError } from "../../lib/api";
import { normalizeInvite, registrationRefusal } from "../../lib/engine/account";
import { signUpShape } from "./registration";

function respond(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

describe("sign-up and the server's registration mode", () => {
  it("asks for a code only on an invite-only server and hides sign-up on a closed one", () => {
    expect(signUpShape(undefined)).toEqual({ signUp: true, askInvite: false });
    expect(signUpShape("open")).toEqual({ signUp: true, askInvite: false });
    expect(signUpShape("invite")).toEqual({ signUp: true, askInvite: true });
    expect(signUpShape("closed")).toEqual({ signUp: false, askInvite: false });
  });

  it("reads the mode, sends the code only when there is one, and keeps both refusal codes", async () => {
    const fetchMock = vi.fn<typeof fetch>();
    vi.stubGlobal("fetch", fetchMock);
    const api = new ApiClient("https://x", {
      bearer: () => undefined,
      renew: () => Promise.resolve(false),
    });
    fetchMock.mockResolvedValueOnce(respond(200, { mode: "invite" }));
    await expect(api.registration()).resolves.toEqual({ mode: "invite" });
    fetchMock.mockResolvedValueOnce(respond(200, { mode: "sometimes" }));
    await expect(api.registration()).rejects.toThrow();

    fetchMock.mockResolvedValueOnce(respond(201, { username: "alice" }));
    await api.register("alice", "pw", "abcde-fghjk");
    const sent = JSON.parse(fetchMock.mock.calls.at(-1)?.[1]?.body as string) as unknown;
    expect(sent).toEqual({ username: "alice", password: "pw", invite: "abcde-fghjk" });
    fetchMock.mockResolvedValueOnce(respond(201, { username: "bob" }));
    await api.register("bob", "pw");
    const plain = JSON.parse(fetchMock.mock.calls.at(-1)?.[1]?.body as string) as unknown;
    expect(plain).toEqual({ username: "bob", password: "pw" });

    for (const code of ["invite_invalid", "registration_closed"] as const) {
      fetchMock.mockResolvedValueOnce(respond(403, { error: code, message: "no" }));
      const error = await api.register("carol", "pw").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ApiError);
      expect((error as ApiError).code).toBe(code);
    }
    vi.unstubAllGlobals();
  });

  it("turns the two refusals into sentences a person can act on", () => {
    const closed = registrationRefusal(new ApiError("registration_closed", 403, "x"), false);
    expect(closed).toMatch(/does not accept new accounts; ask its administrator/);
    const invalid = registrationRefusal(new ApiError("invite_invalid", 403, "x"), true);
    expect(invalid).toMatch(/invitation code is not valid/);
    const bent = registrationRefusal(new ApiError("malformed_body", 400, "x"), true);
    expect(bent).toMatch(/26 letters and digits/);
    expect(registrationRefusal(new ApiError("malformed_body", 400, "x"), false)).toBeUndefined();
    expect(registrationRefusal(new ApiError("conflict", 409, "x"), true)).toBeUndefined();
    expect(normalizeInvite("  ab-cd ")).toBe("ab-cd");
    expect(normalizeInvite("   ")).toBeUndefined();
  });
});
