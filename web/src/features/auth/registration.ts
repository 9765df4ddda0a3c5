/**
 * What the sign-up form shows for the server's registration mode (`GET /v1/registration`):
 * an invitation code field on an invite-only server, no sign-up at all on a closed one. Until
 * the server has answered (or if it could not), the form is the open one; the server's refusal
 * then says why.
 */

import type { RegistrationMode } from "../../lib/schemas";

export interface SignUpShape {
  /** Whether the sign-up form is shown. */
  readonly signUp: boolean;
  /** Whether it asks for an invitation code. */
  readonly askInvite: boolean;
}

export function signUpShape(mode: RegistrationMode | undefined): SignUpShape {
  switch (mode) {
    case undefined:
    case "open":
      return { signUp: true, askInvite: false };
    case "invite":
      return { signUp: true, askInvite: true };
    case "closed":
      return { signUp: false, askInvite: false };
  }
}
