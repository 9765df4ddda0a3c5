/**
 * What the UI is given (`view.ts`, `limits.ts`): previews, reply quotes, notifications of new
 * messages, and limits said in words.
 */

import { describe, expect, it, vi } from "vitest";

import { DEFAULT_LIMITS, attachmentProblem, formatSize, policyLimits } from "./limits";
import type { StoredMessage } from "./stored";
import {
  aliceAndBob,
  createConversation,
  dateFrozenAtT0,
  deliver,
  newRelay,
  settle,
  side,
} from "./test-world";
import { type ViewContext, conversationPreview, messageView, oneLine } from "./view";

dateFrozenAtT0();
const [alice, bob] = await aliceAndBob();

const ME = `acct:${"a".repeat(64)}`;
const ALICE = `acct:${"b".repeat(64)}`;
const mid = (n: number) => `msg:${n.toString(16).padStart(32, "0")}`;

function msg(n: number, from: string, content: StoredMessage["content"]): StoredMessage {
  return {
    id: mid(n),
    from,
    fromUsername: from === ME ? "me" : "alice",
    mine: from === ME,
    sentAt: n,
    receivedAt: n,
    content,
  };
}

function ctx(messages: readonly StoredMessage[]): ViewContext {
  return {
    me: ME,
    name: (a) => (a === ME ? "me" : a === ALICE ? "alice" : a),
    find: (id) => messages.find((m) => m.id === id),
  };
}

const file = {
  blobId: "b",
  fileName: "plan.pdf",
  mediaType: "application/pdf",
  size: 10,
  secret: new Uint8Array(32),
  blobSha256: new Uint8Array(32),
};

describe("previews", () => {
  it("the conversation line is the last content message, named, on one line", () => {
    const a = msg(1, ALICE, { type: "text", text: "hello\nthere" });
    expect(conversationPreview([a], ctx([a]))).toBe("alice: hello there");
    const mine = msg(2, ME, { type: "text", text: "hi" });
    const event = msg(3, ALICE, { type: "event", event: { kind: "created", actor: ALICE } });
    expect(conversationPreview([a, mine, event], ctx([]))).toBe("You: hi");
    const att = msg(4, ALICE, { type: "attachment", attachment: file, caption: "" });
    expect(conversationPreview([att], ctx([]))).toBe("alice: 📎 plan.pdf");
    const deleted: StoredMessage = { ...a, deleted: true, content: { type: "text", text: "" } };
    expect(conversationPreview([deleted], ctx([]))).toBe("alice: Message deleted");
    expect(conversationPreview([event], ctx([]))).toBeUndefined();
  });

  it("a reply quote shows the target's current text, at most 120 characters", () => {
    const long = "ä".repeat(130);
    const target: StoredMessage = {
      ...msg(1, ALICE, { type: "text", text: "old" }),
      edits: [{ id: mid(9), text: long, sentAt: 5, mentions: [] }],
    };
    const reply: StoredMessage = { ...msg(2, ME, { type: "text", text: "ok" }), replyTo: mid(1) };
    const shown = messageView(reply, ctx([target, reply]));
    expect(shown.replyTo?.preview).toBe(`${"ä".repeat(120)}…`);
    expect(shown.replyTo?.state).toBe("available");
    expect(oneLine("a  b\tc", 10)).toBe("a b c");
    const gone = { ...target, deleted: true, content: { type: "text" as const, text: "" } };
    expect(messageView(reply, ctx([gone, reply])).replyTo).toEqual({
      id: mid(1),
      state: "deleted",
      fromUsername: "alice",
    });
  });
});

describe("limits", () => {
  it("says sizes as people read them, and refuses a file over the server's limit", () => {
    expect(formatSize(25 * 1024 * 1024)).toBe("25 MB");
    expect(formatSize(1536)).toBe("1.5 KB");
    expect(formatSize(900)).toBe("900 bytes");
    expect(attachmentProblem(25 * 1024 * 1024, DEFAULT_LIMITS)).toBeUndefined();
    expect(attachmentProblem(25 * 1024 * 1024 + 1, DEFAULT_LIMITS)).toBe("larger than 25 MB");
    const server = policyLimits({
      default_retention_secs: 0,
      max_attachment_bytes: 10 * 1024 ** 2,
    });
    expect(server).toEqual({ maxAttachmentBytes: 10 * 1024 ** 2, maxBodyBytes: 65_536 });
    expect(attachmentProblem(11 * 1024 ** 2, server)).toBe("larger than 10 MB");
  });
});

describe("notifications", () => {
  it("announces each new content message from someone else once, after it is stored", async () => {
    const relay = newRelay([alice, bob]);
    const announced: string[] = [];
    const a = await side(relay, alice, "notify-alice");
    const b = await side(relay, bob, "notify-bob", undefined, {
      incoming: (_conv, id) => announced.push(id),
    });
    const conv = await createConversation(a, [bob]);
    const id = await a.messaging.send(conv, { type: "text", text: "ping" });
    vi.setSystemTime(Date.now() + 1000);
    await a.messaging.amend(conv, { type: "edit", target: id, text: "ping!", mentions: [] });
    await settle(a);
    const frames = deliver(relay, b);
    await settle(b);
    expect(announced).toEqual([id]);
    // The same copies again (a lost acknowledgement): nothing new to announce.
    for (const f of frames) b.messaging.onFrame(f);
    await settle(b);
    expect(announced).toEqual([id]);
    // Bob's own message is not announced to him.
    await b.messaging.send(conv, { type: "text", text: "pong" });
    await settle(b);
    expect(announced).toEqual([id]);
  });
});
