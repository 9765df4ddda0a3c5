/** A sent message's delivery as the user reads it: failed and "not delivered to some" differ. */

import { renderToString } from "react-dom/server";
import { describe, expect, it } from "vitest";

import type { SottoClient } from "../../lib/engine/client";
import type { ChatMessage } from "../../lib/engine/model";
import { SottoProvider } from "../../lib/sotto";
import { MessageItem } from "./MessageItem";

const client = {
  subscribe: () => () => undefined,
  getView: () => ({}),
} as unknown as SottoClient;

const device = (n: number) => `dev:${n.toString(16).padStart(64, "0")}`;
const base: ChatMessage = {
  id: `msg:${"1".repeat(32)}`,
  from: `acct:${"2".repeat(64)}`,
  fromUsername: "mallory",
  mine: true,
  sentAt: 0,
  receivedAt: 0,
  content: { type: "text", text: "hello" },
  status: "sent",
  mentions: [],
  mentionsMe: false,
  reactions: [],
};

function text(m: ChatMessage): string {
  const html = renderToString(
    <SottoProvider client={client}>
      <MessageItem conv={`conv:${"3".repeat(32)}`} message={m} direct={true} />
    </SottoProvider>,
  );
  return html.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ");
}

describe("a sent message's delivery", () => {
  it("a waiting one says so with Retry, and nothing about recipients", () => {
    const t = text({ ...base, status: "waiting" });
    expect(t).toContain("Waiting to send");
    expect(t).toContain("Retry");
    expect(t).not.toContain("Not delivered");
  });

  it("one given to nobody names who and why instead of saying Sent, with Retry and Dismiss", () => {
    const t = text({
      ...base,
      undelivered: {
        missing: [{ device: device(1), username: "alice", reason: "request_limit" }],
        kept: true,
      },
    });
    expect(t).toContain("Not delivered to alice (waiting for them to accept)");
    expect(t).not.toContain("Sent");
    expect(t).not.toContain("Failed");
    expect(t).toContain("Retry");
    expect(t).toContain("Dismiss");
  });

  it("one read by some keeps its receipt beside who did not get it; dismissed, no actions", () => {
    const t = text({
      ...base,
      status: "read",
      undelivered: {
        missing: [{ device: device(1), username: "carol", reason: "blocked" }],
        kept: false,
      },
    });
    expect(t).toContain("Read");
    expect(t).toContain("Not delivered to carol (blocked)");
    expect(t).not.toContain("Retry");
    expect(t).not.toContain("Dismiss");
  });
});
