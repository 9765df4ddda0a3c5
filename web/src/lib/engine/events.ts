/**
 * Timeline events from the verified group log: each change this device verified (or made) is
 * shown once, as `event:<epoch>`, placed by the time its signer put on it. Accounts are kept as
 * ids; the view names them (`view.ts`), so a name learned later shows everywhere.
 */

import { AccountId, type GroupChange } from "../../crypto";
import type { TimelineEvent } from "./model";
import type { StoredMessage } from "./stored";
import { placeMessage } from "./timeline";

/** The id of the event of the change at `epoch`. */
export function eventId(epoch: bigint | number): string {
  return `event:${epoch.toString()}`;
}

/** What a change means in the timeline (account ids as actor and subject). */
export function changeEvent(change: GroupChange): TimelineEvent {
  const actor = AccountId.toText(change.signerAccount);
  const op = change.op;
  switch (op.type) {
    case "create":
      return { kind: "created", actor };
    case "add-member":
      return { kind: "added", actor, subject: AccountId.toText(op.member.account) };
    case "remove-member": {
      const subject = AccountId.toText(op.account);
      return subject === actor ? { kind: "left", actor } : { kind: "removed", actor, subject };
    }
    case "set-admin":
      return {
        kind: op.admin ? "admin-granted" : "admin-revoked",
        actor,
        subject: AccountId.toText(op.account),
      };
    case "rename":
      return { kind: "renamed", actor };
    case "set-retention":
      return { kind: "retention", actor, seconds: Number(op.seconds) };
  }
}

/** Places the event of a verified change in `messages` (once). */
export function placeEvent(messages: StoredMessage[], change: GroupChange): void {
  const at = Number(change.issuedAt);
  placeMessage(messages, {
    id: eventId(change.epoch),
    from: AccountId.toText(change.signerAccount),
    fromUsername: "",
    mine: false,
    sentAt: at,
    receivedAt: at,
    content: { type: "event", event: changeEvent(change) },
  });
}

/**
 * How this account's membership ended, from the latest removal event naming it (or its own
 * leaving); `undefined` when no such event is held.
 */
export function removalOf(
  messages: readonly StoredMessage[],
  me: string,
): { readonly by?: string; readonly left: boolean } | undefined {
  for (let i = messages.length - 1; i >= 0; i--) {
    const c = messages[i]?.content;
    if (c?.type !== "event") continue;
    const e = c.event;
    if (e.kind === "left" && e.actor === me) return { left: true };
    if (e.kind === "removed" && e.subject === me) return { by: e.actor, left: false };
    if (e.kind === "added" && e.subject === me) return undefined;
  }
  return undefined;
}
