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
    ws.receive({
      type: "ready",
      account: null,
      device: `dev:${"a".repeat(64)}`,
      session: "sess:1",
    });
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

  it("shows offline while the browser has no network, and reconnects as soon as it is back", async () => {
    vi.useFakeTimers();
    vi.stubGlobal("WebSocket", FakeSocket);
    const net = { onLine: true };
    vi.stubGlobal("navigator", net);
    const win = new EventTarget();
    vi.stubGlobal("window", win);
    const states: ConnectionState["kind"][] = [];
    const client = new SocketClient("wss://x/v1/ws", {
      ticket: () => Promise.resolve("sotto_wt_1"),
      frame: () => undefined,
      state: (s) => states.push(s.kind),
    });
    const ready = {
      type: "ready",
      account: null,
      device: `dev:${"a".repeat(64)}`,
      session: "sess:1",
    };
    client.start();
    await vi.advanceTimersByTimeAsync(0);
    const first = FakeSocket.last;
    first?.open();
    first?.receive(ready);
    expect(client.state.kind).toBe("open");
    // The network goes: the socket is abandoned at once (no close frame will come), state offline.
    net.onLine = false;
    win.dispatchEvent(new Event("offline"));
    expect(first?.readyState).toBe(3);
    expect(client.state.kind).toBe("offline");
    expect(client.send({ type: "ping" })).toBe(false);
    // Retries go on in the background (onLine can lie) and stay "offline" while they fail.
    await vi.advanceTimersByTimeAsync(2_000);
    const probe = FakeSocket.last;
    expect(probe).not.toBe(first);
    probe?.onclose?.({ code: 1006 });
    expect(client.state.kind).toBe("offline");
    // The network is back: reconnect now, not at the end of the backoff.
    net.onLine = true;
    win.dispatchEvent(new Event("online"));
    await vi.advanceTimersByTimeAsync(0);
    const back = FakeSocket.last;
    expect(back).not.toBe(probe);
    back?.open();
    back?.receive(ready);
    expect(client.state.kind).toBe("open");
    client.stop();
    expect(states).toEqual([
      "connecting",
      "open",
      "offline",
      "connecting",
      "offline",
      "connecting",
      "open",
      "closed",
    ]);
  });
});
