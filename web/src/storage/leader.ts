/**
 * Which tab of a namespace leads (holds the one socket of the device): the holder of a Web Lock.
 * Others wait in the lock's queue and show "open in another tab"; `takeOver` asks the leader, on a
 * BroadcastChannel of the same name, to step back: it releases the lock and queues again behind
 * the tab that asked, which the lock then goes to (its request was queued first). Nothing is
 * lost: a tab that steps back keeps its state and leads again when the lock comes back.
 */

/** The part of `navigator.locks` this uses (a fake in tests). */
export interface LockManagerLike {
  request(
    name: string,
    options: { ifAvailable?: boolean },
    callback: (lock: unknown) => Promise<void>,
  ): Promise<unknown>;
}

/** The part of `BroadcastChannel` this uses. */
export interface ChannelLike {
  postMessage(message: unknown): void;
  close(): void;
}

/** A `BroadcastChannel` named `name` calling `onMessage` with what other tabs post. */
export function broadcastChannel(name: string, onMessage: (data: unknown) => void): ChannelLike {
  const channel = new BroadcastChannel(name);
  channel.onmessage = (event: MessageEvent<unknown>) => {
    onMessage(event.data);
  };
  return channel;
}

export interface LeaderHooks {
  /** This tab holds the lock now: start the socket. */
  lead(): void;
  /** Another tab holds it (or took it over): stop the socket and show the secondary state. */
  follow(): void;
}

const RELEASE = "sotto-release-leader";

export class Leadership {
  private release: (() => void) | undefined;
  private channel: ChannelLike | undefined;
  private waiting = false;
  private stopped = false;

  constructor(
    private readonly name: string,
    private readonly hooks: LeaderHooks,
    private readonly locks: LockManagerLike,
    makeChannel: (name: string, onMessage: (data: unknown) => void) => ChannelLike,
  ) {
    this.channel = makeChannel(name, (data) => {
      if (data === RELEASE) this.stepBack();
    });
  }

  /** Leads at once if no tab does; otherwise follows and waits its turn. */
  start(): void {
    void this.locks.request(this.name, { ifAvailable: true }, async (lock) => {
      if (lock === null) {
        this.queue();
        return;
      }
      await this.hold();
    });
  }

  /** Whether this tab leads now. */
  get leading(): boolean {
    return this.release !== undefined;
  }

  /** Asks the leading tab to step back; this tab leads once it has (its request is queued). */
  takeOver(): Promise<void> {
    if (this.leading || this.stopped) return Promise.resolve();
    this.channel?.postMessage(RELEASE);
    return new Promise((resolve) => {
      const check = () => {
        if (this.leading || this.stopped) resolve();
        else setTimeout(check, 20);
      };
      check();
    });
  }

  /** Gives the lock up for good (logout, another account): no socket from this tab. */
  stop(): void {
    this.stopped = true;
    this.channel?.close();
    this.channel = undefined;
    this.release?.();
    this.release = undefined;
  }

  private hold(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.release = resolve;
      this.hooks.lead();
    });
  }

  private queue(): void {
    if (this.waiting || this.stopped) return;
    this.waiting = true;
    this.hooks.follow();
    void this.locks.request(this.name, {}, async () => {
      this.waiting = false;
      await this.hold();
    });
  }

  /** Another tab asked: release the lock and wait behind it. */
  private stepBack(): void {
    const release = this.release;
    if (release === undefined) return;
    this.release = undefined;
    release();
    this.queue();
  }
}
