/** Every screen has an address that reads back as the same screen; odd addresses go home. */

import { describe, expect, it } from "vitest";

import { type Route, parseRoute, routeHash } from "./route";

const conv = "conv:AbC-_d/e+f==";

describe("routes", () => {
  it("each route survives a round trip through its hash", () => {
    const routes: Route[] = [
      { kind: "home" },
      { kind: "chat", conv },
      { kind: "chat", conv, m: "msg:0123" },
      { kind: "members", conv },
      { kind: "new" },
      { kind: "devices" },
      { kind: "requests" },
      { kind: "request", conv },
      { kind: "blocked" },
      { kind: "settings" },
      { kind: "search" },
      { kind: "safety", account: "acct:ff" },
    ];
    for (const r of routes) expect(parseRoute(routeHash(r))).toEqual(r);
  });

  it("a conversation id with '/' or ':' stays one path segment", () => {
    expect(routeHash({ kind: "chat", conv })).toBe("#/c/conv%3AAbC-_d%2Fe%2Bf%3D%3D");
  });

  it("unknown, empty or malformed addresses are home", () => {
    for (const h of ["", "#", "#/", "#/nope", "#/c/", "#/c/%E0%A4%A/x", "#/c/a/b/c/d", "#/safety"])
      expect(parseRoute(h)).toEqual({ kind: "home" });
  });

  it("search words are never part of an address (browser history is not sealed)", () => {
    expect(routeHash({ kind: "search" })).toBe("#/search");
    expect(parseRoute("#/search?q=hello%20world")).toEqual({ kind: "search" });
  });
});
