import { describe, expect, it } from "vitest";

import {
  type AmendmentInfo,
  type AmendmentKind,
  type TargetInfo,
  checkAmendment,
  winningAmendment,
} from "./amend";
import { MessageBody } from "./body";
import { isProtocolError } from "./errors";
import { AccountId, ConversationId, MessageId } from "./ids";

const conv = ConversationId.fromBytes(new Uint8Array(16).fill(1));
const alice = AccountId.fromBytes(new Uint8Array(32).fill(0xa1));
const bob = AccountId.fromBytes(new Uint8Array(32).fill(0xb0));
const msg = (n: number): MessageId => MessageId.fromBytes(new Uint8Array(16).fill(n));

function code(target: TargetInfo, amendment: AmendmentInfo): string {
  try {
    checkAmendment(target, amendment);
    return "ok";
  } catch (e) {
    if (isProtocolError(e)) return e.code;
    throw e;
  }
}

function codeOf(run: () => unknown): string {
  try {
    run();
    return "ok";
  } catch (e) {
    if (isProtocolError(e)) return e.code;
    throw e;
  }
}

describe("checkAmendment", () => {
  const own: TargetInfo = { conversation: conv, sender: alice, class: "content" };
  const by = (sender: AccountId, kind: AmendmentKind): AmendmentInfo => ({
    conversation: conv,
    sender,
    kind,
  });

  it("lets only the author edit or delete, and anyone react", () => {
    expect(code(own, by(alice, "edit"))).toBe("ok");
    expect(code(own, by(bob, "edit"))).toBe("message/not-author");
    expect(code(own, by(bob, "delete"))).toBe("message/not-author");
    expect(code(own, by(bob, "reaction"))).toBe("ok");
  });

  it("checks the conversation and the target's kind before the author", () => {
    const receipt: TargetInfo = { ...own, class: "not-content" };
    expect(code(receipt, by(bob, "edit"))).toBe("message/wrong-target");
    expect(code(receipt, by(bob, "reaction"))).toBe("message/wrong-target");
    const elsewhere: TargetInfo = {
      ...own,
      conversation: ConversationId.fromBytes(new Uint8Array(16).fill(2)),
    };
    expect(code(elsewhere, by(bob, "edit"))).toBe("message/wrong-target");
  });

  it("picks the greatest (sent_at, id bytes)", () => {
    const a = { sentAt: 5n, id: msg(9) };
    const b = { sentAt: 6n, id: msg(1) };
    const c = { sentAt: 6n, id: msg(2) };
    expect(winningAmendment([b, c, a])).toBe(c);
    expect(winningAmendment<typeof a>([])).toBeUndefined();
  });
});

describe("new body kinds", () => {
  it("round-trip", () => {
    const bodies: MessageBody[] = [
      { type: "message", text: "@bob hi", replyTo: msg(3), mentions: [bob] },
      { type: "message", text: "", mentions: [] },
      { type: "edit", target: msg(4), text: "fixed", mentions: [alice, bob] },
      { type: "delete", target: msg(5) },
      { type: "reaction", target: msg(6), reaction: "👍", added: false },
    ];
    for (const body of bodies) {
      expect(MessageBody.decode(MessageBody.encode(body))).toEqual(body);
    }
  });

  it("refuse to encode what a receiver would refuse", () => {
    const many = Array.from({ length: 65 }, (_, i) =>
      AccountId.fromBytes(new Uint8Array(32).fill(i)),
    );
    const encode = (body: MessageBody) => codeOf(() => MessageBody.encode(body));
    expect(encode({ type: "message", text: "x", mentions: many })).toBe("invalid-input");
    expect(encode({ type: "message", text: "x", mentions: many.slice(0, 64) })).toBe("ok");
    expect(encode({ type: "edit", target: msg(1), text: "x", mentions: [bob, bob] })).toBe(
      "invalid-input",
    );
    for (const reaction of ["", "a".repeat(33), "a\u0007", " x"]) {
      expect(encode({ type: "reaction", target: msg(1), reaction, added: true })).toBe(
        "invalid-input",
      );
    }
  });
});
