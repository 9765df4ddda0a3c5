/**
 * A message row and the conversation view as the user reads them: delivery states, replies,
 * edits, deletes, reactions, mentions, links, day separators, the new-messages marker and the
 * composer of a removed member. Rendered to a string (no DOM): what is asserted is the markup.
 */

import { renderToString } from "react-dom/server";
import { describe, expect, it } from "vitest";

import type { SottoClient } from "../../lib/engine/client";
import type { AppView, ChatMessage, ConversationView } from "../../lib/engine/model";
import { SottoProvider } from "../../lib/sotto";
import { ChatView } from "./ChatView";
import { eventText } from "./content";
import { type MessageActions, MessageItem } from "./MessageItem";

const ME = `acct:${"2".repeat(64)}`;
const ALICE = `acct:${"a".repeat(64)}`;
const BOB = `acct:${"b".repeat(64)}`;

const view = {
  phase: { kind: "ready" },
  me: { username: "mallory", account: ME, device: "dev:x", hasMaster: true },
  limits: { maxAttachmentBytes: 25 * 1024 * 1024, maxBodyBytes: 65536 },
  conversations: [],
  requests: [],
} as unknown as AppView;

const client = {
  subscribe: () => () => undefined,
  getView: () => view,
  setVisible: () => undefined,
} as unknown as SottoClient;

const actions: MessageActions = {
  reply: () => undefined,
  edit: () => undefined,
  remove: () => undefined,
  react: () => undefined,
  jumpTo: () => undefined,
  copy: () => undefined,
};

