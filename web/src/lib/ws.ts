/**
 * The device's WebSocket (`docs/api.md` "WebSocket"): a fresh single-use ticket per connection
 * sent as the first frame, frames validated on arrival, reconnect with exponential backoff and
 * full jitter, and a connection state the UI can show. Transport only: no UI state here.
 */

import { ServerFrame, type SignalKind } from "./schemas";

export type ConnectionState =
  | { readonly kind: "idle" }
  | { readonly kind: "connecting"; readonly attempt: number }
  | { readonly kind: "open" }
  | { readonly kind: "waiting"; readonly attempt: number; readonly retryAt: number }
  /** The browser reports no network: still retried (on `online`, or on the backoff schedule). */
  | { readonly kind: "offline"; readonly attempt: number; readonly retryAt: number }
  | { readonly kind: "closed"; readonly reason: string };

export interface SocketHandlers {
  /** A fresh ticket (challenge signed with the auth key, then `/v1/ws/ticket`). */
  ticket(): Promise<string>;
  frame(frame: ServerFrame): void;
  state(state: ConnectionState): void;
  /** The server ended the session (close 1008 or 4001 after a good ticket): stop reconnecting? */
  sessionEnded?(code: number): void;
}

export interface Backoff {
  readonly baseMs: number;
  readonly maxMs: number;
}

/** Full jitter: uniform in [0, min(max, base·2^attempt)], at least 250 ms. */
export function backoffDelay(
  attempt: number,
  b: Backoff,
  random: () => number = Math.random,
): number {
  const cap = Math.min(b.maxMs, b.baseMs * 2 ** Math.min(attempt, 16));
  return Math.max(250, Math.floor(random() * cap));
}

const HEARTBEAT_MS = 25_000;
const PONG_TIMEOUT_MS = 10_000;

export class SocketClient {
  private ws: WebSocket | undefined;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = true;
  private current: ConnectionState = { kind: "idle" };
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private lastFrameAt = 0;
  private readonly onOffline = (): void => {
    if (this.ws !== undefined) this.drop();
    else if (this.current.kind === "waiting") this.setState({ ...this.current, kind: "offline" });
  };
  private readonly onOnline = (): void => {
    this.retryNow();
  };

  constructor(
    private readonly url: string,
    private readonly handlers: SocketHandlers,
    private readonly backoff: Backoff = { baseMs: 1000, maxMs: 30_000 },
  ) {}

  get state(): ConnectionState {
    return this.current;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    if (typeof window !== "undefined") {
      window.addEventListener("offline", this.onOffline);
      window.addEventListener("online", this.onOnline);
    }
    // A socket that stops answering (network gone, no close frame) is noticed within ~35 s.
    this.heartbeat = setInterval(() => {
      if (this.current.kind !== "open") return;
      if (Date.now() - this.lastFrameAt > HEARTBEAT_MS + PONG_TIMEOUT_MS) this.drop();
      else if (Date.now() - this.lastFrameAt > HEARTBEAT_MS) this.send({ type: "ping" });
    }, 5000);
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    if (typeof window !== "undefined") {
      window.removeEventListener("offline", this.onOffline);
      window.removeEventListener("online", this.onOnline);
    }
    this.ws?.close(1000);
    this.ws = undefined;
    this.setState({ kind: "closed", reason: "stopped" });
  }

  /** Abandons the current socket (network lost) and reconnects with backoff. */
  private drop(): void {
    const ws = this.ws;
    if (ws === undefined || this.stopped) return;
    this.ws = undefined;
    ws.onclose = null;
    ws.onmessage = null;
    ws.close();
    this.scheduleRetry();
  }

  /** Reconnect now (the user pressed "retry", or the browser came back online). */
  retryNow(): void {
    if (this.stopped || (this.current.kind !== "waiting" && this.current.kind !== "offline"))
      return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    void this.connect();
  }

  send(frame: Record<string, unknown>): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN || this.current.kind !== "open") return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  ack(messageIds: readonly string[]): boolean {
    return messageIds.length === 0 || this.send({ type: "ack", message_ids: messageIds });
  }

  signal(conversation: string, kind: SignalKind): boolean {
    return this.send({ type: "signal", conversation, kind });
  }

  private setState(s: ConnectionState): void {
    this.current = s;
    this.handlers.state(s);
  }

  private async connect(): Promise<void> {
    this.setState({ kind: "connecting", attempt: this.attempt });
    let ticket: string;
    try {
      ticket = await this.handlers.ticket();
    } catch {
      this.scheduleRetry();
      return;
    }
    if (this.stopped) return;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: "auth", ticket }));
    };
    ws.onmessage = (event: MessageEvent) => {
      this.lastFrameAt = Date.now();
      if (typeof event.data !== "string") return;
      let data: unknown;
      try {
        data = JSON.parse(event.data);
      } catch {
        return;
      }
      const parsed = ServerFrame.safeParse(data);
      if (!parsed.success) return;
      if (parsed.data.type === "ready") {
        this.attempt = 0;
        this.setState({ kind: "open" });
      }
      this.handlers.frame(parsed.data);
    };
    ws.onclose = (event: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      if (this.stopped) return;
      if (event.code === 1008) this.handlers.sessionEnded?.(event.code);
      this.scheduleRetry();
    };
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt, this.backoff);
    this.attempt += 1;
    // `navigator.onLine === false` is reliable (no network at all); `true` proves nothing.
    const offline = typeof navigator !== "undefined" && !navigator.onLine;
    this.setState({
      kind: offline ? "offline" : "waiting",
      attempt: this.attempt,
      retryAt: Date.now() + delay,
    });
    this.timer = setTimeout(() => void this.connect(), delay);
  }
}
