/**
 * Consent (`docs/api.md`: requests, accept and decline, blocks): which conversations this account
 * accepted and which are requests from someone who is not a contact yet. The server decides (a
 * member added by a non-contact is a request until they accept); this type keeps its last two
 * lists, so the app shows the same split offline and after a reload. A conversation in neither list
 * (it just arrived, or was declined) is shown nowhere until the server says what it is: a
 * stranger's conversation never flashes up among the accepted ones. Pure state; the client fetches
 * the lists and persists `snapshot()` as `consent`.
 */

import type { RequestView } from "../schemas";

/** A pending request, as the request list shows it. */
export interface RequestInfo {
  readonly conversation: string;
  /** Who added this account (the genesis signer, or the author of the change that added it). */
  readonly from: string;
  readonly fromUsername: string;
  readonly members: number;
  readonly createdAt: number;
  /** Envelopes the server holds for this account under the request so far. */
  readonly queued: number;
}

export type Standing = "accepted" | "request" | "unknown";

export interface ConsentSnapshot {
  readonly accepted: readonly string[];
  readonly requests: readonly RequestInfo[];
}

export function requestInfo(r: RequestView): RequestInfo {
  return {
    conversation: r.conversation,
    from: r.from,
    fromUsername: r.from_username,
    members: r.members,
    createdAt: r.created_at,
    queued: r.queued,
  };
}

export class Consent {
  private accepted: Set<string>;
  private pending: Map<string, RequestInfo>;

  constructor(snapshot: ConsentSnapshot = { accepted: [], requests: [] }) {
    this.accepted = new Set(snapshot.accepted);
    this.pending = new Map(snapshot.requests.map((r) => [r.conversation, r]));
  }

  /** Accepted conversations `accepted` (the server's new list) leaves out. */
  droppedBy(accepted: readonly string[]): string[] {
    return [...this.accepted].filter((c) => !accepted.includes(c));
  }

  snapshot(): ConsentSnapshot {
    return { accepted: [...this.accepted], requests: [...this.pending.values()] };
  }

  standing(conv: string): Standing {
    if (this.pending.has(conv)) return "request";
    if (this.accepted.has(conv)) return "accepted";
    return "unknown";
  }

  /** Pending requests, oldest first. */
  requests(): RequestInfo[] {
    return [...this.pending.values()].sort((a, b) => a.createdAt - b.createdAt);
  }

  /**
   * The server's lists. `accepted` is the whole list of accepted conversations, `requests` the
   * whole list of pending ones; either may be missing when its fetch failed (that half stays).
   */
  update(
    accepted: readonly string[] | undefined,
    requests: readonly RequestInfo[] | undefined,
    former: (conv: string) => boolean = () => false,
  ) {
    if (requests !== undefined) this.pending = new Map(requests.map((r) => [r.conversation, r]));
    if (accepted !== undefined) {
      // The server lists only current memberships; a conversation this account was removed
      // from (or left) stays, read-only, with its history (protocol §6.3).
      const kept = [...this.accepted].filter((c) => !accepted.includes(c) && former(c));
      this.accepted = new Set([...accepted, ...kept]);
    }
    // A conversation the server lists as accepted is no request, whatever an older list said.
    for (const c of this.accepted) this.pending.delete(c);
  }

  /** A conversation this account created: its creator is always accepted. */
  created(conv: string): void {
    this.accepted.add(conv);
  }

  accept(conv: string): void {
    this.pending.delete(conv);
    this.accepted.add(conv);
  }

  /** Declined: in neither list, so shown nowhere. */
  decline(conv: string): void {
    this.pending.delete(conv);
    this.accepted.delete(conv);
  }

  /** Blocking `account` declines the requests it made. */
  blocked(account: string): void {
    for (const r of [...this.pending.values()])
      if (r.from === account) this.pending.delete(r.conversation);
  }
}
