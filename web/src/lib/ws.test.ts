import { afterEach, describe, expect, it, vi } from "vitest";

import { type ConnectionState, SocketClient } from "./ws";

class FakeSocket {
  static OPEN = 1;
  static last: FakeSocket | undefined;
  readyState = 0;
  sent: string[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onclose: ((e: { code: number }) => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.last = this;
  }
  send(data: string): void {
    this.sent.push(data);
  }
  close(): void {
    this.readyState = 3;
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.();
  }
  receive(frame: unknown): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
}

afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe("socket client", () => {
  it("sends the ticket first, opens on ready, validates frames and reconnects with backoff", async () => {
    vi.useFakeTimers();
    vi.stubGlobal("WebSocket", FakeSocket);
    const states: ConnectionState["kind"][] = [];
    const frames: string[] = [];
    let tickets = 0;
    const client = new SocketClient("wss://x/v1/ws", {
      ticket: () => Promise.resolve(`sotto_wt_${++tickets}`),
      frame: (f) => frames.push(f.type),
      state: (s) => states.push(s.kind),
    });
    client.start();
    await vi.advanceTimersByTimeAsync(0);
    const ws = FakeSocket.last;
    if (ws === undefined) throw new Error("no socket");
    ws.open();
    expect(JSON.parse(ws.sent[0] ?? "")).toEqual({ type: "auth", ticket: "sotto_wt_1" });
    expect(client.send({ type: "ping" })).toBe(false); // not before ready
    ws.receive({ type: "ready", account: null, device: `dev:${"a".repeat(64)}`, session: "sess:1" });
    expect(client.state.kind).toBe("open");
    ws.receive({ type: "nonsense" });
    ws.receive({ type: "acked", count: 2 });
    expect(frames).toEqual(["ready", "acked"]);
    expect(client.ack([`msg:${"b".repeat(32)}`])).toBe(true);
    ws.onclose?.({ code: 1001 });
    expect(client.state.kind).toBe("waiting");
    await vi.advanceTimersByTimeAsync(31_000);
    const second = FakeSocket.last;
    expect(second).not.toBe(ws);
    second?.open();
    expect(JSON.parse(second?.sent[0] ?? "")).toEqual({ type: "auth", ticket: "sotto_wt_2" });
    client.stop();
    expect(states).toEqual(["connecting", "open", "waiting", "connecting", "closed"]);
  });
});
