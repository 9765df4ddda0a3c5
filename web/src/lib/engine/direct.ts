/**
 * Which conversation is the 1:1 of two accounts (protocol §6.4), decided from the verified group
 * state alone: exactly those two members, compared by account id, under the name `x & y` made of
 * the usernames the state lists for them. The name alone decides nothing — any admin chooses it,
 * and the usernames in a log are display text too — and a group of the same two people under
 * another name stays a group. The Rust client (`sotto-client` `groups.rs`) applies the same rule.
 */

import {
  type AccountId,
  type GroupState,
  bytesEqual,
  compareBytes,
  ConversationId,
} from "../../crypto";

/** What the rule reads from a verified {@link GroupState}. */
type Group = Pick<GroupState, "name" | "members">;

/** The name a client gives the 1:1 it creates: `<own username> & <peer username>`. */
export function directName(ownUsername: string, peerUsername: string): string {
  return `${ownUsername} & ${peerUsername}`;
}

/** The other member, when `state` is the 1:1 of `me` and someone; otherwise `undefined`. */
export function directPeer(state: Group, me: AccountId): AccountId | undefined {
  const members = state.members();
  const [a, b] = members;
  if (members.length !== 2 || a === undefined || b === undefined) return undefined;
  const named =
    state.name === directName(a.username, b.username) ||
    state.name === directName(b.username, a.username);
  if (!named) return undefined;
  if (bytesEqual(a.account, me)) return b.account;
  if (bytesEqual(b.account, me)) return a.account;
  return undefined;
}

/** Whether `state` is the 1:1 of `me` and `them`. */
export function isDirectWith(state: Group, me: AccountId, them: AccountId): boolean {
  const peer = directPeer(state, me);
  return peer !== undefined && bytesEqual(peer, them);
}

/**
 * The 1:1 of `me` and `them` among `conversations` (id text → verified state): when several
 * qualify (both sides created one at once), the smallest conversation id, bytewise, so both ends
 * settle on the same one.
 */
export function findDirect(
  conversations: Iterable<readonly [string, Group]>,
  me: AccountId,
  them: AccountId,
): string | undefined {
  let found: { id: string; bytes: Uint8Array } | undefined;
  for (const [id, state] of conversations) {
    if (!isDirectWith(state, me, them)) continue;
    const bytes = ConversationId.parse(id);
    if (found === undefined || compareBytes(bytes, found.bytes) < 0) found = { id, bytes };
  }
  return found?.id;
}
