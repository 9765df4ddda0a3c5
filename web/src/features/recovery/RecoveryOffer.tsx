/**
 * The offer made right after Create account (protocol §14, §15): a banner, not a blocking dialog
 * (the account is usable at once), whose "Set up recovery" opens the set-up. Declining wipes the
 * master key's bytes, after which only the command line client can set recovery up.
 */

import { useState } from "react";
import { createPortal } from "react-dom";

import { useSotto } from "../../lib/sotto";
import { RecoverySetupDialog } from "./RecoverySetup";

export function RecoveryOffer() {
  const client = useSotto();
  const [open, setOpen] = useState(false);
  // Outside the app shell, which the dialog makes inert while it is open.
  if (open)
    return createPortal(
      <RecoverySetupDialog
        onCancel={() => {
          setOpen(false);
        }}
      />,
      document.body,
    );
  return (
    <div className="banner" role="region" aria-label="Recovery" data-testid="recovery-offer">
      <p>
        If you lose this browser, a recovery key gets your account and your messages back. This is
        the only moment this browser can back up your account key.
      </p>
      <div className="actions">
        <button
          type="button"
          className="primary"
          onClick={() => {
            setOpen(true);
          }}
        >
          Set up recovery
        </button>
        <button
          type="button"
          onClick={() => {
            client.finishRecoveryOffer();
          }}
        >
          Not now
        </button>
      </div>
    </div>
  );
}
