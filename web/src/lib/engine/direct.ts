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

/**
 * The 1:1s that lost to another of the same pair (both sides created one at once, §6.4): each
 * maps to the one both ends keep, the smallest id. The client lists only the kept one and shows
 * the others' messages in it, so nothing said in a duplicate is lost from view.
 */
export function directDuplicates(
  conversations: Iterable<readonly [string, Group]>,
  me: AccountId,
): Map<string, string> {
  const byPeer = new Map<string, string[]>();
  const states = new Map<string, Group>();
  for (const [id, state] of conversations) {
    const peer = directPeer(state, me);
    if (peer === undefined) continue;
    const key = [...peer].join(",");
    byPeer.set(key, [...(byPeer.get(key) ?? []), id]);
    states.set(id, state);
  }
  const losers = new Map<string, string>();
  for (const ids of byPeer.values()) {
    if (ids.length < 2) continue;
    const [first] = ids;
    const peer = first === undefined ? undefined : states.get(first);
    const them = peer === undefined ? undefined : directPeer(peer, me);
    if (them === undefined) continue;
    const kept = findDirect(
      ids.flatMap((id) => {
        const s = states.get(id);
        return s === undefined ? [] : [[id, s] as const];
      }),
      me,
      them,
    );
    if (kept === undefined) continue;
    for (const id of ids) if (id !== kept) losers.set(id, kept);
  }
  return losers;
}

/** `kept` and the duplicate 1:1s shown in it (see {@link directDuplicates}). */
export function shownWith(kept: string, duplicates: ReadonlyMap<string, string>): string[] {
  return [kept, ...[...duplicates].filter(([, k]) => k === kept).map(([d]) => d)];
}

/**
 * The messages `kept`'s view shows: its own and its duplicates', each in its place by the
 * timeline's order. Each message stays in its own conversation (replies and amendments name it
 * there); only the view is one.
 */
export function mergedMessages<M extends { readonly sentAt: number }>(
  kept: string,
  duplicates: ReadonlyMap<string, string>,
  messagesOf: (conv: string) => readonly M[],
  order: (a: M, b: M) => number,
): M[] {
  const convs = shownWith(kept, duplicates);
  const all = convs.flatMap((c) => messagesOf(c));
  return convs.length > 1 ? all.sort(order) : all;
}