const device = (n: number) => `dev:${n.toString(16).padStart(64, "0")}`;
const base: ChatMessage = {
  id: `msg:${"1".repeat(32)}`,
  from: ME,
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
const fromAlice: ChatMessage = {
  ...Object.fromEntries(Object.entries(base).filter(([k]) => k !== "status")),
  id: `msg:${"4".repeat(32)}`,
  from: ALICE,
  fromUsername: "alice",
  mine: false,
} as ChatMessage;

const conv: ConversationView = {
  id: `conv:${"3".repeat(32)}`,
  name: "Team",
  direct: false,
  members: [
    { account: ME, username: "mallory", admin: true, trust: "unverified" },
    { account: ALICE, username: "alice", admin: false, trust: "unverified" },
    { account: BOB, username: "bob", admin: false, trust: "unverified" },
  ],
  epoch: 1,
  messages: [],
  unread: 0,
  typing: [],
  blockedBy: [],
  amAdmin: true,
  canSetRetention: true,
  retention: 0,
  history: { more: false, loading: false },
  mentions: 0,
};

function html(m: ChatMessage, withActions = true): string {
  return renderToString(
    <SottoProvider client={client}>
      <MessageItem
        conv={conv}
        message={m}
        me={ME}
        focusable={true}
        actions={withActions ? actions : undefined}
      />
    </SottoProvider>,
  );
}

function text(m: ChatMessage): string {
  return html(m)
    .replace(/<!-- -->/g, "")
    .replace(/<[^>]+>/g, " ")
    .replace(/\s+/g, " ");
}

describe("a sent message's delivery", () => {
  it("a refused one says why, offers Dismiss and never Retry", () => {
    const t = text({ ...base, status: "refused", refusal: "it is over the 64 KB limit" });
    expect(t).toContain("Could not be sent: it is over the 64 KB limit");
    expect(t).toContain("Dismiss");
    expect(t).not.toContain("Retry");
  });

  it("a waiting one says so, automatically, without an error", () => {
    const t = text({ ...base, status: "waiting" });
    expect(t).toContain("Waiting to send");
    expect(t).not.toContain("Could not be sent");
    expect(html({ ...base, status: "waiting" })).not.toContain('role="alert"');
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
  });
});

describe("replies, edits, deletes, reactions", () => {
  it("a reply shows its quote in each state", () => {
    const reply = (q: ChatMessage["replyTo"]) => text({ ...fromAlice, replyTo: q } as ChatMessage);
    expect(
      reply({ id: base.id, state: "available", fromUsername: "mallory", preview: "the plan" }),
    ).toContain("mallory the plan");
    expect(reply({ id: base.id, state: "deleted", fromUsername: "mallory" })).toContain(
      "Message deleted",
    );
    expect(reply({ id: base.id, state: "missing" })).toContain("Message not available");
  });

  it("an edited message says (edited); a deleted one shows only author and time", () => {
    expect(text({ ...base, edits: [{ text: "helo", sentAt: 0 }] })).toContain("(edited)");
    const t = text({ ...fromAlice, deleted: true, content: { type: "text", text: "" } });
    expect(t).toContain("Message deleted");
    expect(t).toContain("alice");
    expect(html({ ...fromAlice, deleted: true })).not.toContain("More actions");
  });

  it("a deleted message never shows text the engine left in it", () => {
    expect(text({ ...fromAlice, deleted: true })).not.toContain("hello");
  });

  it("reaction chips count and name who reacted; mine is pressed", () => {
    const h = html({
      ...fromAlice,
      reactions: [
        { emoji: "👍", accounts: [ALICE, ME], usernames: ["alice", "mallory"], mine: true },
      ],
    });
    expect(h).toContain('aria-label="👍 reacted by alice, mallory"');
    expect(h).toContain('aria-pressed="true"');
    expect(h).toContain('data-count="2"');
  });

  it("where sending is not possible (removed, blocked) reactions cannot be toggled", () => {
    const m: ChatMessage = {
      ...fromAlice,
      reactions: [{ emoji: "👍", accounts: [ALICE], usernames: ["alice"], mine: false }],
    };
    const open = renderToString(
      <SottoProvider client={client}>
        <MessageItem conv={conv} message={m} me={ME} actions={actions} readOnly={false} />
      </SottoProvider>,
    );
    const closed = renderToString(
      <SottoProvider client={client}>
        <MessageItem conv={conv} message={m} me={ME} actions={actions} readOnly={true} />
      </SottoProvider>,
    );
    expect(open).not.toContain('disabled=""');
    expect(closed).toContain('disabled=""');
    // Copy text stays: the menu is still offered.
    expect(closed).toContain("More actions");
  });

  it("the actions menu is offered on content messages, Edit/Delete only on mine", () => {
    expect(html(base)).toContain('aria-label="More actions"');
    expect(html(base, false)).not.toContain("More actions");
  });
});

describe("text rendering", () => {
  it("links open safely; markup in a message stays text", () => {
    const h = html({
      ...fromAlice,
      content: { type: "text", text: 'see https://example.com <img src=x onerror="alert(1)">' },
    });
    expect(h).toContain(
      '<a href="https://example.com/" target="_blank" rel="noopener noreferrer nofollow">https://example.com</a>',
    );
    expect(h).not.toContain("<img");
    expect(h).toContain("&lt;img");
  });

  it("a javascript: text is never a link", () => {
    const h = html({ ...fromAlice, content: { type: "text", text: "javascript:alert(1)" } });
    expect(h).not.toContain("<a ");
  });

  it("a mention of me is marked strongly and said; the row is marked", () => {
    const h = html({
      ...fromAlice,
      content: { type: "text", text: "@mallory and @bob look" },
      mentions: [ME, BOB],
      mentionsMe: true,
    });
    expect(h).toContain('class="mention mention-me"');
    expect(h).toContain("(mentions you)");
    expect(h).toContain('class="mention"');
    expect(h).toContain('data-mentions-me="true"');
    expect(h).toContain("mentions-me");
  });

  it("an @word the message does not list is not a mention (the list decides)", () => {
    const h = html({ ...fromAlice, content: { type: "text", text: "@bob hi" }, mentions: [] });
    expect(h).not.toContain('class="mention"');
  });

  it("text is dir=auto", () => {
    expect(html({ ...fromAlice, content: { type: "text", text: "שלום" } })).toContain('dir="auto"');
  });

  it("membership events read as sentences", () => {
    expect(eventText({ kind: "added", actor: "alice", subject: "bob" })).toBe("alice added bob");
    expect(eventText({ kind: "left", actor: "bob" })).toBe("bob left");
    expect(eventText({ kind: "admin-granted", actor: "alice", subject: "bob" })).toBe(
      "alice made bob an admin",
    );
  });
});

function chat(c: ConversationView): string {
  return renderToString(
    <SottoProvider client={client}>
      <ChatView
        conv={c}
        onBack={() => undefined}
        onMembers={() => undefined}
        onVerify={() => undefined}
      />
    </SottoProvider>,
  )
    .replace(/<!-- -->/g, "")
    .replace(/<[^>]+>/g, " ")
    .replace(/\s+/g, " ");
}

describe("the conversation view", () => {
  const day = 24 * 3600 * 1000;
  const now = Date.now();
  const msgs = [
    { ...fromAlice, id: "msg:1", sentAt: now - 3 * day },
    { ...fromAlice, id: "msg:2", sentAt: now - day, content: { type: "text", text: "second" } },
    { ...fromAlice, id: "msg:3", sentAt: now, content: { type: "text", text: "third" } },
  ] as ChatMessage[];

  it("separates days and marks the first unread message", () => {
    const t = chat({ ...conv, messages: msgs, firstUnread: "msg:3" });
    expect(t).toContain("Yesterday");
    expect(t).toContain("Today");
    expect(t.indexOf("New messages")).toBeGreaterThan(t.indexOf("second"));
    expect(t.indexOf("New messages")).toBeLessThan(t.indexOf("third"));
  });

  it("a removed member has no composer, and is told by whom", () => {
    const t = chat({ ...conv, removed: { by: "alice", left: false } });
    expect(t).toContain("You were removed from this group by alice.");
    const h = renderToString(
      <SottoProvider client={client}>
        <ChatView
          conv={{ ...conv, removed: { left: true } }}
          onBack={() => undefined}
          onMembers={() => undefined}
          onVerify={() => undefined}
        />
      </SottoProvider>,
    );
    expect(h).toContain("You left this group.");
    expect(h).not.toContain("<textarea");
  });

  it("a member has the composer, labelled Message", () => {
    const h = renderToString(
      <SottoProvider client={client}>
        <ChatView
          conv={conv}
          onBack={() => undefined}
          onMembers={() => undefined}
          onVerify={() => undefined}
        />
      </SottoProvider>,
    );
    expect(h).toContain("<textarea");
    expect(h).toContain('for="composer"');
  });
});
