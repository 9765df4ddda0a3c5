/** Which conversations are accepted and which are requests, as the app splits them. */

import { describe, expect, it } from "vitest";

import { Consent, type RequestInfo, requestInfo } from "./consent";

const conv = (n: number) => `conv:${n.toString(16).padStart(32, "0")}`;
const acct = (n: number) => `acct:${n.toString(16).padStart(64, "0")}`;
const request = (c: number, from: number, createdAt = c): RequestInfo => ({
  conversation: conv(c),
  from: acct(from),
  fromUsername: `user${from}`,
  members: 2,
  createdAt,
  queued: 1,
});

describe("consent", () => {
  it("a conversation the server has not listed yet is neither a conversation nor a request", () => {
    const c = new Consent();
    expect(c.standing(conv(1))).toBe("unknown");
    c.update([conv(1)], [request(2, 9)]);
    expect(c.standing(conv(1))).toBe("accepted");
    expect(c.standing(conv(2))).toBe("request");
    expect(c.standing(conv(3))).toBe("unknown");
  });

  it("a conversation this account was removed from stays listed; one declined elsewhere goes", () => {
    const c = new Consent();
    c.update([conv(1), conv(2), conv(3)], []);
    expect(c.droppedBy([conv(3)])).toEqual([conv(1), conv(2)]);
    // The server lists current memberships only: conv(1)'s log says this account was removed.
    c.update([conv(3)], [], (x) => x === conv(1));
    expect(c.standing(conv(1))).toBe("accepted");
    expect(c.standing(conv(2))).toBe("unknown");
    // It stays on later lists too, while the log says so.
    c.update([conv(3)], [], (x) => x === conv(1));
    expect(c.standing(conv(1))).toBe("accepted");
    expect(c.snapshot().accepted).toContain(conv(1));
  });

  it("accepting moves a request into the conversations; declining lists it nowhere", () => {
    const c = new Consent();
    c.update([], [request(1, 9), request(2, 9)]);
    c.accept(conv(1));
    expect(c.standing(conv(1))).toBe("accepted");
    c.decline(conv(2));
    expect(c.standing(conv(2))).toBe("unknown");
    expect(c.requests()).toEqual([]);
  });

  it("blocking a user drops every request they made, and only theirs", () => {
    const c = new Consent();
    c.update([], [request(1, 9), request(2, 8), request(3, 9)]);
    c.blocked(acct(9));
    expect(c.requests().map((r) => r.conversation)).toEqual([conv(2)]);
  });

  it("keeps the half of a refresh that failed, and the server's accepted list wins over a stale request", () => {
    const c = new Consent();
    c.update([conv(1)], [request(2, 9)]);
    c.update(undefined, [request(2, 9), request(3, 9)]);
    expect(c.standing(conv(1))).toBe("accepted");
    c.update([conv(1), conv(2)], undefined);
    expect(c.standing(conv(2))).toBe("accepted");
    expect(c.requests().map((r) => r.conversation)).toEqual([conv(3)]);
  });

  it("lists requests oldest first and comes back the same from its snapshot", () => {
    const c = new Consent();
    c.update([conv(5)], [request(1, 9, 300), request(2, 8, 100)]);
    c.created(conv(6));
    expect(c.requests().map((r) => r.conversation)).toEqual([conv(2), conv(1)]);
    const again = new Consent(c.snapshot());
    expect(again.snapshot()).toEqual(c.snapshot());
    expect(again.standing(conv(6))).toBe("accepted");
  });

  it("reads the server's request entry", () => {
    expect(
      requestInfo({
        conversation: conv(1),
        from: acct(2),
        from_username: "mallory",
        members: 3,
        created_at: 42,
        queued: 7,
      }),
    ).toEqual({
      conversation: conv(1),
      from: acct(2),
      fromUsername: "mallory",
      members: 3,
      createdAt: 42,
      queued: 7,
    });
  });
});
