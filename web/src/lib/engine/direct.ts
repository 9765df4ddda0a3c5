/**
 * Which conversation is the 1:1 of two accounts (protocol §6.4), decided from the verified group
 * state alone: created as a 1:1 (kind Direct) and with exactly those two members, compared by
 * account id. No name decides anything: a group of the same two people stays a group. The Rust
 * client (`sotto-client` `groups.rs`) applies the same rule.
 */

import {
  type AccountId,
  type GroupState,
  bytesEqual,
  compareBytes,
  ConversationId,
} from "../../crypto";

/** What the rule reads from a verified {@link GroupState}. */
type Group = Pick<GroupState, "kind" | "members">;

/** The other member, when `state` is the 1:1 of `me` and someone; otherwise `undefined`. */
export function directPeer(state: Group, me: AccountId): AccountId | undefined {
  if (state.kind !== "direct") return undefined;
  const members = state.members();
  const [a, b] = members;
  if (members.length !== 2 || a === undefined || b === undefined) return undefined;
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
