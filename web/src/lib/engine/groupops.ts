/**
 * Leaving a group (`docs/protocol.md` §6.3): the last admin cannot leave while others remain
 * (`group/last-admin`), so the client first makes another member admin, the one the user chose.
 * Decided here from the verified members, before anything is signed.
 */

/** A member as the rule reads it: account id text and whether it is an admin. */
export interface MemberRole {
  readonly account: string;
  readonly admin: boolean;
}

/** What leaving takes: the member to promote first, if any. */
export interface LeavePlan {
  readonly promote?: string;
}

/** The words the UI shows when a successor is needed and none (or a non-member) was given. */
export const CHOOSE_ADMIN = "Choose a new admin before leaving";

/**
 * How `me` leaves: alone or with another admin, directly; as the last admin with others left,
 * by promoting `newAdmin` (a member other than `me`) first. Throws {@link CHOOSE_ADMIN} otherwise.
 */
export function leavePlan(
  members: readonly MemberRole[],
  me: string,
  newAdmin: string | undefined,
): LeavePlan {
  const self = members.find((m) => m.account === me);
  if (self === undefined) throw new Error("You are no longer a member of this conversation");
  const others = members.filter((m) => m.account !== me);
  const lastAdmin = self.admin && others.length > 0 && !others.some((m) => m.admin);
  if (!lastAdmin) return {};
  if (newAdmin === undefined || !others.some((m) => m.account === newAdmin))
    throw new Error(CHOOSE_ADMIN);
  return { promote: newAdmin };
}
