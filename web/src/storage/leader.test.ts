/**
 * One tab leads (`leader.ts`): the first holds the lock, a second follows, and "Use here" moves
 * the lead to it cleanly — the old leader steps back and follows, and can take it back again.
 */

import { describe, expect, it } from "vitest";

import { type ChannelLike, Leadership, type LockManagerLike } from "./leader";

/** Exclusive locks granted in request order, like the Web Locks API. */
class FakeLocks implements LockManagerLike {
  private held = new Set<string>();
  private queues = new Map<string, (() => void)[]>();

  request(
    name: string,
    options: { ifAvailable?: boolean },
    callback: (lock: unknown) => Promise<void>,
  ): Promise<unknown> {
    const run = async () => {
      this.held.add(name);
      try {
        await callback({ name });
      } finally {
        this.held.delete(name);
        this.queues.get(name)?.shift()?.();
      }
    };
    if (!this.held.has(name)) return run();
    if (options.ifAvailable === true) return callback(null);
    return new Promise((resolve) => {
      const q = this.queues.get(name) ?? [];
      q.push(() => {
        void run().then(resolve);
      });
      this.queues.set(name, q);
    });
  }
}

/** A BroadcastChannel between the tabs of one test: every other member hears a post. */
class Bus {
  private members = new Set<(data: unknown) => void>();
  channel = (_name: string, onMessage: (data: unknown) => void): ChannelLike => {
    const listener = (data: unknown) => {
      onMessage(data);
    };
    this.members.add(listener);
    return {
      postMessage: (data) => {
        for (const m of this.members)
          if (m !== listener)
            queueMicrotask(() => {
              m(data);
            });
      },
      close: () => this.members.delete(listener),
    };
  };
}

function tab(locks: FakeLocks, bus: Bus) {
  const log: string[] = [];
  const leadership = new Leadership(
    "sotto:alice:socket",
    { lead: () => log.push("lead"), follow: () => log.push("follow") },
    locks,
    bus.channel,
  );
  return { leadership, log };
}

/** Two tabs of one browser: the same locks, the same channel. */
function twoTabs() {
  const locks = new FakeLocks();
  const bus = new Bus();
  return [tab(locks, bus), tab(locks, bus)] as const;
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("which tab leads", () => {
  it("the first tab leads, the second follows; Use here moves the lead and back", async () => {
    const [first, second] = twoTabs();
    first.leadership.start();
    await tick();
    second.leadership.start();
    await tick();
    expect(first.log).toEqual(["lead"]);
    expect(second.log).toEqual(["follow"]);
    expect([first.leadership.leading, second.leadership.leading]).toEqual([true, false]);

    await second.leadership.takeOver();
    expect(second.leadership.leading).toBe(true);
    expect(first.leadership.leading).toBe(false);
    expect(first.log).toEqual(["lead", "follow"]);
    expect(second.log).toEqual(["follow", "lead"]);

    // The first tab shows "Use here" now, and it works the other way too.
    await first.leadership.takeOver();
    expect([first.leadership.leading, second.leadership.leading]).toEqual([true, false]);
    expect(second.log).toEqual(["follow", "lead", "follow"]);
  });

  it("a leading tab's takeOver does nothing; a stopped tab gives the lead to the next", async () => {
    const [first, second] = twoTabs();
    first.leadership.start();
    await tick();
    await first.leadership.takeOver();
    expect(first.log).toEqual(["lead"]);
    second.leadership.start();
    await tick();
    first.leadership.stop();
    await tick();
    expect(second.leadership.leading).toBe(true);
    expect(second.log).toEqual(["follow", "lead"]);
  });
});
